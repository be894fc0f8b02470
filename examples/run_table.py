"""Run the seed-notebook ports with fastrnn and with Keras, and render examples/results.md.

Every (notebook, model, framework, seed) runs in its own subprocess, one after the other
(`seed_<NNN>_imdb.py --models M --framework F --seed S --out OUT`), writing its results JSON
and PNG into OUT and its console output into OUT/logs/. The table is then rendered from all
the matching JSON files found in OUT (runs from earlier invocations included), one row per
notebook model: the accuracy the notebook reported, fastrnn and Keras test accuracy, best
validation accuracy, seconds per epoch (median epoch wall time) and the speedup
(Keras s/epoch / fastrnn s/epoch). With several seeds, cells show mean ± standard deviation.
"""
import argparse
import glob
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

EXAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))
NOTEBOOKS = ("000", "001", "002", "003", "004")
FRAMEWORKS = ("fastrnn", "keras")
DEFAULT_OUT = os.path.join(EXAMPLES_DIR, "out")
DEFAULT_TABLE = os.path.join(EXAMPLES_DIR, "results.md")

EPILOG = """\
examples:
  # the full comparison (all notebooks, all models, both frameworks, one seed): many hours
  # on a small machine (Keras with recurrent_dropout is slow); run it in the background
  python examples/run_table.py

  # three seeds of two notebooks, mean ± std in the table
  python examples/run_table.py --notebooks 002,004 --seeds 1,2,3

  # one model, fastrnn only, with 8 threads
  python examples/run_table.py --notebooks 002 --models lstm --frameworks fastrnn --threads 8

  # CI smoke run (tiny data, one epoch) into a scratch folder
  python examples/run_table.py --quick --out /tmp/quick --table /tmp/quick/results.md

  # re-render examples/results.md from the JSON files already in examples/out
  python examples/run_table.py --render-only

  # show what would run
  python examples/run_table.py --dry-run

The IMDB archive is found through $FASTRNN_DATA (or --data); Keras runs need tensorflow-cpu
(pip install ".[bench]"). Runs whose JSON already exists are skipped with --skip-existing,
so an interrupted table run can be resumed.
"""


