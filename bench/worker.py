"""Time one framework on one configuration, in a process of its own; print one JSON line.

    python bench/worker.py --framework {fastrnn,tf,torch,onnxrt,gemm} --config JSON

`--config` is a configuration dict of bench/configs.py plus the run-wide fields `threads`,
`warmup`, `repeats` and `min_sample_s` (for `gemm`: `{"n": 4096, "threads": .., ...}`).
The last stdout line is a JSON object:

    {"framework", "config", "info", "modes": {mode: timing or {"error"}}, "overhead",
     "peak_rss_mb", "error"}

A failing mode is reported in place and does not stop the others; a failure to import or
build fails the whole worker with "error" set (exit status 0, so the run goes on).
"""
import argparse
import importlib
import json
import os
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import common  # noqa: E402  (no NumPy/framework import: thread variables are set first)

FRAMEWORKS = ("fastrnn", "tf", "torch", "onnxrt", "gemm")


def describe(exc, limit=600):
    """`Type: message`, cut short (pybind11 errors can embed whole arrays)."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= limit else text[:limit] + " ..."


def make_data(cfg):
    import numpy as np
    rng = np.random.default_rng(1234)
    B, T, E = cfg["B"], cfg["T"], cfg["E"]
    return {"ids": rng.integers(0, cfg["vocab"], size=(B, T), dtype=np.int32),
            "labels": rng.integers(0, 2, size=(B, 1)).astype(np.float32),
            "features": rng.standard_normal((B, T, E), dtype=np.float32),
            "ids1": rng.integers(0, cfg["vocab"], size=(1, T), dtype=np.int32)}


def run(framework, cfg):
    mod = importlib.import_module(f"frameworks.{framework}")
    mod.setup(cfg["threads"])
    if framework == "gemm":
        return {"info": mod.info(), "modes": {"gemm": mod.run(cfg)}}
    bench = mod.Bench(cfg, make_data(cfg))
    out = {"modes": {}}
    for mode in [m for m in cfg["modes"] if hasattr(bench, m)]:   # onnxrt: no train
        try:
            out["modes"][mode] = common.measure(getattr(bench, mode), cfg["warmup"],
                                                cfg["repeats"], cfg["min_sample_s"],
                                                per_call=mode == "latency")
        except Exception as exc:   # report and go on with the next mode
            out["modes"][mode] = {"error": describe(exc),
                                  "traceback": traceback.format_exc(limit=8)[-4000:]}
    if cfg.get("overhead") and "train" in cfg["modes"] and hasattr(bench, "overhead"):
        try:
            out["overhead"] = overhead_median(bench, max(3, cfg["repeats"]))
        except Exception as exc:
            out["overhead"] = {"error": describe(exc)}
    out["info"] = bench.info()
    return out


def overhead_median(bench, rounds, steps=10):
    """Python-side split of the training step: the round (of `steps` steps, only the native
    calls timed) with the median Python-side fraction, with the smallest and largest fraction
    over all rounds (one round alone is at the mercy of noise); the per-phase breakdown comes
    from as many rounds with the phases timed too (median by fraction; its own fraction is
    kept as `breakdown_python_side_fraction`, a little higher: more timers)."""
    runs = sorted((bench.overhead(steps, breakdown=False) for _ in range(rounds)),
                  key=lambda o: o["python_side_fraction"])
    detail = sorted((bench.overhead(steps) for _ in range(rounds)),
                    key=lambda o: o["python_side_fraction"])[rounds // 2]
    fractions = [o["python_side_fraction"] for o in runs]
    return {**detail, **runs[len(runs) // 2], "rounds": rounds,
            "python_side_fraction_min": fractions[0], "python_side_fraction_max": fractions[-1],
            "breakdown_python_side_fraction": detail["python_side_fraction"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--framework", required=True, choices=FRAMEWORKS)
    ap.add_argument("--config", required=True, help="configuration as a JSON object")
    args = ap.parse_args(argv)
    cfg = json.loads(args.config)
    cfg.setdefault("threads", common.default_threads())
    cfg.setdefault("warmup", 2)
    cfg.setdefault("repeats", 5)
    cfg.setdefault("min_sample_s", 0.0)
    common.apply_thread_env(cfg["threads"])
    result = {"framework": args.framework, "config": cfg.get("name"), "error": None}
    try:
        result.update(run(args.framework, cfg))
    except Exception as exc:
        result["error"] = describe(exc)
        result["traceback"] = traceback.format_exc(limit=12)[-4000:]
    result["peak_rss_mb"] = common.peak_rss_mb()
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
