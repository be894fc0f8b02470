"""Measurements for data-parallel training (bench/mpi_run.py starts this, alone or under
mpirun); prints one JSON line on rank 0.

    python bench/mpi_worker.py train   --config JSON --threads N --steps S
    python bench/mpi_worker.py comm    --config JSON --threads N --repeats R
    python bench/mpi_worker.py compute --config JSON --threads N --batches 128,64,...

train:   the training step of `fit` (global batch B) on every rank: step wall time per batch
         (callback timestamps, median), and inside it the time of the gradient reduction
         (`reduce_gradients`: packing, allreduce/allgather, unpacking) and of the logs'
         allreduce.
comm:    the gradient reduction alone, for the config's gradient (its dense weights, and the
         embedding's (B / ranks) x T occurrences of E floats), in "dense" and "gather" mode,
         plus a bare MPI allreduce of the same bytes and of 2 floats (the latency); barrier
         before each sample so that only the reduction is timed.
compute: one process, `train_on_batch` time at each batch size (the compute of one machine
         per step, for the scaling model), and each layer's backward time at batch B.
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402  (sets no threads itself)


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("train", "comm", "compute"))
    p.add_argument("--config", required=True)
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--batches", default="")
    return p.parse_args()


ARGS = parse()
common.apply_thread_env(ARGS.threads)

import numpy as np  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import distributed  # noqa: E402
from fastrnn.distributed import context, hooks  # noqa: E402
from fastrnn.distributed.gradients import GradientReducer  # noqa: E402
from fastrnn.indexed_slices import IndexedSlices  # noqa: E402
from frameworks.fastrnn import build_model  # noqa: E402

RANK, SIZE = distributed.init()
fastrnn.set_num_threads(ARGS.threads)
CFG = json.loads(ARGS.config)


def data(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(1, CFG["vocab"], (n, CFG["T"])),
            (rng.random(n) < 0.5).astype(np.float32))


def model():
    fastrnn.utils.set_random_seed(0)
    m = build_model(CFG)
    m.build((None, CFG["T"]))
    return m


class Timed:
    """Accumulates wall time of calls, by name."""

    def __init__(self):
        self.ms = {}

    def wrap(self, name, fn):
        def call(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.ms.setdefault(name, []).append((time.perf_counter() - t0) * 1e3)
        return call


def train():
    timed = Timed()
    hooks.DataParallel.reduce_gradients = timed.wrap("reduce_gradients",
                                                     hooks.DataParallel.reduce_gradients)
    hooks.DataParallel.metric_results = timed.wrap("metric_results",
                                                   hooks.DataParallel.metric_results)
    steps = ARGS.warmup + ARGS.steps
    x, y = data(steps * CFG["B"])
    stamps = []

    class Stamp(fastrnn.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            stamps.append(time.perf_counter())
    m = model()
    m.fit(x, y, batch_size=CFG["B"], epochs=1, verbose=0, shuffle=True, callbacks=[Stamp()])
    stamps.append(time.perf_counter())
    step_ms = np.diff(stamps)[ARGS.warmup:] * 1e3

    def median(name):
        values = timed.ms.get(name, [])[ARGS.warmup:]
        return statistics.median(values) if values else 0.0
    return {"step_ms": float(np.median(step_ms)), "step_min_ms": float(step_ms.min()),
            "step_samples_ms": step_ms.tolist(),
            "samples_per_s": CFG["B"] / (float(np.median(step_ms)) / 1e3),
            "reduce_gradients_ms": median("reduce_gradients"),
            "metric_results_ms": median("metric_results")}


def gradient_of(m, rows):
    """Synthetic gradients shaped like `m`'s, the embedding's with `rows` occurrences."""
    rng = np.random.default_rng(RANK)
    grads = []
    for w in m.trainable_weights:
        if w.shape == (CFG["vocab"], CFG["E"]):
            grads.append(IndexedSlices(rng.integers(0, CFG["vocab"], rows),
                                       rng.standard_normal((rows, CFG["E"]), np.float32),
                                       w.shape))
        else:
            grads.append(rng.standard_normal(w.shape).astype(np.float32))
    return grads


def timed_samples(fn):
    """Min and median over samples of the slowest rank's time (ms). On a loaded machine the
    minimum is the better estimate of the uncontended cost; both are recorded."""
    comm = context.communicator()
    for _ in range(ARGS.warmup):
        fn()
    out = []
    for _ in range(ARGS.repeats):
        comm.barrier()
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1e3)
    worst = comm.allgatherv(np.array([out]), [1] * SIZE).max(axis=0)
    return {"min": float(worst.min()), "median": float(np.median(worst))}


def comm():
    m = model()
    local = -(-CFG["B"] // SIZE)
    grads = gradient_of(m, local * CFG["T"])
    counts = [local] * SIZE
    result = {}
    for mode in ("dense", "gather"):
        reducer = GradientReducer(context.communicator(), mode)

        def step():
            reducer.add(grads, 1.0 / SIZE, local, local * SIZE)
            reducer.reduce(counts)
        result[f"{mode}_ms"] = timed_samples(step)
    c = context.communicator()
    table = CFG["vocab"] * CFG["E"]
    dense_floats = sum(w.size for w in m.trainable_weights)
    dense, other = np.zeros(dense_floats, np.float32), np.zeros(dense_floats - table, np.float32)
    ids, rows = grads_rows(grads)

    def bare_gather():
        c.allreduce(other)
        c.allgatherv(ids, [len(ids)] * SIZE)
        c.allgatherv(rows, [len(rows)] * SIZE)
    result["bare_dense_ms"] = timed_samples(lambda: c.allreduce(dense))
    result["bare_gather_ms"] = timed_samples(bare_gather)
    result["latency_ms"] = timed_samples(lambda: c.allreduce(np.zeros(2, np.float64)))
    result["local_ms"] = {mode: max(0.0, result[f"{mode}_ms"]["min"] -
                                    result[f"bare_{mode}_ms"]["min"])
                          for mode in ("dense", "gather")}
    result.update(dense_floats=dense_floats, table_floats=table,
                  other_floats=dense_floats - table,
                  gather_bytes_per_rank=local * CFG["T"] * (4 * CFG["E"] + 8))
    return result


def grads_rows(grads):
    g = next(g for g in grads if isinstance(g, IndexedSlices))
    return g.indices.astype(np.int64), g.values


def compute():
    out = {}
    m = model()
    for b in (int(v) for v in ARGS.batches.split(",")):
        x, y = data(b)
        ms = common.measure(lambda: m.train_on_batch(x, y), ARGS.warmup, ARGS.repeats // 4,
                            0.2)
        out[str(b)] = {"min": ms["min_ms"], "median": ms["median_ms"],
                       "cpu_min": min(ms["cpu_ms"])}
    return {"step_ms_by_batch": out, "backward": backward_profile(m)}


def backward_profile(m):
    """Per layer, from the output down: backward ms (median of the last repeats at batch B)
    and the floats of its gradient: what overlapping the reduction with the backward of the
    layers below could hide."""
    timed = Timed()
    for layer in m.layers:
        layer.backward = timed.wrap(layer.name, layer.backward)
    x, y = data(CFG["B"])
    for _ in range(ARGS.warmup + 5):
        m.train_on_batch(x, y)
    for layer in m.layers:
        del layer.backward
    return [{"layer": layer.name, "ms": statistics.median(timed.ms[layer.name][-5:]),
             "gradient_floats": int(sum(w.size for w in layer.trainable_weights))}
            for layer in reversed(m.layers) if layer.name in timed.ms]


def main():
    result = {"train": train, "comm": comm, "compute": compute}[ARGS.mode]()
    if RANK == 0:
        result.update(config=CFG["name"], ranks=SIZE, threads=ARGS.threads,
                      mode=ARGS.mode)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
