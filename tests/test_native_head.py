"""The native model head (Dense forward/backward, binary crossentropy, the BinaryAccuracy fast
path, the dense optimizer step's argument checks) against the NumPy paths and plain formulas.

The NumPy implementations are the oracle: each comparison runs the same inputs with the C++
kernels on and with them switched off (monkeypatching `_native_forward` / `_native_bce` to None),
and a spy makes sure the native path did run. The float64 kernels are also checked against
formulas written here and, for softmax, against finite differences.
"""
import zlib

import fastrnn
import numpy as np
import pytest
from fastrnn import _core, losses, metrics
from fastrnn.layers import core

ACTIVATIONS = ["linear", "relu", "sigmoid", "tanh", "softmax"]


def _close(a, b, atol=1e-6, rtol=1e-5, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert np.isfinite(a).all(), f"{what}: non-finite values"
    err = np.abs(a.astype(np.float64) - b.astype(np.float64))
    bad = err > atol + rtol * np.abs(b.astype(np.float64))
    assert not bad.any(), f"{what}: max diff {err.max():.3g} at {np.argwhere(bad)[0]}"


def _spy(monkeypatch, module, name):
    """Count the calls to module.name (still calling the real function)."""
    calls = []
    real = getattr(module, name)
    assert real is not None, f"{module.__name__}.{name} is not available"
    monkeypatch.setattr(module, name, lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


# -- Dense layer: native vs NumPy ------------------------------------------------------------
def _dense_run(activation, use_bias, units, x, weights, d_out, wrt_logits):
    layer = fastrnn.layers.Dense(units, activation=activation, use_bias=use_bias)
    layer.build(x.shape)
    layer.set_weights(weights)
    y = layer(x)
    logits = None if layer.logits is None else np.array(layer.logits)
    dx = layer.backward(d_out, wrt_logits=wrt_logits)
    return np.array(y), logits, np.array(dx), [np.array(g) for g in layer.grads]


def _dense_cases():
    for act in ACTIVATIONS:
        for wrt_logits in ([False, True] if act in ("sigmoid", "softmax") else [False]):
            yield act, wrt_logits


@pytest.mark.parametrize("activation,wrt_logits", list(_dense_cases()))
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("shape", [(6, 5), (4, 7, 5)])
@pytest.mark.parametrize("units", [3, 1])
def test_dense_layer_native_matches_numpy(activation, wrt_logits, use_bias, shape, units,
                                          monkeypatch):
    rng = np.random.default_rng(zlib.crc32(repr((activation, use_bias, shape, units)).encode()))
    x = rng.standard_normal(shape).astype(np.float32)
    weights = [rng.standard_normal((shape[-1], units)).astype(np.float32) * 0.7]
    if use_bias:
        weights.append(rng.standard_normal(units).astype(np.float32) * 0.5)
    d_out = rng.standard_normal(shape[:-1] + (units,)).astype(np.float32)
    args = (activation, use_bias, units, x, weights, d_out, wrt_logits)

    with monkeypatch.context() as m:
        fwd, bwd = _spy(m, core, "_native_forward"), _spy(m, core, "_native_backward")
        native = _dense_run(*args)
    assert (len(fwd), len(bwd)) == (1, 1)       # the C++ kernels did run
    with monkeypatch.context() as m:
        m.setattr(core, "_native_forward", None)
        ref = _dense_run(*args)

    (y, logits, dx, grads), (ry, rlogits, rdx, rgrads) = native, ref
    assert y.shape == shape[:-1] + (units,) and dx.shape == shape
    _close(y, ry, what="outputs")
    if activation in ("sigmoid", "softmax"):
        assert logits is not None and rlogits is not None
        _close(logits, rlogits, what="logits")
    else:
        assert logits is None and rlogits is None
    _close(dx, rdx, what="dx")
    assert len(grads) == len(rgrads) == (2 if use_bias else 1)
    for i, (g, rg) in enumerate(zip(grads, rgrads)):
        _close(g, rg, what=f"grads[{i}]")


def test_dense_layer_gelu_uses_numpy_path(monkeypatch):
    calls = _spy(monkeypatch, core, "_native_forward")
    layer = fastrnn.layers.Dense(3, activation="gelu")
    y = layer(np.ones((2, 4), np.float32))
    assert calls == [] and y.shape == (2, 3) and np.isfinite(y).all()


# -- the float64 kernels against formulas written here ---------------------------------------
def _act64(name, z):
    if name == "linear":
        return z
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _dz64(name, z, y, dy):
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (z > 0)
    if name == "sigmoid":
        return dy * y * (1.0 - y)
    if name == "tanh":
        return dy * (1.0 - y * y)
    return y * (dy - (dy * y).sum(axis=1, keepdims=True))


def _tight(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("wrt_logits", [False, True])
def test_dense_kernels_float64_match_formulas(activation, use_bias, wrt_logits):
    rng = np.random.default_rng(11)
    N, K, U = 9, 6, 4
    x = rng.standard_normal((N, K))
    W = rng.standard_normal((K, U))
    b = rng.standard_normal(U) if use_bias else None
    z_ref = x @ W + (b if use_bias else 0.0)
    y_ref = _act64(activation, z_ref)

    z, y = _core.dense_forward(x, W, b, activation)
    assert z.dtype == y.dtype == np.float64
    _tight(z, z_ref)
    _tight(y, y_ref)

    dy = rng.standard_normal((N, U))
    dz = dy if wrt_logits else _dz64(activation, z_ref, y_ref, dy)
    dW = np.full((K, U), np.nan)
    db = np.full(U, np.nan) if use_bias else None
    dx = _core.dense_backward(x, W, dy, y, activation, wrt_logits, dW, db)
    _tight(dW, x.T @ dz)
    if use_bias:
        _tight(db, dz.sum(axis=0))
    _tight(dx, dz @ W.T)

    dW2 = np.zeros((K, U))
    assert _core.dense_backward(x, W, dy, y, activation, wrt_logits, dW2, None,
                                need_dx=False) is None
    _tight(dW2, x.T @ dz)


def test_dense_linear_returns_logits_as_outputs():
    rng = np.random.default_rng(2)
    x, W = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    z, y = _core.dense_forward(x, W, None, "linear")
    _tight(y, x @ W)
    assert np.shares_memory(y, z)        # documented: y is the same array as z


def test_dense_softmax_backward_finite_differences():
    rng = np.random.default_rng(5)
    N, K, U = 4, 5, 6
    x = rng.standard_normal((N, K))
    W = rng.standard_normal((K, U))
    b = rng.standard_normal(U)
    r = rng.standard_normal((N, U))

    def loss(args):
        return float((_core.dense_forward(*args, "softmax")[1] * r).sum())

    _, y = _core.dense_forward(x, W, b, "softmax")
    dW, db = np.zeros((K, U)), np.zeros(U)
    dx = _core.dense_backward(x, W, r, y, "softmax", False, dW, db)
    h = 1e-6
    for j, (name, grad) in enumerate((("x", dx), ("kernel", dW), ("bias", db))):
        fd = np.zeros_like(grad)
        for i in np.ndindex(grad.shape):
            plus, minus = [x, W, b], [x, W, b]
            plus[j], minus[j] = plus[j].copy(), minus[j].copy()
            plus[j][i] += h
            minus[j][i] -= h
            fd[i] = (loss(plus) - loss(minus)) / (2 * h)
        assert np.abs(grad).max() > 1e-3
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8, err_msg=name)


# -- binary crossentropy: native vs NumPy ----------------------------------------------------
def _bce_both(monkeypatch, loss, y_true, y_pred, logits=None, mask=None, expect_native=True):
    with monkeypatch.context() as m:
        calls = _spy(m, losses, "_native_bce")
        native = loss.value_and_grad(y_true, y_pred, logits=logits, mask=mask)
    assert len(calls) == (1 if expect_native else 0)
    with monkeypatch.context() as m:
        m.setattr(losses, "_native_bce", None)
        ref = loss.value_and_grad(y_true, y_pred, logits=logits, mask=mask)
    (v, g, wl), (rv, rg, rwl) = native, ref
    assert wl == rwl
    assert isinstance(v, np.float32) and g.dtype == np.float32
    _close(v, rv, what="value")
    _close(g, rg, what="grad")
    return native


_EDGE = np.array([0.0, 1.0, 1e-8, 1 - 1e-8, 1e-7, 1 - 1e-7, 0.5, 0.2], np.float32)


def _bce_data(kind, rng, n=16):
    if kind == "probs_N":
        y = rng.integers(0, 2, n).astype(np.float32)
        p = rng.uniform(0, 1, (n, 1)).astype(np.float32)
        p[:len(_EDGE), 0] = _EDGE
        return y, p
    if kind == "probs_N1_int_labels":
        y = rng.integers(0, 2, (n, 1))
        p = rng.uniform(0, 1, (n, 1)).astype(np.float32)
        p[len(_EDGE):2 * len(_EDGE), 0] = _EDGE
        return y, p
    if kind == "probs_N3":
        y = rng.integers(0, 2, (n, 3)).astype(np.float32)
        p = rng.uniform(0, 1, (n, 3)).astype(np.float32)
        p.flat[:len(_EDGE)] = _EDGE
        p.flat[-len(_EDGE):] = _EDGE[::-1]
        return y, p
    if kind == "rank3":
        y = rng.integers(0, 2, (4, 5, 3)).astype(np.float32)
        p = rng.uniform(0, 1, (4, 5, 3)).astype(np.float32)
        p.flat[:len(_EDGE)] = _EDGE
        return y, p
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["probs_N", "probs_N1_int_labels", "probs_N3", "rank3"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_bce_probabilities_native_matches_numpy(kind, label_smoothing, monkeypatch):
    y, p = _bce_data(kind, np.random.default_rng(len(kind)))
    loss = losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    _, g, wl = _bce_both(monkeypatch, loss, y, p)
    assert not wl and g.shape == p.shape
    # outside the clip range [1e-7, 1 - 1e-7] the gradient is exactly 0
    outside = (p < np.float32(1e-7)) | (p > np.float32(1 - 1e-7))
    assert outside.sum() >= 3
    assert (g[outside] == 0).all()
    assert (g[~outside] != 0).all()


def _logit_data(shape, rng):
    z = (rng.standard_normal(shape) * 4).astype(np.float32)
    z.flat[:6] = [0.0, -0.0, 100.0, -100.0, 30.0, -30.0]
    return z


@pytest.mark.parametrize("label_shape,pred_shape", [((16,), (16, 1)), ((16, 1), (16, 1)),
                                                    ((16, 3), (16, 3))])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_bce_from_logits_native_matches_numpy(label_shape, pred_shape, label_smoothing,
                                              monkeypatch):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, label_shape).astype(np.float32)
    z = _logit_data(pred_shape, rng)
    probs = (1 / (1 + np.exp(-z.astype(np.float64)))).astype(np.float32)
    # a sigmoid output whose logits are passed (what the model does) ...
    loss = losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    v, g, wl = _bce_both(monkeypatch, loss, y, probs, logits=z)
    assert wl and g.shape == z.shape
    # ... and a from_logits loss on raw scores
    loss = losses.BinaryCrossentropy(from_logits=True, label_smoothing=label_smoothing)
    v2, g2, wl2 = _bce_both(monkeypatch, loss, y, z)
    assert not wl2
    _close(v2, v, what="from_logits value")
    _close(g2, g, what="from_logits grad")
    # against a float64 formula written here
    yt = y.reshape(pred_shape).astype(np.float64) * (1 - label_smoothing) + 0.5 * label_smoothing
    zz = z.astype(np.float64)
    elem = np.maximum(zz, 0) - zz * yt + np.log1p(np.exp(-np.abs(zz)))
    k = pred_shape[-1]
    _close(v, elem.mean(axis=-1).mean(), what="value vs formula")
    _close(g, (1 / (1 + np.exp(-zz)) - yt) / (k * pred_shape[0]), what="grad vs formula")


def test_bce_with_mask_falls_back_to_numpy(monkeypatch):
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, (12, 1)).astype(np.float32)
    p = rng.uniform(0.05, 0.95, (12, 1)).astype(np.float32)
    mask = rng.uniform(size=12) < 0.6
    loss = losses.BinaryCrossentropy()
    v, g, _ = _bce_both(monkeypatch, loss, y, p, mask=mask, expect_native=False)
    expected = losses.binary_crossentropy(y[mask], p[mask]).astype(np.float64).mean()
    _close(v, expected, what="masked value")
    assert (g[~mask] == 0).all() and (g[mask] != 0).all()


def test_bce_sum_reduction_does_not_use_native(monkeypatch):
    calls = _spy(monkeypatch, losses, "_native_bce")
    y = np.array([0, 1, 1], np.float32)
    p = np.array([[0.2], [0.7], [0.9]], np.float32)
    v, _, _ = losses.BinaryCrossentropy(reduction="sum").value_and_grad(y, p)
    assert calls == []
    _close(v, -(np.log(0.8) + np.log(0.7) + np.log(0.9)), what="sum value")


# -- BinaryAccuracy fast path vs the general path ---------------------------------------------
def _acc_batches(label_kind, threshold, rng):
    out = []
    for n in (5, 12, 1, 8):
        p = rng.uniform(0, 1, (n, 1)).astype(np.float32)
        p[: n // 3, 0] = np.float32(threshold)          # exactly at the threshold: not above
        labels = rng.integers(0, 2, n)
        y = {"float_N": labels.astype(np.float32),
             "float_N1": labels.reshape(n, 1).astype(np.float32),
             "int_N": labels.astype(np.int64),
             "int_N1": labels.reshape(n, 1).astype(np.int32),
             "float64_pred": labels.astype(np.float32)}[label_kind]
        if label_kind == "float64_pred":
            p = p.astype(np.float64)
        out.append((y, p))
    return out


@pytest.mark.parametrize("label_kind", ["float_N", "float_N1", "int_N", "int_N1",
                                        "float64_pred"])
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_binary_accuracy_fast_path_matches_general(label_kind, threshold):
    fast = metrics.BinaryAccuracy(threshold=threshold)
    general = metrics.BinaryAccuracy(threshold=threshold)
    fn_calls = []
    real_fn = fast._fn
    fast._fn = lambda *a, **k: fn_calls.append(1) or real_fn(*a, **k)
    hits = total = 0
    for y, p in _acc_batches(label_kind, threshold, np.random.default_rng(4)):
        fast.update_state(y, p)
        metrics.MeanMetricWrapper.update_state(general, y, p)
        assert (fast.total, fast.count) == (general.total, general.count)
        assert fast.result() == general.result()
        hits += int(((p.reshape(-1) > np.float32(threshold)) == (y.reshape(-1) == 1)).sum())
        total += len(p)
        assert fast.result() == pytest.approx(hits / total, rel=1e-6)
    assert fn_calls == []                       # the fast path did run
    assert 0 < fast.result() < 1


def test_binary_accuracy_general_cases_still_work():
    # masks and multi-column predictions take the general path
    m = metrics.BinaryAccuracy()
    m.update_state(np.array([1, 0, 1], np.float32), np.array([[0.9], [0.8], [0.1]], np.float32),
                   mask=np.array([True, True, False]))
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state(np.array([[1, 0], [1, 1]], np.float32),
                   np.array([[0.9, 0.8], [0.6, 0.7]], np.float32))
    assert m.result() == pytest.approx(0.75)


# -- the bindings' argument checks -----------------------------------------------------------
def _dense_args(dtype=np.float32):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((4, 5)).astype(dtype), rng.standard_normal((5, 3)).astype(dtype),
            rng.standard_normal(3).astype(dtype))


def test_dense_forward_rejects_bad_input():
    x, W, b = _dense_args()
    with pytest.raises(ValueError, match=r"kernel: expected shape \(5, -1\).*got \(4, 3\)"):
        _core.dense_forward(x, W[:4], b, "relu")
    with pytest.raises(TypeError, match="x: expected dtype float32 or float64, got int64"):
        _core.dense_forward(x.astype(np.int64), W, b, "relu")
    with pytest.raises(TypeError, match="kernel: expected dtype float32, got float64"):
        _core.dense_forward(x, W.astype(np.float64), b, "relu")
    with pytest.raises(TypeError, match="bias: expected dtype float32, got float64"):
        _core.dense_forward(x, W, b.astype(np.float64), "relu")
    with pytest.raises(ValueError, match=r"bias: expected shape \(3,\).*got \(4,\)"):
        _core.dense_forward(x, W, np.zeros(4, np.float32), "relu")
    with pytest.raises(ValueError, match="activation: expected one of .*got 'gelu'"):
        _core.dense_forward(x, W, b, "gelu")
    with pytest.raises(ValueError, match="x: expected a C-contiguous array"):
        _core.dense_forward(np.asfortranarray(x), W, b, "relu")
    with pytest.raises(ValueError, match="x: expected a C-contiguous array"):
        _core.dense_forward(np.zeros((4, 10), np.float32)[:, ::2], W, b, "relu")
    with pytest.raises(ValueError, match=r"x: expected shape \(-1, -1\).*got \(4, 5, 1\)"):
        _core.dense_forward(x[..., None], W, b, "relu")
    with pytest.raises(TypeError, match="x: expected a NumPy array"):
        _core.dense_forward(x.tolist(), W, b, "relu")
    # the interpreter survives and the next valid call works
    _, y = _core.dense_forward(x, W, b, "relu")
    _close(y, np.maximum(x @ W + b, 0))


def test_dense_backward_rejects_bad_input():
    x, W, b = _dense_args()
    _, y = _core.dense_forward(x, W, b, "tanh")
    dy = np.ones_like(y)
    dW, db = np.zeros((5, 3), np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"d_kernel: expected shape \(5, 3\).*got \(3, 5\)"):
        _core.dense_backward(x, W, dy, y, "tanh", False, np.zeros((3, 5), np.float32), db)
    ro = np.zeros((5, 3), np.float32)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="d_kernel: expected a writeable C-contiguous array"):
        _core.dense_backward(x, W, dy, y, "tanh", False, ro, db)
    assert (ro == 0).all()
    with pytest.raises(ValueError, match=r"d_bias: expected shape \(3,\)"):
        _core.dense_backward(x, W, dy, y, "tanh", False, dW, np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"d_outputs: expected shape \(4, 3\).*got \(4, 2\)"):
        _core.dense_backward(x, W, dy[:, :2].copy(), y, "tanh", False, dW, db)
    with pytest.raises(TypeError, match="outputs: expected dtype float32, got float64"):
        _core.dense_backward(x, W, dy, y.astype(np.float64), "tanh", False, dW, db)
    assert (dW == 0).all() and (db == 0).all()
    dx = _core.dense_backward(x, W, dy, y, "tanh", False, dW, db)
    assert dx.shape == x.shape and np.isfinite(dx).all() and (dW != 0).all()


