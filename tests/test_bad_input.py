"""Every documented error of fastrnn.ops and of the recurrent layers (no TensorFlow).

The ops contract (python/fastrnn/ops.py): "Anything else raises TypeError/ValueError naming the
argument, with expected and actual value." Each check below matches the exception type AND a
message that names the argument and shows what was expected and what was given.
Layers, on the other hand, convert array-likes (float64, int, non-contiguous) to float32.
"""

import re

import fastrnn
import numpy as np
import pytest
from fastrnn import ops
from fastrnn.layers import GRU, LSTM, Bidirectional, Layer, SimpleRNN

B, T, D, H = 4, 5, 3, 2
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def esc(text):
    return re.escape(str(text))


def good_args(cell="lstm", dtype=np.float32, reset_after=True, seed=0):
    """Valid positional arguments of ops.rnn_forward for `cell`."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    x = rng.normal(size=(B, T, D)).astype(dtype)
    kernel = rng.normal(size=(D, G * H)).astype(dtype)
    rk = rng.normal(size=(H, G * H)).astype(dtype)
    bias_shape = (2, G * H) if cell == "gru" and reset_after else (G * H,)
    bias = rng.normal(size=bias_shape).astype(dtype)
    init = [rng.normal(size=(B, H)).astype(dtype) for _ in range(2 if cell == "lstm" else 1)]
    mask = np.ones((B, T), bool)
    return dict(x=x, kernel=kernel, recurrent_kernel=rk, bias=bias, initial_state=init,
                mask=mask)


def forward(cell="lstm", **override):
    kw = {k: v for k, v in override.items()
          if k not in ("x", "kernel", "recurrent_kernel", "bias", "initial_state", "mask")}
    a = good_args(cell, reset_after=kw.get("reset_after", True))
    a.update({k: v for k, v in override.items() if k in a})
    return ops.rnn_forward(cell, a["x"], a["kernel"], a["recurrent_kernel"], a["bias"],
                           a["initial_state"], a["mask"], **kw)


def test_good_arguments_work():
    for cell in GATES:
        res = forward(cell)
        assert res.outputs.shape == (B, T, H)


# ---------------------------------------------------------------------------------------------
# ops: x

@pytest.mark.parametrize("shape", [(B, T), (B, T, D, 1), (T,)], ids=["2d", "4d", "1d"])
def test_ops_x_wrong_rank(shape):
    x = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=rf"^x: expected a 3-D array.*got {len(shape)}-D "
                                          rf"shape {esc(shape)}"):
        forward(x=x)


def test_ops_x_not_an_array():
    with pytest.raises(TypeError, match=r"^x: expected a NumPy array, got list"):
        forward(x=np.zeros((B, T, D), np.float32).tolist())


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, object, np.float16,
                                   np.complex64],
                         ids=["int64", "int32", "bool", "object", "float16", "complex64"])
def test_ops_x_bad_dtype(dtype):
    x = np.zeros((B, T, D), dtype)
    with pytest.raises(TypeError, match=rf"^x: expected dtype float32 or float64, got "
                                        rf"{esc(np.dtype(dtype))}$"):
        forward(x=x)


def test_ops_x_non_native_byte_order():
    x = np.zeros((B, T, D), np.dtype(">f4"))
    with pytest.raises(TypeError, match=r"^x: expected dtype float32 or float64, got >f4"):
        forward(x=x)


@pytest.mark.parametrize("view", ["strided_time", "strided_features", "negative_batch",
                                  "negative_time", "transposed"])
def test_ops_x_non_contiguous(view):
    big = np.zeros((2 * B, 2 * T, 2 * D), np.float32)
    x = {"strided_time": big[:B, ::2, :D], "strided_features": big[:B, :T, ::2][..., :D],
         "negative_batch": big[:B, :T, :D].copy()[::-1],
         "negative_time": big[:B, :T, :D].copy()[:, ::-1],
         "transposed": np.zeros((D, T, B), np.float32).transpose(2, 1, 0)}[view]
    assert x.shape == (B, T, D) and not x.flags.c_contiguous
    with pytest.raises(ValueError, match=r"^x: expected a C-contiguous array"):
        forward(x=x)


def test_ops_x_zero_features():
    with pytest.raises(ValueError, match=r"^x: the features dimension must be >= 1, got 0"):
        forward(x=np.zeros((B, T, 0), np.float32), kernel=np.zeros((0, 4 * H), np.float32))


# ---------------------------------------------------------------------------------------------
# ops: weights

@pytest.mark.parametrize("cell", list(GATES))
def test_ops_kernel_wrong_shape(cell):
    G = GATES[cell]
    bad = np.zeros((D, G * H + 1), np.float32)
    with pytest.raises(ValueError, match=rf"^kernel: expected shape {esc((D, G * H))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(cell, kernel=bad)
    bad = np.zeros((D + 1, G * H), np.float32)
    with pytest.raises(ValueError, match=rf"^kernel: expected shape {esc((D, G * H))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(cell, kernel=bad)


def test_ops_kernel_wrong_rank():
    bad = np.zeros((D * 4 * H,), np.float32)
    with pytest.raises(ValueError, match=rf"^kernel: expected shape {esc((D, 4 * H))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(kernel=bad)


def test_ops_kernel_not_contiguous():
    k = np.asfortranarray(np.zeros((D, 4 * H), np.float32))
    with pytest.raises(ValueError, match=r"^kernel: expected a C-contiguous array"):
        forward(kernel=k)


@pytest.mark.parametrize("cell", list(GATES))
def test_ops_recurrent_kernel_wrong_shape(cell):
    G = GATES[cell]
    bad = np.zeros((H, G * H + 2), np.float32)
    with pytest.raises(ValueError, match=rf"^recurrent_kernel: expected shape "
                                         rf"{esc((H, G * H))}, got {esc(bad.shape)}$"):
        forward(cell, recurrent_kernel=bad)


def test_ops_recurrent_kernel_wrong_rank():
    bad = np.zeros((4 * H,), np.float32)
    with pytest.raises(ValueError, match=rf"^recurrent_kernel: expected a 2-D array.*got 1-D "
                                         rf"shape {esc(bad.shape)}"):
        forward(recurrent_kernel=bad)


def test_ops_recurrent_kernel_zero_units():
    with pytest.raises(ValueError, match=r"^recurrent_kernel: units must be >= 1, got 0"):
        forward(recurrent_kernel=np.zeros((0, 0), np.float32))


def test_ops_recurrent_kernel_not_an_array():
    rk = np.zeros((H, 4 * H), np.float32).tolist()
    with pytest.raises(TypeError, match=r"^recurrent_kernel: expected a NumPy array, got list"):
        forward(recurrent_kernel=rk)


def test_ops_kernel_not_an_array():
    with pytest.raises(TypeError, match=r"^kernel: expected a NumPy array, got list"):
        forward(kernel=np.zeros((D, 4 * H), np.float32).tolist())


def test_ops_kernel_none():
    with pytest.raises(TypeError, match=rf"^kernel: expected an array of shape "
                                        rf"{esc((D, 4 * H))}, got None"):
        forward(kernel=None)


@pytest.mark.parametrize("cell,reset_after,bad_shape", [
    ("simple_rnn", True, (H + 1,)),
    ("lstm", True, (4 * H, 1)),
    ("lstm", True, (3 * H,)),
    ("gru", True, (3 * H,)),            # reset_after needs [2, 3H]
    ("gru", True, (6 * H,)),
    ("gru", False, (2, 3 * H)),         # reset_before needs [3H]
], ids=["simple_rnn", "lstm_2d", "lstm_short", "gru_after_flat", "gru_after_6h",
        "gru_before_2d"])
def test_ops_bias_wrong_shape(cell, reset_after, bad_shape):
    G = GATES[cell]
    expected = (2, G * H) if cell == "gru" and reset_after else (G * H,)
    with pytest.raises(ValueError, match=rf"^bias: expected shape {esc(expected)}, got "
                                         rf"{esc(bad_shape)}$"):
        forward(cell, bias=np.zeros(bad_shape, np.float32), reset_after=reset_after)


@pytest.mark.parametrize("arg", ["kernel", "recurrent_kernel", "bias"])
def test_ops_weight_dtype_mismatch(arg):
    a = good_args("lstm")
    bad = a[arg].astype(np.float64)
    with pytest.raises(TypeError, match=rf"^{arg}: expected dtype float32 \(the dtype of x\), "
                                        r"got float64$"):
        forward(**{arg: bad})


def test_ops_weights_float32_with_float64_x():
    a = good_args("gru", dtype=np.float64)
    with pytest.raises(TypeError, match=r"^kernel: expected dtype float64 \(the dtype of x\), "
                                        r"got float32$"):
        ops.rnn_forward("gru", a["x"], a["kernel"].astype(np.float32), a["recurrent_kernel"],
                        a["bias"])


# ---------------------------------------------------------------------------------------------
# ops: states, mask, dropout masks

@pytest.mark.parametrize("cell,index", [("simple_rnn", 0), ("lstm", 0), ("lstm", 1),
                                        ("gru", 0)])
def test_ops_initial_state_wrong_shape(cell, index):
    init = good_args(cell)["initial_state"]
    init[index] = np.zeros((B, H + 1), np.float32)
    with pytest.raises(ValueError, match=rf"^initial_state\[{index}\]: expected shape "
                                         rf"{esc((B, H))}, got {esc((B, H + 1))}$"):
        forward(cell, initial_state=init)
    init[index] = np.zeros((B + 1, H), np.float32)
    with pytest.raises(ValueError, match=rf"^initial_state\[{index}\]: expected shape "
                                         rf"{esc((B, H))}, got {esc((B + 1, H))}$"):
        forward(cell, initial_state=init)


@pytest.mark.parametrize("cell,given", [("lstm", 1), ("lstm", 3), ("gru", 2),
                                        ("simple_rnn", 2)])
def test_ops_initial_state_wrong_count(cell, given):
    need = 2 if cell == "lstm" else 1
    init = [np.zeros((B, H), np.float32)] * given
    with pytest.raises(ValueError, match=rf"^initial_state: expected a list of {need} "
                                         rf"array\(s\) for {cell}, got {given}$"):
        forward(cell, initial_state=init)


def test_ops_initial_state_single_array_for_lstm():
    with pytest.raises(ValueError, match=r"^initial_state: expected a list of 2 array\(s\) for "
                                         r"lstm, got 1$"):
        forward("lstm", initial_state=np.zeros((B, H), np.float32))


def test_ops_initial_state_dtype_mismatch():
    init = [np.zeros((B, H), np.float64), np.zeros((B, H), np.float32)]
    with pytest.raises(TypeError, match=r"^initial_state\[0\]: expected dtype float32 \(the "
                                        r"dtype of x\), got float64$"):
        forward("lstm", initial_state=init)


@pytest.mark.parametrize("bad_shape", [(B, T + 1), (B + 1, T), (B * T,), (B, T, 1)],
                         ids=["long", "batch", "flat", "3d"])
def test_ops_mask_wrong_shape(bad_shape):
    with pytest.raises(ValueError, match=rf"^mask: expected shape {esc((B, T))}, got "
                                         rf"{esc(bad_shape)}$"):
        forward(mask=np.ones(bad_shape, bool))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8, np.float64],
                         ids=["float32", "int64", "int8", "float64"])
def test_ops_mask_wrong_dtype(dtype):
    with pytest.raises(TypeError, match=rf"^mask: expected dtype bool or uint8, got "
                                        rf"{esc(np.dtype(dtype))}$"):
        forward(mask=np.ones((B, T), dtype))


def test_ops_mask_not_contiguous():
    mask = np.ones((B, 2 * T), bool)[:, ::2]
    with pytest.raises(ValueError, match=r"^mask: expected a C-contiguous array"):
        forward(mask=mask)


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("arg,width", [("dropout_mask", D), ("recurrent_dropout_mask", H)])
def test_ops_dropout_mask_wrong_shape(cell, arg, width):
    G = GATES[cell]
    bad = np.ones((B, width + 1), np.float32)                 # shared form, wrong width
    with pytest.raises(ValueError, match=rf"^{arg}: expected shape {esc((B, width))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(cell, **{arg: bad})
    bad = np.ones((G + 1, B, width), np.float32)              # per-gate form, wrong groups
    with pytest.raises(ValueError, match=rf"^{arg}: expected shape {esc((G, B, width))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(cell, **{arg: bad})
    bad = np.ones((G, B + 1, width), np.float32)              # per-gate form, wrong batch
    with pytest.raises(ValueError, match=rf"^{arg}: expected shape {esc((G, B, width))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(cell, **{arg: bad})
    bad = np.ones((B * width,), np.float32)                   # 1-D
    with pytest.raises(ValueError, match=rf"^{arg}: expected shape {esc((B, width))}, got "
                                         rf"{esc(bad.shape)}$"):
        forward(cell, **{arg: bad})


@pytest.mark.parametrize("arg,width", [("dropout_mask", D), ("recurrent_dropout_mask", H)])
def test_ops_dropout_mask_dtype_and_layout(arg, width):
    with pytest.raises(TypeError, match=rf"^{arg}: expected dtype float32 \(the dtype of x\), "
                                        r"got float64$"):
        forward(**{arg: np.ones((B, width), np.float64)})
    with pytest.raises(TypeError, match=rf"^{arg}: expected dtype float32 \(the dtype of x\), "
                                        r"got bool$"):
        forward(**{arg: np.ones((B, width), bool)})
    with pytest.raises(ValueError, match=rf"^{arg}: expected a C-contiguous array"):
        forward(**{arg: np.ones((B, 2 * width), np.float32)[:, ::2]})


# ---------------------------------------------------------------------------------------------
# ops: names and options

@pytest.mark.parametrize("cell", ["rnn", "LSTM", "gru2", ""])
def test_ops_bad_cell(cell):
    a = good_args("lstm")
    with pytest.raises(ValueError, match=rf"^cell: expected one of .*'simple_rnn'.*'lstm'.*"
                                         rf"'gru'.*got {esc(repr(cell))}$"):
        ops.rnn_forward(cell, a["x"], a["kernel"], a["recurrent_kernel"])


@pytest.mark.parametrize("arg", ["activation", "recurrent_activation"])
@pytest.mark.parametrize("name", ["softmax", "Tanh", "swish"])
def test_ops_bad_activation(arg, name):
    with pytest.raises(ValueError, match=rf"^{arg}: expected one of .*'tanh'.*'sigmoid'.*"
                                         rf"'hard_sigmoid'.*'relu'.*'linear'.*got '{name}'$"):
        forward(**{arg: name})


# ---------------------------------------------------------------------------------------------
# ops: rnn_backward

def _trained(cell="lstm"):
    return forward(cell, training=True)


def test_backward_needs_training_cache():
    res = forward(training=False)
    assert res.cache is None
    with pytest.raises(TypeError, match=r"^cache: expected the cache returned by "
                                        r"rnn_forward\(\.\.\., training=True\), got NoneType$"):
        ops.rnn_backward(res.cache, d_outputs=np.zeros((B, T, H), np.float32))
    with pytest.raises(TypeError, match=r"^cache: expected the cache .*got dict$"):
        ops.rnn_backward({}, d_outputs=np.zeros((B, T, H), np.float32))


@pytest.mark.parametrize("bad_shape", [(B, T, H + 1), (B, T - 1, H), (B, H)],
                         ids=["units", "steps", "2d"])
def test_backward_d_outputs_wrong_shape(bad_shape):
    with pytest.raises(ValueError, match=rf"^d_outputs: expected shape {esc((B, T, H))}, got "
                                         rf"{esc(bad_shape)}$"):
        ops.rnn_backward(_trained().cache, d_outputs=np.zeros(bad_shape, np.float32))


def test_backward_d_outputs_dtype_and_layout():
    cache = _trained().cache
    with pytest.raises(TypeError, match=r"^d_outputs: expected dtype float32 \(the dtype of "
                                        r"x\), got float64$"):
        ops.rnn_backward(cache, d_outputs=np.zeros((B, T, H), np.float64))
    with pytest.raises(ValueError, match=r"^d_outputs: expected a C-contiguous array"):
        ops.rnn_backward(cache, d_outputs=np.zeros((B, T, 2 * H), np.float32)[..., ::2])


def test_backward_d_last_wrong_shape():
    with pytest.raises(ValueError, match=rf"^d_last: expected shape {esc((B, H))}, got "
                                         rf"{esc((B, T, H))}$"):
        ops.rnn_backward(_trained().cache, d_last=np.zeros((B, T, H), np.float32))


def test_backward_d_states_wrong():
    cache = _trained("lstm").cache
    with pytest.raises(ValueError, match=r"^d_states: expected a list of 2 array\(s\) for lstm, "
                                         r"got 1$"):
        ops.rnn_backward(cache, d_states=[np.zeros((B, H), np.float32)])
    with pytest.raises(ValueError, match=rf"^d_states\[1\]: expected shape {esc((B, H))}, got "
                                         rf"{esc((B, H + 1))}$"):
        ops.rnn_backward(cache, d_states=[None, np.zeros((B, H + 1), np.float32)])
    with pytest.raises(TypeError, match=r"^d_states\[0\]: expected dtype float32 \(the dtype "
                                        r"of x\), got float64$"):
        ops.rnn_backward(cache, d_states=[np.zeros((B, H)), None])


# ---------------------------------------------------------------------------------------------
# threads

@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects(n):
    before = fastrnn.get_num_threads()
    with pytest.raises(ValueError, match=rf"^set_num_threads: n expected a positive int, got "
                                         rf"{esc(repr(n))}$"):
        fastrnn.set_num_threads(n)
    assert fastrnn.get_num_threads() == before


# ---------------------------------------------------------------------------------------------
# layer constructors

LAYERS = [SimpleRNN, LSTM, GRU]
LAYER_IDS = ["SimpleRNN", "LSTM", "GRU"]


@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("units", [0, -3, 2.5, True, "4", None])
def test_layer_bad_units(cls, units):
    with pytest.raises(ValueError, match=rf"^units: expected a positive integer, got "
                                         rf"{esc(repr(units))}$"):
        cls(units)


@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("arg", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")], ids=["negative", "above_one", "nan"])
def test_layer_dropout_out_of_range(cls, arg, value):
    with pytest.raises(ValueError, match=rf"^{arg}: expected a float in \[0, 1\], got "
                                         rf"{esc(repr(value))}$"):
        cls(3, **{arg: value})


@pytest.mark.parametrize("value", ["0.5", None, True, [0.1]])
def test_layer_dropout_wrong_type(value):
    with pytest.raises(TypeError, match=rf"^dropout: expected a float in \[0, 1\], got "
                                        rf"{esc(repr(value))}$"):
        LSTM(3, dropout=value)


@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("name", ["softmax", "Tanh", "gelu"])
def test_layer_bad_activation(cls, name):
    with pytest.raises(ValueError, match=rf"^activation: expected one of .*'tanh'.*or None, "
                                         rf"got '{name}'$"):
        cls(3, activation=name)


@pytest.mark.parametrize("cls", [LSTM, GRU], ids=["LSTM", "GRU"])
def test_layer_bad_recurrent_activation(cls):
    with pytest.raises(ValueError, match=r"^recurrent_activation: expected one of .*'sigmoid'.*"
                                         r"or None, got 'softmax'$"):
        cls(3, recurrent_activation="softmax")


def test_layer_unsupported_keras_arguments():
    with pytest.raises(NotImplementedError, match=r"LSTM: time_major=True is not supported"):
        LSTM(3, time_major=True)


@pytest.mark.parametrize("key,value,error,pattern", [
    ("kernel_regularizer", "l3", ValueError, "^kernel_regularizer: .*unknown name 'l3'"),
    ("recurrent_constraint", "max", ValueError, "^recurrent_constraint: .*unknown name 'max'"),
    ("bias_regularizer", 0.5, ValueError, "^bias_regularizer: .*regularizer identifier: 0.5"),
])
def test_layer_bad_regularizers_and_constraints(key, value, error, pattern):
    with pytest.raises(error, match=pattern):
        LSTM(3, **{key: value})


def test_layer_unknown_keyword():
    with pytest.raises(TypeError, match=r"^GRU: unexpected keyword argument\(s\) \['colour'\]$"):
        GRU(3, colour="red")


@pytest.mark.parametrize("mode", ["max", "concatenate", "", 0])
def test_bidirectional_bad_merge_mode(mode):
    with pytest.raises(ValueError, match=rf"^merge_mode: expected one of .*'concat'.*'sum'.*"
                                         rf"'mul'.*'ave'.*None.*got {esc(repr(mode))}$"):
        Bidirectional(LSTM(3), merge_mode=mode)


@pytest.mark.parametrize("layer,name", [(Layer(), "Layer"), ("lstm", "str"), (None, "NoneType"),
                                        (LSTM, "type")], ids=["base_layer", "str", "none",
                                                              "class"])
def test_bidirectional_of_non_rnn(layer, name):
    with pytest.raises(TypeError, match=rf"^layer: expected a fastrnn SimpleRNN, LSTM, GRU or RNN "
                                        rf"instance, got {name}$"):
        Bidirectional(layer)


def test_bidirectional_bad_backward_layer():
    with pytest.raises(TypeError, match=r"^backward_layer: expected a SimpleRNN, LSTM, GRU or RNN "
                                        r"instance, got Layer$"):
        Bidirectional(LSTM(3), backward_layer=Layer())


# ---------------------------------------------------------------------------------------------
# set_weights

def _built(cls, units=H, features=D, **kw):
    layer = cls(units, **kw)
    layer.build((B, T, features))
    return layer


@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
def test_set_weights_wrong_count(cls):
    layer = _built(cls, name="my_rnn")
    shapes = [w.shape for w in layer.get_weights()]
    with pytest.raises(ValueError, match=rf"^my_rnn\.set_weights: expected a list of 3 arrays "
                                         rf"\(shapes {esc(shapes)}\), got 2$"):
        layer.set_weights(layer.get_weights()[:2])
    with pytest.raises(ValueError, match=r"^my_rnn\.set_weights: expected a list of 3 arrays.*"
                                         r"got 4$"):
        layer.set_weights(layer.get_weights() + [np.zeros(1)])
    no_bias = _built(cls, name="my_rnn_nb", use_bias=False)
    with pytest.raises(ValueError, match=r"^my_rnn_nb\.set_weights: expected a list of 2 arrays"
                                         r".*got 3$"):
        no_bias.set_weights(layer.get_weights())


@pytest.mark.parametrize("index,name", [(0, "kernel"), (1, "recurrent_kernel"), (2, "bias")])
@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
def test_set_weights_wrong_shape_is_atomic(cls, index, name):
    layer = _built(cls, name="rnn_x")
    before = layer.get_weights()
    new = [w + 1.0 for w in before]
    good_shape = before[index].shape
    new[index] = np.zeros((good_shape[0] + 1,) + good_shape[1:])
    with pytest.raises(ValueError, match=rf"^rnn_x\.set_weights: weight {index} "
                                         rf"\(rnn_x/{name}\) expected shape {esc(good_shape)}, "
                                         rf"got {esc(new[index].shape)}$"):
        layer.set_weights(new)
    for w, b in zip(layer.get_weights(), before):   # nothing was half-assigned
        np.testing.assert_array_equal(w, b)


def test_set_weights_gru_reset_after_bias_shape():
    layer = _built(GRU, name="g")
    w = layer.get_weights()
    w[2] = w[2].reshape(-1)
    with pytest.raises(ValueError, match=rf"^g\.set_weights: weight 2 \(g/bias\) expected shape "
                                         rf"{esc((2, 3 * H))}, got {esc((6 * H,))}$"):
        layer.set_weights(w)


def test_set_weights_non_numeric():
    layer = _built(LSTM, name="l")
    w = layer.get_weights()
    w[1] = np.full(w[1].shape, "a")
    with pytest.raises(TypeError, match=r"^l\.set_weights: weight 1 expected a real numeric "
                                        r"array, got dtype <U1$"):
        layer.set_weights(w)


def test_bidirectional_set_weights_errors():
    bi = Bidirectional(LSTM(H), name="bi")
    bi.build((B, T, D))
    w = bi.get_weights()
    assert len(w) == 6
    with pytest.raises(ValueError, match=r"^bi\.set_weights: expected a list of 6 arrays.*"
                                         r"got 3$"):
        bi.set_weights(w[:3])
    w[4] = np.zeros((H, 4 * H + 1))
    with pytest.raises(ValueError, match=rf"^bi\.set_weights: weight 4 \(backward_.*/"
                                         rf"recurrent_kernel\) expected shape {esc((H, 4 * H))}, "
                                         rf"got {esc((H, 4 * H + 1))}$"):
        bi.set_weights(w)


# ---------------------------------------------------------------------------------------------
# layer calls

@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
def test_layer_wrong_feature_count(cls):
    layer = _built(cls, name="feat")
    x = np.zeros((B, T, D + 1), np.float32)
    with pytest.raises(ValueError, match=rf"^feat: inputs expected {D} features \(last axis\), "
                                         rf"got shape {esc(x.shape)}$"):
        layer(x)


@pytest.mark.parametrize("shape", [(B, T), (B, T, D, 1)], ids=["2d", "4d"])
def test_layer_wrong_rank(shape):
    layer = _built(LSTM, name="rank")
    x = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match=rf"^rank: inputs expected ndim=3 .*got "
                                         rf"ndim={len(shape)} with shape {esc(shape)}$"):
        layer(x)
    fresh = LSTM(3, name="fresh")          # unbuilt: the error comes from build()
    with pytest.raises(ValueError, match=rf"^fresh: expected input of rank 3 .*got shape "
                                         rf"{esc(shape)}$"):
        fresh(x)


def test_layer_non_numeric_input():
    layer = _built(GRU, name="g")
    with pytest.raises(TypeError, match=r"^g: inputs: expected a numeric array, got dtype "
                                        r"object$"):
        layer(np.full((B, T, D), None, object))
    with pytest.raises(TypeError, match=r"^g: inputs: expected a real array, got dtype "
                                        r"complex128$"):
        layer(np.zeros((B, T, D), complex))


def test_layer_mask_wrong_shape():
    layer = _built(LSTM, name="m")
    x = np.zeros((B, T, D), np.float32)
    with pytest.raises(ValueError, match=rf"^m: mask expected shape {esc((B, T))}, got "
                                         rf"{esc((B, T + 1))}$"):
        layer(x, mask=np.ones((B, T + 1), bool))


@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
def test_layer_initial_state_errors(cls):
    layer = _built(cls, name="s")
    n = 2 if cls is LSTM else 1
    x = np.zeros((B, T, D), np.float32)
    with pytest.raises(ValueError, match=rf"^s: initial_state expected {n} array\(s\), got "
                                         rf"{n + 1}$"):
        layer(x, initial_state=[np.zeros((B, H), np.float32)] * (n + 1))
    with pytest.raises(ValueError, match=rf"^s: initial_state\[0\] expected shape {esc((B, H))},"
                                         rf" got {esc((B, H + 1))}$"):
        layer(x, initial_state=[np.zeros((B, H + 1), np.float32)] * n)


def test_bidirectional_initial_state_count():
    bi = Bidirectional(GRU(H), name="bi")
    x = np.zeros((B, T, D), np.float32)
    with pytest.raises(ValueError, match=r"^bi: initial_state expected 2 arrays \(forward states "
                                         r"then backward states\), got 1$"):
        bi(x, initial_state=[np.zeros((B, H), np.float32)])


def test_layer_backward_without_training_forward():
    layer = _built(SimpleRNN, name="nb")
    with pytest.raises(RuntimeError, match=r"^nb: backward\(\) needs a preceding call with "
                                           r"training=True$"):
        layer.backward(np.zeros((B, H), np.float32))
    layer(np.zeros((B, T, D), np.float32), training=False)
    with pytest.raises(RuntimeError, match=r"^nb: backward\(\) needs a preceding call"):
        layer.backward(np.zeros((B, H), np.float32))


def test_layer_empty_sequence():
    layer = _built(LSTM, name="t0")
    with pytest.raises(ValueError, match=rf"^t0: inputs must have at least one timestep, got "
                                         rf"shape {esc((B, 0, D))}$"):
        layer(np.zeros((B, 0, D), np.float32))


# ---------------------------------------------------------------------------------------------
# layers convert instead of raising

@pytest.mark.parametrize("cls", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("kind", ["float64", "non_contiguous", "negative_stride", "int",
                                  "list", "fortran"])
def test_layer_converts_input(cls, kind):
    rng = np.random.default_rng(3)
    x32 = rng.integers(-3, 4, size=(B, T, D)).astype(np.float32)
    if kind == "float64":
        x = x32.astype(np.float64)
    elif kind == "non_contiguous":
        big = np.zeros((B, 2 * T, D), np.float32)
        big[:, ::2] = x32
        x = big[:, ::2]
    elif kind == "negative_stride":
        x = x32[::-1].copy()[::-1]
    elif kind == "int":
        x = x32.astype(np.int64)
    elif kind == "list":
        x = x32.tolist()
    else:
        x = np.asfortranarray(x32)
    if isinstance(x, np.ndarray) and kind not in ("float64", "int"):
        assert not x.flags.c_contiguous
    layer = cls(H, return_sequences=True, return_state=True)
    layer.build((B, T, D))
    mask = np.ones((B, T), np.int64)
    mask[1, -2:] = 0
    init = [np.ones((B, H), np.float64)] * (2 if cls is LSTM else 1)
    expected = layer(x32, mask=mask.astype(bool), training=True,
                     initial_state=[s.astype(np.float32) for s in init])
    d_up = [np.ones_like(expected[0])] + [np.ones_like(s) for s in expected[1:]]
    dx_expected = layer.backward(d_up)
    grads_expected = [g.copy() for g in layer.grads]
    got = layer(x, mask=mask, training=True, initial_state=init)
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)
    dx = layer.backward(d_up)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, dx_expected, rtol=1e-6, atol=1e-7)
    for g, e in zip(layer.grads, grads_expected, strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-7)


def test_bidirectional_converts_input():
    rng = np.random.default_rng(4)
    x32 = rng.normal(size=(B, T, D)).astype(np.float32)
    bi = Bidirectional(GRU(H, return_sequences=True))
    expected = bi(x32)
    np.testing.assert_allclose(bi(x32.astype(np.float64)), expected, rtol=1e-6, atol=1e-7)
    big = np.zeros((B, T, 2 * D), np.float32)
    big[..., ::2] = x32
    np.testing.assert_allclose(bi(big[..., ::2]), expected, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# ops: array-likes are not converted (the layers do that)

@pytest.mark.parametrize("arg", ["initial_state", "mask", "dropout_mask", "bias"])
def test_ops_rejects_lists(arg):
    a = good_args("gru")
    value = {"initial_state": [np.zeros((B, H), np.float32).tolist()],
             "mask": np.ones((B, T), bool).tolist(),
             "dropout_mask": np.ones((B, D), np.float32).tolist(),
             "bias": a["bias"].tolist()}[arg]
    name = "initial_state[0]" if arg == "initial_state" else arg
    with pytest.raises(TypeError, match=rf"^{esc(name)}: expected a NumPy array, got list$"):
        forward("gru", **{arg: value})


def test_backward_rejects_lists():
    cache = _trained("simple_rnn").cache
    with pytest.raises(TypeError, match=r"^d_outputs: expected a NumPy array, got list$"):
        ops.rnn_backward(cache, d_outputs=np.zeros((B, T, H), np.float32).tolist())
