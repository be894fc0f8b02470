"""Flatten, RepeatVector, Reshape and Permute (layers/reshaping.py); none passes a mask on."""
import math

import numpy as np

from ...layers import Flatten, Permute, RepeatVector, Reshape
from .graph import Tensor
from .registry import converter, single_input


def _product(dims):
    return math.prod(dims) if all(isinstance(d, int) for d in dims) else None


@converter(Flatten)
def flatten(g, layer, inputs):
    """Channels-first inputs are moved to channels-last order first, as fastrnn does."""
    x = single_input(layer, inputs)
    name, rank = x.name, len(x.shape)
    if layer.data_format == "channels_first" and rank > 2:
        name = g.op("Transpose", [name], perm=[0] + list(range(2, rank)) + [1])
    out = g.op("Flatten", [name], axis=1, hint=layer.name)
    return [Tensor(out, (x.shape[0], _product(x.shape[1:])))]


@converter(RepeatVector)
def repeat_vector(g, layer, inputs):
    x = single_input(layer, inputs)
    out = g.op("Expand", [g.unsqueeze(x.name, [1]), g.const([1, layer.n, 1], np.int64)],
               hint=layer.name)
    return [Tensor(out, (x.shape[0], layer.n, x.shape[1]))]


@converter(Reshape)
def reshape(g, layer, inputs):
    """The batch axis is kept (0 in ONNX's shape), the target may hold one -1."""
    x = single_input(layer, inputs)
    target = list(layer.target_shape)
    out = g.op("Reshape", [x.name, g.const([0] + target, np.int64)], hint=layer.name)
    dims = tuple(target)
    if -1 in target:
        known = _product(x.shape[1:])
        rest = math.prod(d for d in target if d != -1)
        dims = tuple((None if known is None else known // rest) if d == -1 else d
                     for d in target)
    return [Tensor(out, (x.shape[0],) + dims)]


@converter(Permute)
def permute(g, layer, inputs):
    x = single_input(layer, inputs)
    perm = [0] + list(layer.dims)
    out = g.op("Transpose", [x.name], perm=perm, hint=layer.name)
    return [Tensor(out, tuple(x.shape[i] for i in perm))]
