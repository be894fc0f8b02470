"""The kernel object `_core.RnnKernel` (what a layer builds once and calls) and the cell and
activation tables `_core` publishes, without TensorFlow (also run on the no-OpenMP build).

  * forward/backward equal fastrnn.ops bitwise and the NumPy reference (float64, 1e-10);
  * the object keeps its training forward for the backward: later inference calls, weights
    updated in place and a second training forward behave as documented;
  * concurrent inference calls on one object from several threads are bitwise serial;
  * bad construction, bad weights and bad per-call arrays raise errors naming the argument;
  * `_core.cells()`, `_core.activations()` agree with fastrnn.ops, the layers and the oracle.
"""
import copy
import threading

import numpy as np
import pytest
import reference as ref
from fastrnn import _core, ops
from fastrnn.layers import GRU, LSTM, Bidirectional, SimpleRNN
from fastrnn.layers.recurrent import _ACTIVATION_NAMES
from test_kernels_reference import F64_REL, Problem, assert_rel

CELLS = [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)]
CELL_IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]
LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}


def kernel_for(p, dtype, use_bias=True, **extra):
    """A kernel object for Problem p, weights bound."""
    a = p.arrays(dtype)
    k = _core.RnnKernel(p.cell, a["x"].shape[2], a["recurrent_kernel"].shape[0], dtype=dtype,
                        use_bias=use_bias, **p.opts, **extra)
    k.bind_weights(a["kernel"], a["recurrent_kernel"], a["bias"] if use_bias else None)
    return k, a


def kernel_run(k, a, p, dtype, training=True):
    out, states = k.forward(a["x"], a["initial_state"], a["mask"], a["dropout_mask"],
                            a["recurrent_dropout_mask"], training=training)
    d_out, d_last, d_states = p.upstream(dtype)
    return out, states, k.backward(d_out, d_last, d_states) if training else None


