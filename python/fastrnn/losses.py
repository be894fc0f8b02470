"""Losses with Keras 3's exact formulas (TensorFlow backend), plus their gradients.

Functional forms (`binary_crossentropy(y_true, y_pred)`, ...) return the per-sample losses
like `keras.losses.*`. Loss objects (`BinaryCrossentropy()`, ...) reduce them with Keras'
"sum_over_batch_size" rule (sum / number of per-sample values) and, for training, also give
the gradient: `loss.value_and_grad(y_true, y_pred, logits=None, mask=None)`.

Keras detail reproduced on purpose: when the model output was produced by a sigmoid or softmax
activation, every crossentropy loss is computed from the cached pre-activation logits
(`from_logits=True`), which is both more accurate and what Keras actually trains with.
"""
import numpy as np

EPSILON = 1e-7
_F32 = np.float32

from ._core import binary_crossentropy as _native_bce  # value and gradient, unmasked case
_EPS = _F32(EPSILON)
_ONE_MINUS_EPS = _F32(1.0 - EPSILON)


def _f32(x):
    x = np.asarray(x)
    return x if x.dtype == np.float32 else x.astype(np.float32)


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Keras' rule: fix ranks that differ by exactly one with a trailing dimension of 1."""
    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = np.expand_dims(x2, -1)
        else:
            x1 = np.squeeze(x1, -1)
    if r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = np.expand_dims(x1, -1)
        else:
            x2 = np.squeeze(x2, -1)
    return x1, x2


def _check_same_shape(name, y_true, y_pred):
    if np.shape(y_true) != np.shape(y_pred):
        raise ValueError(
            f"{name}: y_true and y_pred must have the same shape, got "
            f"y_true.shape={np.shape(y_true)} and y_pred.shape={np.shape(y_pred)}")


