"""BatchNormalization and LayerNormalization (layers/normalization.py) at inference; both pass
the mask on unused.

BatchNormalization uses its moving statistics: fastrnn's `x * inv + (beta - mean * inv)` with
`inv = gamma / sqrt(moving_variance + epsilon)`, both factors computed here in float32 as
fastrnn computes them. LayerNormalization over trailing axes is ONNX's LayerNormalization
(epsilon added to the variance inside the square root, as Keras does); over other axes,
without gamma and beta, and with the deprecated rms_scaling, it is spelled out with fastrnn's
formula.
"""
import numpy as np

from ...layers import BatchNormalization, LayerNormalization
from .graph import Tensor
from .registry import converter, float32_weights, single_input

_F32 = np.float32


@converter(BatchNormalization)
def batch_normalization(g, layer, inputs):
    x = single_input(layer, inputs)
    float32_weights(layer)
    rank = len(x.shape)
    axis = layer._axis_of(rank)
    bshape = [-1] + [1] * (rank - 1 - axis)     # broadcasts from the right
    inv = _F32(1) / np.sqrt(layer.moving_variance + _F32(layer.epsilon))
    if layer.gamma is not None:
        inv = inv * layer.gamma
    offset = (-layer.moving_mean * inv if layer.beta is None
              else layer.beta - layer.moving_mean * inv)
    y = g.op("Mul", [x.name, g.weight(inv.reshape(bshape), f"{layer.name}/scale")])
    y = g.op("Add", [y, g.weight(offset.reshape(bshape), f"{layer.name}/offset")],
             hint=layer.name)
    return [Tensor(y, x.shape, mask=x.mask)]


@converter(LayerNormalization)
def layer_normalization(g, layer, inputs):
    x = single_input(layer, inputs)
    float32_weights(layer)
    rank = len(x.shape)
    axes = layer._axes(rank)
    params = layer.gamma if layer.gamma is not None else layer.beta
    if not layer.rms_scaling and params is not None and axes == tuple(range(axes[0], rank)):
        y = _onnx_layer_normalization(g, layer, x, axes[0], params.shape)
    else:
        y = _spelled_out(g, layer, x, axes, params)
    return [Tensor(y, x.shape, mask=x.mask)]


def _onnx_layer_normalization(g, layer, x, axis, shape):
    gamma = layer.gamma if layer.gamma is not None else np.ones(shape, _F32)
    names = [x.name, g.weight(gamma, f"{layer.name}/gamma")]
    if layer.beta is not None:
        names.append(g.weight(layer.beta, f"{layer.name}/beta"))
    return g.op("LayerNormalization", names, axis=axis, epsilon=float(layer.epsilon),
                hint=layer.name)


def _spelled_out(g, layer, x, axes, params):
    """fastrnn's formula: x * inv + (beta - mean * inv), inv = gamma / sqrt(var + epsilon);
    rms_scaling: x * gamma / sqrt(var + epsilon)."""
    bshape = [1] * len(x.shape)
    for a, size in zip(axes, () if params is None else params.shape):
        bshape[a] = size
    mean = g.reduce("ReduceMean", x.name, axes, keepdims=1, hint="mean")
    xc = g.op("Sub", [x.name, mean])
    var = g.reduce("ReduceMean", g.op("Mul", [xc, xc]), axes, keepdims=1, hint="variance")
    r = g.op("Div", [g.const(1.0), g.op("Sqrt", [g.op("Add", [var, g.const(layer.epsilon)])])])
    gamma = None if layer.gamma is None else g.weight(layer.gamma.reshape(bshape),
                                                      f"{layer.name}/gamma")
    if layer.rms_scaling:
        y = g.op("Mul", [x.name, r])
        return y if gamma is None else g.op("Mul", [y, gamma], hint=layer.name)
    inv = r if gamma is None else g.op("Mul", [r, gamma], hint="inv")
    shift = g.op("Mul", [mean, inv])
    offset = (g.op("Neg", [shift]) if layer.beta is None else
              g.op("Sub", [g.weight(layer.beta.reshape(bshape), f"{layer.name}/beta"), shift]))
    return g.op("Add", [g.op("Mul", [x.name, inv]), offset], hint=layer.name)
