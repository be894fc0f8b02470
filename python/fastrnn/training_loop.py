"""The fit / evaluate / predict loops of `Sequential` (Keras 3 semantics).

- `validation_split` takes the LAST fraction of the arrays, before any shuffling;
- `shuffle=True` draws a fresh permutation every epoch from fastrnn's global generator
  (so `fastrnn.utils.set_random_seed` makes runs reproducible); the last batch may be partial;
- logs are running means over the epoch (loss weighted by batch size), keys sorted like Keras;
  validation metrics get the `val_` prefix; History records the epoch logs.
"""
import math

import numpy as np

from . import random as frandom
from .callbacks import CallbackList


def _array(x, what):
    from .models import _to_array
    return _to_array(x, what)


def _unpack_validation(data):
    if isinstance(data, (tuple, list)) and len(data) in (2, 3):
        if len(data) == 3 and data[2] is not None:
            raise NotImplementedError("validation sample weights are not supported by fastrnn")
        return _array(data[0], "validation x"), _array(data[1], "validation y")
    raise ValueError("validation_data must be a tuple (x_val, y_val) or a list [x_val, y_val], "
                     f"got {type(data).__name__}")


def _check_xy(x, y, what="x"):
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
                         f"{yname} has "
                         f"{len(y)} samples. Make sure all arrays contain the same number of "
                         "samples.")


def _positive_int(value, name, default=None):
    """`value` as a positive int (None -> `default`); ValueError naming `name` otherwise."""
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer"
                         f"{' or None' if default is not None else ''}, got {value!r}")
    return int(value)


def _non_negative_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {value!r}")
    return int(value)


class _BatchStream:
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


def fit_loop(model, x, y, batch_size=None, epochs=1, verbose=1, callbacks=None,
             validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
             steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
             validation_freq=1):
    x, y = _array(x, "x"), _array(y, "y")
    _check_xy(x, y)
    if y is None:
        raise ValueError("fit: y (the targets) is required")
    batch_size = _positive_int(batch_size, "batch_size", 32)
    epochs = _non_negative_int(epochs, "epochs")
    initial_epoch = _non_negative_int(initial_epoch, "initial_epoch")
    if steps_per_epoch is not None:
        steps_per_epoch = _positive_int(steps_per_epoch, "steps_per_epoch")
    if validation_steps is not None:
        validation_steps = _positive_int(validation_steps, "validation_steps")
    if validation_batch_size is not None:
        validation_batch_size = _positive_int(validation_batch_size, "validation_batch_size")
    validation_freq = _positive_int(validation_freq, "validation_freq")
    if isinstance(validation_split, bool) or \
            not isinstance(validation_split, (int, float, np.integer, np.floating)) or \
            not 0.0 <= float(validation_split) < 1.0:
        raise ValueError("validation_split: expected a float in [0, 1), got "
                         f"{validation_split!r}")
    if validation_split and validation_data is None:
        n = len(x)
        split_at = int(math.floor(n * (1.0 - validation_split)))
        if split_at == 0 or split_at == n:
            raise ValueError(
                f"Training data contains {n} samples, which is not sufficient to split it into a "
                f"validation and training set as specified by `validation_split="
                f"{validation_split}`. Either provide more data, or a different value for the "
                "`validation_split` argument.")
        x, val_x = x[:split_at], x[split_at:]
        y, val_y = y[:split_at], y[split_at:]
        validation_data = (val_x, val_y)
    if validation_data is not None:
        val_x, val_y = _unpack_validation(validation_data)
        _check_xy(val_x, val_y, "validation x")
    model._ensure_built(x)
    model._check_input_values(x)
    if validation_data is not None:
        model._check_input_values(val_x)
    n = len(x)
    steps = int(steps_per_epoch) if steps_per_epoch else math.ceil(n / batch_size)
    cbs = CallbackList(callbacks, add_history=True, add_progbar=verbose != 0, model=model,
                       verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    stream = _BatchStream(n, batch_size, shuffle, frandom.generator())
    cbs.on_train_begin()
    training_logs = None
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        if not steps_per_epoch:
            stream.new_epoch()
        for step in range(steps):
            idx = stream.next()
            cbs.on_train_batch_begin(step)
            model._step(x[idx], y[idx], training=True)
            cbs.on_train_batch_end(step, model._logs())
            if model.stop_training:
                break
        epoch_logs = model._logs()
        if validation_data is not None and (epoch + 1) % validation_freq == 0:
            val_logs = evaluate_loop(model, val_x, val_y,
                                     batch_size=validation_batch_size or batch_size, verbose=0,
                                     steps=validation_steps, callback_list=cbs)
            epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
        cbs.on_epoch_end(epoch, epoch_logs)
        training_logs = epoch_logs
        if model.stop_training:
            break
    cbs.on_train_end(logs=training_logs)
    return cbs.history


def evaluate_loop(model, x, y, batch_size=None, verbose=1, steps=None, callbacks=None,
                  callback_list=None):
    x, y = _array(x, "x"), _array(y, "y")
    _check_xy(x, y)
    if y is None:
        raise ValueError("evaluate: y (the targets) is required")
    model._ensure_built(x)
    model._check_input_values(x)
    batch_size = _positive_int(batch_size, "batch_size", 32)
    n = len(x)
    num_batches = math.ceil(n / batch_size)
    steps = min(_positive_int(steps, "steps"), num_batches) if steps is not None else num_batches
    cbs = callback_list or CallbackList(callbacks, add_progbar=verbose != 0, model=model,
                                        verbose=verbose, epochs=1, steps=steps)
    model.reset_metrics()
    cbs.on_test_begin()
    for step in range(steps):
        sl = slice(step * batch_size, min(n, (step + 1) * batch_size))
        cbs.on_test_batch_begin(step)
        model._step(x[sl], y[sl], training=False)
        cbs.on_test_batch_end(step, model._logs())
    logs = model._logs()
    cbs.on_test_end(logs)
    return logs


def predict_loop(model, x, batch_size=None, verbose=0, steps=None, callbacks=None):
    x = _array(x, "x")
    _check_xy(x, None)
    model._ensure_built(x)
    model._check_input_values(x)
    batch_size = _positive_int(batch_size, "batch_size", 32)
    n = len(x)
    num_batches = math.ceil(n / batch_size)
    steps = min(_positive_int(steps, "steps"), num_batches) if steps is not None else num_batches
    cbs = CallbackList(callbacks, add_progbar=verbose != 0, model=model, verbose=verbose,
                       epochs=1, steps=steps)
    cbs.on_predict_begin()
    out = None
    for step in range(steps):
        sl = slice(step * batch_size, min(n, (step + 1) * batch_size))
        cbs.on_predict_batch_begin(step)
        pred = model._forward(x[sl], training=False)[0]
        if isinstance(pred, list):
            raise NotImplementedError("predict: models with several outputs are not supported")
        if out is None:
            rows = min(n, steps * batch_size)
            out = np.empty((rows,) + pred.shape[1:], pred.dtype)
        out[sl] = pred
        cbs.on_predict_batch_end(step, {"outputs": pred})
    cbs.on_predict_end()
    if out is None:
        raise ValueError("predict: x has no samples")
    return out
