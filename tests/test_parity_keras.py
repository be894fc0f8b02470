"""fastrnn against real Keras 3 (TF backend) with identical weights, in float32.

Every case runs Keras once (tests/keras_oracle.py: forward, final states and GradientTape
gradients for random upstream gradients on the output AND on every returned state) and then
checks two fastrnn entry points against that single result:

  * the low-level ops, `fastrnn.ops.rnn_forward` / `rnn_backward`;
  * the Keras-style layers (`fastrnn.layers.SimpleRNN/LSTM/GRU/Bidirectional`), weights copied
    with `set_weights`, gradients from `layer.backward`, `layer.grads` and
    `layer.initial_state_grads`.

Tolerances (elementwise, |ours - keras| <= atol + rtol * |keras|):
forward outputs and states 1e-5 / 1e-5, gradients 1e-4 / 1e-4. Everything must be finite.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from fastrnn import ops  # noqa: E402
from fastrnn.layers import GRU, LSTM, Bidirectional, SimpleRNN  # noqa: E402
from keras_oracle import keras_bidirectional, keras_rnn, make_layer  # noqa: E402

FWD_TOL = dict(atol=1e-5, rtol=1e-5)
GRAD_TOL = dict(atol=1e-4, rtol=1e-4)

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
LAYER_CLASSES = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
KERAS_CLASSES = {"simple_rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM,
                 "gru": keras.layers.GRU}

# (cell, cell options); GRU with both reset_after variants.
CELLS = [
    pytest.param("simple_rnn", {}, id="simple_rnn"),
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("gru", {"reset_after": True}, id="gru_reset_after"),
    pytest.param("gru", {"reset_after": False}, id="gru_reset_before"),
]
CELL_LIST = [tuple(p.values) for p in CELLS]


def n_states(cell):
    return 2 if cell == "lstm" else 1


# ---------------------------------------------------------------------------------------------
# comparison helpers

def assert_close(name, ours, keras_value, tol):
    ours = np.asarray(ours)
    keras_value = np.asarray(keras_value)
    assert ours.shape == keras_value.shape, f"{name}: shape {ours.shape} != {keras_value.shape}"
    assert np.all(np.isfinite(ours)), f"{name}: fastrnn result is not finite"
    assert np.all(np.isfinite(keras_value)), f"{name}: Keras result is not finite"
    np.testing.assert_allclose(ours, keras_value, err_msg=name, **tol)


def assert_weight_grads(prefix, ours, keras_grads, has_bias):
    """`ours`: [d_kernel, d_recurrent_kernel(, d_bias)] aligned with get_weights()."""
    keys = ["kernel", "recurrent_kernel"] + (["bias"] if has_bias else [])
    assert len(ours) == len(keys), f"{prefix}: {len(ours)} weight gradients, expected {len(keys)}"
    for key, g in zip(keys, ours):
        assert_close(f"{prefix} d_{key}", g, keras_grads[key], GRAD_TOL)
    if not has_bias:
        assert keras_grads["bias"] is None


# ---------------------------------------------------------------------------------------------
# random problems

def make_mask(rng, kind, B, T):
    """Boolean [B, T] mask: right-/left-padded, or random with one fully masked row."""
    if kind is None:
        return None
    steps = np.arange(T)[None]
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    if B > 1:
        lengths[-1] = 1
    if kind == "right":
        return np.ascontiguousarray(steps < lengths[:, None])
    if kind == "left":
        return np.ascontiguousarray(steps >= T - lengths[:, None])
    assert kind == "random"
    mask = rng.random((B, T)) < 0.6
    if T > 1:
        mask[0, -1] = False        # the last step masked in some row
        mask[0, 0] = True
    if B > 1:
        mask[1] = False            # a fully masked row
    if B > 2:
        mask[2] = True             # a fully valid row
    return mask


def scaled_dropout(rng, shape, rate=0.3):
    return ((rng.random(shape) >= rate) / (1.0 - rate)).astype(np.float32)


def make_dropout(rng, kind, cell, B, D, H):
    """(dropout_mask, recurrent_dropout_mask): shared [B,N] or per gate [G,B,N]."""
    G = GATES[cell]
    if kind is None:
        return None, None
    return {
        "input_shared": lambda: (scaled_dropout(rng, (B, D)), None),
        "recurrent_shared": lambda: (None, scaled_dropout(rng, (B, H))),
        "both_shared": lambda: (scaled_dropout(rng, (B, D)), scaled_dropout(rng, (B, H))),
        "input_per_gate": lambda: (scaled_dropout(rng, (G, B, D)), None),
        "both_per_gate": lambda: (scaled_dropout(rng, (G, B, D)),
                                  scaled_dropout(rng, (G, B, H))),
    }[kind]()


def make_weights(rng, cell, D, H, *, use_bias=True, reset_after=True, scale=0.6):
    G = GATES[cell]
    kernel = rng.uniform(-scale, scale, (D, G * H)).astype(np.float32)
    recurrent_kernel = rng.uniform(-scale, scale, (H, G * H)).astype(np.float32)
    bias = None
    if use_bias:
        shape = (2, G * H) if cell == "gru" and reset_after else (G * H,)
        bias = rng.uniform(-0.5, 0.5, shape).astype(np.float32)
    return kernel, recurrent_kernel, bias


def keras_default_weights(cell, D, H, use_bias=True, reset_after=True):
    """Weights of a Keras layer with its default initialisers (glorot / orthogonal / zeros)."""
    layer = make_layer(cell, H, use_bias=use_bias, reset_after=reset_after)
    layer.build((None, None, D))
    w = layer.get_weights()
    return w[0], w[1], (w[2] if use_bias else None)


class Case:
    """One single-direction problem: inputs, weights, options and upstream gradients."""

    def __init__(self, cell, cell_opts, *, B=4, T=6, D=3, H=4, seed=0, use_bias=True,
                 init=False, mask=None, dropout=None, return_sequences=True,
                 return_state=True, keras_init=False, **opts):
        rng = np.random.default_rng(seed)
        self.cell = cell
        reset_after = cell_opts.get("reset_after", True)
        self.x = rng.normal(size=(B, T, D)).astype(np.float32)
        if keras_init:
            self.weights = keras_default_weights(cell, D, H, use_bias, reset_after)
        else:
            self.weights = make_weights(rng, cell, D, H, use_bias=use_bias,
                                        reset_after=reset_after)
        self.initial_state = ([rng.normal(size=(B, H)).astype(np.float32)
                               for _ in range(n_states(cell))] if init else None)
        self.mask = make_mask(rng, mask, B, T)
        self.dropout_mask, self.recurrent_dropout_mask = make_dropout(rng, dropout, cell, B, D, H)
        self.opts = dict(cell_opts, **opts)
        self.return_sequences = return_sequences
        self.return_state = return_state
        out_shape = (B, T, H) if return_sequences else (B, H)
        self.d_output = rng.normal(size=out_shape).astype(np.float32)
        self.d_states = ([rng.normal(size=(B, H)).astype(np.float32)
                          for _ in range(n_states(cell))] if return_state else None)

    @property
    def has_bias(self):
        return self.weights[2] is not None

    def run_keras(self):
        return keras_rnn(self.cell, self.x, *self.weights, self.initial_state, self.mask,
                         return_sequences=self.return_sequences,
                         dropout_mask=self.dropout_mask,
                         recurrent_dropout_mask=self.recurrent_dropout_mask,
                         d_output=self.d_output, d_states=self.d_states, **self.opts)

    # -- fastrnn.ops ---------------------------------------------------------------------------
    def check_ops(self, k):
        # return_sequences=False: both the last-output-only forward and the full sequence
        # (then outputs[:, -1]) must give Keras' result.
        for sequences in sorted({True, self.return_sequences}):
            self._check_ops(k, sequences)

    def _check_ops(self, k, sequences):
        tag = "ops" if sequences == self.return_sequences else "ops(full sequence)"
        res = ops.rnn_forward(self.cell, self.x, *self.weights, self.initial_state, self.mask,
                              dropout_mask=self.dropout_mask,
                              recurrent_dropout_mask=self.recurrent_dropout_mask,
                              training=True, return_sequences=sequences, **self.opts)
        out = res.outputs if sequences == self.return_sequences else res.outputs[:, -1]
        assert out.dtype == np.float32
        assert_close(f"{tag} output", out, k["output"], FWD_TOL)
        assert len(res.states) == len(k["states"]) == n_states(self.cell)
        for i, (ours, theirs) in enumerate(zip(res.states, k["states"])):
            assert_close(f"{tag} state[{i}]", ours, theirs, FWD_TOL)
        seq, last = ((self.d_output, None) if self.return_sequences else (None, self.d_output))
        g = ops.rnn_backward(res.cache, d_outputs=seq, d_states=self.d_states, d_last=last)
        assert_close(f"{tag} dx", g["x"], k["grads"]["x"], GRAD_TOL)
        assert_weight_grads(tag, [g["kernel"], g["recurrent_kernel"]] +
                            ([g["bias"]] if self.has_bias else []), k["grads"], self.has_bias)
        if not self.has_bias:
            assert g["bias"] is None
        if self.initial_state is not None:
            for i, (ours, theirs) in enumerate(zip(g["initial_state"],
                                                   k["grads"]["initial_state"], strict=True)):
                assert_close(f"{tag} d_initial_state[{i}]", ours, theirs, GRAD_TOL)

    # -- fastrnn.layers ------------------------------------------------------------------------
    def make_fastrnn_layer(self):
        opts = dict(self.opts)
        layer = LAYER_CLASSES[self.cell](
            self.weights[1].shape[0], use_bias=self.has_bias,
            return_sequences=self.return_sequences, return_state=self.return_state, **opts)
        layer.build(self.x.shape)
        layer.set_weights([w for w in self.weights if w is not None])
        if self.dropout_mask is not None or self.recurrent_dropout_mask is not None:
            masks = (self.dropout_mask, self.recurrent_dropout_mask)
            layer._dropout_masks = lambda batch, dim: masks   # inject Keras' exact masks
        return layer

    def check_layer(self, k):
        layer = self.make_fastrnn_layer()
        result = layer(self.x, mask=self.mask, training=True, initial_state=self.initial_state)
        if self.return_state:
            assert isinstance(result, list) and len(result) == 1 + n_states(self.cell)
            out, states = result[0], result[1:]
            for i, (ours, theirs) in enumerate(zip(states, k["states"], strict=True)):
                assert_close(f"layer state[{i}]", ours, theirs, FWD_TOL)
        else:
            out = result
        assert out.dtype == np.float32
        assert_close("layer output", out, k["output"], FWD_TOL)
        upstream = [self.d_output] + self.d_states if self.return_state else self.d_output
        dx = layer.backward(upstream)
        assert_close("layer dx", dx, k["grads"]["x"], GRAD_TOL)
        assert [g.shape for g in layer.grads] == [w.shape for w in layer.get_weights()]
        assert_weight_grads("layer", layer.grads, k["grads"], self.has_bias)
        if self.initial_state is None:
            assert layer.initial_state_grads is None
        else:
            for i, (ours, theirs) in enumerate(zip(layer.initial_state_grads,
                                                   k["grads"]["initial_state"], strict=True)):
                assert_close(f"layer d_initial_state[{i}]", ours, theirs, GRAD_TOL)


def check_case(case):
    k = case.run_keras()        # one Keras run, shared by both fastrnn checks
    case.check_ops(k)
    case.check_layer(k)


# ---------------------------------------------------------------------------------------------
# single-direction layers: options, masks, activations

SCENARIOS = {
    "seq_state": dict(),
    "last_state_init": dict(return_sequences=False, init=True),
    "seq_no_state_init": dict(return_state=False, init=True),
    "last_no_state": dict(return_sequences=False, return_state=False),
    "no_bias_backwards_init": dict(use_bias=False, go_backwards=True, init=True),
    "backwards_last": dict(go_backwards=True, return_sequences=False),
    "mask_right_init": dict(mask="right", init=True),
    "mask_left_init_no_state": dict(mask="left", init=True, return_state=False),
    "mask_left_backwards_last": dict(mask="left", go_backwards=True, return_sequences=False),
    "mask_random_init": dict(mask="random", init=True),
    "mask_random_zero_output_init": dict(mask="random", init=True, zero_output_for_mask=True),
    "mask_random_last_init": dict(mask="random", init=True, return_sequences=False),
    "mask_random_backwards_zero_output_last": dict(mask="random", go_backwards=True,
                                                   zero_output_for_mask=True,
                                                   return_sequences=False),
    "mask_right_no_bias_backwards": dict(mask="right", use_bias=False, go_backwards=True),
}

ACTIVATIONS = {
    "relu_hard_sigmoid_mask": dict(activation="relu", recurrent_activation="hard_sigmoid",
                                   mask="random", init=True),
    "linear_tanh_init": dict(activation="linear", recurrent_activation="tanh", init=True),
    "sigmoid_linear_backwards": dict(activation="sigmoid", recurrent_activation="linear",
                                     go_backwards=True),
    "hard_sigmoid_relu_last": dict(activation="hard_sigmoid", recurrent_activation="relu",
                                   return_sequences=False),
    "tanh_hard_sigmoid_no_bias": dict(activation="tanh", recurrent_activation="hard_sigmoid",
                                      use_bias=False, init=True),
    "relu_sigmoid_mask_zero_output": dict(activation="relu", recurrent_activation="sigmoid",
                                          mask="left", zero_output_for_mask=True),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("cell,cell_opts", CELLS)
def test_rnn_matches_keras(cell, cell_opts, scenario):
    check_case(Case(cell, cell_opts, seed=len(scenario), **SCENARIOS[scenario]))


@pytest.mark.parametrize("scenario", list(ACTIVATIONS))
@pytest.mark.parametrize("cell,cell_opts", CELLS)
def test_activations_match_keras(cell, cell_opts, scenario):
    check_case(Case(cell, cell_opts, seed=100 + len(scenario), **ACTIVATIONS[scenario]))


# ---------------------------------------------------------------------------------------------
# injected dropout masks (Keras' cached masks; the layer's mask draw is replaced by the same)

DROPOUT_SCENARIOS = {
    "input_shared_init": dict(dropout="input_shared", init=True),
    "recurrent_shared_mask_init": dict(dropout="recurrent_shared", mask="random", init=True),
    "both_shared_backwards_last": dict(dropout="both_shared", go_backwards=True,
                                       return_sequences=False),
    "input_per_gate_mask_zero_output": dict(dropout="input_per_gate", mask="random",
                                            zero_output_for_mask=True),
    "both_per_gate_mask_backwards_init": dict(dropout="both_per_gate", mask="random",
                                              go_backwards=True, init=True),
    "both_per_gate_no_bias_last": dict(dropout="both_per_gate", use_bias=False,
                                       return_sequences=False, init=True),
}


@pytest.mark.parametrize("scenario", list(DROPOUT_SCENARIOS))
@pytest.mark.parametrize("cell,cell_opts", CELLS)
def test_dropout_masks_match_keras(cell, cell_opts, scenario):
    case = Case(cell, cell_opts, seed=200 + len(scenario), **DROPOUT_SCENARIOS[scenario])
    check_case(case)
    # The masks matter: without them fastrnn gives a different answer.
    plain = ops.rnn_forward(cell, case.x, *case.weights, case.initial_state, case.mask,
                            training=False, **case.opts)
    with_masks = ops.rnn_forward(cell, case.x, *case.weights, case.initial_state, case.mask,
                                 dropout_mask=case.dropout_mask,
                                 recurrent_dropout_mask=case.recurrent_dropout_mask,
                                 training=False, **case.opts)
    assert not np.allclose(plain.states[0], with_masks.states[0], atol=1e-4)


# ---------------------------------------------------------------------------------------------
# odd and large sizes

SIZES = {
    "H1": dict(B=3, T=5, D=2, H=1, mask="random", init=True),
    "H7": dict(B=2, T=4, D=3, H=7, go_backwards=True),
    "H33": dict(B=3, T=5, D=4, H=33, mask="right", init=True, dropout="both_per_gate"),
    "D1": dict(B=3, T=5, D=1, H=4, init=True, return_sequences=False),
    "T1": dict(B=3, T=1, D=3, H=5, mask="random", init=True),
    "T1_last_backwards": dict(B=2, T=1, D=2, H=3, return_sequences=False, go_backwards=True),
    "B1": dict(B=1, T=5, D=3, H=6, mask="left", init=True, dropout="both_shared"),
    "B1_T1_D1_H1": dict(B=1, T=1, D=1, H=1, init=True),
}


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("cell,cell_opts", CELLS)
def test_odd_sizes_match_keras(cell, cell_opts, size):
    check_case(Case(cell, cell_opts, seed=300 + len(size), **SIZES[size]))


LARGE = [pytest.param(c, o, dict(init=True, mask="right"), id=f"{p.id}-mask_right_init")
         for p in CELLS for c, o in [tuple(p.values)]]
LARGE += [
    pytest.param("lstm", {}, dict(mask="random", dropout="both_per_gate", go_backwards=True,
                                  return_sequences=False), id="lstm-per_gate_dropout_backwards"),
    pytest.param("gru", {"reset_after": False}, dict(mask="left", dropout="both_shared"),
                 id="gru_reset_before-shared_dropout_mask_left"),
]


@pytest.mark.parametrize("cell,cell_opts,kw", LARGE)
def test_large_matches_keras(cell, cell_opts, kw):
    """H=128, T=64, B=16 with Keras' default initialisation."""
    check_case(Case(cell, cell_opts, B=16, T=64, D=32, H=128, seed=7, keras_init=True, **kw))


