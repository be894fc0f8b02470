"""ONNX export (fastrnn.export): the seed notebooks' models and targeted cases run in ONNX
Runtime exactly as fastrnn's `model.predict` (tests/_onnx_check.py: 1e-5 + 1e-5 * |ref|),
the files pass onnx.checker, and what cannot be exported exactly is an error."""
import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from _onnx_check import (assert_close, assert_matches, padded_ids, randomize, run,
                         session)

import fastrnn
from fastrnn import layers as L
from fastrnn.export import ExportError, export_model
from fastrnn.export.onnx import activations as onnx_activations
from fastrnn.export.onnx import to_onnx

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEED_MODELS = [("000", "lstm"), ("000", "gru"), ("000", "bilstm"), ("001", "bilstm"),
               ("001", "bigru"), ("002", "simple_rnn"), ("002", "gru"), ("002", "lstm"),
               ("003", "bilstm"), ("004", "simple_rnn"), ("004", "lstm")]
CELLS = {"simple_rnn": L.SimpleRNN, "lstm": L.LSTM, "gru": L.GRU}


def _seed_module(notebook):
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(f"seed_{notebook}_imdb")


def _ids_model(*layers, vocab=30, dim=4, mask_zero=True):
    model = fastrnn.Sequential([L.Embedding(vocab, dim, mask_zero=mask_zero), *layers])
    model.build((None, None))
    return model


@pytest.mark.parametrize("notebook,name", SEED_MODELS)
def test_seed_notebook_models(notebook, name, tmp_path):
    """Each seed notebook's model (examples/seed_00N_imdb.py, fastrnn framework), random
    weights, exported to a file: ONNX Runtime predicts what model.predict does for several
    batch sizes and lengths (dynamic axes), ids drawn over the whole vocabulary."""
    seed = _seed_module(notebook)
    import _common
    builder, _ = seed.MODELS[name]
    model = builder(_common.load_framework("fastrnn"), SimpleNamespace(**seed.CONFIG))
    model.build((None, None))
    rng = np.random.default_rng(int(notebook) * 10 + len(name))
    randomize(model, rng, scale=0.3)
    path = str(tmp_path / "model.onnx")
    assert export_model(model, path, format="onnx", verbose=False) == path
    vocab = model.layers[0].input_dim
    inputs = [rng.integers(0, vocab, size=shape) for shape in ((3, 17), (1, 1), (6, 40))]
    assert_matches(model, inputs, sess=session(path))


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_masks_both_paddings(cell, padding):
    """mask_zero with padding on either side, including empty and full rows, with and without
    go_backwards, return_sequences and zero_output_for_mask."""
    rng = np.random.default_rng(len(cell) + len(padding))
    for go_backwards in (False, True):
        for return_sequences in (False, True):
            for zero_output in (False, True):
                model = _ids_model(CELLS[cell](3, go_backwards=go_backwards,
                                               return_sequences=return_sequences,
                                               zero_output_for_mask=zero_output))
                randomize(model, rng)
                ids = [padded_ids(rng, [0, 2, 6, 5, 1], 6, 30, padding),
                       padded_ids(rng, [1], 1, 30, padding)]
                assert_matches(model, ids, mask_padding=padding)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_merge_modes(merge_mode):
    rng = np.random.default_rng(7)
    for padding in ("pre", "post"):
        for return_sequences in (False, True):
            for cell in ("lstm", "gru"):
                bi = L.Bidirectional(CELLS[cell](3, return_sequences=return_sequences),
                                     merge_mode=merge_mode)
                model = _ids_model(bi)
                randomize(model, rng)
                ids = padded_ids(rng, [4, 0, 7, 2], 7, 30, padding)
                assert_matches(model, [ids], mask_padding=padding)


def test_bidirectional_with_go_backwards_and_custom_backward_layer():
    """The wrapped layer going backwards, and a backward layer of another size and activation
    (two operators instead of one bidirectional operator)."""
    rng = np.random.default_rng(8)
    for padding in ("pre", "post"):
        models = [
            _ids_model(L.Bidirectional(L.GRU(3, go_backwards=True, return_sequences=True))),
            _ids_model(L.Bidirectional(
                L.LSTM(3, return_sequences=True),
                backward_layer=L.LSTM(2, go_backwards=True, return_sequences=True,
                                      activation="relu"))),
        ]
        for model in models:
            randomize(model, rng)
            assert_matches(model, [padded_ids(rng, [5, 0, 3], 5, 30, padding)],
                           mask_padding=padding)


def test_stacked_layers_with_masks_dropout_and_dense_head():
    rng = np.random.default_rng(9)
    model = _ids_model(
        L.Bidirectional(L.LSTM(4, return_sequences=True, dropout=0.3, recurrent_dropout=0.2)),
        L.Dropout(0.5),
        L.GRU(3, return_sequences=True, go_backwards=True, reset_after=False),
        L.SimpleRNN(3, activation="relu"),
        L.Dense(2, activation="softmax"), dim=5)
    randomize(model, rng)
    for padding in ("pre", "post"):
        ids = [padded_ids(rng, [9, 0, 4, 1], 9, 30, padding), padded_ids(rng, [2, 3], 3, 30,
                                                                        padding)]
        assert_matches(model, ids, mask_padding=padding)


