"""Converters of Embedding, Dense, Activation, Masking, and of the layers that inference
skips: Dropout, SpatialDropout1D, InputLayer."""
import numpy as np
from onnx import TensorProto

from ...layers import (Activation, Dense, Dropout, Embedding, InputLayer, Masking,
                       SpatialDropout1D)
from . import activations
from .graph import Tensor
from .masks import Mask
from .registry import converter, float32_weights, single_input


@converter(Embedding)
def embedding(g, layer, inputs):
    x = single_input(layer, inputs)
    (table,) = float32_weights(layer)
    ids = x.name
    if x.dtype not in (TensorProto.INT32, TensorProto.INT64):   # Keras truncates float ids
        ids = g.op("Cast", [ids], to=TensorProto.INT64, hint="ids")
    int_type = np.int32 if x.dtype == TensorProto.INT32 else np.int64
    # ONNX Gather reads negative ids from the end; fastrnn rejects them: map them out of range
    # so that ONNX Runtime rejects them too.
    negative = g.op("Less", [ids, g.const(0, int_type)])
    checked = g.op("Where", [negative, g.const(layer.input_dim, int_type), ids], hint="ids")
    out = g.op("Gather", [g.weight(table, f"{layer.name}/embeddings"), checked], axis=0,
               hint=layer.name)
    mask = None
    if layer.mask_zero:
        nonzero = g.op("Not", [g.op("Equal", [ids, g.const(0, int_type)])], hint="mask")
        mask = Mask(g, nonzero, len(x.shape))
    return [Tensor(out, x.shape + (layer.output_dim,), mask=mask)]


@converter(Dense)
def dense(g, layer, inputs):
    x = single_input(layer, inputs)
    weights = float32_weights(layer)
    y = g.op("MatMul", [x.name, g.weight(weights[0], f"{layer.name}/kernel")], hint=layer.name)
    if layer.use_bias:
        y = g.op("Add", [y, g.weight(weights[1], f"{layer.name}/bias")], hint=layer.name)
    y = activations.apply(g, layer.activation.name, y, f"layer {layer.name!r}")
    return [Tensor(y, x.shape[:-1] + (layer.units,), mask=x.mask)]


@converter(Activation)
def activation(g, layer, inputs):
    x = single_input(layer, inputs)
    y = activations.apply(g, layer.activation.name, x.name, f"layer {layer.name!r}")
    return [Tensor(y, x.shape, mask=x.mask)]


@converter(Masking)
def masking(g, layer, inputs):
    """Steps whose features all equal mask_value become zeros and masked (the mask is
    `any(x != mask_value, axis=-1)`; an incoming mask is replaced)."""
    x = single_input(layer, inputs)
    differs = g.op("Not", [g.op("Equal", [x.name, g.const(layer.mask_value)])])
    keep = g.any(differs, [-1], keepdims=1, hint="keep")
    out = g.op("Where", [keep, x.name, g.const(0.0)], hint=layer.name)
    mask = Mask(g, g.squeeze(keep, [-1], hint="mask"), len(x.shape) - 1)
    return [Tensor(out, x.shape, mask=mask)]


@converter(Dropout, SpatialDropout1D, InputLayer)
def identity(g, layer, inputs):
    """Inference: the dropouts pass their input through, as does InputLayer."""
    return [single_input(layer, inputs)]
