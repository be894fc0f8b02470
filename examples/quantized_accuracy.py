"""Test accuracy of the seed notebooks' models in float32, bfloat16 and int8 (Model.quantize).

For every model of the seed scripts (seed_00*_imdb.py, their configs), trains it once with
fastrnn in float32 (the weights are kept in --out as <script>_<model>_seed<N>.npz, so a rerun
only evaluates), then evaluates the same weights on the 25,000 test reviews three times: as
trained, after model.quantize("bfloat16") and after model.quantize("int8") (the recurrent
layers then run in reduced precision; Embedding and Dense stay float32). Writes
quantized_accuracy.json and quantized_accuracy.md in --out.

    python examples/quantized_accuracy.py                       # the notebooks' epochs
    python examples/quantized_accuracy.py --max-epochs 2        # fewer epochs, same models
    python examples/quantized_accuracy.py --only 002:lstm,004:simple_rnn
"""
import argparse
import importlib
import json
import os
import sys
import time

import numpy as np

import _common

SCRIPTS = ("seed_000_imdb", "seed_001_imdb", "seed_002_imdb", "seed_003_imdb", "seed_004_imdb")
MODES = ("float32", "bfloat16", "int8")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(_common.DEFAULT_OUT, "quantized"))
    p.add_argument("--data", default=None, help="IMDB archive (default: $FASTRNN_DATA)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-epochs", type=int, default=None,
                   help="cap every notebook's epochs at this many (default: no cap)")
    p.add_argument("--only", default=None,
                   help="comma-separated notebook:model pairs, e.g. 002:lstm (default: all)")
    p.add_argument("--train-only", action="store_true",
                   help="train and keep the weights, evaluate nothing")
    return p.parse_args(argv)


def selected(only):
    """(script module, model name) pairs, in the notebooks' order."""
    wanted = None if only is None else {tuple(s.split(":")) for s in only.split(",") if s}
    for script in SCRIPTS:
        mod = importlib.import_module(script)
        for name in mod.MODELS:
            if wanted is None or (script[5:8], name) in wanted:
                yield script, mod, name


def config_of(mod, max_epochs):
    c = {"notes": None, "validation": "split", "validation_split": 0.0, **mod.CONFIG}
    if max_epochs:
        c["epochs"] = min(c["epochs"], max_epochs)
    return type("Config", (), c)


def build(nn, mod, name, c):
    model = mod.MODELS[name][0](nn, c)
    model.build((None, c.maxlen))
    return model


def train(nn, mod, name, c, data, seed, path):
    (x_train, y_train), (x_test, y_test) = data
    nn.set_random_seed(seed)
    model = build(nn, mod, name, c)
    kwargs = dict(batch_size=c.batch_size, epochs=c.epochs, verbose=2)
    if c.validation == "test":
        kwargs["validation_data"] = (x_test, y_test)
    else:
        kwargs["validation_split"] = c.validation_split
    t0 = time.perf_counter()
    model.fit(x_train, y_train, **kwargs)
    seconds = time.perf_counter() - t0
    np.savez(path, *model.get_weights())
    with open(path + ".json", "w") as f:
        json.dump({"epochs": c.epochs, "fit_seconds": seconds}, f)


def evaluate(nn, mod, name, c, data, path):
    (_, _), (x_test, y_test) = data
    with np.load(path, allow_pickle=False) as z:
        weights = [z[f"arr_{i}"] for i in range(len(z.files))]
    out = {}
    for mode in MODES:
        model = build(nn, mod, name, c)
        model.set_weights(weights)
        if mode != "float32":
            model.quantize(mode)
        t0 = time.perf_counter()
        scores = model.evaluate(x_test, y_test, batch_size=c.batch_size, verbose=0,
                                return_dict=True)
        acc = _common._accuracy_key(scores)   # the notebooks say "accuracy" or "acc"
        out[mode] = {"accuracy": float(scores[acc]), "loss": float(scores["loss"]),
                     "eval_seconds": time.perf_counter() - t0}
        print(f"  {mode:<9} accuracy {out[mode]['accuracy']:.4f} loss {out[mode]['loss']:.4f}",
              flush=True)
    return out


def markdown(rows):
    lines = ["| Notebook | Model | epochs | float32 acc | bfloat16 acc (diff, points) | "
             "int8 acc (diff, points) |", "|---|---|---|---|---|---|"]
    for r in rows:
        f32 = r["float32"]["accuracy"]
        cells = [f"{r[m]['accuracy']:.4f} ({100 * (r[m]['accuracy'] - f32):+.2f})"
                 for m in ("bfloat16", "int8")]
        lines.append(f"| {r['notebook']} | {r['model']} | {r['epochs']} | {f32:.4f} | "
                     f"{cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    nn = _common.load_framework("fastrnn")
    json_path = os.path.join(args.out, "quantized_accuracy.json")
    rows, data_cache = [], {}
    if os.path.exists(json_path):   # earlier runs' rows (e.g. other --only subsets) are kept
        with open(json_path) as f:
            rows = json.load(f)["rows"]
    for script, mod, name in selected(args.only):
        c = config_of(mod, args.max_epochs)
        key = (c.num_words, c.maxlen)
        if key not in data_cache:
            data_cache[key] = _common.load_imdb(c.num_words, c.maxlen, path=args.data)
        data = data_cache[key]
        path = os.path.join(args.out, f"{script}_{name}_seed{args.seed}_e{c.epochs}.npz")
        print(f"=== {script} / {name} ({c.epochs} epochs)", flush=True)
        if not os.path.exists(path):
            train(nn, mod, name, c, data, args.seed, path)
        if args.train_only:
            continue
        r = {"notebook": mod.CONFIG["notebook"], "model": name, "epochs": c.epochs,
             "seed": args.seed, **evaluate(nn, mod, name, c, data, path)}
        rows = [o for o in rows if (o["notebook"], o["model"], o["epochs"], o["seed"]) !=
                (r["notebook"], r["model"], r["epochs"], r["seed"])] + [r]
        rows.sort(key=lambda o: (o["notebook"], o["model"]))
        with open(json_path, "w") as f:
            command = [os.path.relpath(a, _common.REPO_ROOT) if os.path.isabs(a) else a
                       for a in sys.argv]   # no machine's absolute paths in results
            json.dump({"machine": _common.machine_info(), "command": command, "rows": rows},
                      f, indent=1)
        with open(os.path.join(args.out, "quantized_accuracy.md"), "w") as f:
            f.write(markdown(rows))
    if rows:
        print(markdown(rows))


if __name__ == "__main__":
    main()
