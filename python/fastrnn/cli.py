"""The `fastrnn` command: train an IMDB sentiment model, score reviews with it.

    fastrnn train --cell lstm --units 32 --maxlen 500 --epochs 5 --save model.fnrn
    fastrnn predict model.fnrn "A wonderful film." "Dull and far too long."
    fastrnn export model.fnrn model.onnx      (ONNX, for ONNX Runtime and other runtimes)
    fastrnn convert model.h5 model.keras       (fastrnn / Keras 3 .keras / Keras 2 .h5)
    python -m fastrnn ...                     (same thing)

`train` fits `fastrnn.train(dataset="imdb", ...)`, which also evaluates on the IMDB test set,
and with `--save PATH` writes the model (`model.save`) plus a sidecar `PATH.meta.json` holding
what is needed to score raw text: num_words, maxlen, the encoding parameters and the
vocabulary of the kept words. `predict` encodes each text with `fastrnn.datasets.imdb.encode`
(over that vocabulary, with the model's num_words), pads it to the model's maxlen and prints
the probability that the review is positive.

Exit codes: 0 success, 1 runtime failure (data not found, ...), 2 bad command line.
"""
import argparse
import inspect
import json
import math
import os
import sys
import time

from .datasets import imdb
from .ops import CELLS

META_SUFFIX = ".meta.json"
META_FORMAT = "fastrnn-text-model"
OPTIMIZERS = ("rmsprop", "adam", "sgd")
# The IMDB encoding `train` uses: load_data's defaults (Keras'), recorded in the metadata.
ENCODING = {name: p.default for name, p in inspect.signature(imdb.load_data).parameters.items()
            if name in ("skip_top", "start_char", "oov_char", "index_from")}
INDEX_FROM = ENCODING["index_from"]
# --quick: a smoke run on a few hundred reviews
QUICK_TRAIN, QUICK_TEST, QUICK_MAXLEN = 400, 200, 50


class CliError(Exception):
    """A runtime failure reported as `fastrnn: error: ...` with exit code 1."""


