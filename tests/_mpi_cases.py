"""Models, data and training runs shared by the data-parallel tests: the MPI worker
(tests/_mpi_worker.py, run under mpirun) and the one-process references computed by pytest
run the very same functions."""
import numpy as np

import fastrnn
from fastrnn import layers as L
from fastrnn.models import Sequential

SEED = 7
VOCAB, T, E, H = 60, 16, 8, 8
BATCH = 64
SAMPLES = 20 * BATCH - 7       # 20 steps of the global batch; the last one uneven (57)
TEST_SAMPLES = 203
CHECKPOINT_EPOCHS, TOTAL_EPOCHS = 2, 4   # kill/resume: killed in epoch 3 of 4
# (model, optimizer): the parity cases of the issue (SGD and Adam; LSTM and Bidirectional GRU)
PARITY_CASES = [("lstm", "sgd"), ("lstm", "adam"), ("bigru", "sgd"), ("bigru", "adam")]


def data(n=SAMPLES, seed=0):
    """Ids in [0, VOCAB) with padding zeros; the label depends on the first ids."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, (n, T))
    x[:, :3] = np.where(rng.random((n, 3)) < 0.3, 0, x[:, :3])
    y = ((x[:, -3:] % 7).sum(axis=1) > 9).astype(np.float32)
    return x, y


def optimizer(name):
    return {"sgd": lambda: fastrnn.optimizers.SGD(0.5, momentum=0.5),
            "adam": lambda: fastrnn.optimizers.Adam(0.02)}[name]()


def model(kind, opt, seed=SEED, dropout=0.0):
    """`kind` "lstm" (Embedding -> LSTM -> Dense) or "bigru" (-> Bidirectional(GRU))."""
    fastrnn.utils.set_random_seed(seed)
    rnn = (L.LSTM(H, dropout=dropout, recurrent_dropout=dropout) if kind == "lstm" else
           L.Bidirectional(L.GRU(H, dropout=dropout)))
    stack = [L.Input(shape=(T,), dtype="int64"), L.Embedding(VOCAB, E), rnn]
    if dropout:
        stack.append(L.Dropout(dropout))
    m = Sequential(stack + [L.Dense(1, activation="sigmoid")])
    m.compile(optimizer(opt), "binary_crossentropy", metrics=["accuracy"])
    return m


def train(kind, opt, rank=0, batch_size=BATCH, steps_per_update=1, callbacks=None):
    """Fit one epoch (shuffled) from the case's model; rank r > 0 starts from other weights
    (fit must replace them with rank 0's). Returns the model, its history and the weights."""
    m = model(kind, opt, seed=SEED + 1000 * rank)
    x, y = data()
    history = m.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=True,
                    steps_per_update=steps_per_update, callbacks=callbacks)
    return m, history.history


def evaluate_and_predict(m):
    x, y = data(TEST_SAMPLES, seed=1)
    return m.evaluate(x, y, batch_size=50, verbose=0, return_dict=True), \
        m.predict(x, batch_size=50, verbose=0)


def dropout_run(kind, seed, rank=0, steps=20):
    """Training losses (per batch, running means) of a dropout model: fixed weights and
    batches, only the dropout masks depend on `seed`."""
    m = model(kind, "adam", dropout=0.3)
    fastrnn.utils.set_random_seed(seed)
    x, y = data(steps * BATCH)
    losses = []

    class Record(fastrnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            losses.append(logs["loss"])
    m.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[Record()])
    return losses