def load_notebook(nb):
    """The seed script module of notebook `nb` (its MODELS, CONFIG), without running it."""
    path = os.path.join(EXAMPLES_DIR, f"seed_{nb}_imdb.py")
    if EXAMPLES_DIR not in sys.path:
        sys.path.insert(0, EXAMPLES_DIR)
    spec = importlib.util.spec_from_file_location(f"seed_{nb}_imdb", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _csv(text):
    return [t.strip() for t in text.split(",") if t.strip()]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebooks", default=",".join(NOTEBOOKS),
                        help="comma-separated seed notebooks (default: all: 000,...,004)")
    parser.add_argument("--models", default=None,
                        help="comma-separated model names, kept where the notebook has them "
                             "(default: every model of each notebook)")
    parser.add_argument("--seeds", default=None,
                        help="comma-separated random seeds to run (default: 1); several give "
                             "mean ± std. The table uses the results of these seeds (default: "
                             "of every seed found in --out)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated: fastrnn,keras (default: both)")
    parser.add_argument("--quick", action="store_true",
                        help="pass --quick to the scripts (tiny data, 1 epoch) and tabulate "
                             "the quick results")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override every notebook's epochs (passed to the scripts)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both frameworks (passed to the scripts)")
    parser.add_argument("--time-threads", type=int, default=None,
                        help="tabulate s/epoch and the speedup only from runs made with this "
                             "--threads value (accuracies still use every run)")
    parser.add_argument("--data", default=None, help="IMDB archive (default: $FASTRNN_DATA)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="folder for results JSON/PNG and logs (default: examples/out)")
    parser.add_argument("--table", default=DEFAULT_TABLE,
                        help="Markdown file to write (default: examples/results.md)")
    parser.add_argument("--skip-existing", action="store_true",
                        help="do not re-run a (notebook, model, framework, seed) whose JSON exists")
    parser.add_argument("--render-only", action="store_true",
                        help="run nothing; render the table from the JSON files in --out")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands that would run, then stop")
    args = parser.parse_args(argv)

    args.notebooks = _csv(args.notebooks)
    bad = [n for n in args.notebooks if n not in NOTEBOOKS]
    if bad or not args.notebooks:
        parser.error(f"--notebooks: unknown {bad}; choose from {','.join(NOTEBOOKS)}")
    args.frameworks = _csv(args.frameworks)
    bad = [f for f in args.frameworks if f not in FRAMEWORKS]
    if bad or not args.frameworks:
        parser.error(f"--frameworks: unknown {bad}; choose from {','.join(FRAMEWORKS)}")
    args.table_seeds = None if args.seeds is None else args.seeds
    try:
        args.seeds = [int(s) for s in _csv(args.seeds or "1")]
    except ValueError:
        parser.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not args.seeds or min(args.seeds) < 0:
        parser.error("--seeds: expected non-negative integers")
    if args.table_seeds is not None:
        args.table_seeds = set(args.seeds)
    args.models = _csv(args.models) if args.models else None

    modules = {nb: load_notebook(nb) for nb in args.notebooks}
    if args.models:
        known = {m for mod in modules.values() for m in mod.MODELS}
        unknown = [m for m in args.models if m not in known]
        if unknown:
            parser.error(f"--models: {unknown} not in notebooks {args.notebooks} "
                         f"(they have: {', '.join(sorted(known))})")
    args.modules = modules
    args.out = os.path.abspath(args.out)
    return args


def plan(args):
    """[(notebook, model, framework, seed)] in run order."""
    runs = []
    for nb, mod in args.modules.items():
        models = [m for m in mod.MODELS if not args.models or m in args.models]
        for model in models:
            for seed in args.seeds:
                for fw in args.frameworks:
                    runs.append((nb, model, fw, seed))
    return runs


def command(args, nb, model, fw, seed):
    cmd = [sys.executable, os.path.join(EXAMPLES_DIR, f"seed_{nb}_imdb.py"),
           "--models", model, "--framework", fw, "--seed", str(seed), "--out", args.out]
    if args.quick:
        cmd.append("--quick")
    if args.epochs:
        cmd += ["--epochs", str(args.epochs)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.data:
        cmd += ["--data", args.data]
    return cmd


def json_path(out, nb, model, fw, seed, quick):
    stem = f"seed_{nb}_imdb_{model}_{fw}_seed{seed}" + ("_quick" if quick else "")
    return os.path.join(out, stem + ".json")


def run_all(args):
    runs = plan(args)
    logs = os.path.join(args.out, "logs")
    os.makedirs(logs, exist_ok=True)
    failures = []
    for i, (nb, model, fw, seed) in enumerate(runs, 1):
        cmd = command(args, nb, model, fw, seed)
        result = json_path(args.out, nb, model, fw, seed, args.quick)
        tag = f"[{i}/{len(runs)}] seed_{nb} {model} {fw} seed={seed}"
        if args.dry_run:
            print(" ".join(cmd))
            continue
        if args.skip_existing and os.path.exists(result):
            print(f"{tag}: exists, skipped ({os.path.basename(result)})", flush=True)
            continue
        log = os.path.join(logs, os.path.basename(result)[:-5] + ".log")
        print(f"{tag}: running (log: {log})", flush=True)
        start = time.perf_counter()
        with open(log, "w") as fh:
            rc = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
        took = time.perf_counter() - start
        if rc != 0 or not os.path.exists(result):
            print(f"{tag}: FAILED (exit {rc}) after {took:.0f} s; see {log}", flush=True)
            failures.append(tag)
            continue
        with open(result) as f:
            r = json.load(f)
        print(f"{tag}: test acc {r['test_accuracy']:.4f}, {r['seconds_per_epoch']:.2f} s/epoch, "
              f"{took:.0f} s", flush=True)
    return failures


# --- table --------------------------------------------------------------------------------------
def collect(out, quick, seeds=None):
    """{(notebook, model): {framework: [results]}} from the JSON files in `out`."""
    table = {}
    for path in sorted(glob.glob(os.path.join(out, "seed_*_imdb_*.json"))):
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError):
            continue
        if not isinstance(r, dict) or "framework" not in r or bool(r.get("quick")) != quick:
            continue
        if seeds is not None and r.get("seed") not in seeds:
            continue
        key = (r["notebook"], r["model"])
        table.setdefault(key, {}).setdefault(r["framework"], []).append(r)
    return table


def _values(results, field):
    return [r[field] for r in results if r.get(field) is not None]


def _stat(values, fmt):
    if not values:
        return "—"
    mean = statistics.fmean(values)
    if len(values) == 1:
        return format(mean, fmt)
    return f"{format(mean, fmt)} ± {format(statistics.stdev(values), fmt)}"


def _reported(reported):
    if not reported:
        return "—"
    if "test_accuracy" in reported:
        return f"{reported['test_accuracy']:.3f}"
    if "final_val_accuracy" in reported:
        return (f"val {reported['final_val_accuracy']:.3f} "
                f"(best {reported.get('best_val_accuracy', float('nan')):.3f})")
    return "n/r"


def _requested_threads(result):
    threads = result.get("threads")
    return threads.get("requested") if isinstance(threads, dict) else None


def render(table, order, quick, out, time_threads=None):
    lines = []
    title = "Seed notebooks: fastrnn vs Keras" + (" (QUICK smoke runs)" if quick else "")
    lines.append(f"# {title}\n")
    repo = os.path.dirname(EXAMPLES_DIR)
    shown = os.path.relpath(out, repo) if out.startswith(repo + os.sep) else out
    n_test = sorted({r["config"]["n_test"] for runs in table.values() for rs in runs.values()
                     for r in rs})
    lines.append("Generated by `python examples/run_table.py` from the results JSON files in "
                 f"`{shown}`. Each script builds "
                 "the notebook's models with fastrnn or with `keras.layers` (Keras 3, "
                 "TensorFlow backend) from the same code and the same data (IMDB from the raw "
                 "archive, `fastrnn.datasets.imdb`). Test accuracies are on the "
                 f"{' / '.join(format(n, ',') for n in n_test)} test reviews; "
                 "s/epoch is the median wall time of an epoch (training + validation); "
                 "speedup = Keras s/epoch / fastrnn s/epoch. With several seeds: mean ± std "
                 "(sample standard deviation)." +
                 (f" s/epoch and speedup use only the runs made with --threads {time_threads} "
                  "(both frameworks on that many threads)." if time_threads else "") + "\n")
    header = ("| Notebook | Model | Reported | fastrnn test acc | Keras test acc | "
              "fastrnn best val acc | Keras best val acc | fastrnn s/epoch | Keras s/epoch | "
              "Speedup | Seeds (fastrnn / Keras) |")
    lines.append(header)
    lines.append("|" + "---|" * (header.count("|") - 1))
    machines = {}
    notes = {}
    for key in order:
        if key not in table:
            continue
        nb, model = key
        runs = table[key]
        fr, kr = runs.get("fastrnn", []), runs.get("keras", [])
        reported = (fr or kr)[0].get("reported")
        timed = [[r for r in rs if time_threads is None or _requested_threads(r) == time_threads]
                 for rs in (fr, kr)]
        f_spe, k_spe = (_values(rs, "seconds_per_epoch") for rs in timed)
        speed = (f"{statistics.fmean(k_spe) / statistics.fmean(f_spe):.2f}×"
                 if f_spe and k_spe else "—")
        lines.append(
            f"| {nb} | {model} | {_reported(reported)} | "
            f"{_stat(_values(fr, 'test_accuracy'), '.4f')} | "
            f"{_stat(_values(kr, 'test_accuracy'), '.4f')} | "
            f"{_stat(_values(fr, 'best_val_accuracy'), '.4f')} | "
            f"{_stat(_values(kr, 'best_val_accuracy'), '.4f')} | "
            f"{_stat(f_spe, '.2f')} | {_stat(k_spe, '.2f')} | {speed} | "
            f"{len(fr)} / {len(kr)} |")
        for r in fr + kr:
            m = r.get("machine", {})
            machines[(m.get("cpu_model"), m.get("nproc"))] = r.get("threads")
            if r["config"].get("notes"):
                notes[nb] = r["config"]["notes"]
    lines.append("")
    lines.append("Reported: the notebook's printed test accuracy; notebook 004 printed only "
                 "validation accuracy (final epoch, best epoch); notebook 003 printed none "
                 "(n/r).")
    for nb, note in sorted(notes.items()):
        lines.append(f"Notebook {nb}: {note}.")
    lines.append("")
    lines.append("Machine(s): " + "; ".join(
        f"{cpu}, {n} CPUs" for (cpu, n) in machines) + ".")
    configs = {}
    for key in order:
        for fw_runs in table.get(key, {}).values():
            for r in fw_runs[:1]:
                configs[key] = r["config"]
    if configs:
        lines.append("")
        lines.append("| Notebook | Model | num_words | maxlen | optimizer | batch | epochs | "
                     "validation |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for (nb, model), c in configs.items():
            lines.append(f"| {nb} | {model} | {c['num_words']} | {c['maxlen']} | "
                         f"{c['optimizer']} | {c['batch_size']} | {c['epochs']} | "
                         f"{c['validation']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    failures = []
    if not args.render_only:
        failures = run_all(args)
        if args.dry_run:
            return 0
    order = [(nb, m) for nb, mod in args.modules.items() for m in mod.MODELS]
    table = collect(args.out, args.quick, args.table_seeds)
    if not table:
        print(f"no results in {args.out} to tabulate", file=sys.stderr)
        return 1
    text = render(table, order, args.quick, args.out, args.time_threads)
    os.makedirs(os.path.dirname(os.path.abspath(args.table)), exist_ok=True)
    with open(args.table, "w") as f:
        f.write(text)
    print(f"\nwrote {args.table}\n")
    print(text)
    if failures:
        print(f"{len(failures)} run(s) failed: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