@pytest.mark.parametrize("cell,reset_after", CELLS, ids=CELL_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_equals_ops_and_reference(cell, reset_after, dtype):
    p = Problem(cell, reset_after=reset_after, B=4, T=6, D=3, H=5, seed=7, mask="random",
                dropout="both_per_gate", go_backwards=True, upstream="seq_last")
    k, a = kernel_for(p, dtype)
    out, states, (dx, dk, drk, db, d_init) = kernel_run(k, a, p, dtype)
    res, g = p.run_ops(dtype)
    np.testing.assert_array_equal(out, res.outputs)
    for s, t in zip(states, res.states, strict=True):
        np.testing.assert_array_equal(s, t)
    for ours, theirs in ((dx, g["x"]), (dk, g["kernel"]), (drk, g["recurrent_kernel"]),
                         (db, g["bias"])):
        np.testing.assert_array_equal(ours, theirs)
    for s, t in zip(d_init, g["initial_state"], strict=True):
        np.testing.assert_array_equal(s, t)
    if dtype == np.float64:
        r_out, r_states, r_grads = p.run_reference()
        assert_rel("outputs", out, r_out, F64_REL)
        for s, t in zip(states, r_states, strict=True):
            assert_rel("state", s, t, F64_REL)
        for key, ours in (("x", dx), ("kernel", dk), ("recurrent_kernel", drk), ("bias", db)):
            assert_rel(f"d_{key}", ours, r_grads[key], F64_REL)
        for s, t in zip(d_init, r_grads["initial_state"], strict=True):
            assert_rel("d_initial_state", s, t, F64_REL)


@pytest.mark.parametrize("cell,reset_after", CELLS, ids=CELL_IDS)
def test_kernel_without_bias(cell, reset_after):
    p = Problem(cell, reset_after=reset_after, use_bias=False, seed=3, mask="left")
    k, a = kernel_for(p, np.float64, use_bias=False)
    assert k.bias_shape is None
    out, _, (dx, dk, drk, db, _) = kernel_run(k, a, p, np.float64)
    assert db is None
    r_out, _, r_grads = p.run_reference()
    assert_rel("outputs", out, r_out, F64_REL)
    assert_rel("d_kernel", dk, r_grads["kernel"], F64_REL)
    assert_rel("d_x", dx, r_grads["x"], F64_REL)


def test_backward_differentiates_the_last_training_forward():
    """Inference calls in between do not disturb the pending backward; a second training
    forward replaces it; the dropout masks it used stay readable."""
    p = Problem("lstm", seed=5, mask="random", dropout="both_shared")
    q = Problem("lstm", seed=6, mask="right", B=5)
    k, a = kernel_for(p, np.float64)
    _, _, first = kernel_run(k, a, p, np.float64)
    k.forward(a["x"], a["initial_state"], a["mask"], a["dropout_mask"],
              a["recurrent_dropout_mask"], training=True)
    assert k.dropout_mask is not None and np.shares_memory(k.dropout_mask, a["dropout_mask"])
    other = q.arrays(np.float64)
    k.forward(other["x"][:2], training=False)          # other batch size, inference
    d_out, d_last, d_states = p.upstream(np.float64)
    again = k.backward(d_out, d_last, d_states)
    for f, s in zip(first[:4], again[:4]):
        np.testing.assert_array_equal(f, s)
    k.forward(other["x"], other["initial_state"], other["mask"], training=True)
    assert k.dropout_mask is None
    with pytest.raises(ValueError, match=r"^d_outputs: expected shape \(5, 4, 3\)"):
        k.backward(np.zeros((3, 4, 3)))                 # the new forward's batch is 5


def test_weights_are_bound_live():
    """The kernel reads the bound arrays at each call: in-place updates (the optimizer's) are
    seen; a layer rebinds when its weight list holds new arrays."""
    p = Problem("gru", seed=9)
    k, a = kernel_for(p, np.float64)
    before, _ = k.forward(a["x"])
    a["recurrent_kernel"] *= 0.5
    after, _ = k.forward(a["x"])
    expected = ops.rnn_forward("gru", a["x"], a["kernel"], a["recurrent_kernel"], a["bias"],
                               training=False, **p.opts).outputs
    np.testing.assert_array_equal(after, expected)
    assert not np.array_equal(before, after)

    layer = LSTM(3, return_sequences=True)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
    y0 = layer(x)
    layer.weights[1] = np.zeros_like(layer.weights[1])  # a new array in the list
    y1 = layer(x)
    w = layer.weights
    expected = ops.rnn_forward("lstm", x, w[0], w[1], w[2], training=False,
                               recurrent_activation="sigmoid").outputs
    np.testing.assert_array_equal(y1, expected)
    assert not np.array_equal(y0, y1)


def test_copied_layer_gets_its_own_kernel():
    x = np.random.default_rng(2).normal(size=(2, 3, 4)).astype(np.float32)
    layer = Bidirectional(LSTM(3, return_sequences=True))
    y = layer(x)
    twin = copy.deepcopy(layer)
    np.testing.assert_array_equal(twin(x), y)
    twin.weights[0][...] = 0.0                   # the copy's weights are its own
    np.testing.assert_array_equal(layer(x), y)
    assert not np.array_equal(twin(x), y)


def test_layer_kernel_follows_options_changed_after_build():
    """Bidirectional sets zero_output_for_mask on the layers it wraps, possibly built ones."""
    x = np.random.default_rng(1).normal(size=(3, 5, 2)).astype(np.float32)
    mask = np.ones((3, 5), bool)
    mask[0, 2:] = False
    layer = GRU(4, return_sequences=True)
    layer(x, mask=mask)
    layer.zero_output_for_mask = layer.go_backwards = True
    w = layer.weights
    expected = ops.rnn_forward("gru", x, w[0], w[1], w[2], None, mask, go_backwards=True,
                               zero_output_for_mask=True, training=False).outputs
    np.testing.assert_array_equal(layer(x, mask=mask), expected)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_concurrent_inference_on_one_kernel_is_bitwise_serial(cell):
    rng = np.random.default_rng(1)
    G = ops.cell_info(cell).gates
    D, H, T = 5, 16, 30
    k = _core.RnnKernel(cell, D, H)
    w = [rng.normal(size=s).astype(np.float32) * 0.3 for s in ((D, G * H), (H, G * H))]
    k.bind_weights(w[0], w[1], np.zeros(k.bias_shape, np.float32))
    inputs = [rng.normal(size=(b, T, D)).astype(np.float32) for b in (1, 7, 16, 33)]
    serial = [k.forward(x)[0] for x in inputs]
    results = [None] * len(inputs)
    barrier = threading.Barrier(len(inputs))

    def run(i):
        barrier.wait()
        results[i] = [k.forward(inputs[i])[0] for _ in range(10)]
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for got, want in zip(results, serial, strict=True):
        for g in got:
            np.testing.assert_array_equal(g, want)


# ---------------------------------------------------------------------------------------------
# errors

def test_construction_errors():
    with pytest.raises(ValueError, match=r"^cell: expected one of 'simple_rnn', 'lstm', 'gru'"
                                         r".*got 'rnn'$"):
        _core.RnnKernel("rnn", 3, 2)
    with pytest.raises(ValueError, match=r"^recurrent_activation: expected one of .*'tanh'.*"
                                         r"'keras2_hard_sigmoid'.*got 'softmax'$"):
        _core.RnnKernel("lstm", 3, 2, recurrent_activation="softmax")
    with pytest.raises(ValueError, match=r"^input_dim: expected an integer >= 1, got 0$"):
        _core.RnnKernel("lstm", 0, 2)
    with pytest.raises(ValueError, match=r"^units: expected an integer >= 1, got -1$"):
        _core.RnnKernel("gru", 3, -1)
    with pytest.raises(TypeError, match=r"^dtype: expected float32 or float64, got int32$"):
        _core.RnnKernel("gru", 3, 2, dtype="int32")


def test_bind_weights_errors():
    k = _core.RnnKernel("gru", 3, 2)            # reset_after: bias [2, 6]
    good = [np.zeros((3, 6), np.float32), np.zeros((2, 6), np.float32),
            np.zeros((2, 6), np.float32)]
    with pytest.raises(RuntimeError, match=r"^forward: no weights bound"):
        k.forward(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"^kernel: expected shape \(3, 6\), got \(3, 5\)$"):
        k.bind_weights(np.zeros((3, 5), np.float32), *good[1:])
    with pytest.raises(TypeError, match=r"^recurrent_kernel: expected dtype float32 \(the "
                                        r"dtype of x\), got float64$"):
        k.bind_weights(good[0], good[1].astype(np.float64), good[2])
    with pytest.raises(ValueError, match=r"^bias: expected shape \(2, 6\), got \(6,\)$"):
        k.bind_weights(*good[:2], np.zeros(6, np.float32))
    with pytest.raises(TypeError, match=r"^bias: expected an array of shape \(2, 6\), got None"):
        k.bind_weights(*good[:2], None)
    with pytest.raises(ValueError, match=r"^kernel: expected a C-contiguous array"):
        k.bind_weights(np.asfortranarray(good[0]), *good[1:])
    nb = _core.RnnKernel("gru", 3, 2, use_bias=False)
    with pytest.raises(ValueError, match=r"^bias: expected None \(the kernel was built with "
                                         r"use_bias=False\), got ndarray$"):
        nb.bind_weights(*good)
    k.bind_weights(*good)                        # a failed bind left nothing half-done
    assert k.forward(np.zeros((1, 2, 3), np.float32))[0].shape == (1, 2, 2)


def test_per_call_errors():
    k = _core.RnnKernel("lstm", 3, 2)
    k.bind_weights(np.zeros((3, 8), np.float32), np.zeros((2, 8), np.float32),
                   np.zeros(8, np.float32))
    x = np.zeros((4, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"^x: expected shape \(-1, -1, 3\) \(-1: any extent\), "
                                         r"got \(4, 5, 2\)$"):
        k.forward(np.zeros((4, 5, 2), np.float32))
    with pytest.raises(TypeError, match=r"^x: expected dtype float32 \(the kernel's dtype\), "
                                        r"got float64$"):
        k.forward(x.astype(np.float64))
    with pytest.raises(ValueError, match=r"^initial_state: expected a list of 2 array\(s\) for "
                                         r"lstm, got 1$"):
        k.forward(x, [np.zeros((4, 2), np.float32)])
    with pytest.raises(ValueError, match=r"^initial_state\[1\]: expected shape \(4, 2\), got "
                                         r"\(5, 2\)$"):
        k.forward(x, [None, np.zeros((5, 2), np.float32)])
    with pytest.raises(TypeError, match=r"^mask: expected dtype bool or uint8, got int64$"):
        k.forward(x, mask=np.ones((4, 5), np.int64))
    with pytest.raises(ValueError, match=r"^recurrent_dropout_mask: expected shape \(4, 4, 2\), "
                                         r"got \(3, 4, 2\)$"):
        k.forward(x, recurrent_dropout_mask=np.ones((3, 4, 2), np.float32))
    with pytest.raises(RuntimeError, match=r"^backward: expected a preceding "
                                           r"forward\(\.\.\., training=True\)$"):
        k.backward(np.zeros((4, 5, 2), np.float32))
    k.forward(x, training=True)
    with pytest.raises(ValueError, match=r"^d_last: expected shape \(4, 2\), got \(4, 5, 2\)$"):
        k.backward(d_last=np.zeros((4, 5, 2), np.float32))
    with pytest.raises(TypeError, match=r"^d_states\[0\]: expected dtype float32 \(the dtype of "
                                        r"x\), got float64$"):
        k.backward(d_states=[np.zeros((4, 2)), None])
    dx, dk, drk, db, d_init = k.backward(np.ones((4, 5, 2), np.float32), need_dx=False,
                                         need_d_initial_state=False)
    assert dx is None and d_init == [None, None] and dk.shape == (3, 8)


# ---------------------------------------------------------------------------------------------
# the tables

def test_cell_table_matches_layers_and_oracle():
    table = _core.cells()
    assert tuple(c["name"] for c in table) == ops.CELLS
    assert set(ops.CELLS) == set(ref.GATES) == set(LAYERS)
    for name, cls in LAYERS.items():
        info = ops.cell_info(name)
        assert info.gates == ref.GATES[name]
        layer = cls(4, **({"reset_after": False} if name == "gru" else {}))
        layer.build((2, 3, 5))
        assert (layer.cell, layer.gates, layer.state_count) == (name, info.gates, info.states)
        shapes = [w.shape for w in layer.weights]
        assert shapes == [(5, 4 * info.gates), (4, 4 * info.gates),
                          info.bias_shape(4, reset_after=False)]
    assert ops.cell_info("gru").bias_shape(4) == (2, 12)
    assert ops.cell_info("lstm").bias_shape(4) == (16,)
    assert ops.cell_info("lstm").uses_recurrent_activation
    assert not ops.cell_info("simple_rnn").uses_recurrent_activation
    assert [c for c in ops.CELLS if ops.cell_info(c).uses_reset_after] == ["gru"]
    with pytest.raises(ValueError, match=r"^cell: expected one of .*'lstm'.*got 'LSTM'$"):
        ops.cell_info("LSTM")


def test_activation_table_matches_layers_oracle_and_dense():
    assert ops.ACTIVATIONS == _core.activations()
    assert set(ops.ACTIVATIONS) == set(ref._ACTIVATIONS)
    assert {"tanh", "sigmoid", "hard_sigmoid", "keras2_hard_sigmoid", "relu",
            "linear"} <= set(ops.ACTIVATIONS)
    assert set(_ACTIVATION_NAMES) - {None} == set(ops.ACTIVATIONS)
    assert _core.dense_activations() == ops.ACTIVATIONS + ("softmax",)
    for name in ops.ACTIVATIONS:                 # every name works in every layer
        for cls in LAYERS.values():
            layer = cls(2, activation=name)
            assert layer(np.ones((1, 2, 3), np.float32)).shape == (1, 2)
    bi = Bidirectional(LSTM(2, recurrent_activation="keras2_hard_sigmoid"))
    assert bi(np.ones((1, 2, 3), np.float32)).shape == (1, 4)
