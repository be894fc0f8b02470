"""Shared plumbing of the seed-notebook ports (`seed_*_imdb.py`).

Each seed script defines its notebook's settings (`CONFIG`) and one builder per model
(`def lstm(nn, c): ...`), where `nn` holds `Sequential` and the layer classes of the chosen
framework (fastrnn or Keras 3 on TensorFlow), so the model code is literally the same for
both. This module does the rest: command line, IMDB loading and padding, seeding, timing,
fit/evaluate, the accuracy/loss PNG and one results JSON per model.

Outputs (in --out, default examples/out/), per model:
    <script>_<model>_<framework>_seed<N>[_quick].json   results (see `run_model`)
    <script>_<model>_<framework>_seed<N>[_quick].png    accuracy and loss per epoch
"""
import argparse
import datetime
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from types import SimpleNamespace

EXAMPLES_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(EXAMPLES_DIR)
DEFAULT_OUT = os.path.join(EXAMPLES_DIR, "out")

# From a source checkout, `import fastrnn` works without installing the package.
if importlib.util.find_spec("fastrnn") is None:
    sys.path.insert(0, os.path.join(REPO_ROOT, "python"))

FRAMEWORKS = ("fastrnn", "keras")
LAYER_NAMES = ("Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Dense", "Dropout",
               "Activation", "Input")

# --quick (CI): a few hundred reviews, one epoch, short sequences.
QUICK_TRAIN = 400
QUICK_TEST = 200
QUICK_MAXLEN = 50


# --- frameworks -------------------------------------------------------------------------------
def load_framework(name, threads=None):
    """`Sequential`, the layer classes, `Callback` and `set_random_seed` of one framework."""
    if name == "fastrnn":
        import fastrnn
        import fastrnn.callbacks
        import fastrnn.layers
        import fastrnn.utils
        if threads:
            fastrnn.set_num_threads(threads)
        nn = SimpleNamespace(name="fastrnn", version=fastrnn.__version__,
                             Sequential=fastrnn.Sequential,
                             Callback=fastrnn.callbacks.Callback,
                             set_random_seed=fastrnn.utils.set_random_seed,
                             threads=lambda: {"fastrnn_threads": fastrnn.get_num_threads()})
        for layer in LAYER_NAMES:
            setattr(nn, layer, getattr(fastrnn.layers, layer))
        return nn
    if name == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            import keras
            import tensorflow as tf
        except ImportError as e:
            raise SystemExit(f"--framework keras needs TensorFlow and Keras 3 "
                             f"(pip install tensorflow-cpu): {e}")
        if keras.backend.backend() != "tensorflow":
            raise SystemExit(f"--framework keras expects KERAS_BACKEND=tensorflow, got "
                             f"{keras.backend.backend()!r}")
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)

        def tf_threads():
            intra = tf.config.threading.get_intra_op_parallelism_threads()
            inter = tf.config.threading.get_inter_op_parallelism_threads()
            return {"tf_intra_op": intra or f"default ({os.cpu_count()})",
                    "tf_inter_op": inter or "default"}
        nn = SimpleNamespace(name="keras", version=f"keras {keras.__version__}, "
                             f"tensorflow {tf.__version__}",
                             Sequential=keras.Sequential,
                             Callback=keras.callbacks.Callback,
                             set_random_seed=keras.utils.set_random_seed,
                             threads=tf_threads)
        for layer in LAYER_NAMES:
            setattr(nn, layer, getattr(keras.layers, layer))
        return nn
    raise ValueError(f"unknown framework {name!r}; expected one of {FRAMEWORKS}")


def epoch_timer(nn):
    """A callback of framework `nn` recording each epoch's wall time (training + validation)."""
    class EpochTimer(nn.Callback):
        def __init__(self):
            super().__init__()
            self.times = []
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)

    return EpochTimer()


