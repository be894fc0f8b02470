"""Damaged, crafted and unsupported Keras files give the documented errors: ModelFileError
(naming the layer and weight where there is one) for truncated/corrupted files, wrong shapes
and missing weights; UnsupportedKerasFeature (a ModelFileError) naming the class or argument
and the file for what fastrnn cannot reproduce; nothing in a file is ever executed."""
import io
import json
import os
import subprocess
import sys
import zipfile

import h5py
import numpy as np
import pytest

import _keras_files as kf
import fastrnn
from fastrnn.keras_files import UnsupportedKerasFeature, load_keras_model, load_keras_weights
from fastrnn.saving import ModelFileError


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _write_zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _edit_keras(src, dst, config=None, weights=None):
    """A copy of .keras file `src` with `config(dict)` and/or `weights(h5py.File)` applied."""
    members = _members(src)
    if config:
        cfg = json.loads(members["config.json"])
        config(cfg)
        members["config.json"] = json.dumps(cfg).encode()
    if weights:
        buffer = io.BytesIO(members["model.weights.h5"])
        with h5py.File(buffer, "r+") as f:
            weights(f)
        members["model.weights.h5"] = buffer.getvalue()
    return _write_zip(dst, members)


def _layer(cfg, class_name):
    return next(spec for spec in cfg["config"]["layers"] if spec["class_name"] == class_name)


@pytest.fixture(scope="module")
def k3():
    return kf.written("k3_sgd")     # LSTM -> SimpleRNN -> Dense, SGD with momentum


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_truncated(k3, fmt, tmp_path):
    data = open(k3.paths[fmt], "rb").read()
    for cut in (0, 8, 100, len(data) // 3, len(data) // 2, len(data) - 200, len(data) - 1):
        path = tmp_path / f"cut{cut}.{fmt}"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError):
            load_keras_model(path)


def test_flipped_bytes_in_keras_file(k3, tmp_path):
    """Every byte of a .keras member is covered by the zip's CRC-32: a flip is an error."""
    data = bytearray(open(k3.paths["keras"], "rb").read())
    with zipfile.ZipFile(k3.paths["keras"]) as zf:
        spans = [(i.header_offset + 30 + len(i.filename.encode()) + len(i.extra),
                  i.compress_size) for i in zf.infolist()]
    rng = np.random.default_rng(0)
    for start, size in spans:
        for offset in [start, start + size - 1] + list(rng.integers(start, start + size, 6)):
            damaged = bytearray(data)
            damaged[offset] ^= 0x5A
            path = tmp_path / "flipped.keras"
            path.write_bytes(bytes(damaged))
            with pytest.raises(ModelFileError):
                load_keras_model(path)


_FLIP_SCRIPT = r"""
import sys, warnings
import numpy as np
from fastrnn.keras_files import load_keras_model
from fastrnn.saving import ModelFileError
warnings.simplefilter("ignore")
data = open(sys.argv[1], "rb").read()
x = np.load(sys.argv[2])
outcomes = {"error": 0, "loaded": 0}
for offset in range(0, len(data), max(1, len(data) // int(sys.argv[3]))):
    damaged = bytearray(data)
    damaged[offset] ^= 0xFF
    open(sys.argv[4], "wb").write(bytes(damaged))
    try:
        model = load_keras_model(sys.argv[4])
        model.predict(x)
        outcomes["loaded"] += 1
    except ModelFileError:
        outcomes["error"] += 1
print(outcomes)
"""