# --- elementwise kernels: (loss per sample, d(sum of per-sample losses)/d input) ------------
def _bce(y, p, from_logits, need_grad):
    """Binary crossentropy, mean over the last axis (Keras `binary_crossentropy`)."""
    k = _F32(p.shape[-1]) if p.ndim else _F32(1)
    if from_logits:
        # tf.nn.sigmoid_cross_entropy_with_logits, written with where() like TF
        cond = p >= 0
        relu = np.where(cond, p, _F32(0))
        neg_abs = np.where(cond, -p, p)
        e = np.exp(neg_abs)
        elem = relu - p * y + np.log1p(e)
        grad = None
        if need_grad:
            s = e * np.reciprocal(_F32(1) + e)
            grad = cond.astype(_F32) - y + np.where(cond, -s, s)
    else:
        out = np.clip(p, _EPS, _ONE_MINUS_EPS)
        one_minus = _F32(1) - out
        elem = -(y * np.log(out) + (_F32(1) - y) * np.log(one_minus))
        grad = None
        if need_grad:
            grad = -(y / out) + (_F32(1) - y) / one_minus
            grad *= (p >= _EPS) & (p <= _ONE_MINUS_EPS)
    loss = elem.mean(axis=-1) if p.ndim else elem
    if grad is not None:
        grad = grad / k
    return loss.astype(_F32, copy=False), grad


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _logsumexp(x):
    m = x.max(axis=-1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def _cce(y, p, from_logits, need_grad):
    """Categorical crossentropy over the last axis (Keras `categorical_crossentropy`)."""
    grad = None
    if from_logits:
        shifted = p - p.max(axis=-1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        loss = (y * (lse - shifted)).sum(axis=-1)
        if need_grad:
            grad = _softmax(p) - y
    else:
        s = p.sum(axis=-1, keepdims=True)
        q = p / s
        qc = np.clip(q, _EPS, _ONE_MINUS_EPS)
        loss = -(y * np.log(qc)).sum(axis=-1)
        if need_grad:
            dq = -(y / qc) * ((q >= _EPS) & (q <= _ONE_MINUS_EPS))
            grad = dq / s - (dq * p).sum(axis=-1, keepdims=True) / (s * s)
    return loss.astype(_F32, copy=False), grad


def _sparse_labels(y, p):
    y = np.asarray(y)
    if y.ndim == p.ndim and y.shape[-1] == 1:
        y = y[..., 0]
    if y.shape != p.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: y_true must have the shape of y_pred without its "
            f"last axis, got y_true.shape={np.shape(y)} and y_pred.shape={p.shape}")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        bad = y[~np.isfinite(y)].ravel()[0]
        raise ValueError(f"sparse_categorical_crossentropy: y_true contains {bad}; labels must "
                         f"be integers in [0, {p.shape[-1]})")
    labels = y.astype(np.int64)
    n = p.shape[-1]
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        bad = labels[(labels < 0) | (labels >= n)].ravel()[0]
        raise ValueError(
            f"sparse_categorical_crossentropy: received a label value of {bad} which is "
            f"outside the valid range of [0, {n})")
    return labels


def _scce(y, p, from_logits, need_grad):
    """Sparse categorical crossentropy (Keras `sparse_categorical_crossentropy`)."""
    labels = _sparse_labels(y, p)
    if from_logits:
        lp = p
        clip_mask = None
    else:
        pc = np.clip(p, _EPS, _ONE_MINUS_EPS)
        lp = np.log(pc)
        clip_mask = (p >= _EPS) & (p <= _ONE_MINUS_EPS)
    picked = np.take_along_axis(lp, labels[..., None], axis=-1)[..., 0]
    loss = _logsumexp(lp) - picked
    grad = None
    if need_grad:
        grad = _softmax(lp)
        np.put_along_axis(grad, labels[..., None],
                          np.take_along_axis(grad, labels[..., None], axis=-1) - _F32(1), axis=-1)
        if clip_mask is not None:
            grad = grad / pc * clip_mask
    return loss.astype(_F32, copy=False), grad


def _mse(y, p, from_logits, need_grad):
    d = y - p
    k = _F32(p.shape[-1]) if p.ndim else _F32(1)
    loss = np.square(d).mean(axis=-1) if p.ndim else np.square(d)
    grad = -(_F32(2) * d) / k if need_grad else None
    return loss.astype(_F32, copy=False), grad


def _mae(y, p, from_logits, need_grad):
    d = y - p
    k = _F32(p.shape[-1]) if p.ndim else _F32(1)
    loss = np.abs(d).mean(axis=-1) if p.ndim else np.abs(d)
    grad = -np.sign(d) / k if need_grad else None
    return loss.astype(_F32, copy=False), grad


# --- Loss objects ---------------------------------------------------------------------------
class Loss:
    """Base class: `loss(y_true, y_pred)` -> float32 scalar (Keras' sum_over_batch_size)."""

    _kernel = None
    _crossentropy = False
    _sparse = False

    def __init__(self, name=None, reduction="sum_over_batch_size", from_logits=False):
        if reduction not in ("sum_over_batch_size", "mean", "sum", None, "none"):
            raise ValueError(
                f"{type(self).__name__}: reduction expected one of 'sum_over_batch_size', "
                f"'mean', 'sum', None, got {reduction!r}")
        self.name = name or self.default_name
        self.reduction = reduction
        self.from_logits = bool(from_logits)

    default_name = "loss"

    def _prepare(self, y_true, y_pred):
        y_pred = _f32(y_pred)
        if self._sparse:
            return np.asarray(y_true), y_pred
        y_true = _f32(y_true)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        _check_same_shape(self.name, y_true, y_pred)
        return self._smooth(y_true), y_pred

    def _smooth(self, y_true):
        return y_true

    def call(self, y_true, y_pred):
        """Per-sample losses (unreduced), like the Keras functional form."""
        y_true, y_pred = self._prepare(y_true, y_pred)
        return type(self)._kernel(y_true, y_pred, self.from_logits, False)[0]

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        value, _ = self._reduce(self.call(y_true, y_pred), sample_weight, mask, None)
        return value

    def value(self, y_true, y_pred, logits=None, mask=None, sample_weight=None):
        """The reduced loss as a training step computes it: from the `logits` of a sigmoid
        or softmax output when given (crossentropy only), like `value_and_grad`."""
        if self._crossentropy and logits is not None:
            y_true, inp = self._prepare(y_true, logits)
            per_sample = type(self)._kernel(y_true, inp, True, False)[0]
            return self._reduce(per_sample, sample_weight, mask, None)[0]
        return self(y_true, y_pred, sample_weight=sample_weight, mask=mask)

    def value_and_grad(self, y_true, y_pred, logits=None, mask=None, sample_weight=None):
        """Reduced loss and its gradient for training.

        Returns `(loss, grad, wrt_logits)`: `grad` is d loss / d y_pred, or d loss / d logits when
        `wrt_logits` (crossentropy on a sigmoid/softmax output whose `logits` were given).
        """
        use_logits = self._crossentropy and logits is not None
        y_true, inp = self._prepare(y_true, logits if use_logits else y_pred)
        per_sample, grad = type(self)._kernel(y_true, inp, self.from_logits or use_logits, True)
        value, scale = self._reduce(per_sample, sample_weight, mask, grad)
        grad = grad * (scale[..., None] if np.ndim(scale) else scale)
        return value, grad.astype(_F32, copy=False), use_logits

    def _reduce(self, values, sample_weight, mask, grad):
        """Keras reduce_weighted_values; also returns d loss / d values (scalar or array)."""
        values = np.asarray(values, _F32)
        weight = None
        if mask is not None:
            mask = np.asarray(mask, bool).reshape(values.shape)
            if self.reduction in ("sum_over_batch_size", "mean"):
                valid = _F32(mask.sum())
                mw = _F32(values.size) / valid if valid else _F32(0)
                weight = np.where(mask, mw, _F32(0)).astype(_F32)
            else:
                weight = mask.astype(_F32)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, _F32)
            if sw.ndim == values.ndim + 1 and sw.shape[-1] == 1:
                sw = sw[..., 0]
            sw = np.broadcast_to(sw.reshape(sw.shape + (1,) * (values.ndim - sw.ndim)),
                                 values.shape)
            weight = sw if weight is None else weight * sw
        weighted = values if weight is None else values * weight
        if self.reduction in (None, "none") or values.ndim == 0:
            return weighted, (_F32(1) if weight is None else weight)
        total = weighted.sum(dtype=_F32)
        if self.reduction == "sum":
            return _F32(total), (_F32(1) if weight is None else weight)
        n = _F32(values.size)
        value = _F32(total / n) if n else _F32(0)
        scale = _F32(1) / n if n else _F32(0)
        if weight is not None:
            scale = (weight * scale).astype(_F32)
        return value, scale

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction, "from_logits": self.from_logits}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


