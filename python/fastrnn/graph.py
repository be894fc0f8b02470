"""Symbolic tensors and nodes: what calling a layer on `fastrnn.Input(...)` records.

`SymbolicTensor` is a placeholder with a static shape (batch and time may be None) that
remembers which layer call produced it (`history = (layer, node_index, tensor_index)`, as
Keras' `_keras_history`). A `Node` is one call of a layer: its symbolic inputs (the first
positional argument, a tensor or a list of tensors, plus tensor-valued keyword arguments such
as `initial_state`) and its outputs. `fastrnn.models.Functional` turns the nodes between some
inputs and outputs into an executable graph. Nothing here computes; shapes come from each
layer's `compute_output_shape`.
"""
import numpy as np


class SymbolicTensor:
    """A placeholder for an array flowing through a Functional model."""

    __slots__ = ("shape", "dtype", "history", "name")

    def __init__(self, shape, dtype="float32", history=None, name=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name
        self.history = history   # (layer, node_index, tensor_index)
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def node(self):
        layer, node_index, _ = self.history
        return layer._inbound_nodes[node_index]

    def __repr__(self):
        src = self.history[0].name if self.history else "?"
        return f"<SymbolicTensor shape={self.shape} dtype={self.dtype} from {src!r}>"

    # No arithmetic: operations on symbolic tensors must be layers (a Lambda would run code
    # that a saved model cannot carry).
    def __array__(self, *args, **kwargs):
        raise TypeError("a fastrnn symbolic tensor holds no data: pass it to layers and build "
                        "a fastrnn.Model; NumPy operations on it are not supported")

    def __bool__(self):
        raise TypeError("a fastrnn symbolic tensor has no truth value")


def flatten(structure):
    """Leaves of nested lists/tuples/dicts (dicts in key order), like keras.tree.flatten."""
    if isinstance(structure, dict):
        return [leaf for k in structure for leaf in flatten(structure[k])]
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack_like(structure, flat):
    """Rebuild `structure` with the leaves of `flat` (inverse of `flatten`)."""
    it = iter(flat)

    def build(s):
        if isinstance(s, dict):
            return {k: build(s[k]) for k in s}
        if isinstance(s, (list, tuple)):
            return type(s)(build(x) for x in s)
        return next(it)
    return build(structure)


def is_symbolic(structure):
    return any(isinstance(t, SymbolicTensor) for t in flatten(structure))


class Node:
    """One call of `layer`: `layer(args, **kwargs)` with symbolic tensors in them."""

    __slots__ = ("layer", "args", "kwargs", "outputs", "input_tensors", "single_output",
                 "index")

    def __init__(self, layer, args, kwargs, outputs, single_output):
        self.layer = layer
        self.args = args               # the first positional argument (tensor or list)
        self.kwargs = kwargs           # other arguments, e.g. {"initial_state": [h, c]}
        self.outputs = outputs         # list of SymbolicTensor
        self.single_output = single_output
        self.input_tensors = [t for t in flatten([args, kwargs]) if isinstance(t, SymbolicTensor)]
        self.index = len(layer._inbound_nodes)
        layer._inbound_nodes.append(self)
        for i, t in enumerate(outputs):
            t.history = (layer, self.index, i)


def call_symbolic(layer, args, kwargs):
    """Record `layer(args, **kwargs)` on symbolic tensors; returns symbolic outputs."""
    for key, value in kwargs.items():
        for t in flatten(value):
            if t is not None and not isinstance(t, SymbolicTensor):
                raise TypeError(f"{layer.name}: argument {key!r} mixes symbolic tensors with "
                                f"{type(t).__name__} values; pass fastrnn.Input-derived "
                                "tensors only")
    for t in flatten(args):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"{layer.name}: inputs mix symbolic tensors with "
                            f"{type(t).__name__} values; pass fastrnn.Input-derived tensors only")
    shapes = _shapes(args)
    try:
        if not layer.built:
            layer.build(shapes)
            layer.built = True
        out_shapes = layer.compute_output_shape(shapes)
    except ValueError as e:
        if not isinstance(args, (list, tuple)):
            raise
        sources = ", ".join(f"'{t.history[0].name}' {t.shape}" for t in args)
        raise ValueError(f"{e} (inputs from layers {sources})") from None
    single = not isinstance(out_shapes, list)
    out_list = [out_shapes] if single else out_shapes
    dtype = getattr(layer, "output_dtype", "float32")
    outputs = [SymbolicTensor(s, dtype) for s in out_list]
    Node(layer, args, kwargs, outputs, single)
    return outputs[0] if single else list(outputs)


def _shapes(args):
    if isinstance(args, (list, tuple)):
        return [tuple(t.shape) for t in args]
    return tuple(args.shape)
