"""Seed notebook 003 "Tutorial on RNN | LSTM | GRU": a Bidirectional LSTM on IMDB.

Embedding(10000, 128) -> Bidirectional(LSTM(64)) -> Dropout(0.5) -> Dense(1, sigmoid); adam,
12 epochs, sequences padded to 200 words, validated on the test set
(validation_data=[x_test, y_test]). The notebook never defines batch_size; we use 32, Keras'
default for fit (and the value of the Keras example it follows). It reports no test
accuracy (its plot shows the training accuracy approaching 1).

    python examples/seed_003_imdb.py --framework keras
"""
import _common

CONFIG = dict(notebook="003", num_words=10000, maxlen=200, batch_size=32, epochs=12,
              validation="test",
              notes="batch_size is undefined in the notebook; 32 (Keras' fit default) is used")


def bilstm(nn, c):
    n_unique_words = c.num_words
    model = nn.Sequential()
    model.add(nn.Embedding(n_unique_words, 128))  # the notebook's input_length=maxlen: deprecated
    model.add(nn.Bidirectional(nn.LSTM(64)))
    model.add(nn.Dropout(0.5))
    model.add(nn.Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    return model


MODELS = {
    "bilstm": (bilstm, {"note": "no test accuracy reported (training accuracy ~1.0)"}),
}

if __name__ == "__main__":
    _common.main("seed_003_imdb", __doc__, CONFIG, MODELS)
