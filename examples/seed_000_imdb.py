"""Seed notebook 000 "LSTM GRU BRNN": two stacked recurrent layers on IMDB.

Embedding(10000, 100) -> two LSTM / GRU / Bidirectional(LSTM) layers of 32 units with
dropout=0.5 and recurrent_dropout=0.2 -> Dropout(0.5) -> Dense(1, sigmoid); rmsprop,
batch 512, 5 epochs, validation_split=0.2, sequences padded to 500 words.
Notebook test accuracy: LSTM 0.8558, GRU 0.8410, BiLSTM 0.8671.

    python examples/seed_000_imdb.py                      # all three models, fastrnn
    python examples/seed_000_imdb.py --models gru --framework keras
"""
import _common

CONFIG = dict(notebook="000", num_words=10000, maxlen=500, batch_size=512, epochs=5,
              validation_split=0.2)


def lstm(nn, c):
    model = nn.Sequential()
    model.add(nn.Embedding(c.num_words, 100))
    model.add(nn.LSTM(32, dropout=0.5, recurrent_dropout=0.2, return_sequences=True))
    model.add(nn.LSTM(32, dropout=0.5, recurrent_dropout=0.2))
    model.add(nn.Dropout(0.5))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def gru(nn, c):
    model = nn.Sequential()
    model.add(nn.Embedding(c.num_words, 100))
    model.add(nn.GRU(32, dropout=0.5, recurrent_dropout=0.2, return_sequences=True))
    model.add(nn.GRU(32, dropout=0.5, recurrent_dropout=0.2))
    model.add(nn.Dropout(0.5))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


def bilstm(nn, c):
    model = nn.Sequential()
    model.add(nn.Embedding(c.num_words, 100))
    model.add(nn.Bidirectional(nn.LSTM(32, dropout=0.5, recurrent_dropout=0.2,
                                       return_sequences=True)))
    model.add(nn.Bidirectional(nn.LSTM(32, dropout=0.5, recurrent_dropout=0.2)))
    model.add(nn.Dropout(0.5))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    return model


# name: (builder, what the notebook reported)
MODELS = {
    "lstm": (lstm, {"test_accuracy": 0.8558}),
    "gru": (gru, {"test_accuracy": 0.8410}),
    "bilstm": (bilstm, {"test_accuracy": 0.8671}),
}

if __name__ == "__main__":
    _common.main("seed_000_imdb", __doc__, CONFIG, MODELS)
