"""Load a Keras model, predict, fine-tune, save it back: with fastrnn alone (no Keras needed).

    python examples/keras_roundtrip.py MODEL OUT [--epochs 1] [--imdb N]

MODEL is a Keras 3 `.keras` file or a Keras 2 / tf.keras / Keras 3 `.h5` model, Sequential or
Functional (or a fastrnn file). The script prints the model's summary and its predictions on a
few inputs, fine-tunes it (with the optimizer, loss and metrics saved in the file) and writes
it to OUT in the format of OUT's suffix: `.keras` (Keras 3 opens it with
`keras.models.load_model`), `.h5` (Keras 2 / tf-keras format), anything else fastrnn's own.
Data: with `--imdb N`, N IMDB reviews (for a one-input sentiment model reading token ids;
needs $FASTRNN_DATA); otherwise a small random batch of the model's input shapes, which only
shows the calls.
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

if importlib.util.find_spec("fastrnn") is None:    # run from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), "python"))

import fastrnn  # noqa: E402
from fastrnn.layers import Embedding  # noqa: E402


def _one_or_list(values):
    return values[0] if len(values) == 1 else values


def random_data(model, n, rng):
    """Inputs of the model's shapes (token ids where an Embedding reads them) and targets
    for each output's loss."""
    vocab = min((layer.input_dim for layer in model.layers if isinstance(layer, Embedding)),
                default=None)
    xs = []
    for t in model.inputs:
        shape = (n,) + tuple(d or 20 for d in t.shape[1:])
        ids = vocab and (t.dtype.startswith("int") or len(shape) == 2)
        xs.append(rng.integers(1, vocab, size=shape) if ids else
                  rng.normal(size=shape).astype("float32"))
    outs = model.predict(_one_or_list([x[:1] for x in xs]))
    outs = outs if isinstance(outs, list) else [outs]
    loss = model.loss
    losses = [loss.get(name) for name in model.output_names] if isinstance(loss, dict) else \
        list(loss) if isinstance(loss, list) else [loss] * len(outs)
    ys = []
    for out, loss in zip(outs, losses):
        name = (loss if isinstance(loss, str) else type(loss).__name__).lower()
        if "sparse" in name:
            ys.append(rng.integers(0, out.shape[-1], size=(n,) + out.shape[1:-1] + (1,)))
        elif "binary" in name:
            ys.append(rng.integers(0, 2, size=(n,) + out.shape[1:]).astype("float32"))
        else:
            ys.append(rng.normal(size=(n,) + out.shape[1:]).astype("float32"))
    return _one_or_list(xs), _one_or_list(ys)


def imdb_data(model, n):
    from fastrnn.datasets import imdb
    from fastrnn.preprocessing.sequence import pad_sequences
    vocab = min(layer.input_dim for layer in model.layers if isinstance(layer, Embedding))
    (x, y), _ = imdb.load_data(num_words=vocab)
    maxlen = model.inputs[0].shape[1] or 200
    return pad_sequences(x[:n], maxlen=maxlen), np.asarray(y[:n], "float32").reshape(-1, 1)


def _first(x, k):
    return [v[:k] for v in x] if isinstance(x, list) else x[:k]


def _show(predictions):
    """The first values of each output."""
    outs = predictions if isinstance(predictions, list) else [predictions]
    return " | ".join(np.array2string(np.ravel(p)[:6], precision=4) for p in outs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="Keras .keras/.h5 (or fastrnn) model file")
    parser.add_argument("out", help="where to save the fine-tuned model (.keras, .h5, ...)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--imdb", type=int, default=0, metavar="N",
                        help="fine-tune on N IMDB reviews instead of a random batch")
    args = parser.parse_args(argv)

    model = fastrnn.load_model(args.model)  # architecture, weights, optimizer and its state
    model.summary()
    if not model.compiled:
        print("the file has no training config: compiling with rmsprop and mse")
        model.compile(optimizer="rmsprop", loss="mse")
    rng = np.random.default_rng(0)
    x, y = imdb_data(model, args.imdb) if args.imdb else random_data(model, 32, rng)
    print("predictions before fine-tuning:", _show(model.predict(_first(x, 4))))
    history = model.fit(x, y, batch_size=16, epochs=args.epochs, verbose=2)
    print("history:", {k: [round(float(v), 4) for v in vals] for k, vals in
                       history.history.items()})
    print("predictions after fine-tuning: ", _show(model.predict(_first(x, 4))))
    model.save(args.out)                    # the format of the suffix
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
