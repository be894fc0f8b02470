"""Keras 3's built-in weight initializers: names, arguments, formulas, configs and seeds.

Calling convention: `init(shape, dtype=None, rng=None) -> np.ndarray` (Keras' `init(shape,
dtype)` works as is). Layers pass their generator as `rng`.

Seeds, as in Keras 3 (keras/src/initializers/random_initializers.py): an initializer built with
an integer `seed` returns the same values on every call (NumPy's generator seeded with it, so
the same distribution as Keras but not TensorFlow's bits); an unseeded one also returns the
same values on every call, from a seed it draws once, at its first call, from `rng` or
fastrnn's global generator (`fastrnn.utils.set_random_seed`). Keras draws that seed when the
initializer is created; drawing at the first call keeps a model built after
`set_random_seed` reproducible, and the two copies Bidirectional makes of an unbuilt layer
independent. `get_config()` reports the seed the user gave (None when unseeded), like Keras.

`get` also accepts a class, a config dict (Keras 3 or Keras 2 layout), a NumPy array (its
values), and a callable: `f(shape, dtype=None)` as in Keras, or fastrnn's internal
`f(shape, dtype, rng)` (recognised by its three required positional parameters).
"""
import inspect
import math

import numpy as np

from . import _serialization
from . import random as frandom



def _float_dtype(dtype):
    return np.dtype("float32" if dtype is None else dtype)


def _shape(shape):
    return tuple(int(s) for s in shape)


def compute_fans(shape, input_axes=None, output_axes=None):
    """(fan_in, fan_out) as Keras computes them (convolution kernels: (..., in, out))."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (int(np.prod([shape[a] for a in input_axes])),
                int(np.prod([shape[a] for a in output_axes])))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype=None, rng=None)`."""

    def __call__(self, shape, dtype=None, rng=None):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        return f"{type(self).__name__}({self.get_config()})"


class Constant(Initializer):
    """Every entry equal to `value` (a scalar, or an array that broadcasts to the shape)."""

    def __init__(self, value=0.0):
        self.value = value.item() if isinstance(value, np.generic) else value

    def __call__(self, shape, dtype=None, rng=None):
        return np.broadcast_to(np.asarray(self.value, _float_dtype(dtype)), _shape(shape)).copy()

    def get_config(self):
        return {"value": self.value}


class Zeros(Initializer):
    def __call__(self, shape, dtype=None, rng=None):
        return np.zeros(_shape(shape), _float_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape, dtype=None, rng=None):
        return np.ones(_shape(shape), _float_dtype(dtype))


class Identity(Initializer):
    """`gain * eye(rows, cols)`; 2D shapes only."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None, rng=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return (self.gain * np.eye(*shape)).astype(_float_dtype(dtype))

    def get_config(self):
        # Keras 3 reports {} (its Identity has no get_config, so a gain is lost on a round
        # trip); a non-default gain is kept here, in the key Keras' constructor takes.
        return {} if self.gain == 1.0 else {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: Keras' `seed` semantics (see the module docstring)."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or
                                 not isinstance(seed, (int, np.integer))):
            raise ValueError("`seed` argument should be an integer or None (fastrnn has no "
                             f"keras.random.SeedGenerator). Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self._drawn_seed = None

    def _generator(self, rng):
        if self.seed is not None:
            return np.random.default_rng(self.seed)
        if self._drawn_seed is None:
            self._drawn_seed = int((rng or frandom.generator()).integers(1, 10 ** 9))
        return np.random.default_rng(self._drawn_seed)

    def __call__(self, shape, dtype=None, rng=None):
        dtype = _float_dtype(dtype)
        return self._draw(_shape(shape), self._generator(rng)).astype(dtype, copy=False)

    def _draw(self, shape, gen):
        raise NotImplementedError

    def __deepcopy__(self, memo):
        # a fresh initializer, as Keras re-creates one from its config (an unseeded copy draws
        # its own seed: Bidirectional's two copies of a layer get different weights)
        return self.clone()

    def get_config(self):
        return {"seed": self.seed}


def _truncated_normal(gen, shape, mean, stddev):
    """Normal(mean, stddev) with draws beyond two standard deviations re-drawn (as TF)."""
    z = gen.standard_normal(shape)
    bad = np.abs(z) > 2.0
    while bad.any():
        z[bad] = gen.standard_normal(int(bad.sum()))
        bad = np.abs(z) > 2.0
    return mean + stddev * z


class RandomNormal(RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed=seed)

    def _draw(self, shape, gen):
        return gen.normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal(mean, stddev) re-drawn beyond 2 stddev (the result's std is 0.8796 * stddev)."""

    def _draw(self, shape, gen):
        return _truncated_normal(gen, shape, self.mean, self.stddev)


