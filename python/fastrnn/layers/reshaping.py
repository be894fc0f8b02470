"""Flatten with Keras 3 semantics."""
import math

import numpy as np

from . import _windows as win
from .base import Layer
from .registry import register


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
