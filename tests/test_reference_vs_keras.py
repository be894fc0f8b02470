"""The NumPy reference (tests/reference.py) against real Keras 3 on the TF backend.

Reference runs in float64, Keras in float32 with identical weights; gradients come from
tf.GradientTape with random upstream gradients on the output and on every returned state.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras_oracle import keras_bidirectional, keras_rnn, make_layer  # noqa: E402
from reference import (  # noqa: E402
    GATES,
    activation_fn,
    bidirectional_backward,
    bidirectional_forward,
    numeric_grad,
    rnn_backward,
    rnn_forward,
)

FWD_TOL = dict(atol=1e-5, rtol=1e-5)
GRAD_TOL = dict(atol=1e-4, rtol=1e-4)
B, T, D, H = 4, 6, 3, 4

# (cell, extra options); GRU is tested with both reset_after variants.
CELLS = [("simple_rnn", {}), ("lstm", {}), ("gru", {"reset_after": True}),
         ("gru", {"reset_after": False})]
CELL_IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]


def n_states(cell):
    return 2 if cell == "lstm" else 1


def make_weights(rng, cell, use_bias=True, reset_after=True):
    G = GATES[cell]
    kernel = rng.uniform(-0.6, 0.6, (D, G * H))
    recurrent_kernel = rng.uniform(-0.6, 0.6, (H, G * H))
    bias = None
    if use_bias:
        shape = (2, G * H) if cell == "gru" and reset_after else (G * H,)
        bias = rng.uniform(-0.5, 0.5, shape)
    return kernel, recurrent_kernel, bias


def make_mask(rng, kind):
    """Boolean [B, T] mask: right-/left-padded, or random with one fully masked row."""
    if kind is None:
        return None
    lengths = np.array([T, 4, 2, 1])
    steps = np.arange(T)[None]
    if kind == "right":
        return steps < lengths[:, None]
    if kind == "left":
        return steps >= T - lengths[:, None]
    mask = rng.random((B, T)) < 0.6
    mask[0, -1] = False  # last step masked in some row
    mask[1, 0] = True
    mask[2] = False  # fully masked row
    return mask


def dropout_mask(rng, shape, rate=0.3):
    return (rng.random(shape) >= rate) / (1.0 - rate)


def assert_close(actual, ref, tol):
    assert np.all(np.isfinite(actual)) and np.all(np.isfinite(ref))
    np.testing.assert_allclose(actual, ref, **tol)


def assert_grads_close(keras_g, ref_g, has_initial_state):
    for key in ("x", "kernel", "recurrent_kernel"):
        if key in ref_g:
            assert_close(keras_g[key], ref_g[key], GRAD_TOL)
    if ref_g["bias"] is None:
        assert keras_g["bias"] is None
    else:
        assert_close(keras_g["bias"], ref_g["bias"], GRAD_TOL)
    if has_initial_state:
        for k, r in zip(keras_g["initial_state"], ref_g["initial_state"], strict=True):
            assert_close(k, r, GRAD_TOL)


def make_case(cell, seed, *, use_bias=True, reset_after=True, init=False, mask=None):
    """Random (x, kernel, recurrent_kernel, bias, initial_state, mask) and the rng."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D))
    weights = make_weights(rng, cell, use_bias, reset_after)
    initial_state = [rng.normal(size=(B, H)) for _ in range(n_states(cell))] if init else None
    return (x, *weights, initial_state, make_mask(rng, mask)), rng


def check_rnn_against_keras(cell, seed=0, *, use_bias=True, init=False, mask=None,
                            return_sequences=True, **opts):
    """Compare reference and Keras (outputs, states, all grads) on one random case.
    Returns the case arrays and the reference outputs."""
    case, rng = make_case(cell, seed, use_bias=use_bias, init=init, mask=mask,
                          reset_after=opts.get("reset_after", True))
    out, states, cache = rnn_forward(cell, *case, **opts)
    d_seq = rng.normal(size=out.shape)
    d_states = [rng.normal(size=(B, H)) for _ in states]
    if not return_sequences:
        d_seq[:, :-1] = 0.0
    ref_g = rnn_backward(cache, d_seq, d_states)
    ref_out = out if return_sequences else out[:, -1]

    k = keras_rnn(cell, *case, return_sequences=return_sequences,
                  d_output=d_seq if return_sequences else d_seq[:, -1], d_states=d_states,
                  **opts)
    assert_close(k["output"], ref_out, FWD_TOL)
    for ks, rs in zip(k["states"], states, strict=True):
        assert_close(ks, rs, FWD_TOL)
    assert_grads_close(k["grads"], ref_g, init)
    return case, out