def test_masks_of_other_forms_give_nan_rows():
    """Rows whose mask ONNX cannot express (a hole, padding on the undeclared side) come out
    as NaN; the other rows are exact."""
    rng = np.random.default_rng(10)
    model = _ids_model(L.LSTM(3), L.Dense(2))
    randomize(model, rng)
    for padding, other in (("pre", "post"), ("post", "pre")):
        sess = session(model, mask_padding=padding)
        good = padded_ids(rng, [3, 6, 0], 6, 30, padding)
        wrong_side = padded_ids(rng, [2], 6, 30, other)
        hole = padded_ids(rng, [6], 6, 30, padding)
        hole[0, 2] = 0
        x = np.concatenate([good[:1], wrong_side, good[1:2], hole, good[2:]])
        (out,) = run(sess, x)
        bad = np.array([False, True, False, True, False])
        assert np.isnan(out[bad]).all()
        assert_close(out[~bad], model.predict(x[~bad], verbose=0), f"good rows ({padding})")


def test_return_state_outputs():
    rng = np.random.default_rng(11)
    for layer in (L.LSTM(3, return_state=True, return_sequences=True),
                  L.GRU(3, return_state=True, go_backwards=True),
                  L.Bidirectional(L.LSTM(3, return_state=True), merge_mode=None),
                  L.Bidirectional(L.SimpleRNN(2, return_state=True, return_sequences=True))):
        model = _ids_model(layer)
        randomize(model, rng)
        for padding in ("pre", "post"):
            assert_matches(model, [padded_ids(rng, [4, 0, 2], 4, 30, padding)],
                           mask_padding=padding)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_recurrent_activations_and_gru_variants(cell):
    """Every activation the recurrent layers accept, with and without bias; both GRU variants.
    Includes keras2_hard_sigmoid whenever the layers accept that name."""
    rng = np.random.default_rng(12)
    names = [n for n in onnx_activations.RECURRENT if _accepted(cell, n)]
    assert {"tanh", "sigmoid", "relu", "linear", "hard_sigmoid"} <= set(names)
    for i, name in enumerate(names):
        kwargs = {"activation": name, "use_bias": i % 2 == 0}
        if cell != "simple_rnn":
            kwargs["recurrent_activation"] = names[(i + 1) % len(names)]
        variants = [{"reset_after": True}, {"reset_after": False}] if cell == "gru" else [{}]
        for extra in variants:
            layer = CELLS[cell](3, return_sequences=True, **kwargs, **extra)
            model = fastrnn.Sequential([L.InputLayer(shape=(None, 2)), layer])
            randomize(model, rng, scale=0.4)
            x = rng.normal(size=(3, 5, 2)).astype(np.float32)
            assert_matches(model, [x, x[:1, :2]])


def _accepted(cell, name):
    try:
        CELLS[cell](2, activation=name)
    except ValueError:
        return False
    return True


def test_keras2_hard_sigmoid_mapping():
    """Keras 2's hard_sigmoid (slope 0.2) and Keras 3's (relu6(x + 3) / 6) in the operators."""
    attrs = onnx_activations.recurrent_attributes(
        ["keras2_hard_sigmoid", "hard_sigmoid", "tanh", "linear"], "test")
    assert attrs["activations"] == ["HardSigmoid", "HardSigmoid", "Tanh", "Affine"]
    assert np.allclose(attrs["activation_alpha"], [0.2, 1 / 6, 1.0])
    assert np.allclose(attrs["activation_beta"], [0.5, 0.5, 0.0])


def _known_activation(name):
    try:
        fastrnn.activations.get(name)
    except ValueError:
        return False
    return True


def test_every_fastrnn_activation_has_an_onnx_form():
    assert set(fastrnn.activations._TABLE) <= set(onnx_activations.ELEMENTWISE)


@pytest.mark.parametrize("name", [n for n in sorted(onnx_activations.ELEMENTWISE)
                                  if _known_activation(n)])
def test_dense_and_activation_layers(name):
    """Dense with every fastrnn activation, on sequences and on vectors, and Activation."""
    rng = np.random.default_rng(13)
    seq = fastrnn.Sequential([L.InputLayer(shape=(None, 3)), L.Dense(4, activation=name)])
    flat = fastrnn.Sequential([L.InputLayer(shape=(3,)), L.Dense(4, activation=name,
                                                                  use_bias=False)])
    alone = fastrnn.Sequential([L.InputLayer(shape=(None, 3)), L.Activation(name)])
    for model in (seq, flat):
        randomize(model, rng)
    x = rng.normal(scale=2.0, size=(4, 5, 3)).astype(np.float32)
    assert_matches(seq, [x, x[:1, :1]])
    assert_matches(alone, [x])
    assert_matches(flat, [x[:, 0], x[:1, 0]])