# --- argument types -----------------------------------------------------------------------------
def _int_at_least(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value
    parse.__name__ = "integer"
    return parse


def _fraction(text):
    """A float in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not (0.0 <= value < 1.0):
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0.0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _cell(text):
    """A name of `fastrnn.ops.CELLS`, in any case, with or without '_' or '-' (SimpleRNN)."""
    def key(name):
        return name.lower().replace("_", "").replace("-", "")
    for cell in CELLS:
        if key(cell) == key(text):
            return cell
    raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {', '.join(CELLS)})")


def _optimizer(text):
    key = text.lower()
    if key not in OPTIMIZERS:
        raise argparse.ArgumentTypeError(
            f"invalid choice {text!r} (choose from {', '.join(OPTIMIZERS)})")
    return key


# --- parser ------------------------------------------------------------------------------------
def build_parser():
    from . import __version__
    parser = argparse.ArgumentParser(
        prog="fastrnn",
        description="Train recurrent sentiment classifiers on IMDB with fastrnn and score "
                    "reviews with them.",
        epilog="Data: the IMDB archive (aclImdb_v1_labeled.tar.gz or aclImdb_v1.tar.gz) is "
               "found through --data, $FASTRNN_DATA or the cache ($FASTRNN_CACHE_DIR).")
    parser.add_argument("--version", action="version", version=f"fastrnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    # Help texts state their default themselves (one "(default: ...)" each, also where the
    # default is "none"), so no ArgumentDefaultsHelpFormatter.
    t = sub.add_parser(
        "train", help="train a model on IMDB, evaluate it on the test set, save it",
        description="Embedding -> [Bidirectional] SimpleRNN/LSTM/GRU x layers -> [Dropout] -> "
                    "Dense(1, sigmoid), trained with binary cross-entropy on IMDB "
                    "(fastrnn.train(dataset='imdb')), then evaluated on the 25,000 test reviews.")
    t.add_argument("--cell", type=_cell, default="lstm",
                   help=f"recurrent cell: {', '.join(CELLS)} (default: %(default)s)")
    t.add_argument("--units", type=_int_at_least(1), default=32,
                   help="units per layer (default: %(default)s)")
    t.add_argument("--layers", type=_int_at_least(1), default=1,
                   help="stacked recurrent layers (default: %(default)s)")
    t.add_argument("--bidirectional", action="store_true",
                   help="wrap each layer in Bidirectional (default: off)")
    t.add_argument("--maxlen", type=_int_at_least(1), default=500,
                   help="pad/truncate reviews to this many words (default: %(default)s)")
    t.add_argument("--num-words", type=_int_at_least(INDEX_FROM + 1), default=10000,
                   help="vocabulary: keep word ids < num_words, the most frequent words "
                        "(default: %(default)s)")
    t.add_argument("--embedding-dim", type=_int_at_least(1), default=32,
                   help="size of the word vectors (default: %(default)s)")
    t.add_argument("--dropout", type=_fraction, default=0.0,
                   help="input dropout of the recurrent layers (default: %(default)s)")
    t.add_argument("--recurrent-dropout", type=_fraction, default=0.0,
                   help="recurrent-state dropout of the recurrent layers (default: %(default)s)")
    t.add_argument("--dense-dropout", type=_fraction, default=0.0,
                   help="rate of a Dropout layer before the output Dense, 0 for none "
                        "(default: %(default)s)")
    t.add_argument("--optimizer", type=_optimizer, default="rmsprop",
                   help=f"{', '.join(OPTIMIZERS)}, with Keras' defaults (default: %(default)s)")
    t.add_argument("--learning-rate", type=_positive_float, default=None,
                   help="learning rate (default: the optimizer's own)")
    t.add_argument("--batch-size", type=_int_at_least(1), default=128,
                   help="training batch size (default: %(default)s)")
    t.add_argument("--epochs", type=_int_at_least(1), default=5,
                   help="passes over the training reviews (default: %(default)s)")
    t.add_argument("--validation-split", type=_fraction, default=0.2,
                   help="last fraction of the training reviews held out for validation "
                        "(default: %(default)s)")
    t.add_argument("--seed", type=_int_at_least(0), default=None,
                   help="random seed of weights, dropout and shuffling (default: none, "
                        "not reproducible)")
    t.add_argument("--save", metavar="PATH", default=None,
                   help=f"save the model to PATH, e.g. model.fnrn, and its text metadata to "
                        f"PATH{META_SUFFIX} (default: not saved)")
    t.add_argument("--data", metavar="PATH", default=None,
                   help="IMDB archive or aclImdb folder (default: $FASTRNN_DATA, else the "
                        "cache folder)")
    t.add_argument("--threads", type=_int_at_least(1), default=None,
                   help="kernel threads (default: all cores or $OMP_NUM_THREADS)")
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="fit/evaluate verbosity (default: 1, or 2 with --quick)")
    t.add_argument("--quick", action="store_true",
                   help=f"smoke run: {QUICK_TRAIN} train / {QUICK_TEST} test reviews, 1 epoch, "
                        f"maxlen capped at {QUICK_MAXLEN} (default: off)")
    t.set_defaults(subparser=t)

    p = sub.add_parser(
        "predict", help="print the positive-review probability of each text",
        description="Score review texts with a model saved by `fastrnn train --save`. Prints one "
                    "line per text: probability<TAB>label<TAB>start of the text.")
    p.add_argument("model", metavar="MODEL",
                   help="model file written by `fastrnn train --save`, or a Keras .keras/.h5 "
                        "model (then give --num-words and --maxlen if its input shape and "
                        "vocabulary do not say)")
    p.add_argument("texts", metavar="TEXT", nargs="+",
                   help="review text(s); '-' reads one review per line from stdin")
    p.add_argument("--maxlen", type=_int_at_least(1), default=None,
                   help="pad/truncate to this many words (default: the model's, from its "
                        "metadata)")
    p.add_argument("--num-words", type=_int_at_least(INDEX_FROM + 1), default=None,
                   help="vocabulary size (default: the model's, from its metadata)")
    p.add_argument("--data", metavar="PATH", default=None,
                   help="IMDB data for the word index, needed only if the metadata has no "
                        "vocabulary (default: $FASTRNN_DATA, else the cache folder)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=256,
                   help="prediction batch size (default: %(default)s)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="probability from which a review is labelled positive "
                        "(default: %(default)s)")
    p.set_defaults(subparser=p)
    add_export_parser(sub)
    _add_convert_parser(sub)
    return parser


def add_export_parser(sub):
    e = sub.add_parser(
        "export", help="write a saved model as an ONNX file",
        description="Export a model saved by fastrnn (`model.save`, `fastrnn train --save`) to "
                    "ONNX (fastrnn.export.export_model; needs `pip install fastrnn[onnx]`).")
    e.add_argument("model", metavar="MODEL", help="model file written by model.save")
    e.add_argument("output", metavar="OUT.onnx", help="ONNX file to write")
    e.add_argument("--mask-padding", choices=("pre", "post"), default=None,
                   help="where the padding of mask_zero inputs sits (default: the padding in "
                        "the model's metadata, else pre, as pad_sequences does)")
    e.add_argument("--opset", type=_int_at_least(1), default=None,
                   help="ONNX opset version (default 17)")
    e.set_defaults(subparser=e)


# --- train -------------------------------------------------------------------------------------
def _quick_data(num_words, maxlen, data):
    """--quick: the first QUICK_TRAIN training and QUICK_TEST test reviews, padded."""
    from .preprocessing import pad_sequences
    (x, y), (x_test, y_test) = imdb.load_data(path=data, num_words=num_words)
    return ((pad_sequences(x[:QUICK_TRAIN], maxlen=maxlen), y[:QUICK_TRAIN]),
            (pad_sequences(x_test[:QUICK_TEST], maxlen=maxlen), y_test[:QUICK_TEST]))


def _vocabulary(num_words, data):
    """The words of ids 4 .. num_words-1 (rank order: id = rank + 3), what `encode` can emit."""
    word_index = imdb.get_word_index(path=data)
    words = sorted((rank, word) for word, rank in word_index.items()
                   if rank + INDEX_FROM < num_words)
    return [word for _, word in words]


def meta_path(model_path):
    return os.fspath(model_path) + META_SUFFIX


def _summary_callback():
    from .callbacks import Callback
    from .distributed import is_main

    class PrintSummary(Callback):
        def on_train_begin(self, logs=None):
            if is_main():
                self.model.summary()
    return PrintSummary()


def _epoch_timer():
    from .callbacks import Callback

    class EpochTimer(Callback):
        def __init__(self):
            super().__init__()
            self.times = []
            self.fit_seconds = None

        def on_train_begin(self, logs=None):
            self._fit_start = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self._start)

        def on_train_end(self, logs=None):
            self.fit_seconds = time.perf_counter() - self._fit_start
    return EpochTimer()


def cmd_train(args):
    """Under an MPI launcher (`mpirun -n 4 fastrnn train ...`) every rank runs this and the
    training is data-parallel (fastrnn.distributed); rank 0 prints and saves."""
    import numpy as np
    import fastrnn
    from . import distributed

    if args.data and not os.path.exists(args.data):
        args.subparser.error(f"argument --data: no such file or folder: {args.data!r}")
    _, ranks = distributed.init()
    say = print if distributed.is_main() else (lambda *a, **k: None)
    if args.threads:
        fastrnn.set_num_threads(args.threads)
    maxlen, epochs = args.maxlen, args.epochs
    verbose = args.verbose if args.verbose is not None else (2 if args.quick else 1)
    if args.quick:
        maxlen, epochs = min(maxlen, QUICK_MAXLEN), 1
    arch = dict(cell=args.cell, units=args.units, layers=args.layers,
                bidirectional=args.bidirectional, embedding_dim=args.embedding_dim,
                num_words=args.num_words, dropout=args.dropout,
                recurrent_dropout=args.recurrent_dropout, dense_dropout=args.dense_dropout)
    fit = dict(optimizer=args.optimizer, learning_rate=args.learning_rate,
               batch_size=args.batch_size, epochs=epochs,
               validation_split=args.validation_split, seed=args.seed, verbose=verbose)
    say(f"fastrnn {fastrnn.__version__}: training {'Bidirectional ' if args.bidirectional else ''}"
        f"{args.cell} x{args.layers} ({args.units} units) on IMDB, num_words={args.num_words}, "
        f"maxlen={maxlen}, {epochs} epoch(s){' [quick]' if args.quick else ''}, "
        f"{fastrnn.get_num_threads()} thread(s)"
        + (f" x {ranks} data-parallel processes" if ranks > 1 else ""), flush=True)

    timer = _epoch_timer()
    callbacks = [_summary_callback(), timer]
    if args.quick:
        (x, y), (x_test, y_test) = _quick_data(args.num_words, maxlen, args.data)
        model, history = fastrnn.train(x=x, y=y, maxlen=maxlen, callbacks=callbacks,
                                       **arch, **fit)
        say(f"Evaluating on {len(x_test)} test reviews", flush=True)
        scores = model.evaluate(x_test, y_test, batch_size=max(args.batch_size, 256),
                                verbose=verbose, return_dict=True)
    else:   # train() evaluates on the test set once, into history.test
        model, history = fastrnn.train(dataset="imdb", data_path=args.data, maxlen=maxlen,
                                       callbacks=callbacks, **arch, **fit)
        scores = history.test
    fit_seconds = timer.fit_seconds
    hist = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    result = {"test_loss": float(scores["loss"]), "test_accuracy": float(scores["accuracy"]),
              "best_val_accuracy": max(hist["val_accuracy"]) if "val_accuracy" in hist else None,
              "seconds_per_epoch": float(np.median(timer.times)) if timer.times else None,
              "fit_seconds": fit_seconds}
    say(f"test accuracy {result['test_accuracy']:.4f}  test loss {result['test_loss']:.4f}"
        + (f"  best val accuracy {result['best_val_accuracy']:.4f}"
           if result["best_val_accuracy"] is not None else "")
        + f"  {result['seconds_per_epoch']:.2f} s/epoch  ({fit_seconds:.1f} s training)",
        flush=True)

    if args.save and distributed.is_main():
        model.save(args.save)
        meta = {"format": META_FORMAT, "version": 1, "dataset": "imdb",
                "num_words": args.num_words, "maxlen": maxlen,
                **ENCODING, "padding": "pre", "truncating": "pre",
                "train_args": {**arch, **fit, "maxlen": maxlen, "quick": args.quick},
                "history": hist, "results": result,
                "vocabulary": _vocabulary(args.num_words, args.data)}
        with open(meta_path(args.save), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False)
        print(f"saved {args.save} and {meta_path(args.save)}")
    return 0


# --- predict ------------------------------------------------------------------------------------
def read_meta(model_path):
    """The sidecar metadata of a model, or None if there is none."""
    path = meta_path(model_path)
    if not os.path.exists(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as e:
        raise CliError(f"cannot read {path}: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise CliError(f"{path} is not fastrnn model metadata")
    return meta


def encode_texts(texts, num_words, meta, data):
    """`imdb.encode` over the vocabulary stored in the model's metadata (the words the model
    knows; no dataset needed), else over the word index of the IMDB data."""
    meta = meta or {}
    params = {k: meta[k] for k in ENCODING if k in meta}
    vocabulary = meta.get("vocabulary")
    if vocabulary:
        word_index = {word: rank for rank, word in enumerate(vocabulary, start=1)}
        return imdb.encode(texts, num_words=num_words, word_index=word_index, **params)
    try:
        return imdb.encode(texts, num_words=num_words, path=data, **params)
    except (imdb.DatasetNotFoundError, imdb.InvalidDatasetError) as e:
        raise CliError(f"need the IMDB word index to encode text: {e}") from e


def _read_texts(items):
    texts = []
    for item in items:
        if item == "-":
            texts.extend(line.strip() for line in sys.stdin if line.strip())
        else:
            texts.append(item)
    return texts


def cmd_predict(args, parser):
    import numpy as np
    from . import saving
    from .keras_files import load_any as load_model     # fastrnn, .keras or .h5 (by content)
    from .preprocessing import pad_sequences

    if not os.path.isfile(args.model):
        parser.error(f"argument MODEL: no such model file: {args.model!r}")
    try:
        model = load_model(args.model, compile=False)
    except saving.ModelFileError as e:
        parser.error(f"argument MODEL: {e}")
    meta = read_meta(args.model)

    num_words = args.num_words or (meta or {}).get("num_words")
    if num_words is None:
        first = model.layers[0] if model.layers else None
        num_words = getattr(first, "input_dim", None)
    maxlen = args.maxlen or (meta or {}).get("maxlen")
    if maxlen is None and model.input_shape is not None and len(model.input_shape) > 1:
        maxlen = model.input_shape[1]
    if num_words is None or maxlen is None:
        parser.error(f"no metadata ({meta_path(args.model)}) for this model: pass --num-words "
                     "and --maxlen")

    texts = _read_texts(args.texts)
    if not texts:
        parser.error("argument TEXT: no text to score")
    ids = encode_texts(texts, num_words, meta, args.data)
    x = pad_sequences(ids, maxlen=maxlen,
                      padding=(meta or {}).get("padding", "pre"),
                      truncating=(meta or {}).get("truncating", "pre"))
    probs = np.asarray(model.predict(x, batch_size=args.batch_size, verbose=0)).reshape(len(x), -1)
    for text, p in zip(texts, probs[:, 0]):
        label = "positive" if p >= args.threshold else "negative"
        snippet = " ".join(text.split())
        snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
        print(f"{float(p):.4f}\t{label}\t{snippet}")
    return 0


# --- export -------------------------------------------------------------------------------------
def cmd_export(args):
    from . import saving
    from .export import export_model
    from .models import load_model

    if not os.path.isfile(args.model):
        args.subparser.error(f"argument MODEL: no such model file: {args.model!r}")
    try:
        model = load_model(args.model, compile=False)
    except saving.ModelFileError as e:
        args.subparser.error(f"argument MODEL: {e}")
    padding = args.mask_padding or (read_meta(args.model) or {}).get("padding", "pre")
    try:
        export_model(model, args.output, format="onnx", mask_padding=padding,
                     opset_version=args.opset)
    except (ValueError, ImportError) as e:     # ExportError is a ValueError
        raise CliError(str(e)) from e
    return 0


# --- convert ------------------------------------------------------------------------------------
def _add_convert_parser(sub):
    c = sub.add_parser(
        "convert", help="convert a model file between fastrnn's and Keras' formats",
        description="Read a model file of any supported format (recognised by content: fastrnn, "
                    "Keras 3 .keras, Keras 2/3 .h5) and write it in the format of OUT's suffix: "
                    ".keras (Keras 3), .h5/.hdf5 (Keras 2 HDF5), anything else fastrnn's own. "
                    "Keras and TensorFlow are not needed.")
    c.add_argument("source", metavar="IN", help="model file to read")
    c.add_argument("target", metavar="OUT", help="model file to write")
    c.add_argument("--no-optimizer", action="store_true",
                   help="leave out the compile config and optimizer state")
    c.set_defaults(subparser=c)


def cmd_convert(args):
    from . import saving
    from .keras_files import WriteError, detect_format, load_any, save_any
    if not os.path.isfile(args.source):
        args.subparser.error(f"argument IN: no such model file: {args.source!r}")
    try:
        kind = detect_format(args.source)
        model = load_any(args.source, compile=not args.no_optimizer)
        save_any(model, args.target, include_optimizer=not args.no_optimizer)
    except (saving.ModelFileError, WriteError) as e:
        raise CliError(str(e)) from e
    print(f"converted {args.source} ({kind}) -> {args.target}")
    return 0


# --- entry point -------------------------------------------------------------------------------
def main(argv=None):
    code = _run(argv)
    from . import distributed
    if code and distributed.size() > 1:   # the other ranks would wait for this one forever
        distributed.abort(code, "fastrnn failed on this rank (see above); ending the job")
    return code


def _run(argv):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        parser.exit(2, "fastrnn: error: a command is required (train, predict, export or "
                       "convert)\n")
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "convert":
            return cmd_convert(args)
        return cmd_predict(args, args.subparser)
    except CliError as e:
        print(f"fastrnn: error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, imdb.InvalidDatasetError) as e:   # e.g. no or a corrupt archive
        print(f"fastrnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastrnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
