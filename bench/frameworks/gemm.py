"""Machine peak for the "fraction of peak" column: a large float32 NumPy matmul.

run.py starts this worker with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from its
environment (and only its), and the same thread count as the frameworks.
"""
import os

import numpy as np


def setup(threads):
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(int(threads))
    except ImportError:
        pass


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {"threadpoolctl": "not installed", "numpy": np.__version__}
    keep = ("internal_api", "version", "num_threads", "threading_layer", "architecture",
            "filepath")
    return {"numpy": np.__version__,
            "pools": [{k: p.get(k) for k in keep} for p in threadpool_info()]}


def info():
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                          "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    return {"blas": blas_info(), "env": env}


def run(cfg):
    import common   # bench/ is on sys.path in the worker
    n = int(cfg.get("n", 4096))
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    timing = common.measure(lambda: np.matmul(a, b, out=c), cfg["warmup"], cfg["repeats"], 0.0)
    timing["n"] = n
    timing["flops"] = 2 * n ** 3
    timing["gflops"] = 2 * n ** 3 / (timing["median_ms"] * 1e-3) / 1e9
    timing["best_gflops"] = 2 * n ** 3 / (min(timing["samples_ms"]) * 1e-3) / 1e9
    return timing
