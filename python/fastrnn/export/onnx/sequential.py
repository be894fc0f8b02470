"""A Sequential model as an ONNX graph, checked and written to a file."""
import contextlib
import os

import onnx
from onnx import TensorProto, helper

from ..._version import __version__
from .. import ExportError
from ...layers import Embedding, InputLayer
from . import core, recurrent  # noqa: F401  (importing them registers their converters)
from .graph import DEFAULT_OPSET, Graph, Tensor
from .masks import PADDINGS, poison_bad_rows
from .registry import convert

_INT_INPUTS = {"int32": TensorProto.INT32, "int64": TensorProto.INT64}


def _input_tensor(model):
    """The graph input: dynamic batch axis, and time axis for sequences (ids [batch, time]
    feeding an Embedding, or features [batch, time, features])."""
    shape = model.input_shape
    if shape is None or not model.built or any(not layer.built for layer in model.layers):
        raise ExportError(f"model {model.name!r} is not built: build it (or call it on data) "
                          "before exporting, so that its input shape and weights exist")
    first = model.layers[0]
    ids = isinstance(first, Embedding)
    dims = []
    for axis, size in enumerate(shape):
        if axis == 0:
            dims.append("batch")
        elif axis == 1 and (ids or len(shape) == 3):
            dims.append("time")
        elif size is None:
            raise ExportError(f"model {model.name!r}: input axis {axis} has no known size "
                              f"(input shape {shape})")
        else:
            dims.append(int(size))
    dtype = TensorProto.FLOAT
    if ids:
        declared = next((l.input_dtype for l in model._layers if isinstance(l, InputLayer)), None)
        dtype = _INT_INPUTS.get(str(declared), TensorProto.INT64 if declared is None
                                else TensorProto.FLOAT)
    name = next((l.name for l in model._layers if isinstance(l, InputLayer)), "input")
    return Tensor(name, tuple(dims), dtype)


def to_onnx(model, mask_padding="pre", opset_version=None):
    """The ONNX ModelProto of a built fastrnn Sequential model (checked by onnx.checker)."""
    from ...models import Sequential
    if not isinstance(model, Sequential):
        raise ExportError(f"model: expected a fastrnn Sequential model, got {type(model).__name__}")
    if mask_padding not in PADDINGS:
        raise ValueError(f"mask_padding: expected one of {PADDINGS}, got {mask_padding!r}")
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    latest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) or not DEFAULT_OPSET <= opset <= latest:
        raise ValueError(f"opset_version: expected an integer in [{DEFAULT_OPSET}, {latest}] "
                         f"(the installed onnx's latest), got {opset_version!r}")
    if not model.layers:
        raise ExportError(f"model {model.name!r} has no layers")

    g = Graph(opset=opset, mask_padding=mask_padding)
    x = _input_tensor(model)
    g.name(x.name)
    graph_input = g.value_info(x)
    tensors = [x]
    for i, layer in enumerate(model.layers):
        if len(tensors) != 1:
            raise ExportError(f"layer {model.layers[i - 1].name!r} has {len(tensors)} outputs "
                              "(return_state or merge_mode=None): only the last layer of a "
                              "Sequential model may")
        tensors = convert(g, layer, tensors)

    outputs = []
    for i, t in enumerate(tensors):
        name = g.name("output" if len(tensors) == 1 else f"output_{i}")
        g.nodes.append(helper.make_node("Identity", [poison_bad_rows(g, t)], [name]))
        outputs.append(g.value_info(Tensor(name, t.shape)))
    graph = helper.make_graph(g.nodes, model.name, [graph_input], outputs,
                              initializer=g.initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="fastrnn", producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(
                                  [helper.make_opsetid("", opset)]))
    helper.set_model_props(proto, {"fastrnn.mask_padding": mask_padding})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, filepath, verbose=None, input_signature=None, mask_padding="pre",
                opset_version=None):
    """Write `to_onnx(model, ...)` to `filepath` (atomically: a crash keeps any old file)."""
    if input_signature is not None:
        raise ExportError("input_signature: the exported graph takes the model's own input "
                          "(dynamic batch and time axes); pass None")
    data = to_onnx(model, mask_padding=mask_padding, opset_version=opset_version)
    data = data.SerializeToString()
    path = os.fspath(filepath)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if verbose is None or verbose:
        print(f"Saved artifact at '{path}'.")
    return path