SCENARIOS = {
    "sequences": dict(),
    "last_output_initial_state": dict(return_sequences=False, init=True),
    "no_bias_go_backwards": dict(use_bias=False, go_backwards=True, init=True),
    "mask_right_padded": dict(mask="right", init=True),
    "mask_left_padded_backwards_last": dict(mask="left", go_backwards=True,
                                            return_sequences=False),
    "mask_random": dict(mask="random", init=True),
    "mask_random_last": dict(mask="random", init=True, return_sequences=False),
    "mask_random_zero_output": dict(mask="random", init=True, zero_output_for_mask=True),
    "mask_random_backwards_zero_output_last": dict(mask="random", go_backwards=True,
                                                   zero_output_for_mask=True,
                                                   return_sequences=False),
    "relu_hard_sigmoid": dict(activation="relu", recurrent_activation="hard_sigmoid",
                              mask="random"),
    "linear_tanh": dict(activation="linear", recurrent_activation="tanh", init=True),
    "sigmoid_linear": dict(activation="sigmoid", recurrent_activation="linear",
                           go_backwards=True),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("cell,cell_opts", CELLS, ids=CELL_IDS)
def test_rnn_matches_keras(cell, cell_opts, scenario):
    check_rnn_against_keras(cell, seed=len(scenario), **cell_opts, **SCENARIOS[scenario])


DROPOUT_KINDS = ["shared_input", "per_gate", "shared_both_masked_backwards"]


def dropout_masks(rng, cell, kind):
    G = GATES[cell]
    if kind == "shared_input":
        return dropout_mask(rng, (B, D)), None
    if kind == "per_gate":
        return dropout_mask(rng, (G, B, D)), dropout_mask(rng, (G, B, H))
    return dropout_mask(rng, (B, D)), dropout_mask(rng, (B, H))


@pytest.mark.parametrize("kind", DROPOUT_KINDS)
@pytest.mark.parametrize("cell,cell_opts", CELLS, ids=CELL_IDS)
def test_dropout_masks_match_keras(cell, cell_opts, kind):
    dm, rm = dropout_masks(np.random.default_rng(7), cell, kind)
    extra = dict(mask="random", go_backwards=True) if kind.endswith("backwards") else {}
    case, out = check_rnn_against_keras(cell, seed=3, init=True, dropout_mask=dm,
                                        recurrent_dropout_mask=rm, **cell_opts, **extra)
    # Keras matched the masked reference, and the masks do change the result, so Keras
    # used exactly the injected masks (not random ones, not none).
    opts = dict(cell_opts, go_backwards=extra.get("go_backwards", False))
    assert not np.allclose(rnn_forward(cell, *case, **opts)[0], out, atol=1e-3)


def test_keras_masked_step_semantics():
    """Pin down Keras' masking rules directly (independent of the reference)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, D))
    weights = make_weights(rng, "gru")
    init = [rng.normal(size=(2, H))]
    mask = np.array([[0, 0, 1, 0, 1], [0, 0, 0, 0, 0]], bool)
    seq = keras_rnn("gru", x, *weights, init, mask)
    out = seq["output"]
    # Before any valid step the output is zero, not the initial state.
    np.testing.assert_array_equal(out[0, :2], 0.0)
    # A masked step repeats the previous output; states carry through.
    np.testing.assert_array_equal(out[0, 3], out[0, 2])
    # A fully masked row: zero outputs, final state == initial state.
    np.testing.assert_array_equal(out[1], 0.0)
    np.testing.assert_allclose(seq["states"][0][1], init[0][1], rtol=1e-6)
    # return_sequences=False returns the last processed step's output.
    last = keras_rnn("gru", x, *weights, init, mask, return_sequences=False)["output"]
    np.testing.assert_array_equal(last, out[:, -1])
    # With zero_output_for_mask, masked steps (also the last one) output zero.
    zmask = mask.copy()
    zmask[0, -1] = False
    zero = keras_rnn("gru", x, *weights, init, zmask, zero_output_for_mask=True)["output"]
    np.testing.assert_array_equal(zero[0, [0, 1, 3, 4]], 0.0)
    zlast = keras_rnn("gru", x, *weights, init, zmask, zero_output_for_mask=True,
                      return_sequences=False)["output"]
    np.testing.assert_array_equal(zlast[0], 0.0)


def test_activations_match_keras():
    a = np.concatenate([np.linspace(-5, 5, 101), [-3.0, 3.0, 0.0]])
    for name in ("tanh", "relu", "sigmoid", "hard_sigmoid", "linear"):
        keras_fn = keras.activations.get(name)
        expected = np.asarray(keras_fn(tf.constant(a, tf.float64)))
        np.testing.assert_allclose(activation_fn(name)(a), expected, rtol=1e-12, atol=1e-15)
    # Keras 3 hard_sigmoid is relu6(x + 3) / 6 (Keras 2 used clip(0.2 x + 0.5, 0, 1)).
    np.testing.assert_allclose(activation_fn("hard_sigmoid")(np.array([1.0])), [4.0 / 6.0])


MERGE_MODES = ["concat", "sum", "mul", "ave", None]


def check_bidirectional_against_keras(cell, cell_opts, merge_mode, return_sequences, *,
                                      init=True, mask="random", seed=0, **mask_opts):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, D))
    fw = make_weights(rng, cell, reset_after=cell_opts.get("reset_after", True))
    bw = make_weights(rng, cell, reset_after=cell_opts.get("reset_after", True))
    init_state = ([rng.normal(size=(B, H)) for _ in range(2 * n_states(cell))]
                  if init else None)
    mask = make_mask(rng, mask)
    result, cache = bidirectional_forward(cell, x, fw, bw, init_state, mask,
                                          merge_mode=merge_mode,
                                          return_sequences=return_sequences,
                                          return_state=True, **cell_opts, **mask_opts)
    n_out = 2 if merge_mode is None else 1
    outputs, states = result[:n_out], result[n_out:]
    d_out = [rng.normal(size=o.shape) for o in outputs]
    d_states = [rng.normal(size=s.shape) for s in states]
    d_output = tuple(d_out) if merge_mode is None else d_out[0]
    ref_g = bidirectional_backward(cache, d_output, d_states)

    k = keras_bidirectional(cell, x, fw, bw, init_state, mask, merge_mode=merge_mode,
                            return_sequences=return_sequences, d_output=d_output,
                            d_states=d_states, **cell_opts, **mask_opts)
    k_outputs = k["output"] if merge_mode is None else [k["output"]]
    for ko, ro in zip(k_outputs, outputs, strict=True):
        assert_close(ko, ro, FWD_TOL)
    for ks, rs in zip(k["states"], states, strict=True):
        assert_close(ks, rs, FWD_TOL)
    assert_close(k["grads"]["x"], ref_g["x"], GRAD_TOL)
    for direction in ("forward", "backward"):
        assert_grads_close(k["grads"][direction], ref_g[direction], init)


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES, ids=str)
def test_bidirectional_matches_keras(merge_mode, return_sequences):
    i = MERGE_MODES.index(merge_mode) + (2 if return_sequences else 0)
    cell, cell_opts = CELLS[i % len(CELLS)]
    check_bidirectional_against_keras(cell, cell_opts, merge_mode, return_sequences,
                                      init=i % 2 == 0, seed=i)


def test_bidirectional_dropout_per_direction():
    rng = np.random.default_rng(5)
    masks = dict(dropout_mask=(dropout_mask(rng, (4, B, D)), dropout_mask(rng, (4, B, D))),
                 recurrent_dropout_mask=(dropout_mask(rng, (4, B, H)),
                                         dropout_mask(rng, (4, B, H))))
    check_bidirectional_against_keras("lstm", {}, "concat", True, **masks)


@pytest.mark.parametrize("merge_mode", [None, "concat"], ids=str)
@pytest.mark.parametrize("return_state", [False, True])
def test_bidirectional_return_structure(merge_mode, return_state):
    """Same return layout as Keras: outputs (a pair for merge_mode=None), then fw, bw states."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, D))
    weights = make_weights(rng, "lstm")
    layer = make_layer("lstm", H, return_sequences=False, return_state=return_state)
    with tf.device("/CPU:0"):  # no TF32 matmuls if a GPU is visible
        bi = keras.layers.Bidirectional(layer, merge_mode=merge_mode)
        bi.build(x.shape)
        bi.forward_layer.set_weights(weights)
        bi.backward_layer.set_weights(weights)
        keras_result = bi(tf.constant(x, tf.float32))
    ref_result, _ = bidirectional_forward("lstm", x, weights, weights, merge_mode=merge_mode,
                                          return_state=return_state)
    assert isinstance(ref_result, (tuple, np.ndarray))
    keras_items = [keras_result] if tf.is_tensor(keras_result) else list(keras_result)
    ref_items = [ref_result] if isinstance(ref_result, np.ndarray) else list(ref_result)
    assert len(ref_items) == len(keras_items) == (
        (2 if merge_mode is None else 1) + (4 if return_state else 0))
    for ki, ri in zip(keras_items, ref_items):
        assert_close(np.asarray(ki), ri, FWD_TOL)


@pytest.mark.parametrize("return_sequences", [True, False])
def test_bidirectional_sets_zero_output_for_mask(return_sequences):
    layer = make_layer("gru", H, return_sequences=return_sequences)
    bi = keras.layers.Bidirectional(layer)
    assert layer.zero_output_for_mask is False
    assert bi.forward_layer.zero_output_for_mask is return_sequences
    assert bi.backward_layer.zero_output_for_mask is return_sequences


# ---- float64 finite-difference check of the hand-written backward ----

def _relative_error(numeric, analytic):
    return np.abs(numeric - analytic).max() / max(np.abs(numeric).max(), 1e-12)


FD_VARIANTS = {
    "masked_backwards_zero_output_per_gate_dropout": dict(
        go_backwards=True, zero_output_for_mask=True, per_gate=True, use_bias=True,
        activation="relu", recurrent_activation="hard_sigmoid"),
    "masked_shared_dropout_no_bias": dict(
        go_backwards=False, zero_output_for_mask=False, per_gate=False, use_bias=False,
        activation="linear", recurrent_activation="tanh"),
}


@pytest.mark.parametrize("variant", list(FD_VARIANTS))
@pytest.mark.parametrize("cell,cell_opts", CELLS, ids=CELL_IDS)
def test_backward_finite_differences(cell, cell_opts, variant):
    opts = dict(FD_VARIANTS[variant])
    per_gate, use_bias = opts.pop("per_gate"), opts.pop("use_bias")
    rng = np.random.default_rng(11)
    b, t, d, h, G = 3, 4, 2, 3, GATES[cell]
    x = rng.normal(size=(b, t, d))
    kernel = rng.uniform(-0.8, 0.8, (d, G * h))
    recurrent_kernel = rng.uniform(-0.8, 0.8, (h, G * h))
    bias = None
    if use_bias:
        bias = rng.uniform(-0.5, 0.5, (2, G * h) if cell == "gru" and cell_opts["reset_after"]
                           else (G * h,))
    init = [rng.normal(size=(b, h)) for _ in range(n_states(cell))]
    mask = rng.random((b, t)) < 0.6
    mask[0] = False
    mask[1, 0] = True
    lead = (G,) if per_gate else ()
    opts.update(cell_opts, dropout_mask=dropout_mask(rng, lead + (b, d)),
                recurrent_dropout_mask=dropout_mask(rng, lead + (b, h)))
    d_out = rng.normal(size=(b, t, h))
    d_states = [rng.normal(size=(b, h)) for _ in init]

    def loss():
        out, states, _ = rnn_forward(cell, x, kernel, recurrent_kernel, bias, init, mask, **opts)
        return (out * d_out).sum() + sum((s * ds).sum() for s, ds in zip(states, d_states))

    _, _, cache = rnn_forward(cell, x, kernel, recurrent_kernel, bias, init, mask, **opts)
    grads = rnn_backward(cache, d_out, d_states)
    params = {"x": x, "kernel": kernel, "recurrent_kernel": recurrent_kernel}
    if use_bias:
        params["bias"] = bias
    for name, arr in params.items():
        assert _relative_error(numeric_grad(loss, arr), grads[name]) < 1e-6, name
    for arr, g in zip(init, grads["initial_state"], strict=True):
        assert _relative_error(numeric_grad(loss, arr), g) < 1e-6


@pytest.mark.parametrize("merge_mode", ["mul", None], ids=str)
def test_bidirectional_backward_finite_differences(merge_mode):
    rng = np.random.default_rng(2)
    b, t, d, h = 2, 3, 2, 2
    x = rng.normal(size=(b, t, d))
    fw = (rng.normal(size=(d, 3 * h)), rng.normal(size=(h, 3 * h)), rng.normal(size=(2, 3 * h)))
    bw = (rng.normal(size=(d, 3 * h)), rng.normal(size=(h, 3 * h)), rng.normal(size=(2, 3 * h)))
    mask = np.array([[1, 0, 1], [0, 1, 1]], bool)
    kw = dict(merge_mode=merge_mode, return_sequences=merge_mode is None, return_state=True)
    result, cache = bidirectional_forward("gru", x, fw, bw, None, mask, **kw)
    n_out = 2 if merge_mode is None else 1
    d_out = [rng.normal(size=o.shape) for o in result[:n_out]]
    d_states = [rng.normal(size=s.shape) for s in result[n_out:]]

    def loss():
        res, _ = bidirectional_forward("gru", x, fw, bw, None, mask, **kw)
        return sum((r * u).sum() for r, u in zip(res, d_out + d_states))

    grads = bidirectional_backward(cache, tuple(d_out) if merge_mode is None else d_out[0],
                                   d_states)
    assert _relative_error(numeric_grad(loss, x), grads["x"]) < 1e-6
    for weights, name in ((fw, "forward"), (bw, "backward")):
        for arr, key in zip(weights, ("kernel", "recurrent_kernel", "bias")):
            assert _relative_error(numeric_grad(loss, arr), grads[name][key]) < 1e-6
