"""The table of layer converters, keyed by layer class.

A converter is `fn(graph, layer, inputs, **kwargs) -> outputs`: `inputs` (the call's first
argument, as a list) and `outputs` are lists of `graph.Tensor` (ONNX names, shapes, masks),
`kwargs` the call's tensor-valued keyword arguments that the converter declares
(`initial_state`), so the model walker (walker.py) only has to route tensors. Adding a layer
is one decorated function. Lookup is by exact class: a subclass may compute something else and
is not exported silently.
"""
import numpy as np

from .. import ExportError

_CONVERTERS = {}


def converter(*classes, keywords=()):
    """Register `fn` for `classes`; `keywords`: the tensor arguments of a call it takes."""
    def register(fn):
        for cls in classes:
            _CONVERTERS[cls] = (fn, frozenset(keywords))
        return fn
    return register


def convert(graph, layer, inputs, kwargs=None):
    fn, keywords = _CONVERTERS.get(type(layer), (None, ()))
    if fn is None:
        known = sorted(cls.__name__ for cls in _CONVERTERS)
        raise ExportError(f"layer {layer.name!r}: {type(layer).__name__} has no ONNX converter "
                          f"(exportable layers: {', '.join(known)})")
    kwargs = kwargs or {}
    unknown = sorted(set(kwargs) - keywords)
    if unknown:
        raise ExportError(f"layer {layer.name!r}: {type(layer).__name__} called with tensor "
                          f"argument(s) {unknown}, which the ONNX exporter does not take")
    return fn(graph, layer, inputs, **kwargs)


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
