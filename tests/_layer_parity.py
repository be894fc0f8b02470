"""Helpers for layer tests: run a Keras 3 layer and the fastrnn layer on the same weights and
compare outputs, input gradients, weight gradients and masks."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras.src.backend import set_keras_mask  # noqa: E402


def assert_close(actual, expected, atol=1e-5, rtol=1e-5, what="value"):
    """|actual - expected| <= atol + rtol * |expected| everywhere, both finite (NaN only where
    the reference is NaN)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"{what}: NaN pattern differs"
    ok = ~np.isnan(expected)
    assert np.isfinite(actual[ok]).all(), f"{what}: non-finite values"
    err = np.abs(actual[ok] - expected[ok])
    tol = atol + rtol * np.abs(expected[ok])
    assert (err <= tol).all(), f"{what}: max error {err.max()} (tolerance {tol[err.argmax()]})"


def keras_run(layer, x, d_output, mask=None, training=False):
    """Keras forward + gradients of sum(y * d_output) w.r.t. x and the trainable weights.
    Returns (y, dx, [d weight], output mask or None); runs on the CPU."""
    with tf.device("/CPU:0"):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            if mask is not None:    # as a previous layer's mask reaches it in a Keras model
                set_keras_mask(xt, tf.constant(mask))
            y = layer(xt, training=training)
            loss = tf.reduce_sum(y * tf.constant(d_output, y.dtype))
        sources = [xt] + list(layer.trainable_weights)
        grads = tape.gradient(loss, sources)
    out_mask = getattr(y, "_keras_mask", None)
    grads = [None if g is None else np.asarray(tf.convert_to_tensor(g)) for g in grads]
    return (np.asarray(y), grads[0], grads[1:],
            None if out_mask is None else np.asarray(out_mask))


def run_both(ours, theirs, x, d_output=None, mask=None, training=False, seed=0):
    """Build both on x's shape, give ours Keras' weights, run both; returns the two results
    as dicts with y, dx, dw (trainable weights' gradients, Keras order) and mask."""
    x = np.asarray(x, np.float32)
    if not theirs.built:
        theirs.build(x.shape)
    ours.build(x.shape)
    ours.built = True
    ours.set_weights(theirs.get_weights())
    y = ours(x, mask=mask, training=training)
    if d_output is None:
        d_output = np.random.default_rng(seed).standard_normal(y.shape).astype(np.float32)
    out_mask = ours.compute_mask(x, mask)
    dx = ours.backward(d_output)
    trainable = {id(w) for w in ours.trainable_weights}
    dw = [g for w, g in zip(ours.weights, ours.grads) if id(w) in trainable]
    ky, kdx, kdw, kmask = keras_run(theirs, x, d_output, mask, training)
    return ({"y": y, "dx": dx, "dw": dw, "mask": out_mask},
            {"y": ky, "dx": kdx, "dw": kdw, "mask": kmask})


def assert_parity(ours, theirs, x, mask=None, training=False, atol=1e-5, rtol=1e-5,
                  check_mask=True):
    a, b = run_both(ours, theirs, x, mask=mask, training=training)
    assert_close(a["y"], b["y"], atol, rtol, "output")
    assert_close(a["dx"], b["dx"], atol, rtol, "input gradient")
    assert len(a["dw"]) == len(b["dw"])
    for i, (g, kg) in enumerate(zip(a["dw"], b["dw"])):
        assert_close(g, kg, atol, rtol, f"gradient of weight {i}")
    if check_mask:
        if b["mask"] is None:
            assert a["mask"] is None, "fastrnn passes a mask on, Keras does not"
        else:
            np.testing.assert_array_equal(a["mask"], b["mask"])
    return a, b


def _plain(value):
    """Keras' dtype policy dicts -> their name; tuples -> lists (JSON-like comparison)."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def assert_config_equal(ours, theirs, ignore=("name",)):
    """fastrnn's get_config equals Keras' (names aside; dtype policies as their names)."""
    a = {k: v for k, v in _plain(ours.get_config()).items() if k not in ignore}
    b = {k: v for k, v in _plain(theirs.get_config()).items() if k not in ignore}
    assert a == b, f"config differs:\n fastrnn {a}\n keras   {b}"


def random(shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)
