"""Benchmark fastrnn against Keras 3 (TensorFlow), PyTorch and ONNX Runtime on CPU.

    PYTHONPATH=python python bench/run.py [--quick | --smoke] [--threads N]
        [--configs NAME ...] [--repeats R] [--frameworks fastrnn tf torch onnxrt] [--scaling]

Every (configuration, framework) pair runs in a fresh `bench/worker.py` subprocess, all with
the same thread count; the frameworks are interleaved (their order rotates from one
configuration to the next, and over `--rounds`), and a float32 NumPy GEMM is timed at the
start and the end of the run for the "fraction of peak" column. Writes
bench/results/<date>[-quick|-smoke][-tN].{json,md,png}. See bench/README.md.
"""
import argparse
import datetime
import glob
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import common  # noqa: E402
import configs  # noqa: E402
import report  # noqa: E402

FRAMEWORKS = ("fastrnn", "tf", "torch", "onnxrt")
MODULES = {"fastrnn": "fastrnn", "tf": "tensorflow", "torch": "torch",
           "onnxrt": "onnxruntime"}
PRESETS = {   # repeats, warmup, min_sample_s, gemm n, worker timeout (s)
    "full": dict(repeats=5, warmup=3, min_sample_s=0.2, gemm_n=4096, timeout=900),
    "quick": dict(repeats=3, warmup=2, min_sample_s=0.05, gemm_n=4096, timeout=300),
    "smoke": dict(repeats=1, warmup=1, min_sample_s=0.0, gemm_n=1024, timeout=120),
}


def in_tree_fastrnn():
    """repo/python when it holds a built fastrnn (then the workers get it on PYTHONPATH)."""
    path = os.path.join(REPO, "python")
    return path if glob.glob(os.path.join(path, "fastrnn", "_core*.so")) else None


def framework_available(name):
    """None when the framework can be imported, else the reason it is skipped."""
    if name == "fastrnn" and in_tree_fastrnn():
        return None
    if importlib.util.find_spec(MODULES[name]) is None:
        return f"{MODULES[name]} is not installed"
    return None


def worker_env(threads, gemm=False):
    env = common.thread_env(threads, gemm=gemm)
    in_tree = in_tree_fastrnn()
    if in_tree:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (in_tree, env.get("PYTHONPATH")) if p)
    return env


def run_worker(framework, cfg, timeout):
    """Run one worker; returns its JSON result (with "error" set on any failure)."""
    cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--framework", framework,
           "--config", json.dumps(cfg)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=worker_env(cfg["threads"], gemm=framework == "gemm"),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"framework": framework, "error": f"timed out after {timeout} s", "modes": {},
                "wall_s": time.perf_counter() - t0}
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                res = json.loads(line)
                break
            except json.JSONDecodeError:
                pass
    else:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        res = {"framework": framework, "modes": {},
               "error": f"worker exited {proc.returncode} without a result: {tail}"}
    res["wall_s"] = time.perf_counter() - t0
    return res


def merge(old, new):
    """Pool the samples of two rounds of the same (configuration, framework)."""
    if old is None:
        return new
    for mode, t in new.get("modes", {}).items():
        prev = old["modes"].get(mode)
        if prev is None or "error" in prev:
            old["modes"][mode] = t
        elif "error" not in t:
            prev["samples_ms"] += t["samples_ms"]
            prev["cpu_ms"] = prev.get("cpu_ms", []) + t.get("cpu_ms", [])
            prev["median_ms"] = statistics.median(prev["samples_ms"])
            prev["min_ms"] = min(prev["samples_ms"])
            ordered = sorted(prev["samples_ms"])
            prev["p90_ms"] = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    old["peak_rss_mb"] = max(old.get("peak_rss_mb") or 0, new.get("peak_rss_mb") or 0)
    old["wall_s"] = old.get("wall_s", 0) + new.get("wall_s", 0)
    old["error"] = old.get("error") or new.get("error")
    return old


def short(res):
    if res.get("error"):
        return "ERROR " + res["error"].splitlines()[0][:150]
    parts = []
    for mode, t in res.get("modes", {}).items():
        parts.append(f"{mode} " + (f"{t['median_ms']:.3f} ms" if "median_ms" in t else "ERROR"))
    return ", ".join(parts) + f", rss {res.get('peak_rss_mb', 0):.0f} MB"


