"""fastrnn.train, plot_history, utils, and the public import paths a ported notebook uses."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import layers as L  # noqa: E402


def _seq_task(n=160, t=10, vocab=30, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, t))
    y = (x == 5).any(axis=1).astype(np.int64)
    return x, y


def test_public_import_paths_like_keras():
    from fastrnn.models import Sequential  # noqa: F401
    from fastrnn.layers import (LSTM, GRU, SimpleRNN, Bidirectional, Dense, Dropout,  # noqa
                                Activation, Embedding, Input, InputLayer)
    from fastrnn.utils import to_categorical, set_random_seed  # noqa: F401
    from fastrnn.callbacks import EarlyStopping, ModelCheckpoint, TerminateOnNaN  # noqa: F401
    for name in ("Sequential", "models", "optimizers", "losses", "callbacks", "utils", "train",
                 "load_model", "plot_history", "metrics", "activations"):
        assert hasattr(fastrnn, name), name


def test_train_builds_compiles_and_fits():
    x, y = _seq_task()
    model, history = fastrnn.train(x=x, y=y, cell="gru", units=8, embedding_dim=8, num_words=30,
                                   epochs=2, batch_size=32, verbose=0, seed=1)
    assert [type(l).__name__ for l in model.layers] == ["Embedding", "GRU", "Dense"]
    assert model.layers[-1].activation.name == "sigmoid"
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history.history["loss"]) == 2
    assert isinstance(model.optimizer, fastrnn.optimizers.RMSprop)


def test_train_is_reproducible_with_seed():
    x, y = _seq_task()
    kw = dict(x=x, y=y, cell="lstm", units=4, embedding_dim=4, num_words=30, epochs=1,
              batch_size=32, dropout=0.2, dense_dropout=0.3, verbose=0, seed=7)
    a, _ = fastrnn.train(**kw)
    b, _ = fastrnn.train(**kw)
    c, _ = fastrnn.train(**dict(kw, seed=8))
    # same seed: same init, dropout masks and shuffles (the kernels reduce deterministically);
    # another seed: different weights
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert not np.allclose(a.get_weights()[0], c.get_weights()[0])


def test_train_spec_variants():
    x, y = _seq_task(64)
    m, _ = fastrnn.train({"cell": "simple_rnn", "layers": 2, "bidirectional": True, "units": 3},
                         x=x, y=y, embedding_dim=4, num_words=30, epochs=1, verbose=0,
                         dense_dropout=0.5)
    names = [type(l).__name__ for l in m.layers]
    assert names == ["Embedding", "Bidirectional", "Bidirectional", "Dropout", "Dense"]
    assert m.layers[1].return_sequences and not m.layers[2].return_sequences
    m2, _ = fastrnn.train("lstm", x=x, y=y, units=2, embedding_dim=2, num_words=30, epochs=1,
                          verbose=0, optimizer="adam", learning_rate=0.05)
    assert isinstance(m2.layers[1], L.LSTM)
    assert m2.optimizer.learning_rate == pytest.approx(0.05)
    custom = fastrnn.Sequential([L.Embedding(30, 3), L.GRU(2), L.Dense(1, activation="sigmoid")])
    m3, h3 = fastrnn.train(custom, x=x, y=y, epochs=1, verbose=0, validation_split=0.0)
    assert m3 is custom and list(h3.history) == ["accuracy", "loss"]
    ragged = [list(r[: 3 + i % 5]) for i, r in enumerate(x)]
    m4, _ = fastrnn.train(x=ragged, y=y, units=2, embedding_dim=2, num_words=30, maxlen=6,
                          epochs=1, verbose=0)
    assert m4.input_shape == (None, 6)


def test_train_errors():
    x, y = _seq_task(32)
    with pytest.raises(ValueError, match="num_words"):
        fastrnn.train(x=x, y=y, num_words=10, verbose=0)
    with pytest.raises(ValueError, match="cell"):
        fastrnn.train(x=x, y=y, cell="transformer", num_words=30, verbose=0)
    with pytest.raises(ValueError, match="no data"):
        fastrnn.train(cell="lstm")
    with pytest.raises(ValueError, match="unknown architecture"):
        fastrnn.train({"unitz": 3}, x=x, y=y, num_words=30)


def test_train_with_imdb_dataset(monkeypatch):
    from fastrnn.datasets import imdb
    rng = np.random.default_rng(0)
    seqs = np.empty(40, dtype=object)
    for i in range(40):
        seqs[i] = list(rng.integers(1, 50, rng.integers(3, 15)))
    labels = rng.integers(0, 2, 40)
    calls = {}

    def fake_load_data(path=None, num_words=None, **kw):
        calls["num_words"], calls["path"] = num_words, path
        return (seqs, labels), (seqs[:30], labels[:30])

    monkeypatch.setattr(imdb, "load_data", fake_load_data)
    model, history = fastrnn.train(dataset="imdb", data_path="somewhere.tar.gz", num_words=50,
                                   maxlen=12, units=2, embedding_dim=2, epochs=1, verbose=0)
    assert calls == {"num_words": 50, "path": "somewhere.tar.gz"}
    assert model.input_shape == (None, 12)
    # The test split is evaluated after training, exactly as model.evaluate scores it.
    x_test = fastrnn.preprocessing.pad_sequences(seqs[:30], maxlen=12)
    loss, acc = model.evaluate(x_test, labels[:30], verbose=0)
    assert history.test == pytest.approx({"loss": loss, "accuracy": acc}, rel=1e-6)
    _, history = fastrnn.train(dataset="imdb", num_words=50, maxlen=12, units=2,
                               embedding_dim=2, epochs=1, verbose=0, evaluate_test=False)
    assert history.test is None
    with pytest.raises(ValueError, match="data_path is only used with dataset="):
        fastrnn.train(x=x_test, y=labels[:30], data_path="x.tar.gz")
    with pytest.raises(ValueError, match="dataset"):
        fastrnn.train(dataset="mnist")


def test_plot_history_writes_png_or_explains_install(tmp_path, monkeypatch):
    hist = {"accuracy": [0.6, 0.7], "loss": [0.7, 0.5], "val_accuracy": [0.55, 0.65],
            "val_loss": [0.72, 0.6]}
    try:
        import matplotlib  # noqa: F401
        have_mpl = True
    except ImportError:
        have_mpl = False
    if have_mpl:
        out = fastrnn.plot_history(hist, tmp_path / "h.png")
        assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert out == tmp_path / "h.png"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install fastrnn\[plot\]"):
        fastrnn.plot_history(hist, tmp_path / "h2.png")


def test_to_categorical_matches_keras():
    import keras
    y = np.array([0, 2, 1, 2])
    np.testing.assert_array_equal(fastrnn.utils.to_categorical(y),
                                  keras.utils.to_categorical(y))
    np.testing.assert_array_equal(fastrnn.utils.to_categorical(y.reshape(-1, 1), 4),
                                  keras.utils.to_categorical(y.reshape(-1, 1), 4))
    assert fastrnn.utils.to_categorical(y).dtype == np.float32
