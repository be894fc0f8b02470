"""Load a Keras model, predict, fine-tune, save it back: with fastrnn alone (no Keras needed).

    python examples/keras_roundtrip.py MODEL OUT [--epochs 1] [--imdb N]

MODEL is a Keras 3 `.keras` file or a Keras 2 / tf.keras / Keras 3 `.h5` model (or a fastrnn
file). The script prints the model's summary and its predictions on a few inputs, fine-tunes
it (with the optimizer, loss and metrics saved in the file) and writes it to OUT in the format
of OUT's suffix: `.keras` (Keras 3 opens it with `keras.models.load_model`), `.h5` (Keras 2 /
tf-keras format), anything else fastrnn's own. Data: with `--imdb N`, N IMDB reviews (for a
sentiment model whose first layer is an Embedding; needs $FASTRNN_DATA); otherwise a small
random batch of the model's input shape, which only shows the calls.
"""
import argparse
import importlib.util
import os
import sys

import numpy as np

if importlib.util.find_spec("fastrnn") is None:    # run from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__))), "python"))

from fastrnn.keras_files import load_any, save_any  # noqa: E402
from fastrnn.layers import Embedding  # noqa: E402


def random_data(model, n, rng):
    """Inputs of the model's shape (token ids for an Embedding) and targets for its loss."""
    shape = tuple(d or 20 for d in model.input_shape[1:])
    first = model.layers[0]
    if isinstance(first, Embedding):
        x = rng.integers(1, first.input_dim, size=(n,) + shape)
    else:
        x = rng.normal(size=(n,) + shape).astype("float32")
    out = model.predict(x[:1])
    loss = model.loss if isinstance(model.loss, str) else type(model.loss).__name__
    if "sparse" in loss.lower():
        y = rng.integers(0, out.shape[-1], size=(n,) + out.shape[1:-1] + (1,))
    elif "binary" in loss.lower():
        y = rng.integers(0, 2, size=(n,) + out.shape[1:]).astype("float32")
    else:
        y = rng.normal(size=(n,) + out.shape[1:]).astype("float32")
    return x, y


def imdb_data(model, n):
    from fastrnn.datasets import imdb
    from fastrnn.preprocessing.sequence import pad_sequences
    first = model.layers[0]
    (x, y), _ = imdb.load_data(num_words=first.input_dim)
    maxlen = model.input_shape[1] or 200
    return pad_sequences(x[:n], maxlen=maxlen), np.asarray(y[:n], "float32").reshape(-1, 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="Keras .keras/.h5 (or fastrnn) model file")
    parser.add_argument("out", help="where to save the fine-tuned model (.keras, .h5, ...)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--imdb", type=int, default=0, metavar="N",
                        help="fine-tune on N IMDB reviews instead of a random batch")
    args = parser.parse_args(argv)

    model = load_any(args.model)            # architecture, weights, optimizer and its state
    model.summary()
    if not model.compiled:
        print("the file has no training config: compiling with rmsprop and mse")
        model.compile(optimizer="rmsprop", loss="mse")
    rng = np.random.default_rng(0)
    x, y = imdb_data(model, args.imdb) if args.imdb else random_data(model, 32, rng)
    print("predictions before fine-tuning:", model.predict(x[:4]).ravel()[:8])
    history = model.fit(x, y, batch_size=16, epochs=args.epochs, verbose=2)
    print("history:", {k: [round(float(v), 4) for v in vals] for k, vals in
                       history.history.items()})
    print("predictions after fine-tuning: ", model.predict(x[:4]).ravel()[:8])
    save_any(model, args.out)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