def test_bce_binding_rejects_bad_input():
    y = np.array([[0.0], [1.0], [1.0], [0.0]], np.float32)
    p = np.full((4, 1), 0.3, np.float32)
    with pytest.raises(ValueError, match=r"y_true: expected the shape of y_pred \(4, 1\), got \(4,\)"):
        _core.binary_crossentropy(y[:, 0].copy(), p, False, 0.25)
    with pytest.raises(TypeError, match="y_true: expected dtype float32.*got float64"):
        _core.binary_crossentropy(y.astype(np.float64), p, False, 0.25)
    with pytest.raises(TypeError, match="y_true: expected a NumPy array"):
        _core.binary_crossentropy([[0.0]] * 4, p, False, 0.25)
    with pytest.raises(ValueError, match="y_pred: expected at least one dimension"):
        _core.binary_crossentropy(np.float32(1.0), np.array(0.5, np.float32), False, 1.0)
    value, grad = _core.binary_crossentropy(y, p, False, 0.25)
    _close(value, -(2 * np.log(0.7) + 2 * np.log(0.3)) / 4)
    _close(grad, (-(y / 0.3) + (1 - y) / 0.7) * 0.25)


def test_bce_binding_rejects_integer_y_pred_naming_it():
    y = np.zeros((4, 1), np.float32)
    with pytest.raises(TypeError, match="y_pred"):
        _core.binary_crossentropy(y, np.zeros((4, 1), np.int64), False, 1.0)


