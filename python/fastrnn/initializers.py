"""Weight initialisers with Keras 3 names and formulas (float32 NumPy arrays).

Each initialiser is a callable `init(shape, dtype, rng) -> np.ndarray`; `get(name_or_callable)`
resolves Keras' string names.
"""
import numpy as np


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    def __call__(self, shape, dtype, rng):
        raise NotImplementedError

    def get_config(self):
        return {}


class Zeros(Initializer):
    def __call__(self, shape, dtype, rng):
        return np.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype, rng):
        return np.ones(shape, dtype)


class RandomUniform(Initializer):
    """Keras `uniform` / `random_uniform`: U(minval, maxval), default (-0.05, 0.05)."""

    def __init__(self, minval=-0.05, maxval=0.05):
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class GlorotUniform(Initializer):
    """U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out))."""

    def __call__(self, shape, dtype, rng):
        fan_in, fan_out = _fans(shape)
        limit = np.sqrt(6.0 / max(1.0, fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


class HeUniform(Initializer):
    def __call__(self, shape, dtype, rng):
        fan_in, _ = _fans(shape)
        limit = np.sqrt(6.0 / max(1.0, fan_in))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)


class Orthogonal(Initializer):
    """Keras' orthogonal: QR of a normal matrix, sign-corrected, times `gain`."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype, rng):
        rows = int(np.prod(shape[:-1]))
        cols = shape[-1]
        a = rng.normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


_BY_NAME = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones,
    "uniform": RandomUniform, "random_uniform": RandomUniform,
    "normal": RandomNormal, "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform, "he_uniform": HeUniform,
    "orthogonal": Orthogonal,
}


def get(identifier):
    """Resolve a Keras initialiser name, an Initializer instance or a callable."""
    if isinstance(identifier, Initializer) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(
            f"initializer: expected one of {sorted(_BY_NAME)}, got {identifier!r}")
    raise TypeError(f"initializer: expected a name or callable, got {type(identifier).__name__}")


def serialize(init):
    for name, cls in _BY_NAME.items():
        if type(init) is cls:
            return {"class_name": name, "config": init.get_config()}
    raise ValueError(f"initializer {init!r} cannot be serialized")


def deserialize(spec):
    if isinstance(spec, str):
        return get(spec)
    return _BY_NAME[spec["class_name"]](**spec.get("config", {}))