# ---------------------------------------------------------------------------------------------
# Bidirectional

MERGE_MODES = ["concat", "sum", "mul", "ave", None]


class BiCase:
    def __init__(self, cell, cell_opts, merge_mode, *, B=4, T=6, D=3, H=4, seed=0, init=True,
                 mask="random", return_sequences=True, return_state=True, dropout=None,
                 **opts):
        rng = np.random.default_rng(seed)
        self.cell, self.merge_mode = cell, merge_mode
        reset_after = cell_opts.get("reset_after", True)
        self.x = rng.normal(size=(B, T, D)).astype(np.float32)
        self.fw = make_weights(rng, cell, D, H, reset_after=reset_after)
        self.bw = make_weights(rng, cell, D, H, reset_after=reset_after)
        self.initial_state = ([rng.normal(size=(B, H)).astype(np.float32)
                               for _ in range(2 * n_states(cell))] if init else None)
        self.mask = make_mask(rng, mask, B, T)
        self.dropout = None
        if dropout is not None:
            fw_masks = make_dropout(rng, dropout, cell, B, D, H)
            bw_masks = make_dropout(rng, dropout, cell, B, D, H)
            self.dropout = (fw_masks, bw_masks)
        self.opts = dict(cell_opts, **opts)
        self.return_sequences, self.return_state = return_sequences, return_state
        out_h = 2 * H if merge_mode == "concat" else H
        out_shape = (B, T, out_h) if return_sequences else (B, out_h)
        n_out = 2 if merge_mode is None else 1
        self.d_out = [rng.normal(size=out_shape).astype(np.float32) for _ in range(n_out)]
        self.d_states = ([rng.normal(size=(B, H)).astype(np.float32)
                          for _ in range(2 * n_states(cell))] if return_state else None)

    def run_keras(self):
        masks = {}
        if self.dropout is not None:
            (fdm, frm), (bdm, brm) = self.dropout
            masks = dict(dropout_mask=(fdm, bdm) if fdm is not None else None,
                         recurrent_dropout_mask=(frm, brm) if frm is not None else None)
        d_output = tuple(self.d_out) if self.merge_mode is None else self.d_out[0]
        return keras_bidirectional(self.cell, self.x, self.fw, self.bw, self.initial_state,
                                   self.mask, merge_mode=self.merge_mode,
                                   return_sequences=self.return_sequences, d_output=d_output,
                                   d_states=self.d_states, **masks, **self.opts)

    def check_layer(self, k):
        H = self.fw[1].shape[0]
        inner = LAYER_CLASSES[self.cell](H, return_sequences=self.return_sequences,
                                         return_state=self.return_state, **self.opts)
        bi = Bidirectional(inner, merge_mode=self.merge_mode)
        bi.build(self.x.shape)
        bi.set_weights(list(self.fw) + list(self.bw))
        if self.dropout is not None:
            for sub, masks in zip((bi.forward_layer, bi.backward_layer), self.dropout):
                sub._dropout_masks = (lambda m: (lambda batch, dim: m))(masks)
        result = bi(self.x, mask=self.mask, training=True, initial_state=self.initial_state)
        n_out = 2 if self.merge_mode is None else 1
        if self.return_state or self.merge_mode is None:
            assert isinstance(result, list)
            outputs, states = result[:n_out], result[n_out:]
        else:
            outputs, states = [result], []
        k_outputs = k["output"] if self.merge_mode is None else [k["output"]]
        for i, (ours, theirs) in enumerate(zip(outputs, k_outputs, strict=True)):
            assert_close(f"bidirectional output[{i}]", ours, theirs, FWD_TOL)
        if self.return_state:
            for i, (ours, theirs) in enumerate(zip(states, k["states"], strict=True)):
                assert_close(f"bidirectional state[{i}]", ours, theirs, FWD_TOL)
        else:
            assert states == []
        if self.return_state:
            upstream = list(self.d_out) + list(self.d_states)
        elif self.merge_mode is None:
            upstream = list(self.d_out)
        else:
            upstream = self.d_out[0]
        dx = bi.backward(upstream)
        assert_close("bidirectional dx", dx, k["grads"]["x"], GRAD_TOL)
        n_w = len(self.fw)
        assert [g.shape for g in bi.grads] == [w.shape for w in bi.get_weights()]
        assert_weight_grads("bidirectional forward", bi.grads[:n_w], k["grads"]["forward"], True)
        assert_weight_grads("bidirectional backward", bi.grads[n_w:], k["grads"]["backward"],
                            True)
        if self.initial_state is None:
            assert bi.initial_state_grads is None
        else:
            n = n_states(self.cell)
            theirs = (list(k["grads"]["forward"]["initial_state"]) +
                      list(k["grads"]["backward"]["initial_state"]))
            assert len(bi.initial_state_grads) == 2 * n
            for i, (o, t) in enumerate(zip(bi.initial_state_grads, theirs, strict=True)):
                assert_close(f"bidirectional d_initial_state[{i}]", o, t, GRAD_TOL)


