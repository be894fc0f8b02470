"""Functional-API Keras files both ways: tests/test_functional_keras.py's graphs (seq2seq with
initial_state, two Embedding+BiLSTM branches with mask_zero and Concatenate, two outputs with
per-output losses, metrics and loss_weights, a shared LSTM, seed-notebook models) written by
Keras 3 (.keras and legacy .h5) and tf-keras (.h5, .keras) load without Keras with Keras' predictions
and training step; fastrnn writes them back as .keras (Keras 3 opens them with the same
predictions, config, compile config and optimizer state) and .h5 (tf-keras opens them). Keras
3's mask operations are recognised; any other operation, or a mask fastrnn would not carry
as Keras does, is an error."""
import json
import warnings
import zipfile

import numpy as np
import pytest

import _keras_files as kf
from fastrnn.keras_files import (UnsupportedKerasFeature, WriteError, load_keras_model,
                                 load_keras_weights, save_keras_model, save_keras_weights,
                                 save_legacy_h5)

GRAPHS = ["seq2seq", "two_branches", "two_outputs", "shared", "seed_000_bilstm",
          "seed_001_bigru", "seed_002_simple_rnn", "seed_004_lstm", "masked_sequence",
          "masking_order"]
FILES = [(n, major, "h5") for n in GRAPHS for major in (3, 2)] + [
    (n, 3, "keras") for n in GRAPHS] + [(n, 2, "keras") for n in ("two_outputs", "shared")]
STEP_CASES = [("seq2seq", 3, "keras"), ("two_branches", 2, "h5"), ("two_outputs", 3, "keras"),
              ("two_outputs", 3, "h5"), ("two_outputs", 2, "h5"), ("shared", 3, "keras"),
              ("seed_001_bigru", 2, "h5"), ("masked_sequence", 3, "keras"),
              ("masking_order", 3, "keras")]


def _close_all(ours, ref, what="predictions"):
    ours = kf.outputs(ours)
    assert len(ours) == len(ref), what
    for i, (a, b) in enumerate(zip(ours, ref)):
        kf.assert_close(a, b, what=f"{what} (output {i})")


@pytest.mark.parametrize("name,major,fmt", FILES)
def test_predictions_equal_keras(name, major, fmt):
    w = kf.written_functional(name, major)
    model = load_keras_model(w.paths[fmt])
    _close_all(model.predict(w.x), w.ref)
    assert sorted(layer.name for layer in model.layers) == sorted(w.layer_names)


@pytest.mark.parametrize("name,major,fmt", STEP_CASES)
def test_training_step_equals_keras(name, major, fmt):
    """One train_on_batch after loading (compiled from the file, optimizer slots restored)
    equals the writing Keras' step after it loaded the file: logs and every weight."""
    w = kf.written_functional(name, major)
    x, y = w.batch
    ours = load_keras_model(w.paths[fmt])
    ref = w.K.models.load_model(w.paths["keras" if major == 3 else fmt])
    ref.run_eagerly = True
    logs = ours.train_on_batch(x, y, return_dict=True)
    ref_logs = ref.train_on_batch(x, y, return_dict=True)
    assert sorted(logs) == sorted(ref_logs)
    for key in ref_logs:
        kf.assert_close(logs[key], float(ref_logs[key]), kf.STEP_ATOL, kf.STEP_RTOL, key)
    _same_weights_after_step(ours, ref)


def _same_weights_after_step(ours, ref):
    """Every weight equal, compared layer by layer (Keras 3 and fastrnn may list the layers
    in different orders)."""
    ref_weights = kf.layer_weights(ref)
    for layer, values in kf.layer_weights(ours).items():
        assert len(values) == len(ref_weights[layer]), layer
        for i, (a, b) in enumerate(zip(values, ref_weights[layer])):
            kf.assert_close(a, b, kf.STEP_ATOL, kf.STEP_RTOL, f"{layer} weight {i}")


def _per_output(value, names):
    """A compile argument per output, whichever of Keras' spellings it has."""
    if isinstance(value, dict):
        return [value.get(n) for n in names]
    if isinstance(value, list) and len(names) > 1:
        return value
    return [value]


