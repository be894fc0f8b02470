"""Streaming latency: one stateful step (x of shape [1, 1, E]) of LSTM(H) and GRU(H) at batch 1.

    PYTHONPATH=python python bench/streaming.py                  # H=256, E=128, 1 thread
    PYTHONPATH=python python bench/streaming.py --threads 2 --calls 5000

Each framework runs in a fresh subprocess (thread variables set before anything is imported)
and carries its states from call to call, as a streaming application does:
- fastrnn: a `stateful=True` layer called on the step (`layer(x)`), and the same layer in a
  `Sequential` model with a fixed batch (`model(x)`);
- PyTorch: `nn.LSTM`/`nn.GRU` (batch_first) called with the carried `(h, c)` / `h` under
  `torch.inference_mode()`;
- Keras 3 on TensorFlow: a `stateful=True` layer called through `tf.function` (XLA when
  TensorFlow compiles it, else the plain graph; the JSON says which), on a tf.constant input.
Every call is one sample (bench/common.measure with per_call=True); the table gives the median
and the p90 in microseconds. Writes bench/results/streaming-<date>[-tN].{json,md}.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

import common

FRAMEWORKS = ("fastrnn", "torch", "keras")
CELLS = ("lstm", "gru")


def _fastrnn(cell, H, E, x):
    import fastrnn
    layer_cls = {"lstm": fastrnn.layers.LSTM, "gru": fastrnn.layers.GRU}[cell]
    layer = layer_cls(H, stateful=True)
    layer.build((1, 1, E))
    model = fastrnn.Sequential([fastrnn.Input(batch_shape=(1, 1, E)), layer_cls(H, stateful=True)])
    model.layers[0].set_weights(layer.get_weights())
    return {"fastrnn layer(x)": lambda: layer(x), "fastrnn model(x)": lambda: model(x)}, {}


def _torch(cell, H, E, x):
    import torch
    torch.manual_seed(0)
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](E, H, batch_first=True)
    xt = torch.from_numpy(x)
    state = [None]

    def step():
        with torch.inference_mode():
            _, state[0] = m(xt, state[0])
    step()
    return {"PyTorch": step}, {"torch": torch.__version__}


def _keras(cell, H, E, x):
    import keras
    import tensorflow as tf
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell](H, stateful=True)
    layer.build((1, 1, E))
    xt = tf.constant(x)
    jit = True
    try:
        fn = tf.function(lambda v: layer(v, training=False), jit_compile=True)
        fn(xt)
    except Exception:   # noqa: BLE001  (XLA refuses some layers: fall back to the graph)
        jit = False
        fn = tf.function(lambda v: layer(v, training=False))
        fn(xt)
    return {"Keras/TF": lambda: fn(xt)}, {"keras": keras.__version__, "tf": tf.__version__,
                                          "jit_compile": jit}


def worker(framework, cell, H, E, threads, calls):
    common.apply_thread_env(threads)
    import numpy as np
    x = np.random.default_rng(0).standard_normal((1, 1, E)).astype(np.float32)
    if framework == "fastrnn":
        import fastrnn
        fastrnn.set_num_threads(threads)
        fns, info = _fastrnn(cell, H, E, x)
    elif framework == "torch":
        import torch
        torch.set_num_threads(threads)
        fns, info = _torch(cell, H, E, x)
    else:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        fns, info = _keras(cell, H, E, x)
    out = {}
    for name, fn in fns.items():
        res = common.measure(fn, warmup=200, repeats=calls, min_sample_s=0, per_call=True)
        out[name] = {"median_us": res["median_ms"] * 1e3, "p90_us": res["p90_ms"] * 1e3,
                     "min_us": res["min_ms"] * 1e3, "calls": len(res["samples_ms"])}
    print(json.dumps({"results": out, "info": info}))


def _table(runs, H, E, threads):
    lines = [f"One stateful step, batch 1, H={H}, E={E}, {threads} thread(s): median µs "
             "(p90)", "",
             "| cell | fastrnn layer(x) | fastrnn model(x) | PyTorch | Keras/TF | layer vs "
             "PyTorch | layer vs Keras/TF |", "|---|---|---|---|---|---|---|"]
    for cell in CELLS:
        r = runs[cell]

        def cellv(name):
            return f"{r[name]['median_us']:.1f} ({r[name]['p90_us']:.1f})" if name in r else "–"

        def ratio(name):
            return f"{r[name]['median_us'] / r['fastrnn layer(x)']['median_us']:.2f}x" \
                if name in r and "fastrnn layer(x)" in r else "–"
        lines.append(f"| {cell.upper()} | {cellv('fastrnn layer(x)')} | "
                     f"{cellv('fastrnn model(x)')} | {cellv('PyTorch')} | {cellv('Keras/TF')} | "
                     f"{ratio('PyTorch')} | {ratio('Keras/TF')} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--features", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--calls", type=int, default=3000, help="timed calls per framework")
    p.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    p.add_argument("--out-dir", default=os.path.join(common.REPO, "bench", "results"))
    p.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "CELL"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.units, args.features, args.threads,
                      args.calls)
    runs, info = {cell: {} for cell in CELLS}, {}
    for cell in CELLS:
        for fw in args.frameworks:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", fw, cell,
                   "--units", str(args.units), "--features", str(args.features),
                   "--threads", str(args.threads), "--calls", str(args.calls)]
            proc = subprocess.run(cmd, capture_output=True, text=True,
                                  env=common.thread_env(args.threads), timeout=900)
            if proc.returncode != 0:
                print(f"{fw} {cell}: skipped ({proc.stderr.strip().splitlines()[-1:]})")
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[cell].update(res["results"])
            info.update(res["info"])
    table = _table(runs, args.units, args.features, args.threads)
    print(table)
    stem = f"streaming-{datetime.date.today().isoformat()}" + \
        (f"-t{args.threads}" if args.threads != 1 else "")
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, stem + ".json"), "w") as f:
        json.dump(common.relative_paths({"argv": sys.argv[1:], "units": args.units,
                                         "features": args.features, "threads": args.threads,
                                         "results": runs, "info": info}), f, indent=1)
    with open(os.path.join(args.out_dir, stem + ".md"), "w") as f:
        f.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