@pytest.mark.parametrize("return_sequences", [True, False], ids=["sequences", "last"])
@pytest.mark.parametrize("merge_mode", MERGE_MODES, ids=str)
def test_bidirectional_merge_modes_match_keras(merge_mode, return_sequences):
    """return_state, initial_state and a random mask (incl. a fully masked row)."""
    i = MERGE_MODES.index(merge_mode) + (2 if return_sequences else 0)
    cell, cell_opts = CELL_LIST[i % len(CELL_LIST)]
    case = BiCase(cell, cell_opts, merge_mode, seed=i, return_sequences=return_sequences)
    case.check_layer(case.run_keras())


BI_SCENARIOS = {
    "lstm_concat_no_state_left_mask": ("lstm", {}, "concat",
                                       dict(return_state=False, init=False, mask="left")),
    "gru_none_no_state_seq": ("gru", {"reset_after": True}, None,
                              dict(return_state=False, init=False, mask="right")),
    "gru_before_sum_no_state_last": ("gru", {"reset_after": False}, "sum",
                                     dict(return_state=False, return_sequences=False,
                                          mask="random", init=False)),
    "simple_rnn_mul_state_no_mask": ("simple_rnn", {}, "mul", dict(mask=None)),
    "lstm_ave_right_mask": ("lstm", {}, "ave", dict(mask="right")),
    "gru_concat_no_init_last": ("gru", {"reset_after": True}, "concat",
                                dict(init=False, return_sequences=False)),
    "lstm_concat_relu_hard_sigmoid": ("lstm", {}, "concat",
                                      dict(activation="relu",
                                           recurrent_activation="hard_sigmoid")),
    "lstm_concat_per_gate_dropout": ("lstm", {}, "concat", dict(dropout="both_per_gate")),
    "gru_mul_shared_dropout_last": ("gru", {"reset_after": False}, "mul",
                                    dict(dropout="both_shared", return_sequences=False)),
    "simple_rnn_none_input_dropout": ("simple_rnn", {}, None, dict(dropout="input_shared")),
    "gru_concat_H1_B1": ("gru", {"reset_after": True}, "concat",
                         dict(B=1, H=1, mask="left")),
    "lstm_sum_T1": ("lstm", {}, "sum", dict(T=1)),
}