class BinaryCrossentropy(Loss):
    default_name = "binary_crossentropy"
    _kernel = staticmethod(_bce)
    _crossentropy = True

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="binary_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, from_logits=from_logits)
        if axis != -1:
            raise ValueError("BinaryCrossentropy: only axis=-1 is supported")
        self.label_smoothing = float(label_smoothing)

    def _smooth(self, y_true):
        if self.label_smoothing:
            ls = self.label_smoothing
            return (y_true * _F32(1.0 - ls) + _F32(0.5 * ls)).astype(_F32)
        return y_true

    def value_and_grad(self, y_true, y_pred, logits=None, mask=None, sample_weight=None):
        # The training step's common case in one C++ pass (the NumPy path is the oracle).
        if (_native_bce is None or mask is not None or sample_weight is not None
                or self.reduction not in ("sum_over_batch_size", "mean")):
            return super().value_and_grad(y_true, y_pred, logits, mask, sample_weight)
        use_logits = logits is not None
        y_true, inp = self._prepare(y_true, logits if use_logits else y_pred)
        if inp.ndim == 0 or inp.size == 0:
            return super().value_and_grad(y_true, y_pred, logits, mask, sample_weight)
        n = inp.size // inp.shape[-1]           # per-sample values: sum / n
        value, grad = _native_bce(np.ascontiguousarray(y_true), np.ascontiguousarray(inp),
                                  self.from_logits or use_logits, 1.0 / n)
        return _F32(value), grad, use_logits

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class CategoricalCrossentropy(Loss):
    default_name = "categorical_crossentropy"
    _kernel = staticmethod(_cce)
    _crossentropy = True

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_crossentropy", dtype=None):
        super().__init__(name=name, reduction=reduction, from_logits=from_logits)
        if axis != -1:
            raise ValueError("CategoricalCrossentropy: only axis=-1 is supported")
        self.label_smoothing = float(label_smoothing)

    def _smooth(self, y_true):
        if self.label_smoothing:
            ls = self.label_smoothing
            k = _F32(y_true.shape[-1])
            return (y_true * _F32(1.0 - ls) + _F32(ls) / k).astype(_F32)
        return y_true

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class SparseCategoricalCrossentropy(Loss):
    default_name = "sparse_categorical_crossentropy"
    _kernel = staticmethod(_scce)
    _crossentropy = True
    _sparse = True

    def __init__(self, from_logits=False, ignore_class=None, axis=-1,
                 reduction="sum_over_batch_size", name="sparse_categorical_crossentropy",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, from_logits=from_logits)
        if ignore_class is not None:
            raise NotImplementedError("SparseCategoricalCrossentropy: ignore_class is not supported")
        if axis != -1:
            raise ValueError("SparseCategoricalCrossentropy: only axis=-1 is supported")


