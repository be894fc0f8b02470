"""A seed notebook (IMDB: Embedding -> stacked LSTM/GRU with dropout -> Dense(sigmoid)) ported
by changing only the imports, run on small synthetic data."""
import re

import numpy as np

from fastrnn.layers import GRU, LSTM, Bidirectional, Dense, Dropout, Embedding
from fastrnn.layers.base import reset_names
from fastrnn.models import Sequential
from fastrnn.utils import pad_sequences, to_categorical  # noqa: F401  (Keras 3 keras.utils)


def _imdb_like(n=96, num_words=1000, maxlen=40, seed=0):
    rng = np.random.default_rng(seed)
    seqs = [list(rng.integers(1, num_words, rng.integers(5, 60))) for _ in range(n)]
    y = rng.integers(0, 2, n)
    return pad_sequences(seqs, maxlen=maxlen), y


def test_seed_notebook_lstm_model(capsys):
    reset_names()
    num_words = 10000
    x_train, y_train = _imdb_like()
    model = Sequential()
    model.add(Embedding(num_words, 100))
    model.add(LSTM(32, dropout=0.5, recurrent_dropout=0.2, return_sequences=True))
    model.add(LSTM(32, dropout=0.5, recurrent_dropout=0.2))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out and "0 (unbuilt)" in out
    history = model.fit(x_train, y_train, batch_size=32, validation_split=0.2, epochs=2)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out and "val_accuracy" in out
    model.summary()
    out = capsys.readouterr().out
    for name, shape, params in [("embedding (Embedding)", "(None, 40, 100)", "1,000,000"),
                                ("lstm (LSTM)", "(None, 40, 32)", "17,024"),
                                ("lstm_1 (LSTM)", "(None, 32)", "8,320"),
                                ("dropout (Dropout)", "(None, 32)", "0"),
                                ("dense (Dense)", "(None, 1)", "33")]:
        assert re.search(re.escape(name) + r"\s+│ " + re.escape(shape) + r"\s+│\s+" +
                         re.escape(params) + " │", out), name
    assert "Trainable params: 1,025,377 (3.91 MB)" in out
    assert "Optimizer params: 1,025,379" in out          # RMSprop: one slot + 2 scalars
    loss, acc = model.evaluate(x_train, y_train)
    assert 0 <= acc <= 1 and loss > 0
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]


def test_seed_notebook_bidirectional_gru_with_validation_data():
    x, y = _imdb_like(64, num_words=500)
    model = Sequential()
    model.add(Embedding(500, 16))
    model.add(Bidirectional(GRU(8)))
    model.add(Dropout(0.5))
    model.add(Dense(1, activation="sigmoid"))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=2, validation_data=[x[:16], y[:16]],
                        verbose=0)
    assert len(history.history["val_accuracy"]) == 2
    res = model.evaluate(x, y, verbose=2)
    assert len(res) == 2
    probs = model.predict(x[:5])
    assert probs.shape == (5, 1) and np.all((probs > 0) & (probs < 1))
