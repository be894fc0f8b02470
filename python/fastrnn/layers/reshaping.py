"""Flatten, RepeatVector, Reshape and Permute with Keras 3 semantics; none of them keeps a
mask."""
import math

import numpy as np

from . import _windows as win
from .base import Layer
from .registry import register


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


class _NoWeights(Layer):
    _call_state = ("_in_shape",)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True
        self._in_shape = None


@register
class RepeatVector(_NoWeights):
    """[B, D] -> [B, n, D]: the input repeated n times along a new time axis."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = _positive_int(n, "n")

    def compute_output_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{self.name}: expected input of rank 2 [batch, features], got "
                             f"shape {tuple(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def call(self, inputs, mask=None, training=False):
        x = np.asarray(inputs)
        self.compute_output_shape(x.shape)
        return np.repeat(x[:, None, :], self.n, axis=1)

    def backward(self, d_outputs):
        self.grads = []
        return np.asarray(d_outputs).sum(axis=1)

    def get_config(self):
        return {**super().get_config(), "n": self.n}


def _resolve_target(in_shape, target, name):
    """Keras' reshape rule for the non-batch axes (one -1 allowed)."""
    known = math.prod(in_shape) if None not in in_shape else None
    if -1 not in target:
        if known is not None and known != math.prod(target):
            raise ValueError(f"{name}: the input of shape {tuple(in_shape)} has {known} values per "
                             f"sample, target_shape {tuple(target)} needs {math.prod(target)}")
        return tuple(target)
    rest = math.prod(d for d in target if d != -1)
    if known is None:
        return tuple(None if d == -1 else d for d in target)
    if rest == 0 or known % rest:
        raise ValueError(f"{name}: cannot reshape an input of shape {tuple(in_shape)} into "
                         f"target_shape {tuple(target)}")
    return tuple(known // rest if d == -1 else d for d in target)


@register
class Reshape(_NoWeights):
    """Reshapes each sample to `target_shape` (one entry may be -1)."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target = tuple(target_shape)
        if not target or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or
                             (d < 1 and d != -1) for d in target) or target.count(-1) > 1:
            raise ValueError("target_shape: expected a tuple of positive integers with at most "
                             f"one -1, got {target_shape!r}")
        self.target_shape = tuple(int(d) for d in target)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + _resolve_target(tuple(input_shape[1:]), self.target_shape,
                                                   self.name)

    def call(self, inputs, mask=None, training=False):
        x = np.asarray(inputs)
        self._in_shape = x.shape
        return x.reshape((x.shape[0],) + _resolve_target(x.shape[1:], self.target_shape,
                                                         self.name))

    def backward(self, d_outputs):
        self.grads = []
        return np.asarray(d_outputs).reshape(self._in_shape)

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


@register
class Permute(_NoWeights):
    """Permutes the non-batch axes: `dims` is a permutation of 1..rank-1."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError("dims: expected a permutation of 1..n (consecutive, starting at 1), "
                             f"got {dims!r}")
        self.dims = tuple(int(d) for d in dims)

    def compute_output_shape(self, input_shape):
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"{self.name}: expected input of rank {len(self.dims) + 1}, got "
                             f"shape {tuple(input_shape)}")
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, inputs, mask=None, training=False):
        x = np.asarray(inputs)
        self.compute_output_shape(x.shape)
        return np.transpose(x, (0,) + self.dims)

    def backward(self, d_outputs):
        self.grads = []
        return np.transpose(np.asarray(d_outputs), np.argsort((0,) + self.dims))

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


@register
class Flatten(Layer):
    """[batch, ...] -> [batch, prod(...)]; channels_first inputs are moved to channels-last
    order first (as Keras does), so the flattened order does not depend on data_format."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = win.standardize_data_format(data_format)
        self._shape = None
        self.built = True   # no weights

    def _channels_first(self, ndim):
        return self.data_format == "channels_first" and ndim > 2

    def call(self, inputs, mask=None, training=False):
        x = np.asarray(inputs)
        if x.ndim == 0:
            raise ValueError(f"{self.name}: expected inputs of rank >= 1, got a scalar")
        self._shape = x.shape
        if self._channels_first(x.ndim):
            x = np.moveaxis(x, 1, -1)
        return x.reshape(x.shape[0], -1)

    def backward(self, d_outputs):
        if self._shape is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        self.grads = []
        shape = self._shape
        if self._channels_first(len(shape)):
            d = np.reshape(d_outputs, (shape[0],) + shape[2:] + (shape[1],))
            return np.moveaxis(d, -1, 1)
        return np.reshape(d_outputs, shape)

    def compute_output_shape(self, input_shape):
        rest = tuple(input_shape)[1:]
        if any(d is None for d in rest):
            return (input_shape[0], None)
        return (input_shape[0], math.prod(rest))

    def get_config(self):
        cfg = super().get_config()
        cfg["data_format"] = self.data_format
        return cfg