@pytest.mark.parametrize("name", GRAPHS)
def test_keras_file_round_trip(name, tmp_path):
    """Keras 3 file -> fastrnn -> .keras -> Keras 3: predictions, config, compile config
    (per output) and optimizer state of the original."""
    keras = kf.keras3()
    w = kf.written_functional(name, 3)
    out = tmp_path / "out.keras"
    save_keras_model(load_keras_model(w.paths["keras"]), out)
    back = keras.models.load_model(out)
    _close_all(back(w.x, training=False), w.ref)
    assert kf.normalized(back.get_config()) == kf.normalized(w.config)
    ours, ref = back.get_compile_config(), w.compile_config
    assert kf.normalized(ours["optimizer"]) == kf.normalized(ref["optimizer"])
    names = back.output_names
    for key in ("loss", "loss_weights", "metrics"):
        assert _per_output(ours[key], names) == _per_output(ref[key], names), key
    assert len(back.optimizer.variables) == len(w.optimizer_variables)
    for a, b in zip(back.optimizer.variables, w.optimizer_variables):
        kf.assert_close(np.asarray(a), b, what=a.path)


@pytest.mark.parametrize("name", ["seq2seq", "two_outputs", "shared", "masking_order"])
def test_legacy_h5_round_trip(name, tmp_path):
    """tf-keras file -> fastrnn -> Keras 2 .h5 -> tf-keras: predictions, and (for two graphs)
    a training step equal to tf-keras' on its own file."""
    tf_keras = kf.keras2()
    w = kf.written_functional(name, 2)
    path = tmp_path / "out.h5"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_legacy_h5(load_keras_model(w.paths["h5"]), path)
    # Keras 3 opens .h5 files too, but orders masking_order's layers in another way
    assert [str(c.message) for c in caught if "Keras 3 orders" in str(c.message)] == (
        [f"{path}: Keras 3 orders this model's layers differently from tf-keras (because of "
         "the operations it adds for masks) and would load this .h5 file's weights into the "
         "wrong layers; tf-keras reads it correctly. For Keras 3, save as .keras"]
        if name == "masking_order" else [])
    ref = tf_keras.models.load_model(path)
    _close_all(ref(w.x, training=False), w.ref)
    if name not in ("two_outputs", "masking_order"):
        return
    x, y = w.batch
    ours = load_keras_model(path)
    original = tf_keras.models.load_model(w.paths["h5"])
    original.run_eagerly = True
    ours.train_on_batch(x, y)
    original.train_on_batch(x, y)
    _same_weights_after_step(ours, original)


def test_keras3_layer_order_with_mask_operations(tmp_path):
    """Keras 3 lists `da` before `db` (its mask operations make `da` deeper); tf-keras and
    fastrnn the other way round. Each file's weight groups follow its Keras' order, in both
    directions, and weights files too."""
    w3, w2 = kf.written_functional("masking_order", 3), kf.written_functional("masking_order", 2)
    assert w3.layer_names.index("da") < w3.layer_names.index("db")
    assert w2.layer_names.index("da") > w2.layer_names.index("db")
    model = load_keras_model(w2.paths["h5"])
    path = tmp_path / "w.weights.h5"
    save_keras_weights(model, path)
    ref = kf.keras3().models.load_model(w3.paths["keras"])
    ref.load_weights(path)
    _close_all(ref(w2.x, training=False), w2.ref)
    model.set_weights([np.zeros_like(v) for v in model.get_weights()])
    load_keras_weights(model, w3.paths["keras"])
    _close_all(model.predict(w3.x), w3.ref)


