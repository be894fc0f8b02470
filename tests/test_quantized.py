"""Reduced-precision inference (`Model.quantize` / `layer.quantize`, `RnnKernel.set_precision`).

Oracle: the NumPy reference (tests/reference.py, float64) run on the same rounding as the
kernels (cpp/src/quantized.hpp): weights rounded to bfloat16, or quantised int8 per column and
dequantised; every step's x and h rows rounded to bfloat16 or quantised int8 per row and
dequantised before they enter a product (the step functions are wrapped). What remains
between kernel and oracle is float32 summation and h kept in float32, far below one
quantisation step: TIGHT. Against the float32 result (the Keras-parity reference, unquantised)
the difference is the quantisation itself: LOOSE (see there).

Every product implementation the CPU has runs on every case: AMX tiles, AVX512_BF16 /
AVX512_VNNI register tiles, and the portable loops (`_core.limit_precision_isa`).
"""
import numpy as np
import pytest
import reference as ref
from fastrnn import Sequential, _core
from fastrnn.layers import (GRU, LSTM, RNN, Bidirectional, Dense, Embedding, LSTMCell,
                            SimpleRNN)

LAYERS = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}
MODES = ("bfloat16", "int8")
# Kernel vs the emulating oracle: float32 sums of <= 128 products and float32 states, against
# a quantisation step of 2^-8 (bfloat16) or 1/127 (int8) of the row's largest value.
TIGHT = dict(atol=2e-5, rtol=2e-5)
# Kernel vs unquantised float32: every weight and activation off by up to half a step
# (2^-9 relative for bfloat16, max/254 for int8), summed over D + H products of a gate and
# carried through T steps; measured at most 0.005 (bfloat16) and 0.013 (int8) on these
# problems (and the oracle's own emulation differs from float32 as much): a 4x margin.
LOOSE = {"bfloat16": dict(atol=0.02, rtol=0.02), "int8": dict(atol=0.05, rtol=0.05)}


@pytest.fixture(params=["best", "avx512", "portable"])
def isa(request):
    _core.limit_precision_isa(request.param)
    yield request.param
    _core.limit_precision_isa("best")


# ---- the rounding, in NumPy ----------------------------------------------------------------
def bf16(a):
    """float32 -> bfloat16 -> float32, round to nearest even."""
    b = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32)


def int8(a, axis):
    """Symmetric int8 quantisation along `axis` (the max over it), dequantised."""
    a = np.asarray(a, np.float32)
    mx = np.max(np.abs(a), axis=axis, keepdims=True)
    safe = np.where(mx > 0, mx, np.float32(1))
    inv = np.where(mx > 0, np.float32(127) / safe, np.float32(0)).astype(np.float32)
    q = np.clip(np.rint(a * inv), -127, 127)
    return q.astype(np.float64) * (mx / np.float32(127)).astype(np.float64)


def round_weights(mode, w):
    return bf16(w).astype(np.float64) if mode == "bfloat16" else int8(w, axis=0)


def round_rows(mode, a):
    return bf16(a).astype(np.float64) if mode == "bfloat16" else int8(a, axis=-1)


def quantized_reference(monkeypatch, mode, cell, x, kernel, recurrent_kernel, bias, **kw):
    """reference.rnn_forward with the kernels' rounding of weights and product inputs."""
    step, backward = ref._STEPS[cell]

    def rounded_step(p, xg, hg, h, c):
        return step(p, round_rows(mode, xg), round_rows(mode, hg), h, c)

    monkeypatch.setitem(ref._STEPS, cell, (rounded_step, backward))
    try:
        return ref.rnn_forward(cell, np.asarray(x, np.float64), round_weights(mode, kernel),
                               round_weights(mode, recurrent_kernel),
                               None if bias is None else np.asarray(bias, np.float64), **kw)
    finally:
        monkeypatch.setitem(ref._STEPS, cell, (step, backward))


