"""Property-based fuzzing of fastrnn.ops.rnn_forward / rnn_backward and of the recurrent layers
against the NumPy oracle (tests/reference.py).

Every generated call either matches the oracle or raises the documented exception for the
kind of bad input that was generated (TypeError: wrong dtype / not an array; ValueError: wrong
shape, non-contiguous array at the ops level, bad option). A valid call that raises, an
invalid call that succeeds, and a wrong exception type are all failures.

Tolerances (never loosened): float64 runs match the float64 oracle to 1e-8 relative to the
largest reference magnitude; float32 runs match the float64 oracle computed on the same
(float32-representable) inputs within |ours - ref| <= 1e-4 + 1e-4 * |ref| elementwise.

Profiles (hypothesis settings profiles, chosen with the FASTRNN_FUZZ environment variable):
  ci    (default)  derandomized: 200 examples per ops test, 100 per layer test; the whole
                   file runs in well under 60 s;
  long             5000 random examples per test, with the example database kept in
                   .hypothesis/ so that a failure can be replayed:

      FASTRNN_FUZZ=long PYTHONPATH=python python -m pytest tests/test_fuzz.py -q

  Under the sanitizers: FASTRNN_FUZZ=long tools/sanitize.sh tests/test_fuzz.py
"""
import os

import numpy as np
import pytest
import reference as ref
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from fastrnn import ops
from fastrnn.layers import GRU, LSTM, Bidirectional, SimpleRNN