# --- data ---------------------------------------------------------------------------------------
def load_imdb(num_words, maxlen, path=None, n_train=None, n_test=None):
    """IMDB from the raw archive (fastrnn.datasets.imdb, Keras semantics), padded to `maxlen`.

    Both frameworks get these same arrays. `n_train`/`n_test` keep only the first reviews
    (load_data has already shuffled them with its fixed seed).
    """
    from fastrnn.datasets import imdb
    from fastrnn.preprocessing.sequence import pad_sequences
    try:
        (x_train, y_train), (x_test, y_test) = imdb.load_data(path=path, num_words=num_words)
    except imdb.DatasetNotFoundError as e:
        raise SystemExit(f"IMDB data not found. Set FASTRNN_DATA to aclImdb_v1_labeled.tar.gz "
                         f"(or pass --data).\n{e}")
    if n_train:
        x_train, y_train = x_train[:n_train], y_train[:n_train]
    if n_test:
        x_test, y_test = x_test[:n_test], y_test[:n_test]
    x_train = pad_sequences(x_train, maxlen=maxlen)
    x_test = pad_sequences(x_test, maxlen=maxlen)
    return (x_train, y_train), (x_test, y_test)


# --- results ------------------------------------------------------------------------------------
def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {"nproc": usable, "cpu_count": os.cpu_count(), "cpu_model": cpu,
            "platform": platform.platform(), "python": platform.python_version(),
            "hostname": platform.node()}


def _accuracy_key(history, prefix=""):
    for key in ("accuracy", "acc"):
        if prefix + key in history:
            return prefix + key
    return None


def _floats(values):
    return [float(v) for v in values]


def _optimizer_name(model):
    opt = getattr(model, "optimizer", None)
    return type(opt).__name__.lower() if opt is not None else None


def result_stem(script, model, framework, seed, quick):
    return f"{script}_{model}_{framework}_seed{seed}" + ("_quick" if quick else "")


# --- one model ----------------------------------------------------------------------------------
def run_model(script, name, builder, reported, c, nn, data, args):
    """Build, fit, evaluate one model; writes its PNG and JSON; returns the results dict."""
    from fastrnn import plot_history
    (x_train, y_train), (x_test, y_test) = data
    print(f"\n=== {script} / {name} [{nn.name}] seed={args.seed}"
          f"{' (quick)' if args.quick else ''} ===", flush=True)
    nn.set_random_seed(args.seed)
    t0 = time.perf_counter()
    model = builder(nn, c)
    model.build((None, c.maxlen))
    model.summary()

    timer = epoch_timer(nn)
    fit_kwargs = dict(batch_size=c.batch_size, epochs=c.epochs, verbose=c.verbose,
                      callbacks=[timer])
    if c.validation == "test":
        fit_kwargs["validation_data"] = (x_test, y_test)
    else:
        fit_kwargs["validation_split"] = c.validation_split
    t_fit = time.perf_counter()
    history = model.fit(x_train, y_train, **fit_kwargs)
    fit_seconds = time.perf_counter() - t_fit

    print("Test set:", flush=True)
    t_eval = time.perf_counter()
    scores = model.evaluate(x_test, y_test, verbose=c.verbose, return_dict=True)
    eval_seconds = time.perf_counter() - t_eval
    total = time.perf_counter() - t0

    hist = {k: _floats(v) for k, v in history.history.items()}
    acc_key = _accuracy_key(scores)
    val_key = _accuracy_key(hist, "val_")
    stem = result_stem(script, name, nn.name, args.seed, args.quick)
    png = os.path.join(args.out, stem + ".png")
    plot_history(history, png, title=f"{script} {name} ({nn.name}, seed {args.seed})")

    result = {
        "script": script, "notebook": c.notebook, "model": name, "framework": nn.name,
        "framework_version": nn.version, "seed": args.seed, "quick": bool(args.quick),
        "config": {"num_words": c.num_words, "maxlen": c.maxlen, "batch_size": c.batch_size,
                   "epochs": c.epochs, "optimizer": _optimizer_name(model),
                   "validation": ("test set (validation_data)" if c.validation == "test"
                                  else f"validation_split={c.validation_split}"),
                   "n_train": int(len(x_train)), "n_test": int(len(x_test)),
                   "notes": c.notes},
        "params": int(model.count_params()),
        "history": hist,
        "epoch_seconds": timer.times,
        "seconds_per_epoch": statistics.median(timer.times) if timer.times else None,
        "fit_seconds": fit_seconds, "eval_seconds": eval_seconds, "total_seconds": total,
        "test_loss": float(scores["loss"]),
        "test_accuracy": float(scores[acc_key]) if acc_key else None,
        "best_val_accuracy": max(hist[val_key]) if val_key else None,
        "final_val_accuracy": hist[val_key][-1] if val_key else None,
        "reported": reported,
        "machine": machine_info(),
        "threads": dict(nn.threads(), requested=args.threads,
                        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS")),
        "command": [os.path.basename(sys.executable)] + sys.argv,
        "timestamp": datetime.datetime.now().isoformat(timespec="seconds"),
        "plot": os.path.basename(png),
    }
    path = os.path.join(args.out, stem + ".json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    best = result["best_val_accuracy"]
    print(f"{name} [{nn.name}]: test accuracy {result['test_accuracy']:.4f}, test loss "
          f"{result['test_loss']:.4f}, best val accuracy "
          f"{'n/a' if best is None else format(best, '.4f')}, "
          f"{result['seconds_per_epoch']:.2f} s/epoch, total {total:.1f} s", flush=True)
    print(f"wrote {path} and {png}", flush=True)
    return result


# --- command line -------------------------------------------------------------------------------
def parse_args(script, doc, models, argv=None):
    parser = argparse.ArgumentParser(
        prog=f"{script}.py", description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(models),
                        help=f"comma-separated subset of: {', '.join(models)} (default: all)")
    parser.add_argument("--framework", choices=FRAMEWORKS, default="fastrnn",
                        help="build the same models with fastrnn or with keras.layers on "
                             "TensorFlow (default: fastrnn)")
    parser.add_argument("--seed", type=int, default=1,
                        help="random seed (fastrnn.utils.set_random_seed or "
                             "keras.utils.set_random_seed), set before each model (default: 1)")
    parser.add_argument("--quick", action="store_true",
                        help=f"reduced run for CI: {QUICK_TRAIN} train / {QUICK_TEST} test "
                             f"reviews, 1 epoch, maxlen capped at {QUICK_MAXLEN}")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="folder for the results JSON and PNG files (default: examples/out)")
    parser.add_argument("--data", default=None,
                        help="IMDB archive or folder (default: $FASTRNN_DATA, then the cache)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the notebook's number of epochs")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads: fastrnn.set_num_threads, or TensorFlow intra-op threads "
                             "(default: the framework's default, all cores)")
    args = parser.parse_args(argv)
    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in chosen if m not in models]
    if not chosen or unknown:
        parser.error(f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(models)}")
    args.models = chosen
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    return args