def problem(cell, B, T, D, H, seed, mask=False):
    rng = np.random.default_rng(seed)
    G = ref.GATES[cell]
    bias_shape = (2, G * H) if cell == "gru" else (G * H,)
    w = dict(kernel=rng.uniform(-1, 1, (D, G * H)) / np.sqrt(D),
             recurrent_kernel=rng.uniform(-1, 1, (H, G * H)) / np.sqrt(H),
             bias=rng.uniform(-0.3, 0.3, bias_shape))
    w = {k: v.astype(np.float32) for k, v in w.items()}
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    m = None
    if mask:
        m = rng.random((B, T)) > 0.3
        m[0] = True
        m[1, :2] = False
    init = [rng.uniform(-0.5, 0.5, (B, H)).astype(np.float32)
            for _ in range(2 if cell == "lstm" else 1)]
    return x, w, m, init


def assert_close(ours, theirs, atol, rtol):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert np.all(np.isfinite(ours))
    err = np.abs(ours - theirs) - (atol + rtol * np.abs(theirs))
    diff = np.abs(ours - theirs).max()
    assert err.max() <= 0, f"max excess {err.max():.3g}, max |diff| {diff:.3g}"


# ---- the kernel object, against the oracle ------------------------------------------------
# (B, T, D, H): partial unit blocks; batches below 4 (x W before the loop), of thin tiles and
# (40: a thread's rows > 16) of wide AMX tiles. H=128 LSTM and H=256 GRU split threads by
# unit columns.
SIZES = [(3, 5, 6, 20), (7, 4, 33, 40), (40, 3, 20, 24)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: "B{}T{}D{}H{}".format(*s))
@pytest.mark.parametrize("backwards,masked", [(False, False), (True, True)],
                         ids=["plain", "backwards_masked"])
def test_kernel_matches_emulating_reference(monkeypatch, isa, mode, cell, size, backwards,
                                            masked):
    B, T, D, H = size
    x, w, m, init = problem(cell, B, T, D, H, seed=sum(size) + len(cell), mask=masked)
    k = _core.RnnKernel(cell, D, H, go_backwards=backwards)
    k.bind_weights(w["kernel"], w["recurrent_kernel"], w["bias"])
    k.set_precision(mode)
    assert k.precision == mode
    out, states = k.forward(x, init, m, None, None, training=False, return_sequences=True)
    r_out, r_states, _ = quantized_reference(monkeypatch, mode, cell, x, **w, initial_state=init,
                                             mask=m, go_backwards=backwards)
    assert_close(out, r_out, **TIGHT)
    for s, r in zip(states, r_states, strict=True):
        assert_close(s, r, **TIGHT)
    f_out, f_states, _ = ref.rnn_forward(cell, x.astype(np.float64), **w, initial_state=init,
                                         mask=m, go_backwards=backwards)
    assert_close(out, f_out, **LOOSE[mode])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cell,H", [("lstm", 128), ("gru", 256)])
def test_column_split_matches_reference(monkeypatch, isa, mode, cell, H):
    x, w, _, _ = problem(cell, 2, 3, 8, H, seed=3)
    k = _core.RnnKernel(cell, 8, H)
    k.bind_weights(w["kernel"], w["recurrent_kernel"], w["bias"])
    k.set_precision(mode)
    out, _ = k.forward(x, None, None, None, None, training=False, return_sequences=True)
    r_out, _, _ = quantized_reference(monkeypatch, mode, cell, x, **w)
    assert_close(out, r_out, **TIGHT)


