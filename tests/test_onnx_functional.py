"""ONNX export of Functional models (and Sequential ones, the same walk): the graphs of
tests/test_functional_keras.py, the seq2seq example's training, encoder and decoder-step models
(greedy decoding in ONNX Runtime gives fastrnn's tokens), recurrent layers with initial_state
inputs and masks, masks through the merge layers, dict inputs and outputs, shared layers.
ONNX Runtime predicts what fastrnn does (tests/_onnx_check.py: 1e-5 + 1e-5 * |ref|, finite,
declared shapes hold) on several batch sizes and lengths; what cannot be exported raises."""
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from _onnx_check import assert_close, assert_matches, padded_ids, randomize, run, session
from test_functional_keras import GRAPHS, _data

import fastrnn
from fastrnn import layers as L
from fastrnn.export import ExportError
from fastrnn.export.onnx import to_onnx

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CELLS = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}


def _variants(x):
    """`x` (an array or a list of them, time on axis 1), one row of it, and its last 4 steps
    (pre-padding stays pre-padding)."""
    if isinstance(x, list):
        return [x, [a[:1] for a in x], [a[:, -4:] for a in x]]
    return [x, x[:1], x[:, -4:]]


@pytest.mark.parametrize("name", list(GRAPHS))
def test_functional_keras_graphs(name):
    """seq2seq (initial_state from the encoder), two branches joined by Concatenate (one
    masked, a fully masked row included), two outputs, one LSTM shared by two inputs (its
    weights stored once), every seed-notebook model as a Functional graph."""
    model = GRAPHS[name](fastrnn)
    randomize(model, np.random.default_rng(len(name)))
    x, _ = _data(name)
    assert_matches(model, _variants(x))
    if name == "shared":
        names = [i.name for i in to_onnx(model).graph.initializer]
        assert len([n for n in names if n.startswith("shared_lstm/")]) == 3, names


def test_two_branches_without_mask_and_post_padding():
    from test_functional_keras import _two_branches
    rng = np.random.default_rng(30)
    for mask_zero, padding in ((False, "pre"), (True, "post")):
        model = _two_branches(fastrnn, mask_zero=mask_zero)
        randomize(model, rng)
        left = rng.integers(0, 25, size=(5, 7))
        right = padded_ids(rng, [7, 0, 3, 1, 5], 7, 25, padding)
        assert_matches(model, [[left, right], [left[:2, :3], right[:2, :3]]],
                       mask_padding=padding)


class _Runtime:
    """An ONNX Runtime session with fastrnn's `predict` call, for the example's decoding."""

    def __init__(self, model):
        self.sess = session(model)

    def predict(self, x, verbose=0):
        outs = run(self.sess, x)
        return outs if len(outs) > 1 else outs[0]


def test_seq2seq_example_models_and_greedy_decoding():
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import seq2seq_functional as example
    rng = np.random.default_rng(31)
    model, encoder, decoder = example.build(fastrnn, 6)
    randomize(model, rng, scale=0.8)
    enc, dec_in, _, _ = example.make_data(5, 2, 6, rng)
    assert_matches(model, [[enc, dec_in], [enc[:1, :3], dec_in[:1, :2]]])
    assert_matches(encoder, [enc, enc[:2, :1]])
    h, c = encoder.predict(enc, verbose=0)
    assert_matches(decoder, [[dec_in[:, :1], h, c], [dec_in[:2], h[:2], c[:2]]])
    assert [i.name for i in to_onnx(decoder).graph.input] == ["decoder_inputs", "state_h",
                                                               "state_c"]
    assert [o.name for o in to_onnx(decoder).graph.output] == ["next_token", "decoder_1",
                                                               "decoder_2"]
    ours = example.greedy_decode(encoder, decoder, enc, 6)
    onnx_tokens = example.greedy_decode(_Runtime(encoder), _Runtime(decoder), enc, 6)
    np.testing.assert_array_equal(onnx_tokens, ours)