class RandomUniform(RandomInitializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed=seed)

    def _draw(self, shape, gen):
        return gen.uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


# std of a standard normal truncated to [-2, 2] (the constant Keras divides by)
_TRUNCATED_STD = 0.87962566103423978


class VarianceScaling(RandomInitializer):
    """stddev (or uniform limit / sqrt(3)) = sqrt(scale / n), n from `mode` over the fans."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal")

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None):
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not scale > 0.0:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"Invalid `mode` argument: expected one of {self._MODES}, got "
                             f"{mode!r}")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        dist = "truncated_normal" if dist == "normal" else dist
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: expected one of "
                             f"{self._DISTRIBUTIONS}, got {distribution!r}")
        self.scale, self.mode, self.distribution = scale, mode, dist
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed=seed)

    def _draw(self, shape, gen):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            return _truncated_normal(gen, shape, 0.0, math.sqrt(scale) / _TRUNCATED_STD)
        if self.distribution == "untruncated_normal":
            return gen.normal(0.0, math.sqrt(scale), size=shape)
        limit = math.sqrt(3.0 * scale)
        return gen.uniform(-limit, limit, size=shape)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _fixed_variance_scaling(name, scale, mode, distribution, doc):
    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution,
                                 seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {"seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotUniform = _fixed_variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform",
                                        "U(-l, l), l = sqrt(6 / (fan_in + fan_out)).")
GlorotNormal = _fixed_variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                                       "Truncated normal, std sqrt(2 / (fan_in + fan_out)).")
HeUniform = _fixed_variance_scaling("HeUniform", 2.0, "fan_in", "uniform",
                                    "U(-l, l), l = sqrt(6 / fan_in).")
HeNormal = _fixed_variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal",
                                   "Truncated normal, std sqrt(2 / fan_in).")
LecunUniform = _fixed_variance_scaling("LecunUniform", 1.0, "fan_in", "uniform",
                                       "U(-l, l), l = sqrt(3 / fan_in).")
LecunNormal = _fixed_variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal",
                                      "Truncated normal, std sqrt(1 / fan_in).")


class Orthogonal(RandomInitializer):
    """QR of a normal (max(r, c), min(r, c)) matrix, columns sign-fixed by diag(R), times gain;
    r = prod(shape[:-1]), c = shape[-1]; transposed when r < c."""

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def _draw(self, shape, gen):
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        q, r = np.linalg.qr(gen.standard_normal((max(rows, cols), min(rows, cols))))
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


class _Function(Initializer):
    """A user callable: Keras' `f(shape, dtype=None)` or fastrnn's `f(shape, dtype, rng)`."""

    def __init__(self, fn):
        self.fn = fn
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):     # builtins without a signature: Keras' convention
            params = ()
        required = [p for p in params if p.default is p.empty and
                    p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        self._takes_rng = len(required) >= 3

    def __call__(self, shape, dtype=None, rng=None):
        dtype = _float_dtype(dtype)
        if self._takes_rng:
            return np.asarray(self.fn(shape, dtype, rng or frandom.generator()), dtype)
        return np.asarray(self.fn(_shape(shape), dtype=dtype), dtype)


class _Values(Initializer):
    """Keras' `get(array)`: the given values, for the shape they have."""

    def __init__(self, values):
        self.values = np.array(values)

    def __call__(self, shape, dtype=None, rng=None):
        if _shape(shape) != self.values.shape:
            raise ValueError(f"Expected `shape` to be {self.values.shape} for direct tensor as "
                             f"initializer. Received shape={_shape(shape)}")
        return self.values.astype(_float_dtype(dtype))


def _other(identifier):
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _Values(identifier)
    return _Function(identifier) if callable(identifier) else None


_KIND = _serialization.Kind(
    "initializer", "keras.initializers", Initializer,
    (Constant, Zeros, Ones, Identity, RandomNormal, TruncatedNormal, RandomUniform,
     VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
     LecunNormal, Orthogonal),
    aliases={"IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
             "normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros},
    other=_other, ignored_keys=("dtype",))   # TF1-era configs: the layer's dtype decides

# Keras' function-style aliases (keras.initializers.glorot_uniform is the class)
constant, zeros, ones, identity = Constant, Zeros, Ones, Identity
random_normal, truncated_normal, random_uniform = RandomNormal, TruncatedNormal, RandomUniform
variance_scaling, orthogonal = VarianceScaling, Orthogonal
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal

get = _KIND.get          # Keras' initializers.get: a name, class, instance, config, array, callable
serialize = _KIND.serialize       # Keras 3's layout: {"module", "class_name", "config", ...}
deserialize = _KIND.deserialize   # from a name or a Keras 3 / Keras 2 config dict
