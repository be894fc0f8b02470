"""1D pooling with Keras 3 semantics: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
GlobalAveragePooling1D (the only one of them that uses a mask; none passes one on).

Gradients follow TensorFlow's: a window's max gets the whole gradient (the first maximum on
ties, as MaxPoolGrad), a global max shares it equally between tied maxima (reduce_max's
gradient); "same" average pooling divides by the window's real (unpadded) length.
"""
import numpy as np

from . import _windows as win
from .base import Layer
from .core import _as_float32
from .registry import register


class _Pooling1D(Layer):
    _mode = None    # "max" | "average"

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = win.standardize_tuple(pool_size, 1, "pool_size")
        self.strides = win.standardize_tuple(pool_size if strides is None else strides, 1,
                                             "strides")
        self.padding = win.standardize_padding(padding)
        self.data_format = win.standardize_data_format(data_format)
        self._x = None
        self.built = True   # no weights

    def call(self, inputs, mask=None, training=False):
        x = _as_float32(inputs)
        win.check_rank(self, x, 3)
        x = win.channels_last(x, self.data_format)
        (p,), (s,) = self.pool_size, self.strides
        out_len = win.output_length(x.shape[1], p, s, self.padding)
        left, right = win.pad_amounts(x.shape[1], p, s, self.padding)
        if self._mode == "max":
            xp = win.pad_time(x, left, right, -np.inf)
            y = self._y = win.windows(xp, p, s, out_len).max(axis=2)
        else:
            xp = win.pad_time(x, left, right)
            y = win.windows(xp, p, s, out_len).sum(axis=2)
            # real (unpadded) elements per window
            ones = win.pad_time(np.ones((1, x.shape[1], 1), np.float32), left, right)
            self._counts = win.windows(ones, p, s, out_len).sum(axis=2)
            y /= self._counts
        self._x, self._pad = xp, (left, x.shape[1])
        return win.channels_last(y, self.data_format)

    def backward(self, d_outputs):
        if self._x is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        dy = win.channels_last(_as_float32(d_outputs), self.data_format)
        xp, (left, length) = self._x, self._pad
        (p,), (s,) = self.pool_size, self.strides
        if self._mode == "max":
            dxp = np.zeros(xp.shape, np.float32)
            windows, y = win.windows(xp, p, s, dy.shape[1]), self._y
            taken = np.zeros(y.shape, bool)
            stop = s * (dy.shape[1] - 1) + 1
            for j in range(p):      # the first maximum of each window takes the gradient
                hit = windows[:, :, j] == y
                hit &= ~taken
                dxp[:, j:j + stop:s] += hit * dy
                taken |= hit
        else:
            d_windows = np.broadcast_to((dy / self._counts)[:, :, None, :],
                                        dy.shape[:2] + (p, dy.shape[2]))
            dxp = win.add_windows(d_windows.astype(np.float32, copy=False), xp.shape[1], s)
        self.grads = []
        return win.channels_last(dxp[:, left:left + length], self.data_format)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        time_axis = 2 if self.data_format == "channels_first" else 1
        out = list(input_shape)
        out[time_axis] = win.output_length(input_shape[time_axis], self.pool_size[0],
                                           self.strides[0], self.padding)
        return tuple(out)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=self.pool_size, padding=self.padding, strides=self.strides,
                   data_format=self.data_format)
        return cfg


@register
class MaxPooling1D(_Pooling1D):
    _mode = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(pool_size, strides, padding, data_format, name, **kwargs)


@register
class AveragePooling1D(_Pooling1D):
    _mode = "average"


class _GlobalPooling1D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = win.standardize_data_format(data_format)
        self.keepdims = bool(keepdims)
        self._x = None
        self.built = True   # no weights

    def _steps_axis(self):
        return 2 if self.data_format == "channels_first" else 1

    def _check(self, inputs):
        x = _as_float32(inputs)
        win.check_rank(self, x, 3)
        return x

    def _expand(self, d_outputs):
        """d_outputs with the steps axis present (size 1), ready to broadcast."""
        dy = _as_float32(d_outputs)
        return dy if self.keepdims else np.expand_dims(dy, self._steps_axis())

    def compute_output_shape(self, input_shape):
        b, c = (input_shape[0], input_shape[1 if self.data_format == "channels_first" else 2])
        if not self.keepdims:
            return (b, c)
        return (b, c, 1) if self.data_format == "channels_first" else (b, 1, c)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(data_format=self.data_format, keepdims=self.keepdims)
        return cfg


@register
class GlobalMaxPooling1D(_GlobalPooling1D):
    """Max over the steps; a mask is ignored (Keras drops it too)."""

    def call(self, inputs, mask=None, training=False):
        self._x = x = self._check(inputs)
        self._y = x.max(axis=self._steps_axis(), keepdims=True)
        return self._y if self.keepdims else self._y.squeeze(self._steps_axis())

    def backward(self, d_outputs):
        if self._x is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        tied = self._x == self._y
        count = tied.view(np.uint8).sum(axis=self._steps_axis(), keepdims=True, dtype=np.int32)
        self.grads = []
        return np.multiply(tied, self._expand(d_outputs) / count, dtype=np.float32)


@register
class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps; with a mask, over the unmasked steps only (a row with every step
    masked gives 0/0 = NaN, as in Keras)."""

    supports_masking = True

    def call(self, inputs, mask=None, training=False):
        x = self._x = self._check(inputs)
        axis = self._steps_axis()
        if mask is None:
            self._mask, self._count = None, np.float32(x.shape[axis])
            return x.mean(axis=axis, keepdims=self.keepdims)
        m = np.asarray(mask, bool)
        if m.shape != (x.shape[0], x.shape[axis]):
            raise ValueError(f"{self.name}: expected a mask of shape {(x.shape[0], x.shape[axis])}"
                             f" (batch, steps), got {m.shape}")
        m = np.expand_dims(m, 2 if axis == 1 else 1)
        self._mask = m
        self._count = m.sum(axis=axis, keepdims=True, dtype=np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            y = np.where(m, x, np.float32(0)).sum(axis=axis, keepdims=True) / self._count
        return y if self.keepdims else y.squeeze(axis)

    def backward(self, d_outputs):
        if self._x is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        self.grads = []
        with np.errstate(invalid="ignore", divide="ignore"):
            d = self._expand(d_outputs) / self._count
        if self._mask is not None:
            d = np.where(self._mask, d, np.float32(0))
        return np.broadcast_to(d, self._x.shape).astype(np.float32)
