"""Helpers shared by the orchestrator and the workers: thread environment, timing, memory.

Kept free of NumPy and framework imports: the worker must set the thread variables before
any BLAS or OpenMP runtime is loaded.
"""
import os
import resource
import statistics
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
# Tuning overrides this environment may carry; the GEMM worker runs without them so that
# OpenBLAS picks its kernels for the real CPU (the peak is what the hardware can do).
GEMM_UNSET = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def thread_env(threads, base=None, gemm=False):
    """A copy of `base` (default os.environ) with every runtime pinned to `threads` threads."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env[var] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    if gemm:
        for var in GEMM_UNSET:
            env.pop(var, None)
    return env


def apply_thread_env(threads):
    """In a worker, before importing NumPy or a framework."""
    for var in THREAD_VARS:
        os.environ[var] = str(threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def measure(fn, warmup, repeats, min_sample_s, per_call=False):
    """Call `fn` `warmup` times, then take timed samples (milliseconds).

    Default (throughput): `repeats` samples, each the mean time of `inner` back-to-back calls,
    `inner` chosen from the last warm-up call so that a sample lasts at least `min_sample_s`.
    `per_call=True` (latency): every call is its own sample, and as many calls are made as
    the default would (`repeats * inner`, at most 500), so the median is the typical call and
    `p90_ms` shows the tail (e.g. a thread preempted by other load on a shared machine).
    Also returns the minimum and, per sample, the process CPU time (all threads; cpu/wall
    well below the thread count means the process was starved of cores).
    """
    last = None
    for _ in range(max(1, warmup)):
        t0 = time.perf_counter()
        fn()
        last = time.perf_counter() - t0
    inner = max(1, min(1000, int(min_sample_s / max(last, 1e-7)) + 1)) if min_sample_s else 1
    count, per = (repeats, inner) if not per_call else (max(repeats, min(500, repeats * inner)), 1)
    samples, cpu = [], []
    for _ in range(count):
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(per):
            fn()
        samples.append((time.perf_counter() - t0) / per * 1e3)
        cpu.append((time.process_time() - c0) / per * 1e3)
    ordered = sorted(samples)
    return {"median_ms": statistics.median(samples), "min_ms": ordered[0],
            "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "samples_ms": samples, "cpu_ms": cpu, "inner": per, "per_call": per_call,
            "warmup": max(1, warmup)}


def peak_rss_mb():
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def project_path(path):
    """An absolute path as the results record it: from `site-packages/` for an installed
    package, else relative to the project, so no machine's own folders are recorded."""
    parts = path.split(os.sep)
    if "site-packages" in parts:
        last = len(parts) - 1 - parts[::-1].index("site-packages")
        return "/".join(parts[last:])
    return os.path.relpath(path, REPO)


def relative_paths(obj):
    """A copy of the JSON-like `obj` with every absolute path string through project_path."""
    if isinstance(obj, dict):
        return {k: relative_paths(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relative_paths(v) for v in obj]
    if isinstance(obj, str) and os.path.isabs(obj):
        return project_path(obj)
    return obj