@pytest.mark.parametrize("name", ["k3_sgd", "k2_float"])
def test_flipped_bytes_in_h5_file(name, tmp_path):
    """Legacy .h5 files have no checksums, so a flip in weight data goes unnoticed (as in
    Keras); anywhere else it must give ModelFileError or a model that runs, never another
    exception or a crash (run in a subprocess to be sure)."""
    w = kf.written(name)
    np.save(tmp_path / "x.npy", w.x)
    count = 400 if os.environ.get("FASTRNN_FUZZ") == "long" else 60
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastrnn.__file__))] + sys.path))
    run = subprocess.run([sys.executable, "-c", _FLIP_SCRIPT, w.paths["h5"],
                          str(tmp_path / "x.npy"), str(count), str(tmp_path / "f.h5")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = eval(run.stdout.strip().splitlines()[-1])
    assert outcomes["error"] > 0 and sum(outcomes.values()) >= count


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_wrong_shape_and_missing_weight(k3, fmt, tmp_path):
    if fmt == "keras":
        def bad_shape(f):
            del f["layers/lstm/cell/vars/1"]
            f["layers/lstm/cell/vars"].create_dataset("1", data=np.zeros((3, 7), "float32"))

        def missing(f):
            del f["layers/simple_rnn/cell/vars/2"]
        wrong = _edit_keras(k3.paths["keras"], tmp_path / "shape.keras", weights=bad_shape)
        gone = _edit_keras(k3.paths["keras"], tmp_path / "gone.keras", weights=missing)
    else:
        wrong, gone = tmp_path / "shape.h5", tmp_path / "gone.h5"
        for path in (wrong, gone):
            path.write_bytes(open(k3.paths["h5"], "rb").read())
        def group(f, prefix):     # layer groups are named by layer (lstm, lstm_3, ...)
            return next(f["model_weights"][n] for n in f["model_weights"].attrs["layer_names"]
                        if str(n).startswith(prefix))
        with h5py.File(wrong, "r+") as f:
            lstm = group(f, "lstm")
            name = str(lstm.attrs["weight_names"][1])
            del lstm[name]
            lstm.create_dataset(name, data=np.zeros((3, 7), "float32"))
        with h5py.File(gone, "r+") as f:
            rnn = group(f, "simple_rnn")
            del rnn[str(rnn.attrs["weight_names"][2])]
    with pytest.raises(ModelFileError, match=r"layer 'lstm\w*' \(LSTM\) weight 'lstm\w*/"
                                             r"recurrent_kernel'.*shape \(3, 7\)"):
        load_keras_model(wrong)
    with pytest.raises(ModelFileError, match=r"simple_rnn.*bias.*missing|expects 3 weight"):
        load_keras_model(gone)


def test_wrong_shape_in_weights_file_leaves_model_unchanged(k3, tmp_path):
    model = load_keras_model(k3.paths["keras"])
    before = model.get_weights()
    path = tmp_path / "w.weights.h5"
    path.write_bytes(open(k3.paths["weights"], "rb").read())
    with h5py.File(path, "r+") as f:
        del f["layers/dense/vars/1"]
        f["layers/dense/vars"].create_dataset("1", data=np.zeros(5, "float32"))
    with pytest.raises(ModelFileError, match=r"layer 'dense\w*'"):
        load_keras_weights(model, path)
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_optimizer_slot_of_wrong_shape(k3, tmp_path):
    def bad_slot(f):
        del f["optimizer/vars/3"]
        f["optimizer/vars"].create_dataset("3", data=np.zeros((2, 2), "float32"))
    path = _edit_keras(k3.paths["keras"], tmp_path / "opt.keras", weights=bad_slot)
    with pytest.raises(ModelFileError, match="optimizer variable 3"):
        load_keras_model(path)
    assert load_keras_model(path, compile=False).predict(k3.x).shape == k3.ref.shape


def test_lambda_layer_is_refused_and_never_run(tmp_path):
    keras = kf.keras3()
    marker = tmp_path / "ran"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(
        lambda t, m=str(marker): (open(m, "w").close(), t)[1]), keras.layers.Dense(1)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink(missing_ok=True)     # Keras itself ran the function while building
    with pytest.raises(UnsupportedKerasFeature, match=r"Lambda.*never runs code") as e:
        load_keras_model(path)
    assert str(path) in str(e.value)
    assert not marker.exists()


def test_unknown_and_custom_classes(k3, tmp_path):
    keras = kf.keras3()
    model = keras.Sequential([keras.Input((4, 2)), keras.layers.LSTM(2),
                              keras.layers.GaussianNoise(0.1)])
    path = tmp_path / "noise.keras"
    model.save(path)
    with pytest.raises(UnsupportedKerasFeature, match=r"'GaussianNoise'.*noise\.keras|"
                                                      r"noise\.keras.*'GaussianNoise'"):
        load_keras_model(path)

    def custom(cfg):
        _layer(cfg, "LSTM").update(module="mypackage.layers", registered_name="mypkg>LSTM")
    with pytest.raises(UnsupportedKerasFeature, match="custom class"):
        load_keras_model(_edit_keras(k3.paths["keras"], tmp_path / "c.keras", config=custom))


@pytest.mark.parametrize("key,value,match", [
    ("kernel_regularizer", {"module": "keras.regularizers",
                            "class_name": "OrthogonalRegularizer",
                            "config": {"factor": 0.01, "mode": "rows"}, "registered_name": None},
     "kernel_regularizer.*OrthogonalRegularizer"),
    ("dtype", {"module": "keras", "class_name": "DTypePolicy",
               "config": {"name": "mixed_float16"}, "registered_name": None}, "dtype policy"),
    ("time_major", True, "time_major"),
    ("a_future_argument", 1, "a_future_argument"),
])
def test_unsupported_arguments_are_errors(k3, tmp_path, key, value, match):
    def edit(cfg):
        _layer(cfg, "LSTM")["config"][key] = value
    path = _edit_keras(k3.paths["keras"], tmp_path / "arg.keras", config=edit)
    with pytest.raises(UnsupportedKerasFeature, match=rf"'lstm\w*' \(LSTM\).*{match}"):
        load_keras_model(path)


def test_execution_only_arguments_are_accepted(k3, tmp_path):
    def edit(cfg):
        _layer(cfg, "LSTM")["config"].update(unroll=True, implementation=1, use_cudnn=False)
    path = _edit_keras(k3.paths["keras"], tmp_path / "exec.keras", config=edit)
    kf.assert_close(load_keras_model(path).predict(k3.x), k3.ref)


def test_unsupported_optimizer_and_schedule(k3, tmp_path):
    def adagrad(cfg):
        cfg["compile_config"]["optimizer"]["class_name"] = "Adagrad"

    def schedule(cfg):
        cfg["compile_config"]["optimizer"]["config"]["learning_rate"] = {
            "module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
            "config": {}, "registered_name": None}
    for edit, match in ((adagrad, "Adagrad"), (schedule, "schedule")):
        path = _edit_keras(k3.paths["keras"], tmp_path / "opt.keras", config=edit)
        with pytest.raises(UnsupportedKerasFeature, match=match):
            load_keras_model(path)
        assert not load_keras_model(path, compile=False).compiled


def test_crafted_sizes_fail_before_allocating(tmp_path):
    """A config declaring an embedding of 10^12 x 10^3 floats next to a small file."""
    w = kf.written("k3_masked_stack")

    def huge(cfg):
        _layer(cfg, "Embedding")["config"]["input_dim"] = 10 ** 12
        _layer(cfg, "Embedding")["config"]["output_dim"] = 1000
    path = _edit_keras(w.paths["keras"], tmp_path / "huge.keras", config=huge)
    with pytest.raises(ModelFileError, match="declares at least"):
        load_keras_model(path)


def test_deeply_nested_config(k3, tmp_path):
    members = _members(k3.paths["keras"])
    members["config.json"] = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(ModelFileError, match="config.json"):
        load_keras_model(_write_zip(tmp_path / "deep.keras", members))


def test_links_are_refused(k3, tmp_path):
    def soft(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.SoftLink("/layers/dense/vars/0")

    def external(f):
        del f["layers/dense/vars/1"]
        f["layers/dense/vars/1"] = h5py.ExternalLink("/etc/other.h5", "/data")
    for edit in (soft, external):
        path = _edit_keras(k3.paths["keras"], tmp_path / "link.keras", weights=edit)
        with pytest.raises(ModelFileError, match="Link"):
            load_keras_model(path)


def test_not_model_files(tmp_path):
    (tmp_path / "empty.keras").write_bytes(b"")
    (tmp_path / "noise.h5").write_bytes(os.urandom(4096))
    zip_only = _write_zip(tmp_path / "other.keras", {"readme.txt": b"hello"})
    for path in (tmp_path / "empty.keras", tmp_path / "noise.h5", zip_only):
        with pytest.raises(ModelFileError, match="not a model file"):
            load_keras_model(path)
    with pytest.raises(FileNotFoundError):
        load_keras_model(tmp_path / "missing.keras")
    with pytest.raises(IsADirectoryError):
        load_keras_model(tmp_path)
    weights_only = kf.written("k3_sgd").paths["weights"]
    with pytest.raises(ModelFileError, match="load_keras_weights"):
        load_keras_model(weights_only)


def _node_args(cfg, name):
    entry = next(e for e in cfg["config"]["layers"] if e["name"] == name)
    return entry["inbound_nodes"][0]["args"]


def _history(cfg, name):
    return _node_args(cfg, name)[0]["config"]["keras_history"]


@pytest.mark.parametrize("edit,match", [
    # lstm takes gru's output and gru lstm's: a cycle
    (lambda cfg: _history(cfg, "lstm").__setitem__(0, "gru"), "cannot compute.*cycle"),
    (lambda cfg: _history(cfg, "gru").__setitem__(0, "no_such_layer"), "cannot compute"),
    (lambda cfg: _history(cfg, "gru").__setitem__(2, 7), r"tensor \['lstm', 0, 7\]"),
    (lambda cfg: cfg["config"].update(input_layers=["gru", 0, 0]), "not an InputLayer"),
    (lambda cfg: cfg["config"]["layers"][1].update(inbound_nodes="emb"), "inbound nodes"),
    (lambda cfg: cfg["config"]["layers"].append(dict(cfg["config"]["layers"][1])),
     "repeated"),
    (lambda cfg: cfg["config"].update(output_layers={"a": 3}), "output_layers"),
])
def test_crafted_functional_configs(edit, match, tmp_path):
    """Malformed graphs give ModelFileError naming what is wrong, without building anything
    half-way."""
    w = kf.written_functional("two_outputs", 3)
    path = _edit_keras(w.paths["keras"], tmp_path / "graph.keras", config=edit)
    with pytest.raises(ModelFileError, match=match):
        load_keras_model(path)
