"""fastrnn losses/metrics vs keras.losses/keras.metrics; loss gradients vs tf.GradientTape."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from fastrnn import activations, losses, metrics  # noqa: E402

RNG = np.random.default_rng(0)


def _data(kind, shape=(16, 5)):
    rng = np.random.default_rng(sum(map(ord, kind)))
    if kind == "binary":
        y = rng.integers(0, 2, shape).astype(np.float32)
        p = rng.uniform(0, 1, shape).astype(np.float32)
        p.flat[:4] = [0.0, 1.0, 1e-9, 1 - 1e-9]     # exercise the epsilon clipping
        return y, p
    if kind == "logits":
        return rng.integers(0, 2, shape).astype(np.float32), \
            (rng.standard_normal(shape) * 3).astype(np.float32)
    if kind == "categorical":
        labels = rng.integers(0, shape[-1], shape[0])
        y = np.eye(shape[-1], dtype=np.float32)[labels]
        p = rng.uniform(0.01, 1, shape).astype(np.float32)
        p /= p.sum(-1, keepdims=True)
        p[0] = [1, 0, 0, 0, 0]
        return y, p, labels
    if kind == "regression":
        return rng.standard_normal(shape).astype(np.float32), \
            rng.standard_normal(shape).astype(np.float32)
    raise ValueError(kind)


CASES = [
    ("BinaryCrossentropy", {}, "binary"),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, "binary"),
    ("BinaryCrossentropy", {"from_logits": True}, "logits"),
    ("CategoricalCrossentropy", {}, "categorical"),
    ("CategoricalCrossentropy", {"from_logits": True}, "categorical_logits"),
    ("CategoricalCrossentropy", {"label_smoothing": 0.2}, "categorical"),
    ("SparseCategoricalCrossentropy", {}, "sparse"),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse_logits"),
    ("MeanSquaredError", {}, "regression"),
    ("MeanAbsoluteError", {}, "regression"),
]


def _case_data(kind):
    if kind in ("binary", "logits", "regression"):
        return _data(kind)
    y, p, labels = _data("categorical")
    if kind == "categorical":
        return y, p
    if kind == "categorical_logits":
        return y, np.log(p + 1e-3).astype(np.float32) * 2
    if kind == "sparse":
        return labels, p
    return labels, np.log(p + 1e-3).astype(np.float32) * 2


@pytest.mark.parametrize("name,kwargs,kind", CASES, ids=lambda v: str(v))
def test_loss_value_and_gradient_match_keras(name, kwargs, kind):
    y, p = _case_data(kind)
    ours = getattr(losses, name)(**kwargs)
    ref = getattr(keras.losses, name)(**kwargs)
    np.testing.assert_allclose(ours(y, p), ref(y, p).numpy(), rtol=1e-6)
    var = tf.Variable(p)
    with tf.GradientTape() as tape:
        value = ref(tf.constant(y), var)
    ref_grad = tape.gradient(value, var).numpy()
    val, grad, wrt_logits = ours.value_and_grad(y, p)
    assert not wrt_logits
    np.testing.assert_allclose(val, value.numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)


def test_functional_forms_match_keras():
    y, p = _data("binary")
    np.testing.assert_allclose(losses.binary_crossentropy(y, p),
                               keras.losses.binary_crossentropy(y, p).numpy(), rtol=1e-6)
    y, p = _data("regression")
    np.testing.assert_allclose(losses.mean_squared_error(y, p),
                               keras.losses.mean_squared_error(y, p).numpy(), rtol=1e-6)
    np.testing.assert_allclose(losses.mean_absolute_error(y, p),
                               keras.losses.mean_absolute_error(y, p).numpy(), rtol=1e-6)
    yc, pc, labels = _data("categorical")
    np.testing.assert_allclose(losses.categorical_crossentropy(yc, pc),
                               keras.losses.categorical_crossentropy(yc, pc).numpy(), rtol=1e-6)
    np.testing.assert_allclose(losses.sparse_categorical_crossentropy(labels, pc),
                               keras.losses.sparse_categorical_crossentropy(labels, pc).numpy(),
                               rtol=1e-6)


def test_rank_one_labels_are_expanded_like_keras():
    y = RNG.integers(0, 2, 8).astype(np.float32)
    p = RNG.uniform(0, 1, (8, 1)).astype(np.float32)
    np.testing.assert_allclose(losses.BinaryCrossentropy()(y, p),
                               keras.losses.BinaryCrossentropy()(y, p).numpy(), rtol=1e-6)


@pytest.mark.parametrize("activation,name,kind", [
    ("sigmoid", "BinaryCrossentropy", "binary"),
    ("softmax", "CategoricalCrossentropy", "categorical"),
    ("softmax", "SparseCategoricalCrossentropy", "sparse"),
])
def test_crossentropy_on_sigmoid_softmax_outputs_uses_logits_like_keras(activation, name, kind):
    rng = np.random.default_rng(7)
    shape = (12, 1) if activation == "sigmoid" else (12, 4)
    z = (rng.standard_normal(shape) * 8).astype(np.float32)   # saturated outputs too
    if kind == "binary":
        y = rng.integers(0, 2, shape).astype(np.float32)
    elif kind == "categorical":
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 12)]
    else:
        y = rng.integers(0, 4, 12)
    zv = tf.Variable(z)
    ref = getattr(keras.losses, name)()
    with tf.GradientTape() as tape:
        value = ref(tf.constant(y), getattr(keras.activations, activation)(zv))
    ref_grad = tape.gradient(value, zv).numpy()
    out = activations.get(activation)(z)
    val, grad, wrt_logits = getattr(losses, name)().value_and_grad(y, out, logits=z)
    assert wrt_logits
    np.testing.assert_allclose(val, value.numpy(), rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)


def test_masked_reduction_matches_keras_rule():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (4, 6, 1)).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (4, 6, 1)).astype(np.float32)
    mask = rng.uniform(size=(4, 6)) > 0.3
    per = losses.binary_crossentropy(y, p)
    val, grad, _ = losses.BinaryCrossentropy().value_and_grad(y, p, mask=mask)
    np.testing.assert_allclose(val, per[mask].sum() / mask.sum(), rtol=1e-6)
    assert np.all(grad[~mask] == 0)


def test_loss_get_resolves_names():
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    assert losses.get("mse").name == "mse"
    assert isinstance(losses.get("crossentropy", np.zeros((3,)), np.zeros((3, 4))),
                      losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get(losses.binary_crossentropy), losses.BinaryCrossentropy)
    with pytest.raises(ValueError):
        losses.get("hinge_nope")
    with pytest.raises(TypeError):
        losses.get(lambda a, b: a)
    with pytest.raises(ValueError, match="outside the valid range"):
        losses.sparse_categorical_crossentropy(np.array([5]), np.full((1, 3), 1 / 3, np.float32))
    with pytest.raises(ValueError, match=r"y_true contains nan; labels must be integers in \[0, 3\)"):
        losses.sparse_categorical_crossentropy(np.array([1.0, np.nan]),
                                               np.full((2, 3), 1 / 3, np.float32))


# --- metrics ----------------------------------------------------------------------------------
@pytest.mark.parametrize("y_shape,p_shape,cls", [
    ((8,), (8, 1), metrics.BinaryAccuracy),
    ((8, 1), (8, 1), metrics.BinaryAccuracy),
    ((8,), (8, 3), metrics.SparseCategoricalAccuracy),
    ((8, 1), (8, 3), metrics.SparseCategoricalAccuracy),
    ((8, 3), (8, 3), metrics.CategoricalAccuracy),
])
@pytest.mark.parametrize("name", ["accuracy", "acc"])
def test_accuracy_resolution_like_keras_compile(y_shape, p_shape, cls, name):
    m = metrics.get(name, np.zeros(y_shape), np.zeros(p_shape))
    assert isinstance(m, cls)
    assert m.name == name


@pytest.mark.parametrize("ours,ref,kind", [
    (metrics.BinaryAccuracy, keras.metrics.BinaryAccuracy, "binary"),
    (metrics.CategoricalAccuracy, keras.metrics.CategoricalAccuracy, "categorical"),
    (metrics.SparseCategoricalAccuracy, keras.metrics.SparseCategoricalAccuracy, "sparse"),
    (metrics.MeanSquaredError, keras.metrics.MeanSquaredError, "regression"),
    (metrics.MeanAbsoluteError, keras.metrics.MeanAbsoluteError, "regression"),
])
def test_running_metrics_match_keras(ours, ref, kind):
    rng = np.random.default_rng(11)
    m, k = ours(), ref()
    for n in (5, 9, 3):      # unequal batches: a running mean weighted by samples
        if kind == "binary":
            y = rng.integers(0, 2, (n, 1)).astype(np.float32)
            p = rng.uniform(0, 1, (n, 1)).astype(np.float32)
            p[0] = 0.5       # threshold is strict: 0.5 counts as class 0
        elif kind == "regression":
            y = rng.standard_normal((n, 2)).astype(np.float32)
            p = rng.standard_normal((n, 2)).astype(np.float32)
        else:
            labels = rng.integers(0, 3, n)
            p = rng.uniform(0, 1, (n, 3)).astype(np.float32)
            y = labels if kind == "sparse" else np.eye(3, dtype=np.float32)[labels]
        m.update_state(y, p)
        k.update_state(y, p)
        np.testing.assert_allclose(m.result(), float(k.result()), rtol=1e-6)
    m.reset_state()
    assert m.result() == 0.0


def test_functional_accuracies_match_keras():
    y = RNG.integers(0, 2, (10, 1)).astype(np.float32)
    p = RNG.uniform(0, 1, (10, 1)).astype(np.float32)
    np.testing.assert_array_equal(metrics.binary_accuracy(y, p),
                                  keras.metrics.binary_accuracy(y, p).numpy())


# --- activations -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "elu", "selu", "softplus",
                                  "softsign", "linear", "exponential", "silu", "hard_sigmoid",
                                  "leaky_relu", "relu6", "gelu", "mish"])
def test_activations_and_gradients_match_keras(name):
    rng = np.random.default_rng(5)
    z = (rng.standard_normal((6, 4)) * 2).astype(np.float32)
    z[0, 0] = 0.3   # keep away from kinks
    zv = tf.Variable(z)
    dy = rng.standard_normal((6, 4)).astype(np.float32)
    with tf.GradientTape() as tape:
        y_ref = keras.activations.get(name)(zv)
        s = tf.reduce_sum(y_ref * dy)
    g_ref = tape.gradient(s, zv).numpy()
    act = activations.get(name)
    y = act(z)
    np.testing.assert_allclose(y, y_ref.numpy(), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(act.grad(dy, z, y), g_ref, rtol=1e-5, atol=1e-6)
