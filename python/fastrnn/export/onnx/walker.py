"""The walk of a fastrnn model: its graph inputs, then every layer call of its plan in order.

Sequential and Functional models take the same path: `model._steps` (models/functional.py)
lists the layer calls in topological order with the slots of their argument tensors (the first
argument, a tensor or a list, and tensor keyword arguments such as `initial_state`) and of
their outputs. Each call's converter gets the `Tensor` records of its arguments and returns
those of its outputs; a layer called twice is converted twice, on the same initializers.

The graph's interface:
- inputs, in the model's order, named after its Input layers (the keys when the model's inputs
  are a dict; "input" for a Sequential model without an Input). An input read only by
  Embedding layers holds int64 ids unless its Input declares a dtype (int32 stays int32); any
  other is float32 (or the declared dtype, cast to float32 where a layer computes). The batch
  axis is dynamic ("batch"), so is the time axis (axis 1 of an input of rank >= 3 or of ids of
  rank >= 2), as fastrnn takes any length: "time", or "<input>_time" when several inputs have
  one; other axes are dynamic where the Input leaves them None.
- outputs, in the model's order, named after the layers that compute them (the keys of a dict
  of outputs; "<layer>_<i>" for the i-th of several outputs of one layer call; "output", or
  "output_0", "output_1", ... for a Sequential model).
"""
import dataclasses
from collections import Counter

import numpy as np
from onnx import TensorProto, helper

from .. import ExportError
from ... import graph as symbolic
from ...layers import Embedding, InputLayer, TimeDistributed
from .graph import Tensor
from .registry import convert


def walk(g, model):
    """Convert every layer call of `model` into `g`: returns (graph inputs, [(output name,
    Tensor)] in the model's output order)."""
    _check_built(model)
    inputs = _input_tensors(g, model)
    out_names = [g.name(name) for name in _output_names(model)]   # reserved before the nodes
    values = dict(zip(model._input_slots, inputs))
    for st in model._steps:
        layer = st.node.layer
        ids = _reads_ids(layer)

        def get(structure, ids_ok):
            if isinstance(structure, list):
                return [get(s, ids_ok) for s in structure]
            t = values[structure]
            return t if ids_ok or t.dtype == TensorProto.FLOAT else _as_float(g, t)

        args = get(st.args, ids)
        kwargs = {key: get(v, False) for key, v in st.kwargs.items()}
        before = len(g.bad_rows)
        outs = convert(g, layer, args if isinstance(args, list) else [args], kwargs)
        read = symbolic.flatten([args, list(kwargs.values())])
        checks = tuple(dict.fromkeys([c for t in read for c in t.checks] + g.bad_rows[before:]))
        if len(outs) != len(st.outs):    # a converter's bug, not the user's
            raise RuntimeError(f"ONNX converter of layer {layer.name!r} returned {len(outs)} "
                               f"tensors, the layer {len(st.outs)}")
        for slot, t in zip(st.outs, outs):
            values[slot] = dataclasses.replace(t, checks=checks)
    return inputs, list(zip(out_names, (values[s] for s in model._output_slots)))


def _check_built(model):
    if not model.layers:
        raise ExportError(f"model {model.name!r} has no layers")
    if not model.built or any(not layer.built for layer in model.layers):
        raise ExportError(f"model {model.name!r} is not built: build it (or call it on data) "
                          "before exporting, so that its input shape and weights exist")


def _is_sequential(model):
    from ...models import Sequential
    return isinstance(model, Sequential)


def _reads_ids(layer):
    return isinstance(layer, Embedding) or (isinstance(layer, TimeDistributed)
                                            and isinstance(layer.layer, Embedding))


def _as_float(g, t):
    name = g.cast(t.name, TensorProto.FLOAT, hint=f"{t.name}_float")
    return dataclasses.replace(t, name=name, dtype=TensorProto.FLOAT)


def _struct_names(structure):
    """The keys of a flat dict of tensors, else None."""
    if isinstance(structure, dict) and all(isinstance(v, symbolic.SymbolicTensor)
                                           for v in structure.values()):
        return [str(k) for k in structure]
    return None


def _input_names(model):
    if _is_sequential(model):
        declared = model.get_config()["layers"][0]["class_name"] == InputLayer.__name__
        return [model.inputs[0].history[0].name if declared else "input"]
    return _struct_names(model._inputs_struct) or [t.history[0].name for t in model.inputs]


def _output_names(model):
    n = len(model.outputs)
    if _is_sequential(model):
        return ["output"] if n == 1 else [f"output_{i}" for i in range(n)]
    names = _struct_names(model._outputs_struct)
    if names:
        return names
    layers = Counter(t.history[0].name for t in model.outputs)
    return [t.history[0].name if layers[t.history[0].name] == 1
            else f"{t.history[0].name}_{t.history[2]}" for t in model.outputs]


def _input_tensors(g, model):
    """The graph inputs (see the module docstring for names, types and dynamic axes)."""
    readers = {slot: [] for slot in model._input_slots}   # (layer, read as its argument?)
    for st in model._steps:
        for key, structure in [(None, st.args)] + list(st.kwargs.items()):
            for slot in symbolic.flatten(structure):
                if slot in readers:
                    readers[slot].append(key is None and structure == slot
                                         and _reads_ids(st.node.layer))
    ids = [bool(readers[s]) and all(readers[s]) for s in model._input_slots]
    names = _input_names(model)
    timed = [len(t.shape) >= 3 or (i and len(t.shape) >= 2) for t, i in zip(model.inputs, ids)]
    tensors = []
    for t, name, is_ids, has_time in zip(model.inputs, names, ids, timed):
        layer = t.history[0]
        dims = ["batch"]
        for axis, size in enumerate(t.shape[1:], start=1):
            if axis == 1 and has_time:
                dims.append("time" if sum(timed) == 1 else f"{name}_time")
            else:
                dims.append(f"{name}_dim{axis}" if size is None else int(size))
        dtype = _input_dtype(layer, is_ids)
        x = Tensor(g.name(name), tuple(dims), dtype)
        if x.name != name:
            raise ExportError(f"input {name!r}: the name is taken or not usable in ONNX (it "
                              f"would be {x.name!r}); name the model's Input layers uniquely")
        tensors.append(x)
    return tensors


def _input_dtype(layer, ids):
    declared = layer.input_dtype
    if declared is None:
        return TensorProto.INT64 if ids else TensorProto.FLOAT
    dtype = np.dtype(declared)
    if dtype.kind not in "iuf":
        raise ExportError(f"input {layer.name!r}: dtype {dtype} is not exported (integer and "
                          "floating-point inputs are)")
    return helper.np_dtype_to_tensor_dtype(dtype)
