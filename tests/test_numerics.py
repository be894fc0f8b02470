"""Numerics: TerminateOnNaN under divergence, very long sequences, large hidden sizes.

  * TerminateOnNaN stops at the first non-finite loss with a clear message and leaves the
    model with the most recent all-finite weights (the diverged update is never kept);
  * T=5000 sequences stay finite and match the float64 NumPy oracle to 1e-8 (relative to the
    largest reference magnitude) in float64, forward and backward;
  * H=512 float32 matches the float64 oracle within |ours - ref| <= 1e-4 + 1e-4 * |ref|.
"""
import numpy as np
import pytest
import reference as ref

import fastrnn
from fastrnn import ops
from fastrnn.callbacks import Callback, TerminateOnNaN
from fastrnn.layers import GRU, LSTM, SimpleRNN
from fastrnn.layers.core import Dense
from fastrnn.optimizers import SGD

GATES = ref.GATES


def rel_error(ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    scale = np.abs(theirs).max()
    return np.abs(ours - theirs).max() / (scale if scale > 0 else 1.0)


def assert_f32_close(name, ours, theirs):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, name
    assert np.isfinite(ours).all(), f"{name}: not finite"
    diff = np.abs(ours - theirs)
    bound = 1e-4 + 1e-4 * np.abs(theirs)
    assert np.all(diff <= bound), f"{name}: max excess {np.max(diff - bound):.3g}"


# ---------------------------------------------------------------------------------------------
# TerminateOnNaN

class Recorder(Callback):
    """Loss and a copy of the weights after every batch (runs before TerminateOnNaN)."""

    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append((logs["loss"], self.model.get_weights()))


def diverging_model(cell, lr):
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([fastrnn.Input((6, 3)), cell(8), Dense(1)])
    m.compile(SGD(learning_rate=lr), "mse")
    return m


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_terminate_on_nan_with_a_huge_learning_rate(cell, capsys):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 3)).astype(np.float32)
    y = (rng.standard_normal((64, 1)) * 1e3).astype(np.float32)
    m = diverging_model(cell, 1e6)
    start = m.get_weights()
    rec = Recorder()
    hist = m.fit(x, y, batch_size=8, epochs=50, verbose=0, callbacks=[rec, TerminateOnNaN()])
    losses = [loss for loss, _ in rec.steps]
    bad = [i for i, loss in enumerate(losses) if not np.isfinite(loss)]
    assert bad, f"training did not diverge: {losses[-5:]}"
    assert bad[0] == len(losses) - 1, "training went on after the first non-finite loss"
    assert len(hist.history["loss"]) <= 50
    out = capsys.readouterr().out
    assert f"Batch {len(losses) - 1 - (len(hist.history['loss']) - 1) * 8}: Invalid loss" in out
    weights = m.get_weights()
    assert all(np.isfinite(w).all() for w in weights), "non-finite weights kept"
    finite = [start] + [w for _, w in rec.steps if all(np.isfinite(a).all() for a in w)]
    for a, b in zip(weights, finite[-1]):
        np.testing.assert_array_equal(a, b)
    # the model is still usable
    assert np.isfinite(m.predict(x)).all()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_terminate_on_nan_raise_error():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((32, 6, 3)).astype(np.float32)
    y = (rng.standard_normal((32, 1)) * 1e3).astype(np.float32)
    m = diverging_model(LSTM, 1e6)
    with pytest.raises(RuntimeError, match=r"NaN or Inf loss encountered at batch \d+"):
        m.fit(x, y, batch_size=8, epochs=50, verbose=0,
              callbacks=[TerminateOnNaN(raise_error=True)])
    assert all(np.isfinite(w).all() for w in m.get_weights())


def test_finite_training_is_not_affected_by_terminate_on_nan():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 6, 3)).astype(np.float32)
    y = rng.standard_normal((32, 1)).astype(np.float32)
    runs = []
    for cbs in ([], [TerminateOnNaN()]):
        m = diverging_model(GRU, 0.01)
        fastrnn.utils.set_random_seed(0)
        h = m.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=cbs)
        runs.append((m.get_weights(), h.history["loss"]))
    assert runs[0][1] == runs[1][1]
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# long sequences

def _problem(cell, B, T, D, H, dtype, seed, reset_after=True, weight_scale=0.5):
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    x = rng.standard_normal((B, T, D)).astype(dtype)
    k = (rng.standard_normal((D, G * H)) * weight_scale / np.sqrt(D)).astype(dtype)
    rk = (rng.standard_normal((H, G * H)) * weight_scale / np.sqrt(H)).astype(dtype)
    bshape = (2, G * H) if cell == "gru" and reset_after else (G * H,)
    b = (rng.standard_normal(bshape) * 0.2).astype(dtype)
    mask = rng.random((B, T)) < 0.9
    dy = rng.standard_normal((B, T, H)).astype(dtype)
    return x, k, rk, b, mask, dy


@pytest.mark.parametrize("cell, reset_after", [("simple_rnn", True), ("lstm", True),
                                               ("gru", True), ("gru", False)])
