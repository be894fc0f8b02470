"""Utilities: `set_random_seed`, `to_categorical`, `pad_sequences` (Keras 3 `keras.utils` names)."""
import random as _py_random

import numpy as np

from . import random as frandom


def set_random_seed(seed):
    """Seed fastrnn's generator (weights, dropout, shuffling), NumPy's legacy global generator
    and Python's `random`, like `keras.utils.set_random_seed`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int, got {seed!r}")
    seed = int(seed)
    frandom.set_seed(seed)
    np.random.seed(seed % (2 ** 32))
    _py_random.seed(seed)


def to_categorical(x, num_classes=None):
    """One-hot encode integer labels: shape `x.shape + (num_classes,)`, float32.

    A trailing dimension of 1 is dropped first (Keras behaviour for `(n, 1)` labels).
    """
    x = np.asarray(x)
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or np.any(x != np.floor(x)):
            raise ValueError("to_categorical: labels must be integers")
    elif x.dtype.kind not in "iub":
        raise TypeError(f"to_categorical: expected integer labels, got dtype {x.dtype}")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x.reshape(x.shape[:-1])
    if x.size and x.min() < 0:
        raise ValueError(f"to_categorical: labels must be non-negative, got {x.min()}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif x.size and x.max() >= num_classes:
        raise ValueError(f"to_categorical: label {int(x.max())} is out of range for "
                         f"num_classes={num_classes}")
    out = np.zeros(x.shape + (int(num_classes),), np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def __getattr__(name):
    # keras.utils.pad_sequences: provided by fastrnn.preprocessing, imported on first use
    if name == "pad_sequences":
        from .preprocessing.sequence import pad_sequences
        return pad_sequences
    raise AttributeError(f"module 'fastrnn.utils' has no attribute {name!r}")