@pytest.mark.parametrize("scenario", list(BI_SCENARIOS))
def test_bidirectional_options_match_keras(scenario):
    cell, cell_opts, merge_mode, kw = BI_SCENARIOS[scenario]
    case = BiCase(cell, cell_opts, merge_mode, seed=400 + len(scenario), **kw)
    case.check_layer(case.run_keras())


# ---------------------------------------------------------------------------------------------
# weights: shapes, order, count_params, default initialisation

def _keras_layer(cell, units, **kw):
    """A Keras layer with default initialisers (generic loop, no cuDNN)."""
    if cell != "simple_rnn":
        kw = dict(kw, use_cudnn=False)
    return KERAS_CLASSES[cell](units, **kw)


WEIGHT_CASES = [
    pytest.param("simple_rnn", dict(), id="simple_rnn"),
    pytest.param("simple_rnn", dict(use_bias=False), id="simple_rnn_no_bias"),
    pytest.param("lstm", dict(), id="lstm"),
    pytest.param("lstm", dict(use_bias=False), id="lstm_no_bias"),
    pytest.param("gru", dict(), id="gru_reset_after"),
    pytest.param("gru", dict(reset_after=False), id="gru_reset_before"),
    pytest.param("gru", dict(use_bias=False), id="gru_no_bias"),
]