@pytest.mark.parametrize("batch", [5, 40])
def test_int8_paths_agree_bitwise_and_bf16_closely(batch):
    """AMX, VNNI and the portable loop do the same integer arithmetic; bf16 differs by sums
    only."""
    x, w, m, init = problem("lstm", batch, 6, 10, 40, seed=11, mask=True)
    k = _core.RnnKernel("lstm", 10, 40)
    k.bind_weights(w["kernel"], w["recurrent_kernel"], w["bias"])
    results = {}
    isas = ("best", "avx512", "portable")
    for mode in MODES:
        k.set_precision(mode)
        for isa in isas:
            _core.limit_precision_isa(isa)
            results[mode, isa] = k.forward(x, init, m, None, None, training=False)[0]
    _core.limit_precision_isa("best")
    for isa in isas[1:]:
        np.testing.assert_array_equal(results["int8", "best"], results["int8", isa])
        assert_close(results["bfloat16", "best"], results["bfloat16", isa], atol=1e-6, rtol=1e-6)
    assert _core.precision_isa("float32") == "float32"
    assert _core.precision_isa("int8") in ("amx_int8", "avx512_vnni", "portable")
    _core.limit_precision_isa("portable")
    assert _core.precision_isa("bfloat16") == "portable"
    _core.limit_precision_isa("best")
    with pytest.raises(ValueError, match="isa: expected one of 'best', 'avx512', 'portable', "
                                         "got 'sse'"):
        _core.limit_precision_isa("sse")


def test_weights_change_repacks():
    x, w, _, _ = problem("gru", 2, 3, 4, 16, seed=5)
    k = _core.RnnKernel("gru", 4, 16)
    k.bind_weights(w["kernel"], w["recurrent_kernel"], w["bias"])
    k.set_precision("int8")
    first = k.forward(x, None, None, None, None, training=False)[0]
    w["recurrent_kernel"] *= 0.5   # in place: stale until drop_packed_weights
    np.testing.assert_array_equal(k.forward(x, None, None, None, None, training=False)[0], first)
    k.drop_packed_weights()
    assert np.abs(k.forward(x, None, None, None, None, training=False)[0] - first).max() > 1e-3


# ---- the Keras API ---------------------------------------------------------------------------
def seed_like_model(layer):
    model = Sequential([Embedding(50, 12), layer, Dense(1, activation="sigmoid")])
    model.build((None, 9))
    return model


@pytest.mark.parametrize("mode", MODES)
def test_model_quantize_bidirectional_stacked_masked(monkeypatch, mode):
    """Embedding(mask_zero) -> Bidirectional(LSTM seq) -> GRU -> Dense, as the seeds stack
    them: quantized predict equals the oracle chained layer by layer."""
    model = Sequential([Embedding(50, 12, mask_zero=True),
                        Bidirectional(LSTM(16, return_sequences=True)), GRU(20),
                        Dense(1, activation="sigmoid")])
    model.build((None, 9))
    ids = np.random.default_rng(2).integers(1, 50, (6, 9))
    ids[:3, :4] = 0   # padding: masked steps
    f32 = model.predict(ids, verbose=0)
    model.quantize(mode)
    assert [getattr(layer, "quantization_mode", None) for layer in model.layers] == \
        [None, mode, mode, None]
    got = model.predict(ids, verbose=0)

    emb, bi, gru, dense = model.layers
    x = emb.get_weights()[0][ids]
    mask = ids != 0
    fw, bw = bi.forward_layer.get_weights(), bi.backward_layer.get_weights()
    y_fw = quantized_reference(monkeypatch, mode, "lstm", x, *fw, mask=mask,
                               zero_output_for_mask=True)[0]
    y_bw = quantized_reference(monkeypatch, mode, "lstm", x, *bw, mask=mask, go_backwards=True,
                               zero_output_for_mask=True)[0]
    seq = np.concatenate([y_fw, y_bw[:, ::-1]], axis=-1).astype(np.float32)
    h = quantized_reference(monkeypatch, mode, "gru", seq, *gru.get_weights(), mask=mask)[0][:, -1]
    k, b = dense.get_weights()
    expect = ref.activation_fn("sigmoid")(h @ k + b)
    assert_close(got, expect, atol=1e-4, rtol=1e-4)
    assert_close(got, f32, **LOOSE[mode])


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_layer_call_and_weights_unchanged(cell):
    layer = LAYERS[cell](8, return_sequences=True)
    model = seed_like_model(layer)
    before = [w.copy() for w in model.get_weights()]
    x = np.random.default_rng(0).standard_normal((2, 5, 12)).astype(np.float32)
    f32 = layer(x)
    layer.quantize("int8")
    q = layer(x)
    assert q.shape == f32.shape and np.abs(q - f32).max() > 0
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    layer.set_weights([w * 0.5 for w in layer.get_weights()])   # repacked on the next call
    fresh = LAYERS[cell](8, return_sequences=True)
    seed_like_model(fresh).layers[1].set_weights(layer.get_weights())
    fresh.quantize("int8")
    np.testing.assert_array_equal(layer(x), fresh(x))


