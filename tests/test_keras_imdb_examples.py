"""Keras' five IMDB examples (imdb_lstm, imdb_bidirectional_lstm, imdb_cnn_lstm, imdb_cnn,
imdb_fasttext) built in both frameworks with the examples' layer sizes and Keras' weights: equal
predictions, and equal training steps with Keras' Adam (dropout 0 for the steps: no random
masks)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.layers.base import reset_names  # noqa: E402

from _layer_parity import assert_close  # noqa: E402

MAX_FEATURES = 2000      # the examples use 5000-20000: the vocabulary size changes nothing here
MAXLEN = {"imdb_lstm": 80, "imdb_bidirectional_lstm": 100, "imdb_cnn_lstm": 100,
          "imdb_cnn": 400, "imdb_fasttext": 400}


def _specs(name, dropout):
    if name == "imdb_lstm":
        return [("Embedding", (MAX_FEATURES, 128), {}),
                ("LSTM", (128,), {"dropout": dropout, "recurrent_dropout": dropout}),
                ("Dense", (1,), {"activation": "sigmoid"})]
    if name == "imdb_bidirectional_lstm":
        return [("Embedding", (MAX_FEATURES, 128), {}),
                ("Bidirectional", (("LSTM", (64,), {}),), {}),
                ("Dropout", (2.5 * dropout,), {}),
                ("Dense", (1,), {"activation": "sigmoid"})]
    if name == "imdb_cnn_lstm":
        return [("Embedding", (MAX_FEATURES, 128), {}),
                ("Dropout", (1.25 * dropout,), {}),
                ("Conv1D", (64, 5), {"padding": "valid", "activation": "relu", "strides": 1}),
                ("MaxPooling1D", (), {"pool_size": 4}),
                ("LSTM", (70,), {}),
                ("Dense", (1,), {}),
                ("Activation", ("sigmoid",), {})]
    if name == "imdb_cnn":
        return [("Embedding", (MAX_FEATURES, 50), {}),
                ("Dropout", (dropout,), {}),
                ("Conv1D", (250, 3), {"padding": "valid", "activation": "relu", "strides": 1}),
                ("GlobalMaxPooling1D", (), {}),
                ("Dense", (250,), {}),
                ("Dropout", (dropout,), {}),
                ("Activation", ("relu",), {}),
                ("Dense", (1,), {}),
                ("Activation", ("sigmoid",), {})]
    return [("Embedding", (MAX_FEATURES, 50), {}),          # imdb_fasttext
            ("GlobalAveragePooling1D", (), {}),
            ("Dense", (1,), {"activation": "sigmoid"})]


def _make(mod, spec):
    cls, args, kwargs = spec
    args = tuple(_make(mod, a) if isinstance(a, tuple) else a for a in args)
    return getattr(mod.layers, cls)(*args, **kwargs)


def _models(name, dropout):
    reset_names()
    keras.backend.clear_session()
    shape = (MAXLEN[name],)
    theirs = keras.Sequential([keras.Input(shape, dtype="int32")] +
                              [_make(keras, s) for s in _specs(name, dropout)])
    ours = fastrnn.Sequential([fastrnn.Input(shape)] +
                              [_make(fastrnn, s) for s in _specs(name, dropout)])
    ours.set_weights(theirs.get_weights())
    assert ours.count_params() == theirs.count_params()
    return ours, theirs


def _ids(name, batch, seed):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, MAX_FEATURES, (batch, MAXLEN[name]))
    ids[:, :rng.integers(0, MAXLEN[name] // 2)] = 0     # pad_sequences' pre-padding
    return ids


@pytest.mark.parametrize("name", sorted(MAXLEN))
def test_keras_imdb_examples_predict_and_train_like_keras(name):
    ours, theirs = _models(name, dropout=0.2)
    x = _ids(name, 6, 0)
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), 1e-6, 1e-5,
                 f"{name} predictions")
    ours, theirs = _models(name, dropout=0.0)
    ours.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    theirs.compile("adam", "binary_crossentropy", metrics=["accuracy"], run_eagerly=True)
    rng = np.random.default_rng(1)
    for step in range(2):
        x, y = _ids(name, 8, 2 + step), rng.integers(0, 2, 8).astype(np.float32)
        lo = ours.train_on_batch(x, y, return_dict=True)
        lt = theirs.train_on_batch(x, y, return_dict=True)
        assert_close(lo["loss"], float(lt["loss"]), 1e-6, 1e-5, f"loss at step {step}")
    for i, (w, kw) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_close(w, kw, 1e-5, 1e-4, f"weight {i} after 2 steps")
