"""Thread count of the native kernels (OpenMP)."""
from . import _core


def set_num_threads(n):
    """Use `n` threads in the kernels (default: all cores, or OMP_NUM_THREADS)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n expected a positive int, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads():
    return _core.get_num_threads()
