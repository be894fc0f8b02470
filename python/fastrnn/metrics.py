"""Metrics with Keras 3 semantics: stateful running means over an epoch.

`"accuracy"`/`"acc"` resolve like Keras' compile: binary accuracy when the output has one unit,
sparse categorical when the labels have one dimension less (or a trailing 1) than a
multi-unit output, categorical otherwise; the metric keeps the name the user wrote.
"""
import numpy as np

from . import losses as losses_mod

_F32 = np.float32


# --- functional forms (per-element values, like keras.metrics.*) ----------------------------
def binary_accuracy(y_true, y_pred, threshold=0.5):
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    y_true, y_pred = losses_mod.squeeze_or_expand_to_same_rank(y_true, y_pred)
    pred = (y_pred > _F32(threshold)).astype(y_true.dtype)
    return (y_true == pred).astype(_F32)


def categorical_accuracy(y_true, y_pred):
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(_F32)


def sparse_categorical_accuracy(y_true, y_pred):
    y_pred = np.asarray(y_pred)
    y_true = np.asarray(y_true)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    matches = (y_true.astype(_F32) == np.argmax(y_pred, axis=-1).astype(_F32)).astype(_F32)
    return matches


# --- metric objects -------------------------------------------------------------------------
class Metric:
    """Base class: `update_state(y_true, y_pred, mask=None)`, `result()`, `reset_state()`."""

    direction = None     # "up"/"down" when known (EarlyStopping's mode="auto" uses it)

    def __init__(self, name=None):
        self.name = name or self.default_name
        self.reset_state()

    default_name = "metric"

    def reset_state(self):
        self.total = 0.0
        self.count = 0.0

    def result(self):
        return float(_F32(self.total / self.count)) if self.count else 0.0

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Weighted running mean of scalars (Keras uses it to track the loss)."""

    default_name = "mean"

    def update_state(self, value, sample_weight=1.0):
        self.total += float(value) * float(sample_weight)
        self.count += float(sample_weight)


class MeanMetricWrapper(Metric):
    """Mean over samples of a per-element function (per-sample mean first, like Keras)."""

    def __init__(self, fn, name=None, direction=None, **kwargs):
        self._fn = fn
        self._kwargs = kwargs
        if direction is not None:
            self.direction = direction
        super().__init__(name=name)

    def update_state(self, y_true, y_pred, mask=None):
        values = np.asarray(self._fn(y_true, y_pred, **self._kwargs), _F32)
        if mask is not None:
            m = np.asarray(mask, bool).reshape(values.shape)
            self.total += float(values[m].sum(dtype=np.float64))
            self.count += float(m.sum())
            return
        if values.ndim > 1:
            values = values.reshape(values.shape[0], -1).mean(axis=1)
        self.total += float(values.sum(dtype=np.float64))
        self.count += float(values.shape[0]) if values.ndim else 1.0


class BinaryAccuracy(MeanMetricWrapper):
    direction = "up"
    default_name = "binary_accuracy"

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, threshold=threshold)
        self._threshold = _F32(threshold)

    def update_state(self, y_true, y_pred, mask=None):
        # Common case, one value per sample ([N,1] predictions, labels [N] or [N,1]): count the
        # hits directly. Same result as the general path: a sample's mean is its one value.
        if (mask is None and type(y_pred) is np.ndarray and y_pred.ndim == 2
                and y_pred.shape[1] == 1 and type(y_true) is np.ndarray
                and y_true.shape in (y_pred.shape, y_pred.shape[:1])):
            # comparing with the bool array casts it to y_true's dtype, as Keras' cast does
            hits = y_true.reshape(-1) == (y_pred.reshape(-1) > self._threshold)
            self.total += float(np.count_nonzero(hits))
            self.count += float(y_pred.shape[0])
            return
        super().update_state(y_true, y_pred, mask=mask)


class CategoricalAccuracy(MeanMetricWrapper):
    direction = "up"
    default_name = "categorical_accuracy"

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    direction = "up"
    default_name = "sparse_categorical_accuracy"

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name)


class MeanSquaredError(MeanMetricWrapper):
    default_name = "mean_squared_error"
    direction = "down"

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(losses_mod.mean_squared_error, name=name)


class MeanAbsoluteError(MeanMetricWrapper):
    default_name = "mean_absolute_error"
    direction = "down"

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(losses_mod.mean_absolute_error, name=name)


class BinaryCrossentropy(MeanMetricWrapper):
    default_name = "binary_crossentropy"
    direction = "down"

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses_mod.binary_crossentropy, name=name, from_logits=from_logits,
                         label_smoothing=label_smoothing)


class CategoricalCrossentropy(MeanMetricWrapper):
    default_name = "categorical_crossentropy"
    direction = "down"

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(losses_mod.categorical_crossentropy, name=name,
                         from_logits=from_logits, label_smoothing=label_smoothing)


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    default_name = "sparse_categorical_crossentropy"
    direction = "down"

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False):
        super().__init__(losses_mod.sparse_categorical_crossentropy, name=name,
                         from_logits=from_logits)


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_FUNCTIONS = {binary_accuracy: "binary_accuracy", categorical_accuracy: "categorical_accuracy",
              sparse_categorical_accuracy: "sparse_categorical_accuracy"}


def is_binary_or_sparse_categorical(y_true, y_pred):
    """Keras' rule for resolving 'accuracy' (y_true/y_pred may be arrays or shapes)."""
    t_shape = tuple(y_true) if isinstance(y_true, tuple) else np.shape(y_true)
    p_shape = tuple(y_pred) if isinstance(y_pred, tuple) else np.shape(y_pred)
    t_last = t_shape[-1] if t_shape else None
    p_last = p_shape[-1] if p_shape else None
    is_binary = p_last == 1
    is_sparse = len(t_shape) < len(p_shape) or (t_last == 1 and p_last is not None and p_last > 1)
    return is_binary, is_sparse


def get(identifier, y_true=None, y_pred=None):
    """Resolve a metric; 'accuracy'/'acc' need y_true/y_pred (or their shapes)."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier) and identifier in _FUNCTIONS:
        return _BY_NAME[_FUNCTIONS[identifier]]()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            if y_pred is None:
                raise ValueError("metric 'accuracy' is resolved from the data shapes")
            is_binary, is_sparse = is_binary_or_sparse_categorical(y_true, y_pred)
            cls = (BinaryAccuracy if is_binary else
                   SparseCategoricalAccuracy if is_sparse else CategoricalAccuracy)
            return cls(name=identifier)
        if key in _BY_NAME:
            metric = _BY_NAME[key]()
            metric.name = identifier
            return metric
        raise ValueError(
            f"metric: unknown name {identifier!r}; expected 'accuracy', 'acc' or one of "
            f"{sorted(_BY_NAME)}")
    raise TypeError(f"metric: expected a name or a fastrnn.metrics.Metric, got {identifier!r}")
