"""`fastrnn.train`: build, compile and fit a sentiment-style recurrent classifier in one call.

    model, history = fastrnn.train(dataset="imdb", cell="gru", units=32, epochs=3)
    model, history = fastrnn.train(x=x_train, y=y_train, cell="lstm", bidirectional=True)
    model, history = fastrnn.train(my_sequential_model, x=x, y=y, epochs=2)

Architecture: Embedding(num_words, embedding_dim) -> [SimpleRNN|LSTM|GRU] * layers
(return_sequences on all but the last, each optionally Bidirectional) -> [Dropout] ->
Dense(1, sigmoid), compiled with binary_crossentropy and accuracy.
"""
import numpy as np

from .distributed import is_main


def _cell_class(cell):
    """The recurrent layer class of a cell name of `fastrnn.ops.CELLS` ("lstm", "simple_rnn",
    ...), in any case, with or without '_' or '-', or its class name ("SimpleRNN")."""
    from .layers.registry import registered
    from .ops import CELLS

    def key(name):
        return str(name).lower().replace("_", "").replace("-", "")
    for cls in registered().values():
        name = getattr(cls, "cell", None)
        if name in CELLS and key(cell) in (key(name), key(cls.__name__)):
            return cls
    raise ValueError(f"train: cell expected one of {list(CELLS)}, got {cell!r}")


def build_model(cell="lstm", units=32, layers=1, bidirectional=False, embedding_dim=32,
                num_words=10000, dropout=0.0, recurrent_dropout=0.0, dense_dropout=0.0,
                mask_zero=False, name=None):
    """The Sequential model `train` fits (uncompiled)."""
    from .layers import Bidirectional
    from .layers.core import Dense, Dropout
    from .layers.embedding import Embedding
    from .models import Sequential
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 1:
        raise ValueError(f"train: layers expected a positive int, got {layers!r}")
    cls = _cell_class(cell)
    model = Sequential(name=name)
    model.add(Embedding(num_words, embedding_dim, mask_zero=mask_zero))
    for i in range(layers):
        rnn = cls(units, dropout=dropout, recurrent_dropout=recurrent_dropout,
                  return_sequences=i < layers - 1)
        model.add(Bidirectional(rnn) if bidirectional else rnn)
    if dense_dropout:
        model.add(Dropout(dense_dropout))
    model.add(Dense(1, activation="sigmoid"))
    return model


def _load_dataset(dataset, num_words, maxlen, data_path):
    """((x_train, y_train), (x_test, y_test)), padded to maxlen."""
    if dataset != "imdb":
        raise ValueError(f"train: dataset expected 'imdb' or None, got {dataset!r}")
    from .datasets import imdb
    from .preprocessing import pad_sequences
    (x_train, y_train), (x_test, y_test) = imdb.load_data(path=data_path, num_words=num_words)
    return ((pad_sequences(x_train, maxlen=maxlen), np.asarray(y_train)),
            (pad_sequences(x_test, maxlen=maxlen), np.asarray(y_test)))


def _as_padded(x, maxlen):
    if isinstance(x, np.ndarray) and x.dtype != object:
        return x
    try:
        arr = np.asarray(x)
        if arr.dtype != object and arr.ndim == 2:
            return arr
    except ValueError:
        pass
    from .preprocessing import pad_sequences
    return pad_sequences(list(x), maxlen=maxlen)


def _make_optimizer(optimizer, learning_rate):
    from . import optimizers
    opt = optimizers.get(optimizer)
    if learning_rate is not None:
        opt.learning_rate = learning_rate
    return opt


def train(model_or_spec=None, *, x=None, y=None, dataset=None, data_path=None,
          evaluate_test=True, cell="lstm", units=32, layers=1,
          bidirectional=False, embedding_dim=32, num_words=10000, maxlen=500, dropout=0.0,
          recurrent_dropout=0.0, dense_dropout=0.0, mask_zero=False, optimizer="rmsprop",
          learning_rate=None, batch_size=128, epochs=5, validation_split=0.2,
          validation_data=None, callbacks=None, shuffle=True, verbose=1, seed=None):
    """Build (or take) a model, compile it, fit it; returns `(model, history)`.

    `model_or_spec`: None (build from the keyword arguments), a cell name ("lstm", "gru",
    "simple_rnn"), a dict of keyword arguments for the architecture, or a `Sequential` (used
    as is; compiled with binary_crossentropy/accuracy and `optimizer` if not compiled yet).
    Data: `x`/`y` arrays (ragged lists of ids are padded to `maxlen`), or `dataset="imdb"`
    (found through `data_path`, else as `fastrnn.datasets.imdb.load_data` finds it). With a
    dataset and `evaluate_test`, the trained model is evaluated on the dataset's test split
    afterwards: `history.test` = {"loss": ..., "accuracy": ...} (else `history.test` is None).
    `seed` makes weights, dropout and shuffling reproducible.
    """
    from .models import Sequential
    from .utils import set_random_seed
    if seed is not None:
        set_random_seed(seed)
    test = None
    if dataset is not None:
        if x is not None or y is not None:
            raise ValueError("train: pass either x/y or dataset, not both")
        (x, y), test = _load_dataset(dataset, num_words, maxlen, data_path)
    elif data_path is not None:
        raise ValueError("train: data_path is only used with dataset=")
    if x is None or y is None:
        raise ValueError("train: no data; pass x= and y=, or dataset='imdb'")
    x = _as_padded(x, maxlen)
    y = np.asarray(y)

    arch = dict(cell=cell, units=units, layers=layers, bidirectional=bidirectional,
                embedding_dim=embedding_dim, num_words=num_words, dropout=dropout,
                recurrent_dropout=recurrent_dropout, dense_dropout=dense_dropout,
                mask_zero=mask_zero)
    if isinstance(model_or_spec, Sequential):
        model = model_or_spec
    else:
        if isinstance(model_or_spec, str):
            arch["cell"] = model_or_spec
        elif isinstance(model_or_spec, dict):
            unknown = set(model_or_spec) - set(arch)
            if unknown:
                raise ValueError(f"train: unknown architecture keys {sorted(unknown)}; "
                                 f"expected some of {sorted(arch)}")
            arch.update(model_or_spec)
        elif model_or_spec is not None:
            raise TypeError("train: model_or_spec expected None, a cell name, a dict or a "
                            f"Sequential, got {type(model_or_spec).__name__}")
        if x.size and np.issubdtype(x.dtype, np.integer) and int(x.max()) >= arch["num_words"]:
            raise ValueError(f"train: the data has token id {int(x.max())} but num_words="
                             f"{arch['num_words']}; raise num_words or re-encode the data")
        model = build_model(**arch)
    if not model.compiled:
        model.compile(optimizer=_make_optimizer(optimizer, learning_rate),
                      loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                        validation_split=0.0 if validation_data is not None else validation_split,
                        validation_data=validation_data, callbacks=callbacks, shuffle=shuffle)
    history.test = None
    if test is not None and evaluate_test:
        loss, acc = model.evaluate(*test, batch_size=batch_size, verbose=0)[:2]
        history.test = {"loss": float(loss), "accuracy": float(acc)}
        if verbose and is_main():
            print(f"test: loss {loss:.4f} - accuracy {acc:.4f} ({len(test[1])} samples)")
    return model, history