# --- mask operations ------------------------------------------------------------------------
def _edit(src, dst, edit):
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    edit(config["config"]["layers"])
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(dst, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return dst


def _entry(layers, cls):
    return next(e for e in layers if e["class_name"] == cls)


def _arg(layers, cls):
    return _entry(layers, cls)["inbound_nodes"][0]["args"]


@pytest.mark.parametrize("edit,match", [
    (lambda ls: _arg(ls, "NotEqual").__setitem__(1, 1.0), r"mask.*!= 1\.0"),
    (lambda ls: _entry(ls, "Any")["config"].update(axis=1), "any"),
    (lambda ls: _entry(ls, "NotEqual").update(class_name="Greater"), "Greater.*never executes"),
    (lambda ls: _entry(ls, "LSTM")["inbound_nodes"][0]["kwargs"].update(training=True),
     "training=True"),
    (lambda ls: _entry(ls, "LSTM")["inbound_nodes"][0]["kwargs"].update(mask=None),
     r"'lstm' \(LSTM\): Keras passes it the mask None"),
    (lambda ls: _entry(ls, "LSTM")["inbound_nodes"][0]["kwargs"].update(mask=[1, 2]),
     r"'lstm' \(LSTM\): its mask \[1, 2\] is not computed"),
    (lambda ls: _entry(ls, "Dense")["inbound_nodes"][0]["kwargs"].update(
        mask=_entry(ls, "LSTM")["inbound_nodes"][0]["kwargs"]["mask"]),
     r"'out' \(Dense\): Keras passes it the mask any"),
])
def test_mask_operations_are_checked(edit, match, tmp_path):
    path = _edit(kf.written_functional("masked_sequence", 3).paths["keras"],
                 tmp_path / "edited.keras", edit)
    with pytest.raises(UnsupportedKerasFeature, match=match):
        load_keras_model(path)


def test_merged_masks_are_refused(tmp_path):
    """Keras 3 combines the masks of an Add with LogicalOr: an operation fastrnn does not run
    from a file; fastrnn's own such model cannot become a .keras file (its layer order
    there is not reproducible) but becomes an .h5 file tf-keras opens."""
    keras = kf.keras3()
    model = kf.functional_builder("merged_masks")(keras)
    x, _ = kf.functional_data("merged_masks", 0)
    path = tmp_path / "merged.keras"
    model.save(path)
    with pytest.raises(UnsupportedKerasFeature, match="LogicalOr"):
        load_keras_model(path)
    import fastrnn
    ours = kf.functional_builder("merged_masks")(fastrnn)
    with pytest.raises(WriteError, match="combined by a merge layer.*h5"):
        save_keras_model(ours, tmp_path / "ours.keras")
    save_legacy_h5(ours, tmp_path / "ours.h5")
    back = kf.keras2().models.load_model(tmp_path / "ours.h5")
    _close_all(back(x, training=False), [ours.predict(x)])


def test_initial_state_on_a_masked_input(tmp_path):
    """Keras 3 ignores the mask of a recurrent layer called with initial_state, tf-keras and
    fastrnn apply it: such a Keras 3 file is refused, and fastrnn writes such a model as .h5
    only (or its weights alone)."""
    import fastrnn

    def build(K):
        ids = K.Input(shape=(5,), name="ids")
        state = K.Input(shape=(3,), name="state")
        e = K.layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
        return K.Model([ids, state], K.layers.LSTM(3, name="lstm")(e, initial_state=[
            state, state]))
    path = tmp_path / "k3.keras"
    build(kf.keras3()).save(path)
    with pytest.raises(UnsupportedKerasFeature, match="initial_state.*Keras 3 ignores"):
        load_keras_model(path)
    ours = build(fastrnn)
    with pytest.raises(WriteError, match="initial_state"):
        save_keras_model(ours, tmp_path / "ours.keras")
    save_keras_weights(ours, tmp_path / "w.weights.h5")     # weights alone are fine
    copy = build(fastrnn)
    load_keras_weights(copy, tmp_path / "w.weights.h5")
    for a, b in zip(copy.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)
    save_legacy_h5(ours, tmp_path / "ours.h5")
    x = [np.array([[0, 0, 1, 2, 3], [4, 5, 6, 7, 8]]), np.ones((2, 3), "float32")]
    back = kf.keras2().models.load_model(tmp_path / "ours.h5")
    _close_all(back(x, training=False), [ours.predict(x)])


@pytest.mark.parametrize("name", ["two_outputs", "seed_000_gru"])
def test_fastrnn_model_to_keras(name, tmp_path):
    """A Functional model built and trained in fastrnn (losses, loss_weights and metrics per
    output as dicts) saved as .keras: Keras 3 opens it with fastrnn's predictions and compile
    arguments, and its next training step equals fastrnn's."""
    import fastrnn
    keras = kf.keras3()
    fastrnn.utils.set_random_seed(0)
    ours = kf.functional_builder(name)(fastrnn, training_variant=True)
    ours.compile(**kf.graph_module()._compile_args(fastrnn, name, "rmsprop"))
    x, y = kf.functional_data(name, 1)
    ours.train_on_batch(x, y)
    save_keras_model(ours, tmp_path / "m.keras")
    ref = keras.models.load_model(tmp_path / "m.keras")
    _close_all(ref(x, training=False), kf.outputs(ours.predict(x)))
    expected = kf.graph_module()._compile_args(keras, name, "rmsprop")
    config = ref.get_compile_config()
    for key in ("loss", "loss_weights", "metrics"):
        assert _per_output(config[key], ref.output_names) == _per_output(
            expected.get(key), ref.output_names), key
    ref.run_eagerly = True
    x, y = kf.functional_data(name, 2)
    logs, ref_logs = ours.train_on_batch(x, y, return_dict=True), ref.train_on_batch(
        x, y, return_dict=True)
    for key in ref_logs:
        kf.assert_close(logs[key], float(ref_logs[key]), kf.STEP_ATOL, kf.STEP_RTOL, key)
    _same_weights_after_step(ours, ref)
