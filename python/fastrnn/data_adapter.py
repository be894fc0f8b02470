"""Turning what users pass to fit/evaluate/predict into checked arrays and batches.

- `to_array` accepts array-likes, rejects ragged and non-numeric data with a hint, and makes
  floats float32 (ints and bools stay: embeddings take ids);
- `check_xy` checks batch dimensions and that inputs and targets agree in length;
- `BatchStream` yields the index batches of an epoch (Keras: a fresh permutation per epoch
  when shuffling, the last batch may be partial);
- `positive_int`/`non_negative_int`/`unit_interval` validate loop arguments.
Structures (a list or dict of arrays, one per model input or output) go through
`to_arrays`/`check_structure`, which apply the same rules to every member.
"""
import numpy as np


def to_array(x, what):
    if x is None:
        return None
    if isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
        x = x[0]
    try:
        arr = np.asarray(x)
    except ValueError as e:    # ragged nested lists (NumPy >= 1.24 refuses them)
        raise ValueError(f"{what}: expected a rectangular numeric array, got ragged data "
                         "(pad sequences first, e.g. fastrnn.preprocessing.pad_sequences): "
                         f"{e}") from None
    if arr.dtype == object:
        raise ValueError(f"{what}: expected a rectangular numeric array, got ragged/object data "
                         "(pad sequences first, e.g. fastrnn.preprocessing.pad_sequences)")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a real numeric array (bool, int or float), got "
                        f"dtype {arr.dtype}")
    if arr.dtype.kind == "f" and arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr


def check_xy(x, y, what="x"):
    if x is None:
        raise ValueError(f"{what}: no input data given")
    if x.ndim == 0:
        raise ValueError(f"{what}: expected an array with a batch dimension, got a scalar")
    if len(x) == 0:
        raise ValueError(f"{what}: expected at least one sample, got shape {x.shape}")
    yname = what[:-1] + "y"     # "x" -> "y", "validation x" -> "validation y"
    if y is not None and y.ndim == 0:
        raise ValueError(f"{yname}: expected an array with a batch dimension, got a scalar "
                         f"({y.item()!r})")
    if y is not None and len(y) != len(x):
        raise ValueError(f"Data cardinality is ambiguous: {what} has {len(x)} samples but "
                         f"{yname} has {len(y)} samples. Make sure all arrays contain the same "
                         "number of samples.")


def positive_int(value, name, default=None):
    """`value` as a positive int (None -> `default`); ValueError naming `name` otherwise."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer"
                         f"{' or None' if default is not None else ''}, got {value!r}")
    return int(value)


def non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
    return int(value)


def unit_interval(value, name):
    """A float in [0, 1) (validation_split)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name}: expected a float in [0, 1), got {value!r}")
    return float(value)


class BatchStream:
    """Yields index batches; reshuffles when the data is exhausted."""

    def __init__(self, n, batch_size, shuffle, rng):
        self.n, self.batch_size, self.shuffle, self.rng = n, batch_size, shuffle, rng
        self.order = None
        self.pos = 0

    def new_epoch(self):
        self.order = self.rng.permutation(self.n) if self.shuffle else None
        self.pos = 0

    def next(self):
        if self.order is None and self.shuffle or self.pos >= self.n:
            self.new_epoch()
        start, stop = self.pos, min(self.pos + self.batch_size, self.n)
        self.pos = stop
        if self.order is None:
            return slice(start, stop)
        return self.order[start:stop]
