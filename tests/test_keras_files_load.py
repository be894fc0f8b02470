"""Loading Keras files written in the tests by Keras 3 and tf-keras 2.21: predictions equal the
writing Keras' within 1e-5 relative, the model comes back compiled with the optimizer's slots,
and a training step after loading equals the writing Keras' step after loading the same file."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import _keras_files as kf
import fastrnn
from fastrnn.keras_files import (UnsupportedKerasFeature, load_any, load_keras_model,
                                 load_keras_weights)
from fastrnn.keras_files.errors import Source
from fastrnn.keras_files.functional import parse_functional

K3 = [r[0] for r in kf.K3_RECIPES]
K2 = [r[0] for r in kf.K2_RECIPES]
# (recipe, format) pairs whose training step is compared: every optimizer of both Kerases.
STEP_CASES = [("k3_masked_stack", "keras"), ("k3_masked_stack", "h5"),
              ("k3_float_merges", "keras"), ("k3_sgd", "h5"), ("k2_masked", "h5"),
              ("k2_float", "keras"), ("k2_legacy_adam", "h5"), ("k3_conv", "keras"),
              ("k3_conv", "h5"), ("k3_reshape", "keras"), ("k2_conv", "h5")]


@pytest.mark.parametrize("name,fmt", [(n, f) for n in K3 for f in ("keras", "h5")] +
                         [(n, f) for n in K2 for f in ("h5", "keras")])
def test_predictions_equal_keras(name, fmt):
    w = kf.written(name)
    model = load_keras_model(w.paths[fmt])
    kf.assert_close(model.predict(w.x), w.ref)
    assert [type(layer).__name__ for layer in model.layers] == [
        cls for cls, _ in w.recipe[2]]


@pytest.mark.parametrize("name", K3)
def test_keras3_weights_file(name):
    w = kf.written(name)
    model = load_keras_model(w.paths["keras"], compile=False)
    for layer in model.layers:
        layer.set_weights([np.zeros_like(v) for v in layer.weights])
    load_keras_weights(model, w.paths["weights"])
    kf.assert_close(model.predict(w.x), w.ref)


def test_compiled_as_the_file_says():
    model = load_keras_model(kf.written("k3_float_merges").paths["keras"])
    opt = model.optimizer
    assert type(opt).__name__ == "RMSprop" and opt.momentum == 0.5 and opt.centered
    assert opt.learning_rate == pytest.approx(0.01) and opt.iterations == 1
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.get_compile_config()["metrics"] == ["accuracy"]
    model = load_keras_model(kf.written("k2_legacy_adam").paths["h5"])
    assert type(model.optimizer).__name__ == "Adam" and model.optimizer.iterations == 1
    assert model.loss == "mse"
    assert not load_keras_model(kf.written("k3_sgd").paths["keras"], compile=False).compiled


@pytest.mark.parametrize("name,fmt", STEP_CASES)
def test_training_step_equals_keras(name, fmt):
    """Same file, same batch: fastrnn's step (restored slots included) equals the step of the
    Keras that wrote the file, after it loaded the file. (Keras 3 cannot train a model it
    loaded from its own legacy .h5 file: its optimizer refuses the variables, so its oracle
    for those is the .keras file of the same model and state.)"""
    w = kf.written(name)
    x, y = w.batch
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a slot left unrestored would warn
        ours = load_keras_model(w.paths[fmt])
    ref = w.K.models.load_model(w.paths["keras" if w.K is kf.keras3() else fmt])
    loss, weights = kf.train_step(ours, x, y)
    ref_loss, ref_weights = kf.train_step(ref, x, y)
    assert loss == pytest.approx(ref_loss, rel=1e-5, abs=1e-6)
    for i, (a, b) in enumerate(zip(weights, ref_weights)):
        kf.assert_close(a, b, kf.STEP_ATOL, kf.STEP_RTOL, f"weight {i} after the step")


@pytest.mark.parametrize("name", [r[0] for r in kf.NEW_LAYER_RECIPES])
def test_new_layers(name):
    """Masking, SpatialDropout1D, TimeDistributed(Dense), Flatten and the global poolings."""
    w = kf.written(name)
    kf.assert_close(load_keras_model(w.paths["keras"]).predict(w.x), w.ref)
    kf.assert_close(load_keras_model(w.paths["h5"]).predict(w.x), w.ref)


def test_keras2_imdb_model_keeps_keras2_hard_sigmoid():
    w = kf.written(kf.IMDB_RECIPE[0])
    for fmt in ("h5", "keras"):
        model = load_keras_model(w.paths[fmt])
        assert model.layers[1].recurrent_activation == "keras2_hard_sigmoid"
        kf.assert_close(model.predict(w.x), w.ref)


def test_keras2_era_file(tmp_path):
    """The shapes of Keras 2.2-2.10 files, made from a tf-keras file: a Sequential config that
    is a bare list of layers without InputLayer (batch_input_shape on the first layer), no
    `module` keys, VarianceScaling initializers, `lr` and `decay` in the optimizer config and
    optimizer_v2 slot names."""
    import h5py
    w = kf.written("k2_legacy_adam")
    path = tmp_path / "old.h5"
    path.write_bytes(open(w.paths["h5"], "rb").read())
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        layers = [_strip_modules(spec) for spec in config["config"]["layers"][1:]]
        layers[0]["config"]["batch_input_shape"] = [None, 4, 2]
        layers[0]["config"]["kernel_initializer"] = {
            "class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
                                                        "distribution": "uniform", "seed": None}}
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": layers})
        training = json.loads(f.attrs["training_config"])
        opt = training["optimizer_config"]["config"]
        opt["lr"] = opt.pop("learning_rate")
        f.attrs["training_config"] = json.dumps(training)
        f.attrs["keras_version"] = "2.2.4"
        names = [str(n) for n in f["optimizer_weights"].attrs["weight_names"]]
    assert any(n.endswith("/m:0") for n in names)     # optimizer_v2 spelling
    model = load_keras_model(path)
    kf.assert_close(model.predict(w.x), w.ref)
    assert model.optimizer.iterations == 1 and model.optimizer.learning_rate == \
        pytest.approx(0.01)
    assert model.layers[0].kernel_initializer.__class__.__name__ == "GlorotUniform"


def _strip_modules(spec):
    if isinstance(spec, dict):
        return {k: _strip_modules(v) for k, v in spec.items()
                if k not in ("module", "registered_name")}
    return spec


def test_tf_keras_2_13_weights_layout(tmp_path):
    """tf.keras 2.13 named the root of its .keras weights `_layer_checkpoint_dependencies`."""
    import h5py
    w = kf.written("k3_sgd")
    path = tmp_path / "w.weights.h5"
    path.write_bytes(open(w.paths["weights"], "rb").read())
    with h5py.File(path, "r+") as f:
        f.move("layers", "_layer_checkpoint_dependencies")
    model = load_keras_model(w.paths["keras"], compile=False)
    for layer in model.layers:
        layer.set_weights([np.zeros_like(v) for v in layer.weights])
    load_keras_weights(model, path)
    kf.assert_close(model.predict(w.x), w.ref)


def test_load_any_recognises_content(tmp_path):
    w = kf.written("k3_sgd")
    renamed = tmp_path / "model.bin"          # the suffix says nothing
    renamed.write_bytes(open(w.paths["keras"], "rb").read())
    kf.assert_close(load_any(renamed).predict(w.x), w.ref)
    own = tmp_path / "model.fnrn"
    fastrnn.saving.save_model(load_any(w.paths["h5"]), own)
    kf.assert_close(load_any(own).predict(w.x), w.ref)


# --- layer configs that Sequential files cannot hold (return_state, merge_mode=None) ----------
@pytest.mark.parametrize("keras_cls,kwargs", [
    ("LSTM", {"units": 3, "return_state": True, "return_sequences": True}),
    ("GRU", {"units": 2, "return_state": True, "reset_after": False, "go_backwards": True}),
    ("SimpleRNN", {"units": 2, "return_state": True}),
    ("Bidirectional", {"layer": ("LSTM", {"units": 2, "return_state": True}),
                       "merge_mode": None}),
    ("Bidirectional", {"layer": ("GRU", {"units": 2, "return_sequences": True}),
                       "backward_layer": ("GRU", {"units": 2, "return_sequences": True,
                                                  "go_backwards": True}),
                       "merge_mode": None}),
])
def test_layer_config_round_trip(keras_cls, kwargs):
    from fastrnn.keras_files.config import layer_from_keras, layer_to_keras
    K = kf.keras3()
    x = np.random.default_rng(0).normal(size=(3, 4, 5)).astype("float32")
    ref_layer = kf.make_layer(K, (keras_cls, kwargs))
    ref = ref_layer(x)
    spec = {"module": "keras.layers", "class_name": keras_cls,
            "config": ref_layer.get_config(), "registered_name": None}
    ours, _ = layer_from_keras(json.loads(json.dumps(spec)), Source("test", "3.15"))
    ours.build(x.shape)
    ours.set_weights(ref_layer.get_weights())
    for a, b in zip(ours(x), ref if isinstance(ref, (list, tuple)) else [ref]):
        kf.assert_close(a, np.asarray(b))
    back = K.layers.deserialize(layer_to_keras(ours, 3))
    assert back.get_config()["return_state"] if keras_cls != "Bidirectional" else \
        back.get_config()["merge_mode"] is None


# --- Functional files -----------------------------------------------------------------------
def _functional(K):
    a = K.Input(shape=(4, 3), name="a")
    seq, h, c = K.layers.LSTM(2, return_sequences=True, return_state=True, name="enc")(a)
    out = K.layers.LSTM(2, name="dec")(seq, initial_state=[h, c])
    return K.Model(a, K.layers.Dense(1, name="head")(out))


@pytest.mark.parametrize("which", ["keras3", "keras2"])
def test_functional_configs_parse(which):
    K = getattr(kf, which)()
    config = json.loads(json.dumps(_functional(K).get_config()))
    specs, nodes, inputs, outputs = parse_functional(config, Source("test", "3"))
    assert list(specs) == ["a", "enc", "dec", "head"]
    calls = {n.layer_name: n for n in nodes}
    assert calls["enc"].args[0] == ("a", 0, 0)
    assert list(calls["dec"].kwargs["initial_state"]) == [("enc", 0, 1), ("enc", 0, 2)]
    assert inputs == ("a", 0, 0) and outputs == ("head", 0, 0)


@pytest.mark.parametrize("which", ["keras3", "keras2"])
def test_functional_replay(which):
    """The Functional config is replayed as calls of fastrnn's Functional API: the encoder on
    the input, the decoder on the encoder's sequence with its states as initial_state, the
    head on the decoder; the model's input and output are those tensors."""
    from fastrnn.graph import flatten
    from fastrnn.keras_files.model_config import WeightBudget, model_from_keras
    config = json.loads(json.dumps(_functional(getattr(kf, which)()).get_config()))
    src = Source("test", "3" if which == "keras3" else "2")
    loaded = model_from_keras({"class_name": "Functional", "config": config}, src,
                              WeightBudget(1 << 30, src))

    def label(t):
        layer, _, index = t.history
        return layer.name if isinstance(layer, fastrnn.layers.InputLayer) else \
            f"{layer.name}[{index}]"
    calls = [(layer.name, [label(a) for a in flatten(node.args)],
              {k: [label(t) for t in flatten(v)] for k, v in node.kwargs.items() if v})
             for layer in loaded.layers for node in layer._inbound_nodes if node.input_tensors]
    assert calls == [("enc", ["a"], {}),
                     ("dec", ["enc[0]"], {"initial_state": ["enc[1]", "enc[2]"]}),
                     ("head", ["dec[0]"], {})]
    model = loaded.model
    assert [label(t) for t in model.inputs] == ["a"]
    assert [label(t) for t in model.outputs] == ["head[0]"]


