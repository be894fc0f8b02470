"""The walk of a Sequential model: its input tensor, then each layer's converter in turn."""
from onnx import TensorProto

from .. import ExportError
from ...layers import Embedding, InputLayer
from .graph import Tensor
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
    declared = next((spec["config"] for spec in model.get_config()["layers"]
                     if spec["class_name"] == InputLayer.__name__), {})
    dtype = TensorProto.FLOAT
    if ids:
        dtype = _INT_INPUTS.get(str(declared.get("dtype")), TensorProto.INT64
                                if declared.get("dtype") is None else TensorProto.FLOAT)
    return Tensor(declared.get("name", "input"), tuple(dims), dtype)


def walk(g, model):
    """Convert every layer of `model` into `g`: returns (graph inputs, model outputs)."""
    if not model.layers:
        raise ExportError(f"model {model.name!r} has no layers")
    x = _input_tensor(model)
    g.name(x.name)
    tensors = [x]
    for i, layer in enumerate(model.layers):
        if len(tensors) != 1:
            raise ExportError(f"layer {model.layers[i - 1].name!r} has {len(tensors)} outputs "
                              "(return_state or merge_mode=None): only the last layer of a "
                              "Sequential model may")
        tensors = convert(g, layer, tensors)
    return [x], tensors