def test_graph_interface_and_dynamic_axes(tmp_path):
    model = _ids_model(L.LSTM(3, return_sequences=True), L.Dense(1, activation="sigmoid"))
    proto = to_onnx(model)
    assert proto.opset_import[0].version == 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    assert inp.name == "input" and inp.type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert dims(inp) == ["batch", "time"] and dims(out) == ["batch", "time", 1]
    ops = {n.op_type for n in proto.graph.node}
    assert "LSTM" in ops and not ops & {"Loop", "Scan"}
    assert {p.key: p.value for p in proto.metadata_props} == {"fastrnn.mask_padding": "pre"}
    named = fastrnn.Sequential([L.Input(shape=(None,), dtype="int32", name="tokens"),
                                L.Embedding(30, 4), L.GRU(2)])
    randomize(named, np.random.default_rng(14))
    proto = to_onnx(named, opset_version=18)
    assert proto.graph.input[0].name == "tokens" and proto.opset_import[0].version == 18
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT32
    x = np.random.default_rng(15).integers(0, 30, size=(2, 7)).astype(np.int32)
    assert_matches(named, [x, x[:, :3]], opset_version=18)
    floats = fastrnn.Sequential([L.Input(shape=(None,), dtype="float32"), L.Embedding(30, 4),
                                 L.LSTM(2)])     # whole-number float ids, as fastrnn takes them
    randomize(floats, np.random.default_rng(16))
    assert_matches(floats, [x.astype(np.float32)])


def test_negative_ids_are_rejected_like_fastrnn():
    model = _ids_model(L.SimpleRNN(2), mask_zero=False)
    sess = session(model)
    x = np.array([[1, -1, 2]])
    with pytest.raises(IndexError):
        model.predict(x, verbose=0)
    with pytest.raises(Exception, match="out of bounds|indices"):
        run(sess, x)


class _Custom(L.Layer):
    def call(self, inputs, mask=None, training=False):
        return inputs


class _MyDense(L.Dense):
    pass


def _unsupported_cases():
    ids = lambda *layers: _ids_model(*layers, mask_zero=False)
    double = fastrnn.Sequential([L.InputLayer(shape=(None, 2)), L.LSTM(2, dtype="float64")])
    return [
        (ids(_Custom(name="custom")), "'custom': _Custom has no ONNX converter"),
        (ids(L.GRU(2), _MyDense(1, name="mine")), "'mine': _MyDense has no ONNX converter"),
        (double, "dtype float64 is not exported"),
        (fastrnn.Sequential([L.Embedding(5, 2), L.LSTM(2)]), "is not built"),
    ]


@pytest.mark.parametrize("case", range(4))
def test_unsupported_models_raise(case):
    model, message = _unsupported_cases()[case]
    with pytest.raises(ExportError, match=message):
        to_onnx(model)


def test_bad_arguments_raise(tmp_path):
    model = _ids_model(L.LSTM(2))
    path = str(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="format: expected one of"):
        export_model(model, path, format="tf_saved_model")
    with pytest.raises(ValueError, match="mask_padding: expected one of"):
        export_model(model, path, mask_padding="left")
    with pytest.raises(ValueError, match="opset_version: expected an integer"):
        export_model(model, path, opset_version=9)
    with pytest.raises(ExportError, match="input_signature"):
        export_model(model, path, input_signature=[(None, None)])
    with pytest.raises(ExportError, match=r"expected a fastrnn model \(Sequential or"):
        export_model(model.layers[0], path)
    assert not list(tmp_path.iterdir())


def test_missing_onnx_is_a_clear_import_error(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("fastrnn.export.onnx")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'fastrnn\[onnx\]'"):
        export_model(_ids_model(L.LSTM(2)), "unused.onnx")


def test_cli_export(tmp_path, capsys):
    from fastrnn import cli
    rng = np.random.default_rng(16)
    model = _ids_model(L.Bidirectional(L.GRU(3)), L.Dense(1, activation="sigmoid"))
    randomize(model, rng)
    saved, out = str(tmp_path / "m.fnrn"), str(tmp_path / "m.onnx")
    model.save(saved)
    assert cli.main(["export", saved, out, "--mask-padding", "post"]) == 0
    assert f"Saved artifact at '{out}'." in capsys.readouterr().out
    sess = session(out)
    assert_matches(model, [padded_ids(rng, [3, 0, 5], 5, 30, "post")], sess=sess)
    with open(cli.meta_path(saved), "w") as f:     # `fastrnn train --save` metadata
        json.dump({"format": cli.META_FORMAT, "padding": "pre"}, f)
    assert cli.main(["export", saved, out]) == 0
    assert onnx.load(out).metadata_props[0].value == "pre"
    assert cli.main(["export", saved, out, "--opset", "3"]) == 1
    assert "opset_version" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli.main(["export", str(tmp_path / "missing.fnrn"), out])
    assert e.value.code == 2

