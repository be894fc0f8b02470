"""Seed notebook 004 "Deep Learning with Python 6.2: Understanding recurrent neural networks".

Embedding(10000, 32) -> SimpleRNN(32) or LSTM(32) -> Dense(1, sigmoid); rmsprop, batch 128,
10 epochs, validation_split=0.2, sequences padded to 500 words, metrics=['acc'].
The notebook reports validation accuracy only (no test evaluation): SimpleRNN final 0.8218
(best 0.8404), LSTM final 0.8824 (best 0.8868).

    python examples/seed_004_imdb.py --models lstm --framework keras
"""
import _common

CONFIG = dict(notebook="004", num_words=10000, maxlen=500, batch_size=128, epochs=10,
              validation_split=0.2)


def simple_rnn(nn, c):
    max_features = c.num_words
    model = nn.Sequential()
    model.add(nn.Embedding(input_dim = max_features,
                           output_dim = 32))
    model.add(nn.SimpleRNN(units = 32))
    model.add(nn.Dense(units = 1,
                       activation='sigmoid'))

    model.compile(optimizer = 'rmsprop',
                  loss = 'binary_crossentropy',
                  metrics = ['acc'])
    return model


def lstm(nn, c):
    max_features = c.num_words
    model = nn.Sequential()
    model.add(nn.Embedding(input_dim = max_features,
                           output_dim = 32))
    model.add(nn.LSTM(units = 32))
    model.add(nn.Dense(units = 1,
                       activation = 'sigmoid'))

    model.compile(optimizer = 'rmsprop',
                  loss = 'binary_crossentropy',
                  metrics = ['acc'])
    return model


MODELS = {
    "simple_rnn": (simple_rnn, {"final_val_accuracy": 0.8218, "best_val_accuracy": 0.8404}),
    "lstm": (lstm, {"final_val_accuracy": 0.8824, "best_val_accuracy": 0.8868}),
}

if __name__ == "__main__":
    _common.main("seed_004_imdb", __doc__, CONFIG, MODELS)
