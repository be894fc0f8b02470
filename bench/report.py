"""Derived numbers (tokens/s, GFLOP/s, fraction of GEMM peak, speedups) and the Markdown.

    python bench/report.py bench/results/<date>.json     # rewrite the .md of a saved run
"""
import json
import re
import statistics
import sys

import flops

NAMES = {"fastrnn": "fastrnn", "tf": "Keras/TF", "torch": "PyTorch", "onnxrt": "ONNX Runtime"}
MODE_TITLES = {
    "train": "Training step (Embedding -> RNN -> Dense(1, sigmoid), RMSprop, binary CE)",
    "infer": "Recurrent layer(s) forward, inference",
    "latency": "Batch-1 latency, full model forward",
}
PEERS = ("tf", "torch", "onnxrt")


def gemm_summary(runs):
    ok = [r for r in runs if not r.get("error") and "gemm" in r.get("modes", {})]
    if not ok:
        errors = [r.get("error") for r in runs]
        return {"gflops": None, "runs": [], "error": errors}
    timings = [r["modes"]["gemm"] for r in ok]
    return {"gflops": max(t["gflops"] for t in timings), "n": timings[0]["n"],
            "runs": timings, "blas": ok[0].get("info", {}).get("blas"),
            "env": ok[0].get("info", {}).get("env"), "peak_rss_mb": ok[0].get("peak_rss_mb")}


def derive(raw, gemm_gflops, frameworks):
    """One result row: timings per framework and mode, plus derived metrics and speedups."""
    cfg = raw["config"]
    row = {"config": cfg, "flops": {m: flops.for_mode(cfg, m) for m in cfg["modes"]},
           "tokens": {m: flops.tokens(cfg, m) for m in cfg["modes"]},
           "frameworks": {}, "speedup": {}}
    for fw in frameworks:
        res = raw["frameworks"].get(fw) or {"error": "not run", "modes": {}}
        entry = {"peak_rss_mb": res.get("peak_rss_mb"), "error": res.get("error"),
                 "wall_s": res.get("wall_s"), "modes": {}}
        for mode, t in res.get("modes", {}).items():
            t = dict(t)
            if "median_ms" in t and mode in row["flops"]:
                sec = t["median_ms"] * 1e-3
                t["tokens_per_s"] = row["tokens"][mode] / sec
                t["gflops"] = row["flops"][mode] / sec / 1e9
                t["peak_fraction"] = t["gflops"] / gemm_gflops if gemm_gflops else None
                if t.get("cpu_ms"):   # average busy threads; low = starved by other load
                    t["cpu_per_wall"] = statistics.median(
                        c / w for c, w in zip(t["cpu_ms"], t["samples_ms"]) if w > 0)
            entry["modes"][mode] = t
        if res.get("overhead"):
            row["overhead"] = res["overhead"]
        row["frameworks"][fw] = entry
    for mode in cfg["modes"]:
        ms = {fw: median_ms(row, fw, mode) for fw in frameworks}
        mine = ms.get("fastrnn")
        sp = {f"vs_{p}": (ms[p] / mine if mine and ms.get(p) else None) for p in PEERS}
        peers = [ms[p] for p in PEERS if ms.get(p)]
        sp["vs_best"] = min(peers) / mine if mine and peers else None
        sp["ceiling_vs_best"] = ceiling(row, mode, gemm_gflops, frameworks)
        row["speedup"][mode] = sp
    return row


def ceiling(row, mode, gemm_gflops, frameworks):
    """The most any implementation could gain on the faster peer: the peer's time against the
    model's FLOPs done at the measured GEMM peak (i.e. fastrnn at 100% of that peak)."""
    peers = [median_ms(row, p, mode) for p in PEERS if p in frameworks]
    peers = [t for t in peers if t]
    if not gemm_gflops or not peers:
        return None
    return min(peers) / (row["flops"][mode] / (gemm_gflops * 1e9) * 1e3)


def median_ms(row, fw, mode):
    t = row["frameworks"].get(fw, {}).get("modes", {}).get(mode, {})
    return t.get("median_ms")