class MeanSquaredError(Loss):
    default_name = "mean_squared_error"
    _kernel = staticmethod(_mse)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(name=name, reduction=reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


class MeanAbsoluteError(Loss):
    default_name = "mean_absolute_error"
    _kernel = staticmethod(_mae)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(name=name, reduction=reduction)

    def get_config(self):
        return {"name": self.name, "reduction": self.reduction}


# --- functional forms (per-sample losses, like keras.losses.*) ------------------------------
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing,
                              axis=axis).call(y_true, y_pred)


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    y_true, y_pred = _f32(y_true), _f32(y_pred)
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    return CategoricalCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing,
                                   axis=axis).call(y_true, y_pred)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None,
                                    axis=-1):
    return SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore_class,
                                         axis=axis).call(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    y_pred = _f32(y_pred)
    y_true = _f32(y_true)
    _check_same_shape("mean_squared_error", y_true, y_pred)
    return _mse(y_true, y_pred, False, False)[0]


def mean_absolute_error(y_true, y_pred):
    y_pred = _f32(y_pred)
    y_true = _f32(y_true)
    _check_same_shape("mean_absolute_error", y_true, y_pred)
    return _mae(y_true, y_pred, False, False)[0]


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error

_BY_NAME = {
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
}
_CLASSES = {c.__name__: c for c in (BinaryCrossentropy, CategoricalCrossentropy,
                                    SparseCategoricalCrossentropy, MeanSquaredError,
                                    MeanAbsoluteError)}
_FUNCTIONS = {binary_crossentropy: "binary_crossentropy",
              categorical_crossentropy: "categorical_crossentropy",
              sparse_categorical_crossentropy: "sparse_categorical_crossentropy",
              mean_squared_error: "mean_squared_error", mean_absolute_error: "mean_absolute_error"}


def get(identifier, y_true=None, y_pred=None):
    """Resolve a loss: a Keras name, a Loss instance/class, or one of this module's functions.

    The name keeps what the user wrote ("mse" stays "mse"), like Keras. "crossentropy"/"ce"
    picks binary/sparse/categorical from the shapes of `y_true`/`y_pred` (Keras rule).
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _FUNCTIONS:
        name = _FUNCTIONS[identifier]
        return _BY_NAME[name](name=name)
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"loss: unknown serialized loss {identifier!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("crossentropy", "ce"):
            if y_pred is None:
                raise ValueError("loss 'crossentropy' is resolved from the data shapes; "
                                 "call with y_true/y_pred")
            is_binary = np.shape(y_pred)[-1] == 1
            is_sparse = (np.ndim(y_true) < np.ndim(y_pred) or
                         (np.shape(y_true)[-1] == 1 and np.shape(y_pred)[-1] > 1))
            cls = (BinaryCrossentropy if is_binary else
                   SparseCategoricalCrossentropy if is_sparse else CategoricalCrossentropy)
            return cls(name=identifier)
        if key in _BY_NAME:
            return _BY_NAME[key](name=identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        raise ValueError(f"loss: unknown name {identifier!r}; expected one of {sorted(_BY_NAME)}")
    raise TypeError(
        "loss: expected a name such as 'binary_crossentropy', a fastrnn.losses.Loss or one of "
        "fastrnn.losses' functions (fastrnn needs the gradient, so arbitrary callables are not "
        f"supported), got {identifier!r}")


def serialize(loss):
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(spec):
    return get(spec)
