"""Activation functions with Keras 3 names, formulas and their derivatives (float32 NumPy).

`get(identifier)` returns an `Activation` object: `act(z) -> y` and
`act.grad(dy, z, y) -> dz` (the vector-Jacobian product, so softmax is handled exactly).
The plain functions (`relu(x)`, `sigmoid(x)`, ...) are exported too, like `keras.activations`.
"""
import numpy as np

_F32 = np.float32


def _f(x):
    x = np.asarray(x)
    return x if x.dtype == np.float32 else x.astype(np.float32)


# --- forward functions ----------------------------------------------------------------------
def linear(x):
    return _f(x)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    x = _f(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return np.maximum(x, _F32(0))
    y = np.where(x >= threshold, x, _F32(negative_slope) * (x - _F32(threshold))).astype(_F32)
    if max_value is not None:
        y = np.minimum(y, _F32(max_value))
    return y


def relu6(x):
    return np.clip(_f(x), _F32(0), _F32(6))


def leaky_relu(x, negative_slope=0.2):
    x = _f(x)
    return np.where(x >= 0, x, _F32(negative_slope) * x).astype(_F32)


def elu(x, alpha=1.0):
    x = _f(x)
    return np.where(x > 0, x, _F32(alpha) * np.expm1(np.minimum(x, _F32(0)))).astype(_F32)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(x):
    return (_F32(_SELU_SCALE) * elu(x, _SELU_ALPHA)).astype(_F32)


def sigmoid(x):
    x = _f(x)
    # Numerically stable in float32: exp of a non-positive number only.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, _F32(1) / (_F32(1) + e), e / (_F32(1) + e)).astype(_F32)


def hard_sigmoid(x):
    """Keras 3: relu6(x + 3) / 6."""
    return (relu6(_f(x) + _F32(3)) / _F32(6)).astype(_F32)


def keras2_hard_sigmoid(x):
    """Keras 2's hard_sigmoid: clip(0.2 * x + 0.5, 0, 1)."""
    return np.clip(_F32(0.2) * _f(x) + _F32(0.5), _F32(0), _F32(1)).astype(_F32)


def tanh(x):
    return np.tanh(_f(x))


def softmax(x, axis=-1):
    x = _f(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = _f(x)
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def softplus(x):
    x = _f(x)
    return (np.maximum(x, _F32(0)) + np.log1p(np.exp(-np.abs(x)))).astype(_F32)


def softsign(x):
    x = _f(x)
    return x / (_F32(1) + np.abs(x))


def exponential(x):
    return np.exp(_f(x))


def silu(x):
    x = _f(x)
    return x * sigmoid(x)


swish = silu


def mish(x):
    x = _f(x)
    return x * np.tanh(softplus(x))


def _erf(x):
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7, below float32 resolution of the result).
    s = np.sign(x)
    a = np.abs(x).astype(np.float64)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (
        -1.453152027 + t * 1.061405429))))
    return (s * (1.0 - poly * np.exp(-a * a))).astype(_F32)


def gelu(x, approximate=False):
    x = _f(x)
    if approximate:
        c = _F32(np.sqrt(2.0 / np.pi))
        return (_F32(0.5) * x * (_F32(1) + np.tanh(c * (x + _F32(0.044715) * x ** 3)))).astype(_F32)
    return (_F32(0.5) * x * (_F32(1) + _erf(x / _F32(np.sqrt(2.0))))).astype(_F32)


# --- derivatives: grad(dy, z, y) -> dz ------------------------------------------------------
def _g_linear(dy, z, y):
    return dy


def _g_relu(dy, z, y):
    return dy * (z > 0)


def _g_relu6(dy, z, y):
    return dy * ((z > 0) & (z < 6))


def _g_leaky(dy, z, y):
    return dy * np.where(z >= 0, _F32(1), _F32(0.2)).astype(_F32)


def _g_elu(dy, z, y):
    return dy * np.where(z > 0, _F32(1), y + _F32(1)).astype(_F32)