def scaling_rows(rows_1, results):
    """Add the N-thread times and the ratio t(1 thread) / t(N threads) per framework."""
    by_name = {r["config"]["name"]: r for r in results}
    for row in rows_1:
        full = by_name[row["config"]]
        row["ms"] = {fw: median_ms(full, fw, "train") for fw in row["ms_1"]}
        row["ratio"] = {fw: (row["ms_1"][fw] / row["ms"][fw]
                             if row["ms_1"][fw] and row["ms"][fw] else None)
                        for fw in row["ms_1"]}
    return rows_1


def _rounded(obj, digits=6):
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v, digits) for v in obj]
    return obj


def to_json(out):
    """Indented JSON with floats cut to 6 significant digits and each list of numbers on one
    line, so that thousands of samples stay compact."""
    text = json.dumps(_rounded(out), indent=1)
    return re.sub(r"\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]",
                  text)


# -- Markdown ----------------------------------------------------------------------------------
def _f(v, fmt="{:.2f}", none="–"):
    return none if v is None else fmt.format(v)


def _x(v):
    return _f(v, "{:.2f}x")


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def mode_table(out, mode):
    fws = out["frameworks"]
    header = (["configuration"] + [f"{NAMES[f]} ms" for f in fws] +
              ["vs TF", "vs PyTorch", "vs ONNX Runtime", "vs best",
               "ceiling vs best (100% of peak)",
               "fastrnn tok/s",
               "% GEMM peak (" + " / ".join(NAMES[f] for f in fws) + ")",
               "peak RSS MB (" + " / ".join(NAMES[f] for f in fws) + ")"])
    if mode == "latency":
        header.append("p90 ms (" + " / ".join(NAMES[f] for f in fws) + ")")
    rows = []
    for r in out["results"]:
        if mode not in r["config"]["modes"]:
            continue
        t = {f: r["frameworks"][f]["modes"].get(mode, {}) for f in fws}
        sp = r["speedup"][mode]
        pf = [t[f].get("peak_fraction") for f in fws]
        rows.append([r["config"]["name"]] + [_f(t[f].get("median_ms"), "{:.3f}") for f in fws] +
                    [_x(sp["vs_tf"]), _x(sp["vs_torch"]), _x(sp.get("vs_onnxrt")),
                     _x(sp["vs_best"]),
                     _x(ceiling(r, mode, out["gemm"].get("gflops"), fws)),
                     _f(t.get("fastrnn", {}).get("tokens_per_s"), "{:,.0f}"),
                     " / ".join(_f(p if p is None else 100 * p, "{:.1f}%") for p in pf),
                     " / ".join(_f(r["frameworks"][f]["peak_rss_mb"], "{:.0f}") for f in fws)])
        if mode == "latency":
            rows[-1].append(" / ".join(_f(t[f].get("p90_ms"), "{:.3f}") for f in fws))
    return _table(header, rows) if rows else ""


def overhead_table(out):
    rows = []
    for r in out["results"]:
        o = r.get("overhead")
        if not o or "error" in o:
            continue
        if "python_side_ms" not in o:   # results written before the native optimizer step
            o = {**o, "native_other_ms": 0.0, "python_side_ms": o["outside_kernels_ms"],
                 "python_side_fraction": o["outside_kernels_fraction"]}
        rows.append([r["config"]["name"], _f(o["step_ms"], "{:.3f}"),
                     _f(o["native_kernels_ms"], "{:.3f}"), _f(o["native_other_ms"], "{:.3f}"),
                     f"{o['python_side_ms']:.3f} ({100 * o['python_side_fraction']:.1f}%"
                     + (f"; rounds {100 * o['python_side_fraction_min']:.1f}-"
                        f"{100 * o['python_side_fraction_max']:.1f}%)"
                        if "python_side_fraction_min" in o else ")"),
                     _f(o["recurrent_python_ms"], "{:.3f}"), _f(o["numpy_layers_ms"], "{:.3f}"),
                     _f(o["loss_ms"], "{:.3f}"), _f(o["optimizer_ms"], "{:.3f}"),
                     _f(o["glue_ms"], "{:.3f}")])
    header = ["configuration", "step ms", "recurrent kernels ms",
              "other native calls (embedding, Dense, loss, optimizer) ms",
              "Python side ms (fraction of step; range over rounds)", "RNN layers: Python ms",
              "Embedding+Dense ms", "loss ms", "optimizer.apply ms", "Sequential glue ms"]
    return _table(header, rows) if rows else ""


