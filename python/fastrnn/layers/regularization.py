"""SpatialDropout1D with Keras 3 semantics."""
from . import _windows as win
from .core import Dropout, _as_float32
from .registry import register


@register
class SpatialDropout1D(Dropout):
    """Dropout of whole channels: one keep/drop draw per (sample, channel), shared by every
    step, at training time only (kept channels scaled by 1 / (1 - rate))."""

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name,
                         **({} if dtype is None else {"dtype": dtype}))
        self.noise_shape = (None, 1, None)

    def call(self, inputs, mask=None, training=False):
        if training and self.rate > 0:
            win.check_rank(self, _as_float32(inputs), 3)
        return super().call(inputs, mask=mask, training=training)

    def get_config(self):
        return {"rate": self.rate, "seed": self.seed, "name": self.name,
                "dtype": self.dtype.name}