def _state_model(layer, states, padding_rows, units=3):
    ids = fastrnn.Input(shape=(None,), name="ids")
    inits = [fastrnn.Input(shape=(units,), name=f"s{i}") for i in range(states)]
    out = layer(L.Embedding(20, 4, mask_zero=padding_rows)(ids), initial_state=inits)
    return fastrnn.Model([ids] + inits, out)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_initial_state_with_masks(cell):
    """Initial states carried over the padding (both sides), a row without tokens returning
    them as its states (and zeros as its output), go_backwards, sequences, Bidirectional."""
    rng = np.random.default_rng(32 + len(cell))
    n = 2 if cell == "lstm" else 1
    for padding in ("pre", "post"):
        layers = [(CELLS[cell](3, return_state=True, return_sequences=rs, go_backwards=gb,
                               zero_output_for_mask=zo), n)
                  for rs, gb, zo in ((False, False, False), (True, False, False),
                                     (True, True, True), (False, True, True))]
        layers.append((L.Bidirectional(CELLS[cell](3, return_state=True,
                                                   return_sequences=True)), 2 * n))
        layers.append((L.Bidirectional(CELLS[cell](3, return_state=True), merge_mode="sum",
                                       backward_layer=CELLS[cell](3, return_state=True,
                                                                  go_backwards=True)), 2 * n))
        for layer, states in layers:
            model = _state_model(layer, states, True)
            randomize(model, rng)
            ids = padded_ids(rng, [5, 0, 2, 1], 5, 20, padding)
            init = [rng.normal(size=(4, 3)).astype(np.float32) for _ in range(states)]
            assert_matches(model, [[ids] + init, [ids[1:3, -2:]] + [s[1:3] for s in init]],
                           mask_padding=padding)


def _pair_inputs(rng, lengths_a, lengths_b, steps, padding):
    return [padded_ids(rng, lengths_a, steps, 20, padding),
            padded_ids(rng, lengths_b, steps, 20, padding)]


MERGES = {"add": L.Add, "subtract": L.Subtract, "multiply": L.Multiply, "average": L.Average,
          "maximum": L.Maximum, "minimum": L.Minimum, "concat": L.Concatenate,
          "concat_time": lambda: L.Concatenate(axis=1)}


def _merge_model(merge, masked=(True, True), head="lstm"):
    a, b = fastrnn.Input(shape=(None,), name="a"), fastrnn.Input(shape=(None,), name="b")
    xa = L.Embedding(20, 3, mask_zero=masked[0])(a)
    xb = L.Dense(3)(L.Embedding(20, 3, mask_zero=masked[1])(b))
    y = MERGES[merge]()([xa, xb])
    y = L.LSTM(2)(y) if head == "lstm" else L.GlobalAveragePooling1D()(y)
    return fastrnn.Model([a, b], y)


@pytest.mark.parametrize("merge", sorted(MERGES))
def test_masks_through_merge_layers(merge):
    """Both inputs masked, one masked, none: into a global average (exact for masks of any
    form: holes, different on each side) and into an LSTM (padding on the declared side; a
    time concatenation of two padded masks has a hole: NaN rows, the others exact)."""
    rng = np.random.default_rng(33)
    holes = 0
    for masked in ((True, True), (True, False), (False, True)):
        model = _merge_model(merge, masked, head="average")
        randomize(model, rng)
        x = [rng.integers(0, 20, size=(4, 6)) for _ in range(2)]
        x[0][x[0] % 3 == 0] = 0
        x[0][:, 0] = 1                      # a valid step in every row
        x[1][:, 2] = 0
        assert_matches(model, [x, [v[:1, :3] for v in x]])
        for padding in ("pre", "post"):
            model = _merge_model(merge, masked, head="lstm")
            randomize(model, rng)
            x = _pair_inputs(rng, [6, 0, 3, 2], [4, 0, 1, 6], 6, padding)
            if merge != "concat_time":    # an OR of masks padded on one side is one too
                assert_matches(model, [x, [v[:2, :3] for v in x]], mask_padding=padding)
                continue
            (out,) = run(session(model, mask_padding=padding), x)
            ref = model.predict(x, verbose=0)
            mask = np.concatenate([(v != 0) | (not m) for v, m in zip(x, masked)], axis=1)
            n = mask.sum(axis=1, keepdims=True)
            steps = np.arange(mask.shape[1])
            padded = steps >= 12 - n if padding == "pre" else steps < n
            hole = (mask != padded).any(axis=1)
            assert np.isnan(out[hole]).all()
            assert_close(out[~hole], ref[~hole], "rows of the padding form")
            holes += int(hole.sum())
    assert merge != "concat_time" or holes > 0


