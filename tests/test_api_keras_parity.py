"""End to end: the notebook-style recurrent models train like Keras (same weights in, same
History and weights out), with deterministic settings (no dropout, shuffle=False)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402


def _data(n=96, t=12, vocab=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, t))
    lengths = rng.integers(3, t + 1, n)
    for i, k in enumerate(lengths):
        x[i, : t - k] = 0                       # pre-padding like pad_sequences
    y = ((x == 7).sum(1) > (x == 8).sum(1)).astype(np.float32)
    return x, y


def _stack(mod, cell, bidirectional, mask_zero):
    layers = mod.layers
    rnn = getattr(layers, cell)(6, return_sequences=True)
    rnn2 = getattr(layers, cell)(5)
    if bidirectional:
        rnn = layers.Bidirectional(rnn)
    return mod.Sequential([layers.Embedding(40, 8, mask_zero=mask_zero), rnn, rnn2,
                           layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("cell,bidirectional,mask_zero,opt", [
    ("LSTM", False, True, "rmsprop"),
    ("GRU", True, False, "adam"),
    ("SimpleRNN", False, True, "sgd"),
])
def test_fit_history_and_weights_match_keras(cell, bidirectional, mask_zero, opt):
    x, y = _data()
    fastrnn.utils.set_random_seed(3)
    ours = _stack(fastrnn, cell, bidirectional, mask_zero)
    ref = _stack(keras, cell, bidirectional, mask_zero)
    ours.build((None, x.shape[1]))
    ref.build((None, x.shape[1]))
    ref.set_weights(ours.get_weights())
    ours.compile(opt, "binary_crossentropy", metrics=["accuracy"])
    ref.compile(opt, "binary_crossentropy", metrics=["accuracy"], run_eagerly=True)
    kw = dict(batch_size=16, epochs=2, validation_split=0.25, shuffle=False, verbose=0)
    h = ours.fit(x, y, **kw).history
    hr = ref.fit(x, y, **kw).history
    assert list(h) == list(hr)
    for key in h:
        np.testing.assert_allclose(h[key], hr[key], rtol=2e-4, atol=1e-5, err_msg=key)
    for w, rw in zip(ours.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(w, rw, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), ref.evaluate(x, y, verbose=0),
                               rtol=2e-4)
