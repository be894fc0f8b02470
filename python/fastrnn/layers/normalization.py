"""BatchNormalization and LayerNormalization with Keras 3 semantics (TensorFlow's formulas).

Both normalise as `tf.nn.batch_normalization` does: `inv = gamma / sqrt(var + epsilon)`,
`y = x * inv + (beta - mean * inv)`, with the biased variance (`tf.nn.moments`).
"""
import warnings

import numpy as np

from .. import constraints
from .. import initializers
from .. import regularizers
from .base import Layer
from .core import _as_float32
from .registry import register

_F32 = np.float32
_KERAS_EPSILON = 1e-7      # keras.config.epsilon(), used by the masked moments


def _normalize(x, mean, var, epsilon, gamma, beta):
    """TensorFlow's batch_normalization; returns (y, 1 / sqrt(var + epsilon))."""
    r = _F32(1) / np.sqrt(var + _F32(epsilon))
    inv = r if gamma is None else r * gamma
    offset = -mean * inv if beta is None else beta - mean * inv
    return x * inv + offset, r


class _Normalization(Layer):
    supports_masking = True

    def _init_params(self, center, scale, beta_initializer, gamma_initializer,
                     beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint):
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self._cache = None

    def _add_params(self, shape, gamma, beta):
        self.gamma = self.beta = None
        if gamma:
            self.gamma = self.add_weight("gamma", shape, self.gamma_initializer,
                                         regularizer=self.gamma_regularizer,
                                         constraint=self.gamma_constraint)
        if beta:
            self.beta = self.add_weight("beta", shape, self.beta_initializer,
                                        regularizer=self.beta_regularizer,
                                        constraint=self.beta_constraint)

    def _check_called(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")

    def _params_config(self):
        return dict(
            center=self.center, scale=self.scale,
            beta_initializer=initializers.serialize(self.beta_initializer),
            gamma_initializer=initializers.serialize(self.gamma_initializer),
            beta_regularizer=regularizers.serialize(self.beta_regularizer),
            gamma_regularizer=regularizers.serialize(self.gamma_regularizer),
            beta_constraint=constraints.serialize(self.beta_constraint),
            gamma_constraint=constraints.serialize(self.gamma_constraint))


@register
class BatchNormalization(_Normalization):
    """Normalises over every axis but `axis` with the batch's statistics in training (when the
    layer is trainable; a mask restricts them to unmasked steps) and the moving ones otherwise.
    Training updates `moving = moving * momentum + batch * (1 - momentum)`. Weights: gamma,
    beta (trainable), moving_mean, moving_variance (non-trainable; their grads are None)."""

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                 synchronized=False, **kwargs):
        if renorm:
            raise NotImplementedError("BatchNormalization: renorm=True is not supported by "
                                      "fastrnn")
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:   # Keras 2 configs: [axis]
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"BatchNormalization: axis expected an int, got {axis!r}")
        self.axis = int(axis)
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        # one process, one device: synchronized statistics are the local ones (as Keras
        # computes them without a distribution strategy)
        self.synchronized = bool(synchronized)
        self.renorm, self.renorm_clipping = False, renorm_clipping
        self.renorm_momentum = renorm_momentum
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self._init_params(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                          gamma_regularizer, beta_constraint, gamma_constraint)

    def _axis_of(self, ndim):
        if not -ndim <= self.axis < ndim:
            raise ValueError(f"Axis {self.axis} is out of bounds for input of rank {ndim}. "
                             f"Received: axis={self.axis}")
        return self.axis % ndim

    def build(self, input_shape):
        channels = input_shape[self._axis_of(len(input_shape))]
        if channels is None:
            raise ValueError(f"{self.name}: the dimension of axis {self.axis} must be known, "
                             f"got input shape {tuple(input_shape)}")
        shape = (int(channels),)
        self._add_params(shape, self.scale, self.center)
        self.moving_mean = self.add_weight("moving_mean", shape, self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               self.moving_variance_initializer, trainable=False)
        self.built = True

    def call(self, inputs, mask=None, training=False):
        x = _as_float32(inputs)
        axis = self._axis_of(x.ndim)
        if x.shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(f"{self.name}: expected inputs with {self.moving_mean.shape[0]} "
                             f"entries on axis {self.axis}, got shape {x.shape}")
        bshape = [1] * x.ndim
        bshape[axis] = x.shape[axis]
        red = tuple(i for i in range(x.ndim) if i != axis)
        w = None
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.ndim != x.ndim - 1:
                raise ValueError("The mask provided should be one dimension less than the "
                                 f"inputs. Received: mask.shape={mask.shape}, "
                                 f"inputs.shape={x.shape}")
        batch_stats = bool(training) and self.trainable
        if batch_stats:
            if mask is None:
                count = _F32(np.prod([x.shape[i] for i in red]))
                mean = x.mean(axis=red, keepdims=True)
                xc = x - mean
                var = np.square(xc).mean(axis=red, keepdims=True)
            else:
                w = np.broadcast_to(mask[..., None], x.shape)
                count = w.sum(axis=red, keepdims=True, dtype=_F32) + _F32(_KERAS_EPSILON)
                mean = np.where(w, x, _F32(0)).sum(axis=red, keepdims=True) / count
                xc = x - mean
                var = np.square(np.where(w, xc, _F32(0))).sum(axis=red, keepdims=True) / count
            m = _F32(self.momentum)
            keep = _F32(1.0 - self.momentum)
            self.moving_mean[...] = self.moving_mean * m + mean.reshape(-1) * keep
            self.moving_variance[...] = self.moving_variance * m + var.reshape(-1) * keep
        else:
            mean = self.moving_mean.reshape(bshape)
            var = self.moving_variance.reshape(bshape)
            xc = count = None
        gamma = None if self.gamma is None else self.gamma.reshape(bshape)
        beta = None if self.beta is None else self.beta.reshape(bshape)
        y, r = _normalize(x, mean, var, self.epsilon, gamma, beta)
        self._cache = (x, mean, xc, r, w, count, red, bshape, batch_stats)
        return y

    def backward(self, d_outputs):
        self._check_called()
        x, mean, xc, r, w, count, red, bshape, batch_stats = self._cache
        dy = _as_float32(d_outputs)
        dxhat = dy if self.gamma is None else dy * self.gamma.reshape(bshape)
        if batch_stats:
            dvar = (dxhat * xc).sum(axis=red, keepdims=True) * (_F32(-0.5) * r ** 3)
            dmean = -r * dxhat.sum(axis=red, keepdims=True)
            wxc = xc if w is None else np.where(w, xc, _F32(0))
            if w is not None:   # Keras' masked variance also depends on the mean
                dmean += dvar * (_F32(-2) / count) * wxc.sum(axis=red, keepdims=True)
            dx = dxhat * r + dvar * (_F32(2) / count) * wxc + dmean / count * \
                (_F32(1) if w is None else w)
        else:
            dx = dxhat * r
            xc = x - mean
        grads = []
        if self.gamma is not None:
            grads.append((dy * xc * r).sum(axis=red))
        if self.beta is not None:
            grads.append(dy.sum(axis=red))
        self.grads = grads + [None, None]
        return dx.astype(_F32, copy=False)

    def compute_output_shape(self, input_shape):
        self._axis_of(len(input_shape))
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                   **self._params_config(),
                   moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
                   moving_variance_initializer=initializers.serialize(
                       self.moving_variance_initializer),
                   synchronized=self.synchronized, renorm=self.renorm,
                   renorm_clipping=self.renorm_clipping, renorm_momentum=self.renorm_momentum)
        return cfg