@pytest.mark.parametrize("cell,kw", WEIGHT_CASES)
def test_weight_shapes_order_and_count_match_keras(cell, kw):
    units, features = 7, 5
    ours = LAYER_CLASSES[cell](units, **kw)
    ours.build((2, 3, features))
    theirs = _keras_layer(cell, units, **kw)
    theirs.build((None, 3, features))
    our_w, their_w = ours.get_weights(), theirs.get_weights()
    assert [w.shape for w in our_w] == [w.shape for w in their_w]
    assert all(w.dtype == np.float32 for w in our_w)
    assert ours.count_params() == theirs.count_params()
    assert [n.split("/")[-1] for n in ours.weight_names] == [v.name for v in theirs.weights]
    # get_weights returns copies
    our_w[0][...] = 123.0
    assert not np.any(ours.get_weights()[0] == 123.0)


@pytest.mark.parametrize("cell,kw", WEIGHT_CASES)
def test_default_initialisation_matches_keras(cell, kw):
    """Same initialiser semantics as Keras: glorot-uniform kernel, orthogonal recurrent kernel,
    zero bias (LSTM: unit_forget_bias puts ones in the forget-gate block)."""
    units, features = 6, 5
    ours = LAYER_CLASSES[cell](units, **kw)
    ours.build((2, 3, features))
    theirs = _keras_layer(cell, units, **kw)
    theirs.build((None, 3, features))
    G = GATES[cell]
    limit = np.sqrt(6.0 / (features + G * units))
    for w in (ours.get_weights(), theirs.get_weights()):
        kernel, rk = w[0], w[1]
        assert np.all(np.abs(kernel) <= limit + 1e-7)
        assert np.abs(kernel).max() > 0.5 * limit
        # rows of an orthogonal [H, G*H] matrix are orthonormal
        np.testing.assert_allclose(rk @ rk.T, np.eye(units), atol=1e-5)
    if kw.get("use_bias", True):
        np.testing.assert_array_equal(ours.get_weights()[2], theirs.get_weights()[2])


