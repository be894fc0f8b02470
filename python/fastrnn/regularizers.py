"""Keras 3's weight/activity regularizers L1, L2, L1L2: penalty values and their gradients.

`reg(x)` is Keras' penalty, computed like Keras in the weight's dtype (the factor cast to it
first); `reg.grad(x)` is its gradient with respect to `x` (TensorFlow's: d|x|/dx = sign(x),
0 at 0). Names as in Keras 3 ("l1", "L1", "l2", "L2", "l1l2", "L1L2") plus "l1_l2", which Keras
2 (tf-keras) accepts and Keras 3 rejects: it means L1L2(l1=0.01, l2=0.01), as in Keras 2 and
as Keras 3's own L1L2 docstring says.

How a trainer uses them (Keras 3, trainers/trainer.py and layers/layer.py): the total loss is
the compiled loss (already reduced over the batch) plus the sum of every penalty, unscaled,
for each trainable weight that has a regularizer; an activity regularizer adds
`reg(output) / batch_size` (0 when the batch is empty) for each output of the layer's call.
"""
import math

import numpy as np

from . import _serialization



def _factor(value, name):
    """Keras' `validate_float_arg`: a finite, non-negative number, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            math.isinf(value) or math.isnan(value) or value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float."
                         f"Received: {name}={value!r}")
    return float(value)


def _array(x):
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float32)


class Regularizer:
    """Base class: `reg(x)` -> penalty (a scalar of x's dtype), `reg.grad(x)` -> d penalty / dx."""

    def __call__(self, x):
        return 0.0

    def grad(self, x):
        return np.zeros_like(_array(x))

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


def _l1(factor, x):
    return factor * np.abs(x).sum(dtype=x.dtype)


def _l2(factor, x):
    return factor * np.square(x).sum(dtype=x.dtype)


class L1L2(Regularizer):
    """`l1 * sum(|x|) + l2 * sum(x**2)`, each term only when its factor is non-zero."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(0.0 if l1 is None else l1, "l1")
        self.l2 = _factor(0.0 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _array(x)
        total = x.dtype.type(0)
        if self.l1 != 0.0:
            total += _l1(x.dtype.type(self.l1), x)
        if self.l2 != 0.0:
            total += _l2(x.dtype.type(self.l2), x)
        return total

    def grad(self, x):
        x = _array(x)
        g = np.zeros_like(x)
        if self.l1 != 0.0:
            g += x.dtype.type(self.l1) * np.sign(x)
        if self.l2 != 0.0:
            g += x.dtype.type(2 * self.l2) * x
        return g

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """`l1 * sum(|x|)`. Keras keeps l1 as a float32 tensor, so its config reports
    float(float32(l1)) (0.009999999776482582 for the default)."""

    def __init__(self, l1=0.01):
        self.l1 = float(np.float32(_factor(0.01 if l1 is None else l1, "l1")))

    def __call__(self, x):
        x = _array(x)
        return _l1(x.dtype.type(self.l1), x)

    def grad(self, x):
        x = _array(x)
        return x.dtype.type(self.l1) * np.sign(x)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """`l2 * sum(x**2)`."""

    def __init__(self, l2=0.01):
        self.l2 = _factor(0.01 if l2 is None else l2, "l2")

    def __call__(self, x):
        x = _array(x)
        return _l2(x.dtype.type(self.l2), x)

    def grad(self, x):
        x = _array(x)
        return x.dtype.type(2 * self.l2) * x

    def get_config(self):
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2      # Keras' function-style aliases (the classes themselves)
_KIND = _serialization.Kind("regularizer", "keras.regularizers", Regularizer, (L1, L2, L1L2),
                           by_name={"l1_l2": lambda: L1L2(l1=0.01, l2=0.01)})
get = _KIND.get                    # Keras' regularizers.get: None, name, class, instance, config
serialize = _KIND.serialize
deserialize = _KIND.deserialize