def _g_selu(dy, z, y):
    return dy * np.where(z > 0, _F32(_SELU_SCALE), y + _F32(_SELU_SCALE * _SELU_ALPHA)).astype(_F32)


def _g_sigmoid(dy, z, y):
    return dy * y * (_F32(1) - y)


def _g_hard_sigmoid(dy, z, y):
    return dy * (((z > -3) & (z < 3)).astype(_F32) / _F32(6))


def _g_keras2_hard_sigmoid(dy, z, y):
    return dy * (((z > -2.5) & (z < 2.5)).astype(_F32) * _F32(0.2))


def _g_tanh(dy, z, y):
    return dy * (_F32(1) - y * y)


def _g_softmax(dy, z, y):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _g_softplus(dy, z, y):
    return dy * sigmoid(z)


def _g_softsign(dy, z, y):
    d = _F32(1) + np.abs(z)
    return dy / (d * d)


def _g_exponential(dy, z, y):
    return dy * y


def _g_silu(dy, z, y):
    s = sigmoid(z)
    return dy * (s * (_F32(1) + z * (_F32(1) - s)))


def _g_mish(dy, z, y):
    t = np.tanh(softplus(z))
    return dy * (t + z * sigmoid(z) * (_F32(1) - t * t))


def _g_gelu(dy, z, y):
    cdf = _F32(0.5) * (_F32(1) + _erf(z / _F32(np.sqrt(2.0))))
    pdf = np.exp(_F32(-0.5) * z * z) / _F32(np.sqrt(2.0 * np.pi))
    return dy * (cdf + z * pdf)


class Activation:
    """A named activation: `act(z)` forward, `act.grad(dy, z, y)` backward."""

    def __init__(self, name, fn, grad):
        self.name = name
        self._fn = fn
        self._grad = grad

    def __call__(self, z):
        return self._fn(z)

    def grad(self, dy, z, y):
        return self._grad(dy, z, y).astype(_F32, copy=False)

    @property
    def produces_logits(self):
        """Keras caches the logits of sigmoid/softmax outputs for crossentropy losses."""
        return self.name in ("sigmoid", "softmax")

    def __repr__(self):
        return f"<activation {self.name}>"


_TABLE = {
    "linear": (linear, _g_linear),
    "relu": (relu, _g_relu),
    "relu6": (relu6, _g_relu6),
    "leaky_relu": (leaky_relu, _g_leaky),
    "elu": (elu, _g_elu),
    "selu": (selu, _g_selu),
    "sigmoid": (sigmoid, _g_sigmoid),
    "hard_sigmoid": (hard_sigmoid, _g_hard_sigmoid),
    "keras2_hard_sigmoid": (keras2_hard_sigmoid, _g_keras2_hard_sigmoid),
    "tanh": (tanh, _g_tanh),
    "softmax": (softmax, _g_softmax),
    "softplus": (softplus, _g_softplus),
    "softsign": (softsign, _g_softsign),
    "exponential": (exponential, _g_exponential),
    "silu": (silu, _g_silu),
    "swish": (silu, _g_silu),
    "mish": (mish, _g_mish),
    "gelu": (gelu, _g_gelu),
}
_BY_FUNCTION = {fn: name for name, (fn, _) in _TABLE.items() if name != "swish"}


def get(identifier):
    """Resolve a Keras activation name (or None -> linear, or one of this module's functions)."""
    if identifier is None:
        identifier = "linear"
    if isinstance(identifier, Activation):
        return identifier
    if callable(identifier) and identifier in _BY_FUNCTION:
        identifier = _BY_FUNCTION[identifier]
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _TABLE:
            fn, grad = _TABLE[key]
            return Activation(key, fn, grad)
        raise ValueError(
            f"activation: unknown name {identifier!r}; expected one of {sorted(_TABLE)}")
    raise TypeError(
        "activation: expected a name such as 'relu' or 'sigmoid' (fastrnn needs the "
        f"derivative, so arbitrary callables are not supported), got {identifier!r}")


def serialize(activation):
    return get(activation).name


def deserialize(name):
    return get(name)