@pytest.mark.parametrize("merge_mode", ["concat", None], ids=str)
@pytest.mark.parametrize("cell,kw", [WEIGHT_CASES[2], WEIGHT_CASES[4], WEIGHT_CASES[5]])
def test_bidirectional_weights_match_keras(cell, kw, merge_mode):
    """Weight list = forward layer's then backward layer's, like Keras; copying Keras' weights
    with set_weights gives Keras' outputs."""
    units, features, B, T = 5, 3, 3, 4
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, features)).astype(np.float32)
    ours = Bidirectional(LAYER_CLASSES[cell](units, return_sequences=True, **kw),
                         merge_mode=merge_mode)
    ours.build(x.shape)
    with tf.device("/CPU:0"):
        theirs = keras.layers.Bidirectional(
            _keras_layer(cell, units, return_sequences=True, **kw), merge_mode=merge_mode)
        theirs.build((None, T, features))
        their_w = theirs.get_weights()
        single = theirs.forward_layer.get_weights()
        assert len(their_w) == 2 * len(single)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in their_w]
        assert ours.count_params() == theirs.count_params()
        # Keras order: forward then backward
        for a, b in zip(their_w[:len(single)], single):
            np.testing.assert_array_equal(a, b)
        ours.set_weights(their_w)
        for a, b in zip(ours.forward_layer.get_weights(), theirs.forward_layer.get_weights()):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(ours.backward_layer.get_weights(),
                        theirs.backward_layer.get_weights()):
            np.testing.assert_array_equal(a, b)
        expected = theirs(tf.constant(x))
    result = ours(x)
    expected = [np.asarray(e) for e in expected] if merge_mode is None else [np.asarray(expected)]
    result = result if merge_mode is None else [result]
    for i, (o, e) in enumerate(zip(result, expected, strict=True)):
        assert_close(f"output[{i}]", o, e, FWD_TOL)


