"""Seeded random state shared by initialisers and dropout.

`fastrnn.utils.set_random_seed(n)` reseeds the global generator, which makes weight
initialisation and dropout masks reproducible run to run. Layers given an explicit `seed`
draw from their own generator instead.

Data-parallel training (fastrnn.distributed) gives each rank its own dropout stream: `using`
replaces the global generator for one block of code (one thread), and `set_stream_key(rank)`
makes the generators of seeded layers differ per rank (rank 0 keeps the one-process stream).
"""
import contextvars

import numpy as np

from ._scoped import setting

_global = np.random.default_rng()
_override = contextvars.ContextVar("fastrnn_generator", default=None)
_stream_key = 0


def set_seed(seed):
    """Reseed the global generator used by initialisers and dropout."""
    global _global
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    _global = np.random.default_rng(int(seed))


def generator(seed=None):
    """A generator for one consumer: its own if `seed` is given, else the global one."""
    if seed is None:
        return _override.get() or _global
    return np.random.default_rng(int(seed))


def spawn(seed=None):
    """A fresh, independent generator derived from `seed` or from the global generator."""
    if seed is not None:
        return np.random.default_rng([int(seed), _stream_key] if _stream_key else int(seed))
    return np.random.default_rng(generator().integers(0, 2**63 - 1))


def using(rng):
    """`generator()` returns `rng` inside a `with` block (in this thread)."""
    return setting(_override, rng)


def set_stream_key(key):
    """Seeded layers made from now on draw stream `key` of their seed (0: the seed's own)."""
    global _stream_key
    _stream_key = int(key)