def test_long_sequence_float64_matches_reference(cell, reset_after):
    B, T, D, H = 2, 5000, 3, 4
    x, k, rk, b, mask, dy = _problem(cell, B, T, D, H, np.float64, 11, reset_after)
    kw = dict(reset_after=reset_after)
    res = ops.rnn_forward(cell, x, k, rk, b, None, mask, **kw)
    g = ops.rnn_backward(res.cache, d_outputs=dy)
    r_out, r_states, cache = ref.rnn_forward(cell, x, k, rk, b, None, mask, **kw)
    rg = ref.rnn_backward(cache, dy)
    assert np.isfinite(res.outputs).all()
    for name, ours, theirs in [("outputs", res.outputs, r_out),
                               ("h_n", res.states[0], r_states[0]),
                               ("d_x", g["x"], rg["x"]),
                               ("d_kernel", g["kernel"], rg["kernel"]),
                               ("d_recurrent_kernel", g["recurrent_kernel"],
                                rg["recurrent_kernel"]),
                               ("d_bias", g["bias"], rg["bias"].reshape(b.shape))]:
        assert np.isfinite(ours).all(), name
        err = rel_error(ours, theirs)
        assert err < 1e-8, f"{name}: relative error {err:.3g}"


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_long_sequence_float32_matches_reference(cell):
    B, T, D, H = 2, 5000, 3, 4
    x, k, rk, b, mask, dy = _problem(cell, B, T, D, H, np.float32, 15)
    res = ops.rnn_forward(cell, x, k, rk, b, None, mask)
    g = ops.rnn_backward(res.cache, d_outputs=dy)
    f64 = [a.astype(np.float64) for a in (x, k, rk, b)]
    r_out, r_states, cache = ref.rnn_forward(cell, *f64, None, mask)
    rg = ref.rnn_backward(cache, dy.astype(np.float64))
    assert_f32_close("outputs", res.outputs, r_out)
    assert_f32_close("h_n", res.states[0], r_states[0])
    assert_f32_close("d_x", g["x"], rg["x"])
    assert_f32_close("d_kernel", g["kernel"], rg["kernel"])
    assert_f32_close("d_recurrent_kernel", g["recurrent_kernel"], rg["recurrent_kernel"])
    assert_f32_close("d_bias", g["bias"], rg["bias"].reshape(b.shape))


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_long_saturating_sequence_float32_stays_finite(cell):
    """T=20000 in float32 with large inputs and expanding weights: the tanh-bounded outputs
    stay in [-1, 1] and every gradient stays finite (no overflow in the recurrences)."""
    B, T, D, H = 2, 20000, 3, 8
    x, k, rk, b, mask, dy = _problem(cell, B, T, D, H, np.float32, 12, weight_scale=1.5)
    x *= 10
    res = ops.rnn_forward(cell, x, k, rk, b, None, mask)
    g = ops.rnn_backward(res.cache, d_outputs=dy)
    assert np.isfinite(res.outputs).all() and np.abs(res.outputs).max() <= 1.0
    for name, arr in [("d_x", g["x"]), ("d_kernel", g["kernel"]),
                      ("d_recurrent_kernel", g["recurrent_kernel"]), ("d_bias", g["bias"])]:
        assert np.isfinite(arr).all(), name


# ---------------------------------------------------------------------------------------------
# large hidden size

@pytest.mark.parametrize("cell, reset_after", [("simple_rnn", True), ("lstm", True),
                                               ("gru", True), ("gru", False)])
def test_large_hidden_float32_matches_float64_reference(cell, reset_after):
    B, T, D, H = 2, 3, 8, 512
    x, k, rk, b, mask, dy = _problem(cell, B, T, D, H, np.float32, 13, reset_after, 1.0)
    h0 = [np.random.default_rng(14).standard_normal((B, H)).astype(np.float32) * 0.5
          for _ in range(2 if cell == "lstm" else 1)]
    kw = dict(reset_after=reset_after)
    res = ops.rnn_forward(cell, x, k, rk, b, h0, mask, **kw)
    g = ops.rnn_backward(res.cache, d_outputs=dy)
    f64 = [a.astype(np.float64) for a in (x, k, rk, b)]
    r_out, r_states, cache = ref.rnn_forward(cell, *f64, [s.astype(np.float64) for s in h0],
                                             mask, **kw)
    rg = ref.rnn_backward(cache, dy.astype(np.float64))
    assert_f32_close("outputs", res.outputs, r_out)
    for i, (s, r) in enumerate(zip(res.states, r_states)):
        assert_f32_close(f"states[{i}]", s, r)
    assert_f32_close("d_x", g["x"], rg["x"])
    assert_f32_close("d_kernel", g["kernel"], rg["kernel"])
    assert_f32_close("d_recurrent_kernel", g["recurrent_kernel"], rg["recurrent_kernel"])
    assert_f32_close("d_bias", g["bias"], rg["bias"].reshape(b.shape))
    for i, (s, r) in enumerate(zip(g["initial_state"], rg["initial_state"])):
        assert_f32_close(f"d_initial_state[{i}]", s, r)


def test_large_hidden_layer_in_a_model_trains_finitely():
    fastrnn.utils.set_random_seed(0)
    # (glorot: the default orthogonal init of a 512x2048 matrix is a slow LAPACK QR)
    m = fastrnn.Sequential([fastrnn.Input((4, 8)),
                            LSTM(512, recurrent_initializer="glorot_uniform"), Dense(1)])
    m.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 4, 8)).astype(np.float32)
    y = rng.standard_normal((16, 1)).astype(np.float32)
    h = m.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(h.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in m.get_weights())