def scaling_table(out):
    rows = []
    for s in out.get("scaling", []):
        for fw in [f for f in out["frameworks"] if f in s["ratio"]]:
            rows.append([s["config"], NAMES[fw], _f(s["ms_1"][fw], "{:.3f}"),
                         _f(s["ms"][fw], "{:.3f}"), _x(s["ratio"][fw])])
    header = ["configuration", "framework", "1 thread ms", f"{out['threads']} threads ms",
              f"speedup 1 -> {out['threads']} threads"]
    return _table(header, rows) if rows else ""


def header_lines(out):
    m, g = out["machine"], out["gemm"]
    lb, la = out["load_before"]["loadavg"], out["load_after"]["loadavg"]
    busy = max(lb[0], la[0]) > 0.25 * (m.get("affinity") or 1)
    info = out.get("framework_info") or {}
    versions = []
    if info.get("fastrnn"):
        versions.append(f"fastrnn {info['fastrnn']['version']} (OpenMP "
                        f"{'on' if info['fastrnn']['openmp'] else 'off'})")
    if info.get("tf"):
        versions.append(f"TensorFlow {info['tf']['tensorflow']} / Keras {info['tf']['keras']} "
                        f"(jit_compile={info['tf']['jit_compile']})")
    if info.get("torch"):
        versions.append(f"PyTorch {info['torch']['torch']}")
    if info.get("onnxrt"):
        versions.append(f"ONNX Runtime {info['onnxrt']['onnxruntime']} (CPU, default session "
                        "options but the thread counts)")
    pools = (g.get("blas") or {}).get("pools") or []
    blas = ", ".join(f"{p['internal_api']} {p['version']} ({p['architecture']}, "
                     f"{p['num_threads']} threads)" for p in pools) or "unknown"
    lines = [
        f"# fastrnn benchmark, {out['date']} ({out['preset']})", "",
        f"- Machine: {m.get('Model name', '?')}, {m.get('affinity')} usable cores "
        f"(nproc {m.get('nproc')}), SIMD {'/'.join(m.get('simd', []))}; {m.get('platform')}",
        f"- Threads: {out['threads']} for every framework; warm-up {out['runtime']['warmup']}, "
        f"median of {out['runtime']['repeats']} samples per cell (x rounds; batch-1 latency: "
        "median of individual calls)",
        f"- GEMM peak: {_f(g.get('gflops'), '{:.1f}')} GFLOP/s (float32 NumPy matmul "
        f"{g.get('n')}x{g.get('n')}, best of start/end; BLAS {blas})",
        "- Frameworks: " + "; ".join(versions),
        f"- Load average (1/5/15 min) before {lb}, after {la}" +
        (" — **the machine was shared and busy; absolute times are noisy**" if busy else ""),
        f"- Wall time {out.get('wall_s', 0):.0f} s",
    ]
    for fw, why in out.get("skipped", {}).items():
        lines.append(f"- **Skipped {NAMES[fw]}: {why}**")
    return lines


def _first(text, limit=200):
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[:limit] + " ..."


def markdown(out):
    parts = ["\n".join(header_lines(out))]
    for mode in ("train", "infer", "latency"):
        table = mode_table(out, mode)
        if table:
            parts.append(f"## {MODE_TITLES[mode]}\n\n{table}")
    parts.append("Speedups are the peer's median time over fastrnn's (>1: fastrnn faster); "
                 "\"vs best\" compares with the fastest peer. % GEMM peak = model FLOPs "
                 "(bench/flops.py) / time / GEMM FLOP/s. Peak RSS is the worker's ru_maxrss.")
    table = overhead_table(out)
    if table:
        parts.append("## fastrnn train_on_batch: Python-side time (outside native code)\n\n" + table)
    table = scaling_table(out)
    if table:
        parts.append("## Thread scaling (training step)\n\n" + table)
    errors = [f"- {r['config']['name']} / {NAMES[fw]}: {_first(e['error'])} "
              + "; ".join(f"{m}: {_first(t['error'])}" for m, t in e["modes"].items()
                          if "error" in t)
              for r in out["results"] for fw, e in r["frameworks"].items()
              if e.get("error") or any("error" in t for t in e["modes"].values())]
    if errors:
        parts.append("## Errors\n\n" + "\n".join(errors))
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    path = sys.argv[1]
    with open(path) as f:
        result = json.load(f)
    with open(path.rsplit(".", 1)[0] + ".md", "w") as f:
        f.write(markdown(result))