def _opt_args():
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((4, 3)).astype(np.float32),
               rng.standard_normal((2, 3)).astype(np.float32)]
    grads = [rng.standard_normal(w.shape).astype(np.float32) for w in weights]
    slots = [{"momentum": rng.standard_normal(w.shape).astype(np.float32),
              "velocity": rng.uniform(0.1, 1, w.shape).astype(np.float32)} for w in weights]
    return weights, grads, slots


def test_dense_optimizer_step_checks_everything_before_updating():
    weights, grads, slots = _opt_args()
    before_w = [w.copy() for w in weights]
    before_s = [{k: v.copy() for k, v in s.items()} for s in slots]
    bad = list(grads)
    bad[1] = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"grads\[1\]: gradient of shape \(3, 2\) for a weight of shape \(2, 3\)"):
        _core.dense_optimizer_step("adam", weights, bad, slots, lr=0.1)
    bad_slots = [slots[0], {"momentum": slots[1]["momentum"]}]
    with pytest.raises(ValueError, match="slots: missing 'velocity'"):
        _core.dense_optimizer_step("adam", weights, grads, bad_slots, lr=0.1)
    bad_slots = [slots[0], {**slots[1], "velocity": np.zeros((2, 4), np.float32)}]
    with pytest.raises(ValueError, match=r"slots\[1\]\['velocity'\]: expected shape \(2, 3\)"):
        _core.dense_optimizer_step("adam", weights, grads, bad_slots, lr=0.1)
    with pytest.raises(ValueError, match="grads, slots: expected one entry per weight"):
        _core.dense_optimizer_step("adam", weights, grads[:1], slots, lr=0.1)
    with pytest.raises(ValueError, match="grads, slots: expected one entry per weight"):
        _core.dense_optimizer_step("adam", weights, grads, slots[:1], lr=0.1)
    with pytest.raises(ValueError, match="optimizer: expected 'sgd', 'rmsprop' or 'adam', got 'adagrad'"):
        _core.dense_optimizer_step("adagrad", weights, grads, slots, lr=0.1)
    for w, bw in zip(weights, before_w):
        np.testing.assert_array_equal(w, bw)
    for s, bs in zip(slots, before_s):
        for k in bs:
            np.testing.assert_array_equal(s[k], bs[k])
    # the interpreter survives; a valid call then updates every weight
    _core.dense_optimizer_step("adam", weights, grads, slots, lr=0.1)
    for w, bw in zip(weights, before_w):
        assert np.isfinite(w).all() and (w != bw).all()