settings.register_profile(
    "fastrnn-fuzz-ci", max_examples=200, deadline=None, derandomize=True, database=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile(
    "fastrnn-fuzz-long", max_examples=5000, deadline=None,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile(
    "fastrnn-fuzz-long" if os.environ.get("FASTRNN_FUZZ") == "long" else "fastrnn-fuzz-ci")
# Layer tests are a few times slower per example: a smaller share of the CI budget.
LAYER_PROFILE = settings(PROFILE, max_examples=max(40, PROFILE.max_examples // 2))

GATES = ref.GATES
ACTIVATIONS = list(ops.ACTIVATIONS)     # every one the kernels know (the oracle has each)
KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0), "keras2_hard_sigmoid": (-2.5, 2.5)}
LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
DOCUMENTED = (TypeError, ValueError, IndexError, MemoryError)


# ---------------------------------------------------------------------------------------------
# comparison

def check_close(name, ours, theirs, dtype):
    ours = np.asarray(ours)
    theirs = np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} != {theirs.shape}"
    assert ours.dtype == dtype, f"{name}: dtype {ours.dtype} != {dtype}"
    if ours.size == 0:
        return
    assert np.all(np.isfinite(ours)), f"{name}: not finite"
    diff = np.abs(ours.astype(np.float64) - theirs)
    if dtype == np.float64:
        # relative to the largest reference magnitude (1 for an all-zero reference)
        scale = np.abs(theirs).max()
        err = diff.max() / (scale if scale > 0 else 1.0)
        assert err < 1e-8, f"{name}: float64 relative error {err:.3g} >= 1e-8"
    else:
        bound = 1e-4 + 1e-4 * np.abs(theirs)
        worst = np.unravel_index(np.argmax(diff - bound), diff.shape)
        assert np.all(diff <= bound), (
            f"{name}: float32 error {diff[worst]:.3g} > {bound[worst]:.3g} at {worst} "
            f"(ours {ours[worst]!r}, reference {theirs[worst]!r})")


def _pre_activations(cache):
    """(values, "act" | "ract") for every activation input of a reference run."""
    p = cache["p"]
    out = []
    for s in cache["steps"]:
        if p.cell == "simple_rnn":
            out.append((s["pre"], "act"))
        elif p.cell == "lstm":
            out += [(s["pre"][[0, 1, 3]], "ract"), (s["pre"][2], "act"), (s["c_new"], "act")]
        else:
            out += [(s["a"][0] + s["u"][0], "ract"), (s["a"][1] + s["u"][1], "ract"),
                    (s["pre_h"], "act")]
    return out


def near_kink(cache, activation, recurrent_activation, tol):
    """True when a float32 run may take the other branch of a piecewise activation than the
    float64 oracle (a pre-activation within `tol` of a kink, but not exactly on it): there
    the derivative jumps and no tolerance is meaningful, so such examples are discarded."""
    for values, which in _pre_activations(cache):
        name = activation if which == "act" else recurrent_activation
        for k in KINKS.get(name, ()):
            d = np.abs(np.asarray(values) - k)
            if np.any((d > 0) & (d < tol)):
                return True
    return False


F32_MAGNITUDE = 50.0


def well_scaled(dtype, cache, *arrays):
    """The oracle's run stays in the range where the tolerance is meaningful for the dtype.

    float64: everything finite (relu/linear gates can grow doubly exponentially with T).
    float32: also no value (output, state, gradient, pre-activation) above F32_MAGNITUDE. A
    result that comes from cancelling terms of size M carries an inherent float32 error of a
    few ulps of M (~1e-7 * M; the NumPy oracle run in float32 shows the same error), which the
    absolute part (1e-4) of the elementwise bound covers only while M stays below ~50. Such
    examples are discarded, not compared with a looser bound; float64 covers every scale.
    """
    limit = F32_MAGNITUDE if dtype == np.float32 else 1e100
    values = [a for a in arrays if a is not None]
    if cache is not None:
        values += [v for v, _ in _pre_activations(cache)]
    return all(np.all(np.isfinite(v)) and (np.size(v) == 0 or np.abs(v).max() <= limit)
               for v in values)


# ---------------------------------------------------------------------------------------------
# problem generation

def layout(arr, how):
    """The same values in another memory layout (never a copy for 'contiguous')."""
    if how == "contiguous" or arr.ndim == 0 or arr.size == 0:
        return arr
    if how == "sliced":       # every other element of a twice-as-large buffer
        big = np.zeros(arr.shape[:-1] + (2 * arr.shape[-1],), arr.dtype)
        big[..., ::2] = arr
        return big[..., ::2]
    if how == "reversed":     # negative strides
        flipped = np.ascontiguousarray(arr[::-1])
        return flipped[::-1]
    if how == "fortran":
        return np.asfortranarray(arr)
    raise AssertionError(how)


def is_c_contiguous(a):
    return a is None or a.flags.c_contiguous


@st.composite
def problems(draw, allow_invalid=True):
    cell = draw(st.sampled_from(["simple_rnn", "lstm", "gru"]))
    G = GATES[cell]
    B = draw(st.integers(0, 4))
    T = draw(st.integers(0, 6))
    D = draw(st.integers(1, 4))
    H = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    wscale = draw(st.sampled_from([0.1, 0.5, 1.0, 1.5]))
    xscale = draw(st.sampled_from([0.0, 0.5, 1.0, 3.0]))
    opts = dict(
        activation=draw(st.sampled_from(ACTIVATIONS)),
        recurrent_activation=draw(st.sampled_from(ACTIVATIONS)),
        reset_after=draw(st.booleans()) if cell == "gru" else True,
        go_backwards=draw(st.booleans()),
        zero_output_for_mask=draw(st.booleans()))
    use_bias = draw(st.booleans())

    def arr(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    x = arr(B, T, D, scale=xscale)
    kernel = arr(D, G * H, scale=wscale / np.sqrt(D))
    rkernel = arr(H, G * H, scale=wscale / np.sqrt(H))
    bias_shape = (2, G * H) if cell == "gru" and opts["reset_after"] else (G * H,)
    bias = arr(*bias_shape, scale=0.5) if use_bias else None
    init = None
    if draw(st.booleans()):
        init = [arr(B, H, scale=0.5) for _ in range(2 if cell == "lstm" else 1)]
    mask_kind = draw(st.sampled_from(["none", "random", "all_false_rows", "all_false",
                                      "prefix"]))
    mask = None
    if mask_kind != "none":
        mask = rng.random((B, T)) < 0.6
        if mask_kind == "all_false_rows" and B:
            mask[rng.integers(0, B)] = False
        elif mask_kind == "all_false":
            mask[:] = False
        elif mask_kind == "prefix":
            mask = np.arange(T)[None] < rng.integers(0, T + 1, (B, 1))
        if draw(st.booleans()):
            mask = mask.astype(np.uint8)

    def dropout(width, kind):
        rate = 0.4
        shape = {"shared": (B, width), "per_gate": (G, B, width)}[kind]
        return ((rng.random(shape) >= rate) / (1 - rate)).astype(dtype)

    din_kind = draw(st.sampled_from(["none", "shared", "per_gate"]))
    drec_kind = draw(st.sampled_from(["none", "shared", "per_gate"]))
    din = None if din_kind == "none" else dropout(D, din_kind)
    drec = None if drec_kind == "none" else dropout(H, drec_kind)
    return_sequences = draw(st.booleans())
    grads = dict(
        d_outputs=arr(B, T, H) if return_sequences and draw(st.booleans()) else None,
        d_last=arr(B, H) if draw(st.booleans()) else None,
        d_states=[arr(B, H) if draw(st.booleans()) else None
                  for _ in range(2 if cell == "lstm" else 1)])
    p = dict(cell=cell, dtype=dtype, x=x, kernel=kernel, rkernel=rkernel, bias=bias, init=init,
             mask=mask, din=din, drec=drec, opts=opts, grads=grads,
             return_sequences=return_sequences, B=B, T=T, D=D, H=H)

    # What is wrong with the call (None: a valid call) and the exception it must raise.
    p["fault"], p["expect"] = None, None
    if allow_invalid and draw(st.integers(0, 3)) == 0:
        fault = draw(st.sampled_from([
            "x_layout", "kernel_layout", "x_dtype", "weight_dtype", "kernel_shape",
            "rkernel_shape", "bias_shape", "mask_shape", "mask_dtype", "init_shape",
            "dropout_shape", "activation", "cell", "x_rank", "x_not_array"]))
        p["fault"] = fault
        p["expect"] = inject_fault(draw, p, fault)
    return p


def inject_fault(draw, p, fault):
    cell, B, T, D, H, G = p["cell"], p["B"], p["T"], p["D"], p["H"], GATES[p["cell"]]
    if fault == "x_layout":
        if p["x"].ndim == 3 and p["x"].size > 0 and min(p["x"].shape) > 1:
            p["x"] = layout(p["x"], draw(st.sampled_from(["sliced", "reversed", "fortran"])))
            return ValueError
    elif fault == "kernel_layout":
        if min(p["kernel"].shape) > 1:
            p["kernel"] = layout(p["kernel"], draw(st.sampled_from(["sliced", "fortran"])))
            return ValueError
    elif fault == "x_dtype":
        p["x"] = p["x"].astype(draw(st.sampled_from(
            [np.float16, np.int32, np.int64, np.complex64, np.bool_, object, np.longdouble])))
        return TypeError
    elif fault == "weight_dtype":
        other = np.float32 if p["dtype"] == np.float64 else np.float64
        key = draw(st.sampled_from(["kernel", "rkernel"] + (["bias"] if p["bias"] is not None
                                                           else [])))
        p[key] = p[key].astype(other)
        return TypeError
    elif fault == "kernel_shape":
        p["kernel"] = np.zeros((D + 1, G * H), p["dtype"])
        return ValueError
    elif fault == "rkernel_shape":
        p["rkernel"] = np.zeros((H, G * H + 1), p["dtype"])
        return ValueError
    elif fault == "bias_shape":
        p["bias"] = np.zeros((G * H + 2,), p["dtype"])
        return ValueError
    elif fault == "mask_shape":
        p["mask"] = np.ones((B, T + 1), bool)
        return ValueError
    elif fault == "mask_dtype":
        p["mask"] = np.ones((B, T), draw(st.sampled_from([np.float32, np.int64, np.int8])))
        return TypeError
    elif fault == "init_shape":
        p["init"] = [np.zeros((B + 1, H), p["dtype"]) for _ in range(2 if cell == "lstm" else 1)]
        return ValueError
    elif fault == "dropout_shape":
        p["din"] = np.ones((G + 1, B, D), p["dtype"])
        return ValueError
    elif fault == "activation":
        p["opts"]["activation"] = draw(st.sampled_from(["softmax", "TANH", "", "gelu"]))
        return ValueError
    elif fault == "cell":
        p["cell"] = draw(st.sampled_from(["rnn", "LSTM", "cudnn_lstm"]))
        return ValueError
    elif fault == "x_rank":
        p["x"] = p["x"].reshape(p["x"].shape[:2] + (1, D))
        return ValueError
    elif fault == "x_not_array":
        p["x"] = p["x"].tolist()
        return TypeError
    p["fault"] = None    # the fault does not apply to this shape: a valid call
    return None


def reference_run(p):
    """Oracle forward (float64 on the same values) and backward."""
    f64 = (lambda a: None if a is None else np.asarray(a, np.float64))
    outs, states, cache = ref.rnn_forward(
        p["cell"], f64(p["x"]), f64(p["kernel"]), f64(p["rkernel"]), f64(p["bias"]),
        None if p["init"] is None else [f64(s) for s in p["init"]], p["mask"],
        dropout_mask=f64(p["din"]), recurrent_dropout_mask=f64(p["drec"]), **p["opts"])
    g = p["grads"]
    d_seq = np.zeros(outs.shape) if g["d_outputs"] is None else f64(g["d_outputs"]).copy()
    if g["d_last"] is not None and p["T"] > 0:
        d_seq[:, -1] += g["d_last"]
    grads = ref.rnn_backward(cache, d_seq, [f64(d) for d in g["d_states"]]
                             if any(d is not None for d in g["d_states"]) else None)
    return outs, states, cache, grads


# ---------------------------------------------------------------------------------------------
# ops

def run_ops(p):
    res = ops.rnn_forward(p["cell"], p["x"], p["kernel"], p["rkernel"], p["bias"], p["init"],
                          p["mask"], dropout_mask=p["din"], recurrent_dropout_mask=p["drec"],
                          training=True, return_sequences=p["return_sequences"], **p["opts"])
    g = p["grads"]
    grads = ops.rnn_backward(res.cache, d_outputs=g["d_outputs"], d_states=g["d_states"],
                             d_last=g["d_last"])
    return res, grads


@PROFILE
@given(problems())
def test_ops_match_reference_or_raise_documented(p):
    note(f"cell={p['cell']} dtype={np.dtype(p['dtype']).name} B,T,D,H={p['B'], p['T'], p['D'], p['H']} "
         f"opts={p['opts']} fault={p['fault']} return_sequences={p['return_sequences']}")
    if p["expect"] is not None:
        with pytest.raises(p["expect"]):
            run_ops(p)
        return
    outs, states, cache, rgrads = reference_run(p)
    assume(well_scaled(p["dtype"], cache, outs, *states, *(v for v in rgrads.values()
                                                           if not isinstance(v, list)),
                       *rgrads["initial_state"]))
    if p["dtype"] == np.float32 and p["T"] > 0:
        assume(not near_kink(cache, p["opts"]["activation"], p["opts"]["recurrent_activation"],
                             1e-4))
    inputs_before = [np.copy(a) for a in (p["x"], p["kernel"], p["rkernel"])]
    res, grads = run_ops(p)
    dt = np.dtype(p["dtype"])
    expected_out = outs if p["return_sequences"] else (
        outs[:, -1] if p["T"] > 0 else np.zeros((p["B"], p["H"])))
    check_close("outputs", res.outputs, expected_out, dt)
    for i, (s, r) in enumerate(zip(res.states, states)):
        check_close(f"states[{i}]", s, r, dt)
    check_close("d_x", grads["x"], rgrads["x"], dt)
    check_close("d_kernel", grads["kernel"], rgrads["kernel"], dt)
    check_close("d_recurrent_kernel", grads["recurrent_kernel"], rgrads["recurrent_kernel"], dt)
    if p["bias"] is None:
        assert grads["bias"] is None
    else:
        check_close("d_bias", grads["bias"], rgrads["bias"].reshape(p["bias"].shape), dt)
    for i, (s, r) in enumerate(zip(grads["initial_state"], rgrads["initial_state"])):
        check_close(f"d_initial_state[{i}]", s, r, dt)
    for before, after in zip(inputs_before, (p["x"], p["kernel"], p["rkernel"])):
        np.testing.assert_array_equal(before, after)    # inputs are never written


@PROFILE
@given(problems(allow_invalid=False))
def test_ops_inference_equals_training_forward(p):
    """training=False gives bitwise the outputs of training=True (same kernels, no cache)."""
    kw = dict(dropout_mask=p["din"], recurrent_dropout_mask=p["drec"],
              return_sequences=p["return_sequences"], **p["opts"])
    args = (p["cell"], p["x"], p["kernel"], p["rkernel"], p["bias"], p["init"], p["mask"])
    a = ops.rnn_forward(*args, training=False, **kw)
    b = ops.rnn_forward(*args, training=True, **kw)
    assert a.cache is None
    np.testing.assert_array_equal(a.outputs, b.outputs)
    for s, t in zip(a.states, b.states):
        np.testing.assert_array_equal(s, t)


# ---------------------------------------------------------------------------------------------
# layers

@st.composite
def layer_problems(draw):
    p = draw(problems(allow_invalid=False))
    assume(p["T"] > 0)
    p["return_state"] = draw(st.booleans())
    p["x_layout"] = draw(st.sampled_from(["contiguous", "sliced", "reversed", "fortran"]))
    p["x_input_dtype"] = draw(st.sampled_from(["same", "float64", "float16", "int"]))
    p["training"] = draw(st.booleans())
    return p


def make_layer(p):
    cls = LAYERS[p["cell"]]
    kw = dict(activation=p["opts"]["activation"], use_bias=p["bias"] is not None,
              return_sequences=p["return_sequences"], return_state=p["return_state"],
              go_backwards=p["opts"]["go_backwards"],
              zero_output_for_mask=p["opts"]["zero_output_for_mask"],
              dtype=np.dtype(p["dtype"]).name)
    if p["cell"] != "simple_rnn":
        kw["recurrent_activation"] = p["opts"]["recurrent_activation"]
    if p["cell"] == "gru":
        kw["reset_after"] = p["opts"]["reset_after"]
    if p["din"] is not None:
        kw["dropout"] = 0.4
    if p["drec"] is not None:
        kw["recurrent_dropout"] = 0.4
    layer = cls(p["H"], **kw)
    layer.build((None, None, p["D"]))
    layer.set_weights([p["kernel"], p["rkernel"]] + ([p["bias"]] if p["bias"] is not None
                                                     else []))
    return layer


@LAYER_PROFILE
@given(layer_problems())
def test_layers_match_reference(p):
    note(f"cell={p['cell']} dtype={np.dtype(p['dtype']).name} B,T,D,H={p['B'], p['T'], p['D'], p['H']} "
         f"opts={p['opts']} layout={p['x_layout']} input={p['x_input_dtype']}")
    layer = make_layer(p)
    x = p["x"]
    if p["x_input_dtype"] == "float64":
        x = x.astype(np.float64)
    elif p["x_input_dtype"] == "float16":
        x = x.astype(np.float16)
        p["x"] = x.astype(p["dtype"])       # the layer casts: the oracle sees the cast values
    elif p["x_input_dtype"] == "int":
        x = np.round(x).astype(np.int32)
        p["x"] = x.astype(p["dtype"])
    x = layout(x, p["x_layout"])
    x_before = np.copy(x)
    out = layer(x, mask=p["mask"], training=p["training"], initial_state=p["init"])
    np.testing.assert_array_equal(x, x_before)
    if p["training"]:     # the layer drew its own dropout masks: give them to the oracle
        cache = layer._pending[0]
        p["din"], p["drec"] = cache.dropout_mask, cache.recurrent_dropout_mask
    else:
        p["din"] = p["drec"] = None
    outs, states, cache, rgrads = reference_run(p)
    assume(well_scaled(p["dtype"], cache, outs, *states, *(v for v in rgrads.values()
                                                           if not isinstance(v, list)),
                       *rgrads["initial_state"]))
    if p["dtype"] == np.float32:
        assume(not near_kink(cache, p["opts"]["activation"], p["opts"]["recurrent_activation"],
                             1e-4))
    dt = np.dtype(p["dtype"])
    results = out if p["return_state"] else [out]
    expected = outs if p["return_sequences"] else outs[:, -1]
    check_close("output", results[0], expected, dt)
    for i, (s, r) in enumerate(zip(results[1:], states)):
        check_close(f"state[{i}]", s, r, dt)
    if not p["training"]:
        return
    g = p["grads"]
    d_out = g["d_outputs"] if p["return_sequences"] else g["d_last"]
    if d_out is None:
        d_out = np.zeros(results[0].shape, p["dtype"])
    if p["return_state"]:
        dx = layer.backward([d_out] + list(g["d_states"]))
    else:
        dx = layer.backward(d_out)
        g["d_states"] = [None] * len(g["d_states"])
    # the oracle's upstream gradient in the same form
    g["d_outputs"] = d_out if p["return_sequences"] else None
    g["d_last"] = None if p["return_sequences"] else d_out
    _, _, _, rgrads = reference_run(p)
    check_close("d_x", dx, rgrads["x"], dt)
    check_close("d_kernel", layer.grads[0], rgrads["kernel"], dt)
    check_close("d_recurrent_kernel", layer.grads[1], rgrads["recurrent_kernel"], dt)
    if p["bias"] is not None:
        check_close("d_bias", layer.grads[2], rgrads["bias"].reshape(p["bias"].shape), dt)
    if p["init"] is not None:
        for i, (s, r) in enumerate(zip(layer.initial_state_grads, rgrads["initial_state"])):
            check_close(f"d_initial_state[{i}]", s, r, dt)


@LAYER_PROFILE
@given(problems(allow_invalid=False), st.sampled_from(["concat", "sum", "ave", "mul"]))
def test_bidirectional_matches_reference(p, merge_mode):
    assume(p["T"] > 0)
    cls = LAYERS[p["cell"]]
    kw = dict(activation=p["opts"]["activation"], use_bias=p["bias"] is not None,
              return_sequences=p["return_sequences"], dtype=np.dtype(p["dtype"]).name)
    if p["cell"] != "simple_rnn":
        kw["recurrent_activation"] = p["opts"]["recurrent_activation"]
    if p["cell"] == "gru":
        kw["reset_after"] = p["opts"]["reset_after"]
    bi = Bidirectional(cls(p["H"], **kw), merge_mode=merge_mode)
    bi.build((None, None, p["D"]))
    fw = [p["kernel"], p["rkernel"]] + ([p["bias"]] if p["bias"] is not None else [])
    bw = [a[..., ::-1].copy() for a in fw]        # different weights for the other direction
    bi.set_weights(fw + bw)
    out = bi(p["x"], mask=p["mask"])
    f64 = (lambda ws: [np.asarray(w, np.float64) for w in ws] + ([] if p["bias"] is not None
                                                                  else [None]))
    expected, cache = ref.bidirectional_forward(
        p["cell"], np.asarray(p["x"], np.float64), f64(fw), f64(bw), mask=p["mask"],
        merge_mode=merge_mode, return_sequences=p["return_sequences"],
        activation=p["opts"]["activation"],
        recurrent_activation=p["opts"]["recurrent_activation"],
        reset_after=p["opts"]["reset_after"])
    for c in (cache["fw"], cache["bw"]):
        assume(well_scaled(p["dtype"], c, expected))
        if p["dtype"] == np.float32:
            assume(not near_kink(c, p["opts"]["activation"], p["opts"]["recurrent_activation"],
                                 1e-4))
    check_close("output", out, expected, np.dtype(p["dtype"]))


@LAYER_PROFILE
@given(st.sampled_from(["simple_rnn", "lstm", "gru"]),
       st.sampled_from([np.complex64, object, "U3", "S2", "datetime64[s]"]))
def test_layers_reject_non_numeric_inputs(cell, dtype):
    layer = LAYERS[cell](3)
    layer.build((None, None, 2))
    with pytest.raises(TypeError):
        layer(np.zeros((2, 3, 2), dtype=dtype))


@PROFILE
@given(st.sampled_from(["simple_rnn", "lstm", "gru"]), st.integers(1, 3), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 4))
def test_ops_never_write_read_only_inputs(cell, B, T, D, H):
    rng = np.random.default_rng(B * 1000 + T * 100 + D * 10 + H)
    G = GATES[cell]
    bias_shape = (2, G * H) if cell == "gru" else (G * H,)     # GRU: reset_after=True
    arrays = [rng.standard_normal(s) for s in ((B, T, D), (D, G * H), (H, G * H), bias_shape)]
    for a in arrays:
        a.flags.writeable = False
    res = ops.rnn_forward(cell, *arrays)
    g = ops.rnn_backward(res.cache, d_outputs=np.ones_like(res.outputs))
    assert np.isfinite(g["kernel"]).all()