def test_rows_of_another_mask_form_are_nan_only_where_the_mask_was_relied_on():
    """A row with a hole: NaN in the LSTM's output (sequence_lens cannot express it), exact
    in the global average beside it (it reads the mask itself)."""
    rng = np.random.default_rng(37)
    ids = fastrnn.Input(shape=(None,), name="ids")
    x = L.Embedding(20, 3, mask_zero=True)(ids)
    model = fastrnn.Model(ids, {"recurrent": L.LSTM(2)(x),
                                "average": L.GlobalAveragePooling1D()(x)})
    randomize(model, rng)
    x = padded_ids(rng, [5, 3, 1], 5, 20, "pre")
    x[0, 2] = 0
    recurrent, average = run(session(model), x)
    ref = model.predict_on_batch(x)
    assert np.isnan(recurrent[0]).all()
    assert_close(recurrent[1:], ref["recurrent"][1:], "recurrent, rows without a hole")
    assert_close(average, ref["average"], "average")


def test_broadcasting_merges_and_dot():
    """Inputs of different rank (axes inserted after the batch axis), Dot over several axes
    with and without normalize (a zero vector included: Keras' clipped norm)."""
    rng = np.random.default_rng(34)
    seq, vec = fastrnn.Input(shape=(None, 3), name="seq"), fastrnn.Input(shape=(3,), name="vec")
    other = fastrnn.Input(shape=(None, 3), name="other")
    outs = {"add": L.Add()([seq, vec]), "max": L.Maximum()([vec, seq, seq]),
            "mul": L.Multiply()([seq, vec]),
            "attention": L.Dot(axes=(2, 2))([seq, other]),
            "cosine": L.Dot(axes=2, normalize=True)([seq, other]),
            "vectors": L.Dot(axes=1, normalize=True)([vec, L.Dense(3)(vec)]),
            "pooled": L.Dot(axes=(2, 1))([seq, vec]),
            "time": L.Dot(axes=1)([seq, other])}
    model = fastrnn.Model({"seq": seq, "vec": vec, "other": other}, outs)
    randomize(model, rng)

    def data(b, t1, t2):
        x = {"seq": rng.normal(size=(b, t1, 3)).astype(np.float32),
             "vec": rng.normal(size=(b, 3)).astype(np.float32),
             "other": rng.normal(size=(b, t2, 3)).astype(np.float32)}
        x["vec"][0] = 0.0
        return x
    proto = to_onnx(model)
    assert [i.name for i in proto.graph.input] == ["seq", "vec", "other"]
    assert [o.name for o in proto.graph.output] == list(outs)
    # "time" contracts both time axes: they must have the same length there
    assert_matches(model, [data(3, 5, 5), data(1, 2, 2)])


class _Custom(L.Layer):
    def call(self, inputs, mask=None, training=False):
        return inputs


def test_unsupported_functional_models_raise():
    a = fastrnn.Input(shape=(None, 2))
    model = fastrnn.Model(a, L.Dense(1)(_Custom(name="custom")(a)))
    with pytest.raises(ExportError, match="'custom': _Custom has no ONNX converter"):
        to_onnx(model)
    flags = fastrnn.Input(shape=(3,), dtype="bool", name="flags")
    with pytest.raises(ExportError, match="input 'flags': dtype bool is not exported"):
        to_onnx(fastrnn.Model(flags, L.Dense(1)(flags)))
    h = fastrnn.Input(shape=(2,))
    wrong = fastrnn.Model([a, h], L.LSTM(2, name="lstm_h")(a, initial_state=[h]))
    with pytest.raises(ExportError, match="'lstm_h': initial_state holds 1 tensors, the layer "
                                          "takes 2"):
        to_onnx(wrong)


def test_int_inputs_are_cast_for_float_layers():
    """An int32 input read by an Embedding and by a Dense (as fastrnn casts it)."""
    ids = fastrnn.Input(shape=(4,), dtype="int32", name="ids")
    y = L.Concatenate()([L.Flatten()(L.Embedding(10, 2)(ids)), L.Dense(3)(ids)])
    model = fastrnn.Model(ids, y)
    randomize(model, np.random.default_rng(35))
    proto = to_onnx(model)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    x = np.random.default_rng(36).integers(0, 10, size=(3, 4)).astype(np.int32)
    assert_matches(model, [x])