def main(script, doc, config, models, argv=None):
    """Entry point of a seed script.

    `config`: the notebook's settings: notebook, num_words, maxlen, batch_size, epochs and
    validation_split (a fraction) or validation="test" (the notebook validates on the test
    set), optional notes. `models`: {name: (builder, reported)} where `builder(nn, c)` returns
    a compiled model and `reported` is a dict of the accuracies the notebook printed.
    """
    args = parse_args(script, doc, models, argv)
    c = SimpleNamespace(**{"notes": None, "validation": "split", "validation_split": 0.0, **config})
    c.verbose = 1
    if args.quick:
        c.maxlen = min(c.maxlen, QUICK_MAXLEN)
        c.epochs = 1
        c.verbose = 2
    if args.epochs:
        c.epochs = args.epochs
    args.out = os.path.abspath(args.out)
    os.makedirs(args.out, exist_ok=True)

    nn = load_framework(args.framework, args.threads)
    print(f"{script}: {nn.name} ({nn.version}); loading IMDB (num_words={c.num_words}, "
          f"maxlen={c.maxlen})", flush=True)
    data = load_imdb(c.num_words, c.maxlen, path=args.data,
                     n_train=QUICK_TRAIN if args.quick else None,
                     n_test=QUICK_TEST if args.quick else None)
    (x_train, _), (x_test, _) = data
    print(f"x_train {x_train.shape}, x_test {x_test.shape}", flush=True)
    results = []
    for name in args.models:
        builder, reported = models[name]
        results.append(run_model(script, name, builder, reported, c, nn, data, args))
    if len(results) > 1:
        print("\nSummary:")
        for r in results:
            print(f"  {r['model']:<12} test acc {r['test_accuracy']:.4f}  "
                  f"{r['seconds_per_epoch']:.2f} s/epoch")
    return results