@register
class LayerNormalization(_Normalization):
    """Normalises each sample over `axis` (an int or a list; -1 by default) with its own
    mean and variance; epsilon is added to the variance inside the square root. The deprecated
    `rms_scaling=True` (Keras: scale by 1 / sqrt(var + epsilon), no centering, no beta) is
    supported with Keras' warning. The mask passes through unused."""

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        rms_scaling = kwargs.pop("rms_scaling", False)
        if rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument "
                          "incorrectly scales the input by the variance, not the root mean "
                          "square. To correctly use RMS Normalization, please use "
                          "`keras.layers.RMSNormalization` instead.", stacklevel=2)
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            axis = list(axis)
        elif isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        self.axis = axis if isinstance(axis, list) else int(axis)
        self.epsilon = epsilon
        self.rms_scaling = bool(rms_scaling)
        self._init_params(center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                          gamma_regularizer, beta_constraint, gamma_constraint)

    def _axes(self, ndim):
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(f"Axis {a} is out of bounds for input shape of rank {ndim}. "
                                 f"Received: axis={self.axis}")
        return tuple(sorted(a % ndim for a in axes))

    def build(self, input_shape):
        axes = self._axes(len(input_shape))
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]  # Keras
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(f"{self.name}: the normalised dimensions must be known, got input "
                             f"shape {tuple(input_shape)}")
        self._add_params(shape, self.scale or self.rms_scaling,
                         self.center and not self.rms_scaling)
        self.built = True

    def call(self, inputs, mask=None, training=False):
        x = _as_float32(inputs)
        axes = self._axes(x.ndim)
        params = self.gamma if self.gamma is not None else self.beta
        bshape = [x.shape[i] if i in axes else 1 for i in range(x.ndim)]
        if params is not None and tuple(x.shape[a] for a in axes) != params.shape:
            raise ValueError(f"{self.name}: expected inputs with dimensions {params.shape} on "
                             f"axes {list(axes)}, got shape {x.shape}")
        gamma = None if self.gamma is None else self.gamma.reshape(bshape)
        beta = None if self.beta is None else self.beta.reshape(bshape)
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = np.square(xc).mean(axis=axes, keepdims=True)
        if self.rms_scaling:
            r = _F32(1) / np.sqrt(var + _F32(self.epsilon))
            y = x * r if gamma is None else x * r * gamma
        else:
            y, r = _normalize(x, mean, var, self.epsilon, gamma, beta)
        self._cache = (x, xc, r, axes, bshape)
        return y

    def backward(self, d_outputs):
        self._check_called()
        x, xc, r, axes, bshape = self._cache
        dy = _as_float32(d_outputs)
        u = dy if self.gamma is None else dy * self.gamma.reshape(bshape)
        others = tuple(i for i in range(x.ndim) if i not in axes)
        if self.rms_scaling:
            dx = u * r - r ** 3 * xc * (u * x).mean(axis=axes, keepdims=True)
            normalized = x * r
        else:
            normalized = xc * r
            dx = r * (u - u.mean(axis=axes, keepdims=True) -
                      normalized * (u * normalized).mean(axis=axes, keepdims=True))
        grads = []
        if self.gamma is not None:
            grads.append((dy * normalized).sum(axis=others).reshape(self.gamma.shape))
        if self.beta is not None:
            grads.append(dy.sum(axis=others).reshape(self.beta.shape))
        self.grads = grads
        return dx.astype(_F32, copy=False)

    def compute_output_shape(self, input_shape):
        self._axes(len(input_shape))
        return tuple(input_shape)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, epsilon=self.epsilon, rms_scaling=self.rms_scaling,
                   **self._params_config())
        return cfg