# -- end to end: a small model trains identically with the native head on and off -----------
def _train(steps, initial, batches):
    L = fastrnn.layers
    model = fastrnn.Sequential([L.Embedding(50, 8), L.SimpleRNN(6),
                                L.Dense(1, activation="sigmoid")])
    model.build((None, batches[0][0].shape[1]))
    model.set_weights(initial)
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    logs = [model.train_on_batch(x, y, return_dict=True) for x, y in batches[:steps]]
    return model.get_weights(), logs


def test_training_native_head_matches_numpy(monkeypatch):
    fastrnn.utils.set_random_seed(3)
    L = fastrnn.layers
    probe = fastrnn.Sequential([L.Embedding(50, 8), L.SimpleRNN(6),
                                L.Dense(1, activation="sigmoid")])
    probe.build((None, 9))
    initial = [w.copy() for w in probe.get_weights()]
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, 50, (16, 9)), rng.integers(0, 2, 16).astype(np.float32))
               for _ in range(5)]

    with monkeypatch.context() as m:
        fwd, bce = _spy(m, core, "_native_forward"), _spy(m, losses, "_native_bce")
        native_w, native_logs = _train(5, initial, batches)
    assert len(fwd) >= 5 and len(bce) == 5     # the native head did run
    with monkeypatch.context() as m:
        m.setattr(core, "_native_forward", None)
        m.setattr(losses, "_native_bce", None)
        ref_w, ref_logs = _train(5, initial, batches)

    for i, (w, rw) in enumerate(zip(native_w, ref_w)):
        _close(w, rw, atol=1e-5, rtol=1e-4, what=f"weight {i} {w.shape}")
    assert any((w != i).any() for w, i in zip(native_w, initial))   # training moved weights
    for a, b in zip(native_logs, ref_logs):
        assert sorted(a) == sorted(b) == ["accuracy", "loss"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)
        assert a["accuracy"] == b["accuracy"]


