"""Masking with Keras 3 semantics."""
import numpy as np

from .base import Layer
from .core import _as_float32
from .registry import register


@register
class Masking(Layer):
    """A step whose features all equal `mask_value` is masked: its output is zeroed and the
    mask passed on is `any(inputs != mask_value, axis=-1)` (an incoming mask is replaced)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float, np.number)):
            raise TypeError(f"Masking: mask_value expected a number, got {mask_value!r}")
        self.mask_value = mask_value
        self._keep = None
        self._inputs = None
        self.built = True   # no weights

    def _keep_of(self, inputs):
        if inputs is self._inputs:      # compute_mask right after call: reuse the call's mask
            return self._keep
        return np.any(_as_float32(inputs) != np.float32(self.mask_value), axis=-1,
                      keepdims=True)

    def call(self, inputs, mask=None, training=False):
        x = _as_float32(inputs)
        if x.ndim < 2:
            raise ValueError(f"{self.name}: expected inputs of rank >= 2, got shape {x.shape}")
        self._inputs, self._keep = None, None
        keep = self._keep_of(inputs)
        self._inputs, self._keep = inputs, keep
        return np.where(keep, x, np.float32(0))

    def backward(self, d_outputs):
        if self._keep is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        self.grads = []
        return np.where(self._keep, _as_float32(d_outputs), np.float32(0))

    def compute_mask(self, inputs, mask=None):
        return self._keep_of(inputs)[..., 0]

    def get_config(self):
        cfg = super().get_config()
        cfg["mask_value"] = self.mask_value
        return cfg