def test_stateful_stream_is_quantized():
    layer = LSTM(16, stateful=True, return_sequences=True)
    model = Sequential([layer])
    model.build((2, 4, 3))
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
    stateless = LSTM(16, return_sequences=True)
    Sequential([stateless]).build((None, 4, 3))
    stateless.set_weights(layer.get_weights())
    for lay in (layer, stateless):
        lay.quantize("bfloat16")
    np.testing.assert_array_equal(layer(x), stateless(x))


def test_refusals(tmp_path):
    model = seed_like_model(LSTM(8))
    model.compile("rmsprop", "binary_crossentropy")
    with pytest.raises(ValueError,
                       match=r"mode expected one of \('int8', 'bfloat16'\), got 'int4'"):
        model.quantize("int4")
    with pytest.raises(ValueError, match="mode expected one of .* got None"):
        model.quantize()
    with pytest.raises(NotImplementedError, match="config"):
        model.quantize("int8", config=object())
    unbuilt = Sequential([Embedding(50, 12), LSTM(8)])
    with pytest.raises(ValueError, match="isn't yet built"):
        unbuilt.quantize("int8")
    model.quantize("int8", filters="no_such_layer")   # nothing matches: nothing quantized
    assert model.layers[1].quantization_mode is None
    model.quantize("int8")
    with pytest.raises(ValueError, match="already quantized with mode='int8'"):
        model.quantize("bfloat16")
    ids = np.ones((4, 9), np.int64)
    with pytest.raises(RuntimeError, match="training a quantized layer"):
        model.fit(ids, np.ones(4), verbose=0)
    with pytest.raises(ValueError, match="the model is quantized"):
        model.save(str(tmp_path / "m.keras"))
    model.save_weights(str(tmp_path / "m.weights.h5"))   # the float32 weights
    with pytest.raises(ValueError, match="reset_after=True"):
        seed_like_model(GRU(8, reset_after=False)).quantize("int8")
    generic = seed_like_model(Bidirectional(RNN(LSTMCell(4))))
    with pytest.warns(UserWarning, match="RNN layers cannot be quantized"):
        generic.quantize("int8")
    assert generic.layers[1].quantization_mode is None
    k = _core.RnnKernel("lstm", 3, 4, dtype=np.float64)
    with pytest.raises(ValueError, match="float32"):
        k.set_precision("int8")
    with pytest.raises(ValueError, match="precision: expected one of 'float32', 'bfloat16', "
                                         "'int8', got 'fp8'"):
        k.set_precision("fp8")
    with pytest.raises(ValueError, match="int8 needs input and units <= 65536"):
        _core.RnnKernel("simple_rnn", 70000, 2).set_precision("int8")
    k32 = _core.RnnKernel("lstm", 3, 4)
    k32.bind_weights(np.zeros((3, 16), np.float32), np.zeros((4, 16), np.float32),
                     np.zeros(16, np.float32))
    k32.set_precision("bfloat16")
    with pytest.raises(RuntimeError, match="training forward with reduced-precision"):
        k32.forward(np.zeros((1, 2, 3), np.float32), None, None, None, None, training=True)


def test_nonfinite_input_propagates():
    layer = GRU(8)
    seed_like_model(layer)
    x = np.zeros((2, 3, 12), np.float32)
    x[0, 1, 2] = np.nan
    layer.quantize("int8")
    out = layer(x)
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
