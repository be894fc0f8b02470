"""Reduced-precision inference speed: float32 vs bfloat16 vs int8 (RnnKernel.set_precision).

    PYTHONPATH=python python bench/quantized.py [--sizes 256 512] [--cells lstm gru]
        [--batch 64] [--steps 50] [--rounds 7] [--threads N] [--out bench/results/quantized.json]

Per cell and H (input width D = H): the recurrent layer's inference call on [batch, steps, D]
(`RnnKernel.stream`, which reads the kernel's packed weights in every precision, so that
float32 does not repack per call either) and the batch-1 latency of one step (the streaming
case). The precisions are interleaved within each round, so a shared machine's drift hits
them alike; each sample is the mean of enough back-to-back calls to last >= 50 ms, and the
tables give the median over rounds (and the minimum: on a loaded machine, the closest to a
quiet one). Speedup = float32 time / that precision's time.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "python"))
sys.path.insert(0, HERE)

import common               # noqa: E402
import fastrnn              # noqa: E402
from fastrnn import _core   # noqa: E402

PRECISIONS = ("float32", "bfloat16", "int8")
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def kernel(cell, H, precision, rng):
    G = GATES[cell]
    k = _core.RnnKernel(cell, H, H)
    w = [(rng.uniform(-1, 1, (H, G * H)) / np.sqrt(H)).astype(np.float32) for _ in range(2)]
    b = np.zeros((2, G * H) if cell == "gru" else (G * H,), np.float32)
    k.bind_weights(w[0], w[1], b)
    k.set_precision(precision)
    return k, (w, b)   # the arrays must outlive the kernel's calls


def sample(call, min_seconds=0.05):
    """Mean seconds per call over enough back-to-back calls to last min_seconds."""
    call()
    n, t = 1, 0.0
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            call()
        t = time.perf_counter() - t0
        if t >= min_seconds:
            return t / n
        n *= 2


def run(args):
    rng = np.random.default_rng(0)
    rows = []
    for cell in args.cells:
        for H in args.sizes:
            cases = {"infer": (args.batch, args.steps), "latency": (1, 1)}
            for mode, (B, T) in cases.items():
                x = rng.standard_normal((B, T, H)).astype(np.float32)
                kernels = {p: kernel(cell, H, p, rng) for p in PRECISIONS}
                states = {p: [np.zeros((B, H), np.float32)
                              for _ in range(2 if cell == "lstm" else 1)] for p in PRECISIONS}
                times = {p: [] for p in PRECISIONS}
                for r in range(args.rounds):
                    order = PRECISIONS[r % 3:] + PRECISIONS[:r % 3]
                    for p in order:
                        k, st = kernels[p][0], states[p]

                        def call():
                            for s in st:
                                s.fill(0)
                            k.stream(x, st, True)
                        times[p].append(sample(call))
                row = {"cell": cell, "H": H, "D": H, "mode": mode, "batch": B, "steps": T}
                for p in PRECISIONS:
                    row[p] = {"median_ms": 1e3 * statistics.median(times[p]),
                              "min_ms": 1e3 * min(times[p]), "samples_ms":
                              [1e3 * t for t in times[p]]}
                rows.append(row)
                print(table([row], header=not rows[:-1]), end="", flush=True)
    return rows


def table(rows, header=True):
    out = []
    if header:
        out += ["| cell | H | call | float32 ms | bfloat16 ms (speedup) | int8 ms (speedup) |",
                "|---|---|---|---|---|---|"]
    for r in rows:
        call = (f"B{r['batch']} T{r['steps']}" if r["mode"] == "infer" else "batch 1, 1 step")
        f = r["float32"]["median_ms"]
        cells = [f"{r[p]['median_ms']:.3f} ({f / r[p]['median_ms']:.2f}x)"
                 for p in ("bfloat16", "int8")]
        out.append(f"| {r['cell']} | {r['H']} | {call} | {f:.3f} | {cells[0]} | {cells[1]} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=sorted(GATES))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=None, help="JSON results file (default: none)")
    args = p.parse_args(argv)
    if args.threads:
        fastrnn.set_num_threads(args.threads)
    rows = run(args)
    if args.out:
        info = {"threads": fastrnn.get_num_threads(), "cpu_count": os.cpu_count(),
                "platform": platform.platform(),
                "isa": {q: _core.precision_isa(q) for q in PRECISIONS}, "args": vars(args)}
        with open(args.out, "w") as f:
            json.dump(common.relative_paths({"machine": info, "rows": rows}), f, indent=1)


if __name__ == "__main__":
    main()
