"""Seed notebook 002 "Comparing RNN, GRU and LSTM".

Embedding(10000, 32) -> SimpleRNN(32) / GRU(32) / LSTM(32) -> Dense(1, sigmoid); rmsprop,
batch 128, 10 epochs, validation_split=0.2, sequences padded to 100 words.
Notebook test accuracy: SimpleRNN 0.8100, GRU 0.8272, LSTM 0.8390.

    python examples/seed_002_imdb.py --models lstm        # the README's main example
"""
import _common

CONFIG = dict(notebook="002", num_words=10000, maxlen=100, batch_size=128, epochs=10,
              validation_split=0.2)


def simple_rnn(nn, c):
    model = nn.Sequential()
    model.add(nn.Embedding(c.num_words, 32))
    model.add(nn.SimpleRNN(32))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def gru(nn, c):
    model = nn.Sequential()
    model.add(nn.Embedding(c.num_words, 32))
    model.add(nn.GRU(32))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def lstm(nn, c):
    model = nn.Sequential()
    model.add(nn.Embedding(c.num_words, 32))
    model.add(nn.LSTM(32))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


MODELS = {
    "simple_rnn": (simple_rnn, {"test_accuracy": 0.8100}),
    "gru": (gru, {"test_accuracy": 0.8272}),
    "lstm": (lstm, {"test_accuracy": 0.8390}),
}

if __name__ == "__main__":
    _common.main("seed_002_imdb", __doc__, CONFIG, MODELS)
