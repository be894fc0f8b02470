"""The table of layer converters, keyed by layer class.

A converter is `fn(graph, layer, inputs) -> outputs`: `inputs` and `outputs` are lists of
`graph.Tensor` (ONNX names, shapes, masks), so a model walker (Sequential today, a graph of
layer calls later) only has to route tensors. Adding a layer is one decorated function.
Lookup is by exact class: a subclass may compute something else and is not exported silently.
"""
import numpy as np

from .. import ExportError

_CONVERTERS = {}


def converter(*classes):
    def register(fn):
        for cls in classes:
            _CONVERTERS[cls] = fn
        return fn
    return register


def convert(graph, layer, inputs):
    fn = _CONVERTERS.get(type(layer))
    if fn is None:
        known = sorted(cls.__name__ for cls in _CONVERTERS)
        raise ExportError(f"layer {layer.name!r}: {type(layer).__name__} has no ONNX converter "
                          f"(exportable layers: {', '.join(known)})")
    return fn(graph, layer, inputs)


def single_input(layer, inputs):
    if len(inputs) != 1:
        raise ExportError(f"layer {layer.name!r}: expected one input tensor, got {len(inputs)}")
    return inputs[0]


def float32_weights(layer):
    """The layer's weights, refused unless float32 (the graph computes in float32)."""
    if layer.dtype != np.float32:
        raise ExportError(f"layer {layer.name!r}: dtype {layer.dtype} is not exported (the ONNX "
                          "graph computes in float32)")
    return layer.weights
