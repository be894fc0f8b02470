"""Seeded random state shared by initialisers and dropout.

`fastrnn.utils.set_random_seed(n)` reseeds the global generator, which makes weight
initialisation and dropout masks reproducible run to run. Layers given an explicit `seed`
draw from their own generator instead.
"""
import numpy as np

_global = np.random.default_rng()


def set_seed(seed):
    """Reseed the global generator used by initialisers and dropout."""
    global _global
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    _global = np.random.default_rng(int(seed))


def generator(seed=None):
    """A generator for one consumer: its own if `seed` is given, else the global one."""
    if seed is None:
        return _global
    return np.random.default_rng(int(seed))


def spawn(seed=None):
    """A fresh, independent generator derived from `seed` or from the global generator."""
    if seed is not None:
        return np.random.default_rng(int(seed))
    return np.random.default_rng(_global.integers(0, 2**63 - 1))
