"""keras2_hard_sigmoid = clip(0.2 x + 0.5, 0, 1) (Keras 2's hard_sigmoid; Keras 3's
"hard_sigmoid" stays clip(x/6 + 1/2, 0, 1)) in every place an activation is computed: the
recurrent kernels (every cell, as activation and as recurrent_activation), Dense's native
path and the NumPy activations. Oracles: the formula, tests/reference.py and finite
differences. No TensorFlow.
"""
import numpy as np
import pytest
import reference as ref
from fastrnn import _core, activations, ops
from fastrnn.layers import GRU, LSTM, SimpleRNN
from test_kernels_reference import F32_FWD, F32_GRAD, F64_REL, FD_REL, Problem, assert_rel

NAME = "keras2_hard_sigmoid"
CELLS = [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)]
CELL_IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]
# pre-activations on both sides of the kinks at -2.5 and 2.5, none near them
GRID = np.array([-40.0, -3.0, -2.6, -2.4, -1.0, -0.1, 0.0, 0.3, 1.7, 2.4, 2.6, 7.0])


def formula(z):
    return np.clip(0.2 * z + 0.5, 0.0, 1.0)


def test_numpy_activation():
    act = activations.get(NAME)
    assert act.name == NAME and activations.serialize(act) == NAME
    z = GRID.astype(np.float32)
    y = act(z)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, formula(GRID), rtol=1e-6, atol=1e-7)
    keras3 = activations.get("hard_sigmoid")(z)          # unchanged: clip(z/6 + 1/2, 0, 1)
    np.testing.assert_allclose(keras3, np.clip(GRID / 6 + 0.5, 0, 1), rtol=1e-6, atol=1e-7)
    dy = np.linspace(-1, 1, GRID.size).astype(np.float32)
    dz = act.grad(dy, z, y)
    eps = 1e-3
    numeric = (formula(GRID + eps) - formula(GRID - eps)) / (2 * eps)
    np.testing.assert_allclose(dz, dy * numeric, rtol=1e-5, atol=1e-6)
    assert np.all(dz[(GRID < -2.5) | (GRID > 2.5)] == 0)


def test_reference_oracle():
    f, df = ref.activation_fn(NAME), ref.activation_grad(NAME)
    np.testing.assert_array_equal(f(GRID), formula(GRID))
    np.testing.assert_array_equal(df(GRID), np.where(np.abs(GRID) < 2.5, 0.2, 0.0))


@pytest.mark.parametrize("which", ["activation", "recurrent_activation", "both"])
@pytest.mark.parametrize("cell,reset_after", CELLS, ids=CELL_IDS)
def test_kernels_match_reference(cell, reset_after, which):
    acts = {"activation": "tanh", "recurrent_activation": "sigmoid"}
    for key in (("activation", "recurrent_activation") if which == "both" else (which,)):
        acts[key] = NAME
    p = Problem(cell, reset_after=reset_after, B=4, T=6, D=3, H=4, seed=21, mask="random",
                dropout="both_per_gate", weight_scale=1.5, **acts)
    res, grads = p.run_ops(np.float64)
    out, states, rgrads = p.run_reference()
    assert_rel("outputs", res.outputs, out, F64_REL)
    for s, r in zip(res.states, states, strict=True):
        assert_rel("state", s, r, F64_REL)
    for key in ("x", "kernel", "recurrent_kernel", "bias"):
        assert_rel(f"d_{key}", grads[key], rgrads[key], F64_REL)
    p32 = Problem(cell, reset_after=reset_after, B=4, T=6, D=3, H=4, seed=21, mask="random",
                  weight_scale=0.5, **acts).round_to(np.float32)
    res32, grads32 = p32.run_ops(np.float32)
    out, _, rgrads = p32.run_reference()
    np.testing.assert_allclose(res32.outputs, out, **F32_FWD)
    np.testing.assert_allclose(grads32["kernel"], rgrads["kernel"], **F32_GRAD)


@pytest.mark.parametrize("cell,reset_after", CELLS, ids=CELL_IDS)
def test_kernels_finite_differences(cell, reset_after):
    p = Problem(cell, reset_after=reset_after, B=2, T=4, D=2, H=3, seed=33, mask="right",
                activation=NAME, recurrent_activation=NAME, upstream="seq_last")
    a = p.arrays(np.float64)
    d_out, d_last, d_states = p.upstream(np.float64)

    def loss():
        res = ops.rnn_forward(cell, a["x"], a["kernel"], a["recurrent_kernel"], a["bias"],
                              a["initial_state"], a["mask"], training=False, **p.opts)
        total = (res.outputs * d_out).sum() + (res.outputs[:, -1] * d_last).sum()
        return total + sum((s * d).sum() for s, d in zip(res.states, d_states))

    res = ops.rnn_forward(cell, a["x"], a["kernel"], a["recurrent_kernel"], a["bias"],
                          a["initial_state"], a["mask"], **p.opts)
    grads = ops.rnn_backward(res.cache, d_out, d_states, d_last=d_last)
    for name in ("x", "kernel", "recurrent_kernel", "bias"):
        numeric = ref.numeric_grad(loss, a[name])
        assert np.all(np.isfinite(grads[name]))
        err = np.abs(grads[name] - numeric).max() / max(np.abs(numeric).max(), 1.0)
        assert err < FD_REL, f"{name}: finite-difference relative error {err:.3g}"


def test_dense_native_path():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5)).astype(np.float32) * 4
    w = rng.normal(size=(5, 3)).astype(np.float32)
    b = rng.normal(size=3).astype(np.float32)
    z, y = _core.dense_forward(x, w, b, NAME)
    zz = x.astype(np.float64) @ w + b
    np.testing.assert_allclose(z, zz, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y, formula(z.astype(np.float64)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y, activations.get(NAME)(z), rtol=1e-6, atol=1e-7)
    dy = rng.normal(size=y.shape).astype(np.float32)
    dk, db = np.empty_like(w), np.empty_like(b)
    dx = _core.dense_backward(x, w, dy, y, NAME, False, dk, db)
    dz = activations.get(NAME).grad(dy, z, y)
    assert np.any(dz == 0) and np.any(dz != 0)          # both sides of the kinks are used
    np.testing.assert_allclose(dk, x.T @ dz, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, dz.sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx, dz @ w.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_layers(cls):
    kw = {} if cls is SimpleRNN else {"recurrent_activation": NAME}
    layer = cls(3, activation=NAME, return_sequences=True, **kw)
    x = np.random.default_rng(2).normal(size=(2, 5, 4)).astype(np.float32)
    y = layer(x)
    cfg = layer.get_config()
    assert cfg["activation"] == NAME and cfg.get("recurrent_activation", NAME) == NAME
    w = [v.astype(np.float64) for v in layer.get_weights()]
    out, _, _ = ref.rnn_forward(layer.cell, x.astype(np.float64), w[0], w[1], w[2],
                                activation=NAME,
                                recurrent_activation=kw.get("recurrent_activation", "sigmoid"))
    np.testing.assert_allclose(y, out, **F32_FWD)
