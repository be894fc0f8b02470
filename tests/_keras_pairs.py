"""Helpers for tests: the same small model in fastrnn and in Keras, with identical weights."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import layers as flayers  # noqa: E402

ARCHS = {
    # name: (input spec, [(layer class name, args, kwargs)], loss)
    "dense_sigmoid": (("float", (6,)), [("Dense", (8,), {"activation": "relu"}),
                                       ("Dense", (1,), {"activation": "sigmoid"})],
                      "binary_crossentropy"),
    "dense_softmax": (("float", (6,)), [("Dense", (8,), {"activation": "tanh"}),
                                       ("Dense", (4,), {"activation": "softmax"})],
                      "sparse_categorical_crossentropy"),
    "embedding_dense": (("int", (7,)), [("Embedding", (20, 4), {}),
                                       ("Dense", (1,), {"activation": "sigmoid"})],
                        "binary_crossentropy"),
    "dense_mse": (("float", (6,)), [("Dense", (5,), {"activation": "elu"}),
                                   ("Dense", (2,), {})], "mse"),
}


def make_pair(arch, seed=0):
    (kind, shape), specs, loss = ARCHS[arch]
    fastrnn.utils.set_random_seed(seed)
    ours = fastrnn.Sequential([flayers.Input(shape=shape)] +
                              [getattr(flayers, c)(*a, **k) for c, a, k in specs])
    ref = keras.Sequential([keras.Input(shape=shape, dtype="int32" if kind == "int" else None)] +
                           [getattr(keras.layers, c)(*a, **k) for c, a, k in specs])
    ref.set_weights(ours.get_weights())
    return ours, ref, loss


def batches(arch, n_batches, batch=8, seed=1):
    (kind, shape), specs, loss = ARCHS[arch]
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_batches):
        if kind == "int":
            x = rng.integers(0, 6, (batch,) + shape)     # few ids: many repeats
        else:
            x = rng.standard_normal((batch,) + shape).astype(np.float32)
        if loss == "binary_crossentropy":
            y_shape = (batch,) + (shape if kind == "int" else ()) + (1,)
            y = rng.integers(0, 2, y_shape).astype(np.float32)
        elif loss == "sparse_categorical_crossentropy":
            y = rng.integers(0, 4, batch)
        else:
            y = rng.standard_normal((batch, 2)).astype(np.float32)
        out.append((x, y))
    return out