def _at_offset(a, offset):
    """A C-contiguous copy of `a` starting `offset` elements into a fresh buffer (so the
    same values lie at a different alignment)."""
    buf = np.empty(a.size + offset, a.dtype)
    view = buf[offset:offset + a.size].reshape(a.shape)
    view[...] = a
    return view


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense_kernels_do_not_depend_on_alignment_or_threads(activation):
    """Training reproducibility needs bitwise-equal results for equal inputs wherever the
    arrays lie and with any thread count (large enough to use both threads)."""
    rng = np.random.default_rng(7)
    N, K, U = 2500, 37, 9
    x = rng.standard_normal((N, K)).astype(np.float32)
    w = rng.standard_normal((K, U)).astype(np.float32)
    b = rng.standard_normal(U).astype(np.float32)
    dy = rng.standard_normal((N, U)).astype(np.float32)
    before = fastrnn.get_num_threads()
    results = []
    try:
        for threads, offset in [(1, 0), (2, 0), (2, 1), (2, 3), (1, 5)]:
            fastrnn.set_num_threads(threads)
            xs, ws, bs, dys = (_at_offset(a, offset) for a in (x, w, b, dy))
            z, y = _core.dense_forward(xs, ws, bs, activation)
            dk, db = np.empty_like(w), np.empty_like(b)
            dx = _core.dense_backward(xs, ws, dys, y, activation, False, dk, db)
            results.append((z.copy(), y.copy(), dk, db, dx))
    finally:
        fastrnn.set_num_threads(before)
    for other in results[1:]:
        for a, c in zip(results[0], other):
            assert np.isfinite(a).all()
            np.testing.assert_array_equal(a, c)
