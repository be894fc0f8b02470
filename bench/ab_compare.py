"""Interleaved A/B timing of two fastrnn builds on the same configurations.

    python bench/ab_compare.py A B [--configs lstm-E32 bilstm] [--rounds 5] [--threads 2]

A and B are each a PYTHONPATH entry holding a `fastrnn` package (e.g. /tmp/base/python and
python), or a `_core*.so` file, which is run inside a temporary copy of this tree's
python/fastrnn (the Python side must then fit that extension). Every round runs one worker
process per side and configuration (the training step of bench/frameworks/fastrnn.py on
bench/worker.py's data, weights from a fixed seed: the step time depends on the weights, as
gradients that fade over a long sequence turn denormal), alternating which side goes first,
so that both builds see the same drift of a shared machine. Prints, per configuration, each
side's median over the rounds of the per-process median step time, of its CPU time (less
disturbed by other load) and B/A (below 1: B is faster).
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import common   # noqa: E402
import configs  # noqa: E402

# The seed configurations' training steps and the seed-001 BiLSTM.
DEFAULT_CONFIGS = ["lstm-E32-H32-T500-B128", "gru-E32-H32-T500-B128",
                   "simple_rnn-E32-H32-T500-B128", "bilstm-E128-H64-T100-B256"]


def python_path(side, tmp):
    """The PYTHONPATH entry for `side` (a directory, or a .so put into a copy of python/)."""
    if os.path.isdir(side):
        return os.path.abspath(side)
    if not (os.path.isfile(side) and side.endswith(".so")):
        raise SystemExit(f"{side}: expected a directory holding fastrnn/ or a _core*.so file")
    root = tempfile.mkdtemp(dir=tmp)
    pkg = os.path.join(root, "fastrnn")
    shutil.copytree(os.path.join(ROOT, "python", "fastrnn"), pkg,
                    ignore=shutil.ignore_patterns("_core*.so", "__pycache__"))
    shutil.copy(side, pkg)
    return root


def worker(cfg):
    """In the worker process: time the training step; print (median ms, median CPU ms)."""
    common.apply_thread_env(cfg["threads"])
    import fastrnn
    import worker as bench_worker
    from frameworks import fastrnn as framework
    framework.setup(cfg["threads"])
    fastrnn.utils.set_random_seed(cfg["seed"])
    bench = framework.Bench(cfg, bench_worker.make_data(cfg))
    m = common.measure(bench.train, cfg["warmup"], cfg["repeats"], 0.0)
    print(json.dumps([m["median_ms"], statistics.median(m["cpu_ms"])]))


def run_worker(path, cfg):
    env = common.thread_env(cfg["threads"])
    env["PYTHONPATH"] = path
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                           json.dumps(cfg)], env=env, capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{cfg['name']} with PYTHONPATH={path} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker(json.loads(argv[1]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="baseline: PYTHONPATH entry or _core*.so")
    ap.add_argument("b", help="candidate: PYTHONPATH entry or _core*.so")
    ap.add_argument("--configs", nargs="*", default=DEFAULT_CONFIGS,
                    help="substrings of bench/configs.py names, of any grid (default: "
                         "%(default)s)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=common.default_threads())
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=7, help="timed steps per process")
    ap.add_argument("--seed", type=int, default=0, help="of the model's initial weights")
    ap.add_argument("--json", help="also write the samples here")
    args = ap.parse_args(argv)
    grid = [c for c in configs.full_grid() + configs.quick_grid() + configs.smoke_grid()
            if "train" in c["modes"]]
    chosen = [c for c in grid if any(p in c["name"] for p in args.configs)]
    if not chosen:
        raise SystemExit(f"--configs {args.configs} matched nothing in bench/configs.py")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"A": python_path(args.a, tmp), "B": python_path(args.b, tmp)}
        samples = {c["name"]: {"A": [], "B": [], "A_cpu": [], "B_cpu": []} for c in chosen}
        for r in range(args.rounds):
            for cfg in chosen:
                run_cfg = dict(cfg, threads=args.threads, warmup=args.warmup,
                               repeats=args.repeats, seed=args.seed)
                for side in ("AB" if r % 2 == 0 else "BA"):
                    ms, cpu = run_worker(paths[side], run_cfg)
                    samples[cfg["name"]][side].append(ms)
                    samples[cfg["name"]][side + "_cpu"].append(cpu)
                    print(f"round {r + 1}/{args.rounds} {cfg['name']} {side}: {ms:.2f} ms "
                          f"(CPU {cpu:.2f} ms)", file=sys.stderr, flush=True)
    print(f"A = {args.a}\nB = {args.b}\n{args.threads} threads, {args.rounds} rounds "
          f"(median of {args.repeats} steps per process), weights seed {args.seed}\n")
    print("| configuration | A ms | B ms | B/A | A CPU ms | B CPU ms | B/A CPU | A rounds | "
          "B rounds |\n|---|---|---|---|---|---|---|---|---|")
    for name, s in samples.items():
        a, b = statistics.median(s["A"]), statistics.median(s["B"])
        ca, cb = statistics.median(s["A_cpu"]), statistics.median(s["B_cpu"])
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.3f} | {ca:.2f} | {cb:.2f} | "
              f"{cb / ca:.3f} | {' '.join(f'{v:.1f}' for v in s['A'])} | "
              f"{' '.join(f'{v:.1f}' for v in s['B'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"a": args.a, "b": args.b, "threads": args.threads, "seed": args.seed,
                       "samples": samples}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