def machine_info():
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "nproc": os.cpu_count(), "affinity": common.default_threads()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        for key in ("Model name", "Thread(s) per core", "Core(s) per socket", "L2 cache",
                    "L3 cache", "Hypervisor vendor"):
            if key in fields:
                info[key] = fields[key].strip()
        flags = fields.get("Flags", "").split()
        info["simd"] = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16") if f in flags]
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def load_snapshot():
    try:
        uptime = subprocess.run(["uptime"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        uptime = None
    return {"uptime": uptime, "loadavg": list(os.getloadavg())}


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a few small cells (< 2 minutes)")
    size.add_argument("--smoke", action="store_true", help="one tiny cell, one repeat")
    ap.add_argument("--threads", type=int, default=None, help="threads (default: all cores)")
    ap.add_argument("--configs", nargs="*", default=[],
                    help="run only the configurations whose name contains one of these")
    ap.add_argument("--config-file", help="JSON list of configurations (see configs.make)")
    ap.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    ap.add_argument("--repeats", type=int, help="timed samples per worker")
    ap.add_argument("--warmup", type=int, help="untimed calls before the samples")
    ap.add_argument("--rounds", type=int, default=1, help="passes over the grid (pooled)")
    ap.add_argument("--scaling", action="store_true",
                    help="also time the seed configurations (training) with 1 thread")
    ap.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--tag", help="appended to the output file names (e.g. for partial runs)")
    ap.add_argument("--no-plot", action="store_true")
    return ap.parse_args(argv)


def build_grid(args, preset_name):
    if args.config_file:
        with open(args.config_file) as f:
            grid = [configs.make(**spec) for spec in json.load(f)]
    else:
        grid = {"full": configs.full_grid, "quick": configs.quick_grid,
                "smoke": configs.smoke_grid}[preset_name]()
    return configs.select(grid, args.configs)


def run_grid(grid, frameworks, runtime, rounds, scaling, timeout):
    """All (configuration, framework) workers, interleaved. With `scaling`, each seed
    configuration's training step is also timed on 1 thread right after its N-thread runs."""
    results = {c["name"]: {"config": c, "frameworks": {}} for c in grid}
    scaling_rows = {}
    jobs = [(r, i, c) for r in range(rounds) for i, c in enumerate(grid)]
    for n, (rnd, i, cfg) in enumerate(jobs, 1):
        k = (i + rnd) % len(frameworks)
        order = frameworks[k:] + frameworks[:k]
        for fw in order:
            res = run_worker(fw, dict(cfg, **runtime), timeout)
            slot = results[cfg["name"]]["frameworks"]
            slot[fw] = merge(slot.get(fw), res)
            print(f"[{n}/{len(jobs)}] {cfg['name']:<28} {fw:<8} {short(res)} "
                  f"({res['wall_s']:.1f} s)", flush=True)
        if scaling and cfg["group"] == "seed" and rnd == 0:
            one = dict(cfg, **dict(runtime, threads=1), modes=["train"], overhead=False)
            row = scaling_rows.setdefault(cfg["name"], {"config": cfg["name"], "ms_1": {}})
            for fw in order:
                res = run_worker(fw, one, timeout)
                row["ms_1"][fw] = res.get("modes", {}).get("train", {}).get("median_ms")
                print(f"[{n}/{len(jobs)}] {cfg['name']:<28} {fw:<8} 1 thread: {short(res)}",
                      flush=True)
    return list(results.values()), list(scaling_rows.values())


def write_outputs(out, args, preset_name):
    """Write <stem>.json, .md and .png; returns the Markdown and the written paths."""
    os.makedirs(args.out_dir, exist_ok=True)
    stem = out["date"] + ("" if preset_name == "full" else f"-{preset_name}")
    if args.threads is not None and args.threads != common.default_threads():
        stem += f"-t{out['threads']}"
    if args.tag:
        stem += f"-{args.tag}"
    base = os.path.join(args.out_dir, stem)
    with open(base + ".json", "w") as f:
        f.write(report.to_json(common.relative_paths(out)))
    markdown = report.markdown(out)
    with open(base + ".md", "w") as f:
        f.write(markdown)
    written = [base + ".json", base + ".md"]
    if not args.no_plot:
        import plot
        png = plot.plot(out, base + ".png")
        if png:
            written.append(png)
        else:
            print("note: matplotlib is not installed; no plot written", flush=True)
    return markdown, written


def main(argv=None):
    args = parse_args(argv)
    preset_name = "smoke" if args.smoke else "quick" if args.quick else "full"
    preset = dict(PRESETS[preset_name])
    for key in ("repeats", "warmup"):
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key)
    threads = args.threads or common.default_threads()
    grid = build_grid(args, preset_name)

    skipped = {fw: why for fw in args.frameworks if (why := framework_available(fw))}
    frameworks = [fw for fw in args.frameworks if fw not in skipped]
    for fw, why in skipped.items():
        print(f"note: skipping {fw}: {why}", flush=True)
    if not frameworks:
        raise SystemExit("no framework to benchmark")

    runtime = {"threads": threads, "warmup": preset["warmup"], "repeats": preset["repeats"],
               "min_sample_s": preset["min_sample_s"]}
    start = time.time()
    out = {"schema": 1, "date": datetime.date.today().isoformat(), "preset": preset_name,
           "argv": sys.argv[1:] if argv is None else list(argv), "threads": threads,
           "runtime": runtime, "frameworks": frameworks, "skipped": skipped,
           "machine": machine_info(), "load_before": load_snapshot()}
    print(f"{preset_name} run: {len(grid)} configurations x {frameworks}, {threads} thread(s); "
          f"load {out['load_before']['loadavg']}", flush=True)

    gemm_cfg = dict(runtime, n=preset["gemm_n"], min_sample_s=0.0)
    gemm_runs = [run_worker("gemm", gemm_cfg, preset["timeout"])]
    results, scaling = run_grid(grid, frameworks, runtime, args.rounds,
                                args.scaling and threads > 1, preset["timeout"])
    gemm_runs.append(run_worker("gemm", gemm_cfg, preset["timeout"]))

    out["gemm"] = report.gemm_summary(gemm_runs)
    out["framework_info"] = {fw: next((r["frameworks"][fw].get("info") for r in results
                                       if r["frameworks"].get(fw, {}).get("info")), None)
                             for fw in frameworks}
    out["results"] = [report.derive(r, out["gemm"]["gflops"], frameworks) for r in results]
    out["scaling"] = report.scaling_rows(scaling, out["results"])
    out["load_after"] = load_snapshot()
    out["wall_s"] = time.time() - start
    markdown, written = write_outputs(out, args, preset_name)
    print("\n" + markdown)
    print("wrote " + ", ".join(os.path.relpath(p) for p in written) +
          f" in {out['wall_s']:.0f} s; load after {out['load_after']['loadavg']}", flush=True)
    return out


if __name__ == "__main__":
    main()