@pytest.mark.parametrize("cell,cell_opts", CELLS)
def test_keras_default_weights_set_weights_parity(cell, cell_opts):
    """A Keras layer with default initialisation: its get_weights() into a fastrnn layer gives
    the same outputs, states and gradients."""
    H, D = 9, 4
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, D)).astype(np.float32)
    with tf.device("/CPU:0"):
        klayer = make_layer(cell, H, return_sequences=True, return_state=True, **cell_opts)
        klayer.build((None, None, D))
        weights = klayer.get_weights()
    ours = LAYER_CLASSES[cell](H, return_sequences=True, return_state=True, **cell_opts)
    ours.build(x.shape)
    ours.set_weights(weights)
    d_out = rng.normal(size=(3, 5, H)).astype(np.float32)
    d_states = [rng.normal(size=(3, H)).astype(np.float32) for _ in range(n_states(cell))]
    k = keras_rnn(cell, x, *weights, *([None] if len(weights) == 2 else []),
                  d_output=d_out, d_states=d_states, **cell_opts)
    result = ours(x, training=True)
    assert_close("output", result[0], k["output"], FWD_TOL)
    for i, (o, t) in enumerate(zip(result[1:], k["states"], strict=True)):
        assert_close(f"state[{i}]", o, t, FWD_TOL)
    dx = ours.backward([d_out] + d_states)
    assert_close("dx", dx, k["grads"]["x"], GRAD_TOL)
    assert_weight_grads("layer", ours.grads, k["grads"], True)
