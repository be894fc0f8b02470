"""Data-parallel benchmarks: run the measurements of bench/mpi_worker.py, write
bench/results/mpi-<date>.json and .md (with the scaling model's tables, bench/mpi_scaling.py).

    pip install ".[mpi]"
    PYTHONPATH=python python bench/mpi_run.py            # ~5 minutes on 2 quiet cores
    PYTHONPATH=python python bench/mpi_run.py --quick    # seed LSTM only, fewer samples

1. Throughput of the seed LSTM's training step (fit, global batch 128): 1 process x N
   threads against N processes x 1 thread (mpirun -n N), N = the usable cores; 3 rounds,
   alternating which goes first.
2. The gradient reduction per step on N ranks, per model: "dense" and "gather" embedding
   modes, bare MPI collectives of the same bytes, the latency of a tiny allreduce.
3. One process's step time at the batch sizes the scaling model needs (B / machines).
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common  # noqa: E402
import configs  # noqa: E402
import mpi_scaling  # noqa: E402

# The seed models (notebooks 002/004 LSTM, GRU, SimpleRNN; 001 BiLSTM; 000 2x LSTM) and H=512.
MODELS = ["lstm-E32-H32-T500-B128", "gru-E32-H32-T500-B128", "simple_rnn-E32-H32-T500-B128",
          "bilstm-E128-H64-T100-B256", "2xlstm-E100-H32-T500-B512", "lstm-E128-H512-T100-B64"]


def worker(mode, cfg, threads, ranks, extra=()):
    cmd = [sys.executable, os.path.join(HERE, "mpi_worker.py"), mode, "--config",
           json.dumps(cfg), "--threads", str(threads), *extra]
    env = common.thread_env(threads)
    env.setdefault("PYTHONPATH", os.path.join(common.REPO, "python"))
    if ranks > 1:
        mpirun = os.path.join(os.path.dirname(sys.executable), "mpirun")
        mpirun = mpirun if os.path.exists(mpirun) else shutil.which("mpirun")
        cmd = [mpirun, "-n", str(ranks), "--oversubscribe"] + cmd
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... failed:\n{proc.stderr[-3000:]}")
    line = [s for s in proc.stdout.splitlines() if s.startswith("{")][-1]
    print(line[:200], flush=True)
    return json.loads(line)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=None)
    args = p.parse_args()
    cores = common.default_threads()
    grid = {c["name"]: c for c in configs.full_grid()}
    names = MODELS[:1] if args.quick else MODELS
    steps = ["--steps", "6" if args.quick else "15"]
    seed = grid[MODELS[0]]
    result = {"date": datetime.date.today().isoformat(), "cores": cores,
              "load_before": os.getloadavg(), "throughput": {}, "models": {}}
    # Alternating rounds, so that a drift of the machine's load hits both alike.
    for r in range(1 if args.quick else 3):
        runs = [(f"1x{cores}", cores, 1), (f"{cores}x1", 1, cores)]
        for label, threads, ranks in (runs if r % 2 == 0 else runs[::-1]):
            result["throughput"].setdefault(label, []).append(
                worker("train", seed, threads, ranks, steps))
    for name in names:
        cfg = grid[name]
        batches = sorted({max(1, cfg["B"] // m) for m in mpi_scaling.MACHINES}, reverse=True)
        result["models"][name] = {
            "config": cfg,
            "comm": worker("comm", cfg, 1, cores, ["--repeats", "10" if args.quick else "30"]),
            **dict(zip(("compute", "backward"), worker(
                "compute", cfg, cores, 1, ["--batches", ",".join(map(str, batches)),
                                           "--repeats", "12"]).values()))}
    result["load_after"] = os.getloadavg()
    out = args.out or os.path.join(HERE, "results", f"mpi-{result['date']}"
                                   f"{'-quick' if args.quick else ''}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    with open(out[:-5] + ".md", "w") as f:
        f.write(report(result))
    print(f"wrote {out} and {out[:-5]}.md")


def report(result):
    lines = [f"# Data-parallel measurements, {result['date']}\n",
             f"{result['cores']} cores; load average before/after: "
             f"{result['load_before'][0]:.2f} / {result['load_after'][0]:.2f}\n",
             "| run | step ms (median) | samples/s | reduce_gradients ms | logs allreduce ms |",
             "|---|---|---|---|---|"]
    for run, rounds in result["throughput"].items():
        for i, r in enumerate(rounds):
            lines.append(f"| {run} (processes x threads), round {i + 1} | {r['step_ms']:.1f} "
                         f"(min {r['step_min_ms']:.1f}) | "
                         f"{r['samples_per_s']:.0f} | {r['reduce_gradients_ms']:.2f} | "
                         f"{r['metric_results_ms']:.3f} |")
    lines += ["", "Gradient reduction per step on the ranks above, ms, min / median over samples:", "",
              "| model | dense | gather | bare dense | bare gather | tiny allreduce "
              "| gradient floats (table) | gathered bytes/rank |", "|---|---|---|---|---|---|"
              "---|---|"]
    for name, entry in result["models"].items():
        c = entry["comm"]
        cell = "{0[min]:.2f} / {0[median]:.2f}".format
        lines.append(f"| {name} | {cell(c['dense_ms'])} | {cell(c['gather_ms'])} | "
                     f"{cell(c['bare_dense_ms'])} | {cell(c['bare_gather_ms'])} | "
                     f"{c['latency_ms']['min'] * 1e3:.0f} us / "
                     f"{c['latency_ms']['median'] * 1e3:.0f} us | "
                     f"{c['dense_floats']:,} ({c['table_floats']:,}) | "
                     f"{c['gather_bytes_per_rank']:,} |")
    lines += ["", "One process, all cores, ms per step (min / median) by batch size:", ""]
    for name, entry in result["models"].items():
        lines.append(f"- {name}: " + ", ".join(f"b={b}: {v['min']:.1f} / {v['median']:.1f}"
                                              for b, v in entry["compute"].items()))
    lines += ["", "Backward per layer (from the output down), ms at batch B, and gradient "
              "floats:", ""]
    for name, entry in result["models"].items():
        lines.append(f"- {name}: " + ", ".join(f"{b['layer']} {b['ms']:.2f} ms / "
                                              f"{b['gradient_floats']:,}"
                                              for b in entry["backward"]))
    lines += ["", "## Scaling model", "", "Machines up to which the efficiency stays >= 50% "
              "(efficiency at the largest count):", "", mpi_scaling.summary(result), "",
              mpi_scaling.tables(result), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
