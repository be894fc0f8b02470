"""Thread count of the native kernels (OpenMP), and running two kernel calls side by side."""
import concurrent.futures
import contextvars
import threading

from . import _core
from ._scoped import setting


def set_num_threads(n):
    """Use `n` threads in the kernels (default: all cores, or OMP_NUM_THREADS)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n expected a positive int, got {n!r}")
    _core.set_num_threads(n)


def get_num_threads():
    return _core.get_num_threads()


# The team size of the recurrent kernels called in this context (0: get_num_threads()).
_CALL_THREADS = contextvars.ContextVar("fastrnn_call_threads", default=0)
_ON_WORKER = contextvars.ContextVar("fastrnn_on_worker", default=False)
_worker = None
_worker_lock = threading.Lock()


def call_threads():
    """The thread count a recurrent kernel called here is given (0: get_num_threads())."""
    return _CALL_THREADS.get()


def _run_on(n, fn):
    with setting(_ON_WORKER, True), setting(_CALL_THREADS, n):
        return fn()


def run_pair(first, second):
    """`(first(), second())`, run at the same time on halves of the kernels' threads (`first`
    on a worker thread) when there are at least two; else one after the other. For two
    independent kernel calls that each use one core better than two (a Bidirectional's
    directions at small batches, where a split costs a barrier per step): both release the
    GIL while they compute."""
    n = call_threads() or get_num_threads()
    if n < 2 or _ON_WORKER.get():  # (the single worker never waits on itself)
        return first(), second()
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="fastrnn")
    future = _worker.submit(_run_on, n // 2, first)
    try:
        with setting(_CALL_THREADS, n - n // 2):
            out = second()
    finally:
        concurrent.futures.wait([future])
    return future.result(), out
