"""One and ten `train_on_batch` steps of the issue's recurrent models, from identical weights
on identical batches, give Keras' weights: every optimizer x every model shape."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402

VOCAB, T, B = 30, 7, 8


def _model(mod, kind):
    L = mod.layers
    mask_zero = kind == "lstm_mask_zero"
    if kind in ("simple_rnn", "lstm", "gru", "lstm_mask_zero"):
        cell = {"simple_rnn": L.SimpleRNN, "gru": L.GRU}.get(kind, L.LSTM)
        rec = [cell(5)]
    elif kind == "bilstm":
        rec = [L.Bidirectional(L.LSTM(5))]
    else:  # stacked LSTM with return_sequences
        rec = [L.LSTM(5, return_sequences=True), L.LSTM(4)]
    return mod.Sequential([L.Embedding(VOCAB, 6, mask_zero=mask_zero), *rec,
                           L.Dense(1, activation="sigmoid")])


OPTIMIZERS = {
    "sgd": lambda m: m.optimizers.SGD(learning_rate=0.1),
    "sgd_momentum": lambda m: m.optimizers.SGD(learning_rate=0.1, momentum=0.9),
    "rmsprop": lambda m: m.optimizers.RMSprop(),
    "adam": lambda m: m.optimizers.Adam(learning_rate=0.01),
}


def _batches(steps, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        x = rng.integers(1, VOCAB, (B, T))
        for i in range(B):                      # pre-padding, as pad_sequences makes it
            x[i, : rng.integers(0, T - 2)] = 0
        out.append((x, rng.integers(0, 2, B).astype(np.float32)))
    return out


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru", "bilstm", "stacked_lstm",
                                  "lstm_mask_zero"])
def test_train_on_batch_weights_match_keras(kind, opt):
    fastrnn.utils.set_random_seed(1)
    ours, ref = _model(fastrnn, kind), _model(keras, kind)
    ours.build((None, T))
    ref.build((None, T))
    ref.set_weights(ours.get_weights())
    ours.compile(OPTIMIZERS[opt](fastrnn), "binary_crossentropy", metrics=["accuracy"])
    ref.compile(OPTIMIZERS[opt](keras), "binary_crossentropy", metrics=["accuracy"],
                run_eagerly=True)
    for step, (x, y) in enumerate(_batches(10), start=1):
        ours.train_on_batch(x, y)
        ref.train_on_batch(x, y)
        if step in (1, 10):
            for i, (w, rw) in enumerate(zip(ours.get_weights(), ref.get_weights())):
                rw = np.asarray(rw)
                assert np.isfinite(w).all()
                bad = np.abs(w - rw) > 1e-5 + 1e-4 * np.abs(rw)
                assert not bad.any(), (f"step {step}, weight {i} {w.shape}: max diff "
                                       f"{np.abs(w - rw).max():.3g}")
