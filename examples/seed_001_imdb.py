"""Seed notebook 001 "IMDB: Bidirectional LSTM & GRU" (after the Keras imdb_bidirectional_lstm
example).

Embedding(20000, 128) -> Bidirectional(LSTM(64)) or Bidirectional(GRU(64)) -> Dropout(0.5)
-> Dense(1, sigmoid); adam, batch 256, 10 epochs, sequences padded to 100 words; the notebook
validates on the test set (validation_data=[x_test, y_test]).
Notebook test accuracy: BiLSTM 0.8181, BiGRU 0.8174.

    python examples/seed_001_imdb.py --models bigru --framework keras
"""
import _common

CONFIG = dict(notebook="001", num_words=20000, maxlen=100, batch_size=256, epochs=10,
              validation="test")


def bilstm(nn, c):
    max_features = c.num_words
    model = nn.Sequential()
    model.add(nn.Embedding(max_features, 128))  # the notebook's input_length=maxlen: deprecated
    model.add(nn.Bidirectional(nn.LSTM(64)))
    model.add(nn.Dropout(0.5))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile('adam', 'binary_crossentropy', metrics=['accuracy'])
    return model


def bigru(nn, c):
    max_features = c.num_words
    gru_model = nn.Sequential()
    gru_model.add(nn.Embedding(max_features, 128))
    gru_model.add(nn.Bidirectional(nn.GRU(64)))
    gru_model.add(nn.Dropout(0.5))
    gru_model.add(nn.Dense(1, activation='sigmoid'))
    gru_model.compile('adam', 'binary_crossentropy', metrics=['accuracy'])
    return gru_model


MODELS = {
    "bilstm": (bilstm, {"test_accuracy": 0.8181}),
    "bigru": (bigru, {"test_accuracy": 0.8174}),
}

if __name__ == "__main__":
    _common.main("seed_001_imdb", __doc__, CONFIG, MODELS)
