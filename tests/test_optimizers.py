"""fastrnn optimizers vs keras.optimizers (TF backend) on identical weights and gradients."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import pytest
import tensorflow as tf
from _optimizer_configs import CONFIGS
from fastrnn import optimizers
from fastrnn.indexed_slices import IndexedSlices


def _weights_and_grads(seed):
    rng = np.random.default_rng(seed)
    shapes = [(7, 5), (5,), (3, 4, 2)]
    ws = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) * 0.5 for s in shapes]
             for _ in range(10)]
    return ws, grads


def _assert_close(ours, ref):
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=lambda v: str(v))
def test_dense_updates_match_keras(name, kwargs):
    ws, grads = _weights_and_grads(0)
    ours = [w.copy() for w in ws]
    kvars = [keras.Variable(w.copy()) for w in ws]
    opt = getattr(optimizers, name)(**kwargs)
    kopt = getattr(keras.optimizers, name)(**kwargs)
    for step, g in enumerate(grads):
        opt.apply(g, ours)
        kopt.apply_gradients(zip([tf.constant(x) for x in g], kvars))
        if step in (0, 9):
            for o, k in zip(ours, kvars):
                _assert_close(o, k.numpy())
    assert opt.iterations == 10


def _sparse_batches(rng, rows=12, dim=3, steps=10):
    out = []
    for _ in range(steps):
        idx = rng.integers(0, rows // 2, size=9)      # repeated rows, half the rows untouched
        vals = rng.standard_normal((9, dim)).astype(np.float32)
        out.append((idx, vals))
    return out


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=lambda v: str(v))
def test_sparse_embedding_updates_match_keras(name, kwargs):
    rng = np.random.default_rng(1)
    rows, dim = 12, 3
    w0 = rng.standard_normal((rows, dim)).astype(np.float32)
    ours = w0.copy()
    kvar = keras.Variable(w0.copy())
    opt = getattr(optimizers, name)(**kwargs)
    kopt = getattr(keras.optimizers, name)(**kwargs)
    for step, (idx, vals) in enumerate(_sparse_batches(rng, rows, dim)):
        opt.apply([IndexedSlices(idx, vals, (rows, dim))], [ours])
        kg = tf.IndexedSlices(tf.constant(vals), tf.constant(idx), tf.constant([rows, dim]))
        kopt.apply_gradients([(kg, kvar)])
        if step in (0, 9):
            np.testing.assert_allclose(ours, kvar.numpy(), rtol=1e-6, atol=1e-6)


def test_sparse_equals_dense_when_indices_unique():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((10, 4)).astype(np.float32)
    idx = np.array([1, 4, 7])
    vals = rng.standard_normal((3, 4)).astype(np.float32)
    dense = np.zeros_like(w)
    dense[idx] = vals
    for make in (lambda: optimizers.SGD(0.1), lambda: optimizers.RMSprop(),
                 lambda: optimizers.Adam(), lambda: optimizers.SGD(0.1, momentum=0.9)):
        a, b = w.copy(), w.copy()
        oa, ob = make(), make()
        for _ in range(3):
            oa.apply([IndexedSlices(idx, vals, w.shape)], [a])
            ob.apply([dense], [b])
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_sgd_without_momentum_touches_only_rows():
    w = np.ones((6, 2), np.float32)
    optimizers.SGD(1.0).apply([IndexedSlices(np.array([2, 2]), np.ones((2, 2), np.float32),
                                             w.shape)], [w])
    assert np.array_equal(w[2], [-1, -1])
    assert np.all(np.delete(w, 2, axis=0) == 1)


def test_get_and_config_roundtrip():
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("Adam"), optimizers.Adam)
    opt = optimizers.get("sgd")
    assert opt.learning_rate == pytest.approx(0.01)
    cfg = optimizers.serialize(optimizers.RMSprop(0.01, rho=0.8, centered=True))
    back = optimizers.deserialize(cfg)
    assert back.rho == 0.8 and back.centered and back.learning_rate == pytest.approx(0.01)
    with pytest.raises(ValueError):
        optimizers.get("adagradx")
    with pytest.raises(ValueError):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)


def test_rejects_non_float32_weights():
    with pytest.raises(TypeError):
        optimizers.SGD().apply([np.ones(3)], [np.ones(3)])


def test_learning_rate_is_settable():
    opt = optimizers.Adam()
    opt.learning_rate = 0.5
    w = np.zeros(3, np.float32)
    opt.apply([np.ones(3, np.float32)], [w])
    np.testing.assert_allclose(w, -0.5, rtol=1e-5)


def test_state_roundtrip_continues_identically():
    ws, grads = _weights_and_grads(3)
    a = [w.copy() for w in ws]
    oa = optimizers.Adam(0.01)
    for g in grads[:5]:
        oa.apply(g, a)
    b = [w.copy() for w in a]
    ob = optimizers.Adam(0.01)
    ob.set_state(b, [s.copy() for s in oa.get_state()])
    for g in grads[5:]:
        oa.apply(g, a)
        ob.apply(g, b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_native_and_numpy_segment_sums_agree():
    from optimizer_oracle import segment_sum
    rng = np.random.default_rng(4)
    idx = np.minimum(rng.zipf(1.3, 5000), 299).astype(np.int32)
    vals = rng.standard_normal((5000, 6)).astype(np.float32)
    native = segment_sum(idx, vals, 300, squares=True, native=True)
    numpy_path = segment_sum(idx, vals, 300, squares=True)
    np.testing.assert_array_equal(native[0], numpy_path[0])
    np.testing.assert_allclose(native[1], numpy_path[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(native[2], numpy_path[2], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(numpy_path[0], np.unique(idx))