def test_functional_file_loads(tmp_path):
    model = _functional(kf.keras3())
    path = str(tmp_path / "f.keras")
    model.save(path)
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    kf.assert_close(load_keras_model(path).predict(x), kf.predict(model, x))


# --- without TensorFlow ----------------------------------------------------------------------
_NO_TF = r"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"):
            raise ImportError(f"{name} is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
from fastrnn.keras_files import load_keras_model
for path, x, out in zip(sys.argv[1::3], sys.argv[2::3], sys.argv[3::3]):
    try:
        np.save(out, load_keras_model(path).predict(np.load(x)))
    except Exception as e:
        open(out + ".error", "w").write(f"{type(e).__name__}: {e}")
assert not any(m.split(".")[0] in ("tensorflow", "keras", "tf_keras") for m in sys.modules)
"""


def _run_without_tensorflow(tmp_path, names):
    args = []
    for name in names:
        w = kf.written(name)
        np.save(tmp_path / f"{name}.x.npy", w.x)
        args += [w.paths["h5"], str(tmp_path / f"{name}.x.npy"), str(tmp_path / f"{name}.npy")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastrnn.__file__))] + sys.path))
    subprocess.run([sys.executable, "-c", _NO_TF] + args, check=True, env=env, timeout=120)
    out = {}
    for name in names:
        error = tmp_path / f"{name}.npy.error"
        if error.exists():
            raise UnsupportedKerasFeature(error.read_text())
        out[name] = np.load(tmp_path / f"{name}.npy")
    return out


def test_loads_without_tensorflow(tmp_path):
    out = _run_without_tensorflow(tmp_path, ["k2_masked"])
    kf.assert_close(out["k2_masked"], kf.written("k2_masked").ref)


def test_keras2_imdb_model_without_tensorflow(tmp_path):
    """The issue's "Done when": a Keras-2-era IMDB model (tf-keras, hard_sigmoid) predicts
    exactly as tf-keras does, in a process where TensorFlow and Keras cannot be imported."""
    name = kf.IMDB_RECIPE[0]
    kf.assert_close(_run_without_tensorflow(tmp_path, [name])[name], kf.written(name).ref)
