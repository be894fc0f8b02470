"""Keras 3's weight constraints MaxNorm, NonNeg, UnitNorm, MinMaxNorm (`w_new = c(w)`).

Formulas from keras/src/constraints/constraints.py, computed in the weight's dtype with
Keras' epsilon 1e-7. Keras applies them to every trainable weight that has one, right after
the optimizer's update of each step (optimizers/base_optimizer.py: apply).
"""
import numpy as np

from . import _serialization

_EPSILON = 1e-7      # keras.config.epsilon()


def _array(w):
    w = np.asarray(w)
    return w if w.dtype.kind == "f" else w.astype(np.float32)


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w, axis):
    return np.sqrt(np.square(w).sum(axis=_axis(axis), keepdims=True))


class Constraint:
    """Base class: `c(w)` returns the projected weight (the identity here)."""

    def __call__(self, w):
        return w

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class MaxNorm(Constraint):
    """Rescale each slice along `axis` whose L2 norm exceeds `max_value` down to it."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value)
        return w * (desired / (w.dtype.type(_EPSILON) + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """max(w, 0)."""

    def __call__(self, w):
        w = _array(w)
        return np.maximum(w, w.dtype.type(0))


class UnitNorm(Constraint):
    """w / (epsilon + norm along `axis`)."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _array(w)
        return w / (w.dtype.type(_EPSILON) + _norms(w, self.axis))

    def get_config(self):
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms moved to `rate * clip(norm, min_value, max_value) + (1 - rate) * norm`."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        w = _array(w)
        t = w.dtype.type
        norms = _norms(w, self.axis)
        desired = (t(self.rate) * np.clip(norms, t(self.min_value), t(self.max_value))
                   + t(1 - self.rate) * norms)
        return w * (desired / (t(_EPSILON) + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm
_KIND = _serialization.Kind("constraint", "keras.constraints", Constraint,
                           (MaxNorm, NonNeg, UnitNorm, MinMaxNorm))
get = _KIND.get                    # Keras' constraints.get: None, name, class, instance, config
serialize = _KIND.serialize
deserialize = _KIND.deserialize
