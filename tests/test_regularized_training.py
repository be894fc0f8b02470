"""Training steps with regularizers and constraints equal Keras' (SGD and Adam): weight and
activity penalties in the loss and its gradients, constraints after each update, and
`model.losses`."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn.layers.base import reset_names  # noqa: E402

B, T, VOCAB = 8, 6, 20


def _build(mod, kind):
    L = mod.layers
    if kind == "dense":
        x = mod.Input((5,))
        h = L.Dense(6, activation="tanh", kernel_regularizer=mod.regularizers.L2(0.05),
                    bias_regularizer="l1", activity_regularizer=mod.regularizers.L1(0.01),
                    kernel_constraint=mod.constraints.MaxNorm(0.8))(x)
        out = L.Dense(1, activation="sigmoid", kernel_constraint="non_neg",
                      bias_regularizer=mod.regularizers.L1L2(0.01, 0.02))(h)
    elif kind == "embedding":
        x = mod.Input((T,), dtype="int32")
        h = L.Embedding(VOCAB, 4, embeddings_regularizer=mod.regularizers.L2(0.01),
                        embeddings_constraint=mod.constraints.UnitNorm(axis=1))(x)
        h = L.GlobalAveragePooling1D()(h)
        out = L.Dense(1, activation="sigmoid", activity_regularizer="l2")(h)
    elif kind == "recurrent":   # every recurrent weight's regularizer and constraint
        x = mod.Input((T, 3))
        h = L.LSTM(4, return_sequences=True, kernel_regularizer=mod.regularizers.L2(0.05),
                   recurrent_regularizer="l1", bias_regularizer=mod.regularizers.L1L2(0.01, 0.02),
                   kernel_constraint=mod.constraints.MaxNorm(0.9),
                   recurrent_constraint="non_neg",
                   bias_constraint=mod.constraints.MinMaxNorm(0.1, 0.8, axis=0))(x)
        h = L.Bidirectional(L.GRU(3, recurrent_regularizer=mod.regularizers.L2(0.1),
                                  kernel_constraint=mod.constraints.UnitNorm(axis=0)))(h)
        out = L.Dense(1, activation="sigmoid")(h)
    elif kind == "recurrent_states":   # activity penalties count the returned states too
        x = mod.Input((T, 3))
        seq, h, c = L.LSTM(4, return_sequences=True, return_state=True,
                           activity_regularizer=mod.regularizers.L2(0.05))(x)
        last = L.GRU(3, activity_regularizer="l1", bias_regularizer="l2",
                     recurrent_constraint=mod.constraints.MaxNorm(1.2))(seq)
        out = L.Dense(1, activation="sigmoid")(L.Concatenate()([last, h, c]))
    else:   # conv: Conv1D with regularizers and a min-max-norm constraint
        x = mod.Input((T, 3))
        h = L.Conv1D(4, 3, kernel_regularizer="l2", bias_regularizer=mod.regularizers.L2(0.1),
                     kernel_constraint=mod.constraints.MinMaxNorm(0.2, 0.9, axis=[0, 1]),
                     activity_regularizer=mod.regularizers.L1(0.001))(x)
        out = L.Dense(1, activation="sigmoid")(L.GlobalMaxPooling1D()(h))
    return mod.Model(x, out)


def _data(kind, seed):
    rng = np.random.default_rng(seed)
    if kind == "embedding":
        x = rng.integers(0, VOCAB, (B, T)).astype("int32")
    elif kind in ("conv", "recurrent", "recurrent_states"):
        x = rng.standard_normal((B, T, 3)).astype("float32")
    else:
        x = rng.standard_normal((B, 5)).astype("float32")
    return x, rng.integers(0, 2, (B, 1)).astype("float32")


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kind", ["dense", "embedding", "conv", "recurrent", "recurrent_states"])
def test_regularized_steps_match_keras(kind, opt):
    reset_names()
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)   # Adam's first steps magnify rounding where a gradient is ~0
    ref = _build(keras, kind)
    ours = _build(fastrnn, kind)
    ours.set_weights(ref.get_weights())
    make = {"sgd": lambda m: m.optimizers.SGD(learning_rate=0.5, momentum=0.5),
            "adam": lambda m: m.optimizers.Adam(learning_rate=0.05)}[opt]
    ours.compile(make(fastrnn), "binary_crossentropy", metrics=["accuracy"])
    ref.compile(make(keras), "binary_crossentropy", metrics=["accuracy"], run_eagerly=True)
    for step in range(3):
        x, y = _data(kind, step)
        lo = ours.train_on_batch(x, y, return_dict=True)
        lr = ref.train_on_batch(x, y, return_dict=True)
        np.testing.assert_allclose(lo["loss"], float(lr["loss"]), rtol=1e-5, atol=1e-6)
        for a, b in zip(ours.get_weights(), ref.get_weights()):
            assert np.isfinite(a).all()
            np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-6)
    x, y = _data(kind, 9)
    ev_o = ours.evaluate(x, y, verbose=0, return_dict=True)
    ev_r = ref.evaluate(x, y, verbose=0, return_dict=True)
    np.testing.assert_allclose(ev_o["loss"], ev_r["loss"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["dense", "recurrent_states"])
def test_model_losses_match_keras_after_a_call(kind):
    reset_names()
    keras.backend.clear_session()
    ref = _build(keras, kind)
    ours = _build(fastrnn, kind)
    ours.set_weights(ref.get_weights())
    x, _ = _data(kind, 0)
    ours(x)
    ref(x)
    if kind == "dense":
        np.testing.assert_allclose(sorted(float(v) for v in ours.losses),
                                   sorted(float(v) for v in ref.losses), rtol=1e-5)
    else:   # Keras lists each output's activity penalty, fastrnn their total
        np.testing.assert_allclose(sum(float(v) for v in ours.losses),
                                   sum(float(v) for v in ref.losses), rtol=1e-5)


def test_simple_rnn_activity_regularizer_applies():
    """Keras 3's SimpleRNN drops its activity_regularizer argument (its __init__ does not pass
    it on; tf-keras applies it): fastrnn applies it, reg(output) / batch as for every layer."""
    x = fastrnn.Input((T, 3))
    out = fastrnn.layers.SimpleRNN(3, activity_regularizer=fastrnn.regularizers.L1(0.1))(x)
    model = fastrnn.Model(x, out)
    data, _ = _data("recurrent", 0)
    y = model(data)
    np.testing.assert_allclose(float(model.losses[-1]), 0.1 * np.abs(y).sum() / B, rtol=1e-5)
