"""Writing Keras files: fastrnn -> .keras -> keras.models.load_model keeps predictions, config,
compile config and optimizer state; the same for .weights.h5 and for the Keras 2 .h5 writer
(tf-keras and Keras 3 open it); save_any/load_any, the CLI and examples/keras_roundtrip.py."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import _keras_files as kf
import fastrnn
from fastrnn import cli
from fastrnn.keras_files import (WriteError, detect_format, load_any, load_keras_model,
                                 load_weights_any, save_any, save_keras_model,
                                 save_keras_weights, save_legacy_h5, save_weights_any)


K3 = [r[0] for r in kf.K3_RECIPES]
REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", K3)
def test_keras_file_round_trip(name, tmp_path):
    """Keras 3 file -> fastrnn -> .keras -> Keras 3: the same model, compile config and
    optimizer state as the original."""
    keras = kf.keras3()
    w = kf.written(name)
    out = tmp_path / "out.keras"
    save_keras_model(load_keras_model(w.paths["keras"]), out)
    back = keras.models.load_model(out)
    kf.assert_close(kf.predict(back, w.x), w.ref)
    assert kf.normalized(back.get_config()) == kf.normalized(w.config)
    ours, ref = back.get_compile_config(), w.compile_config
    for key in ("optimizer", "loss", "metrics"):
        assert kf.normalized(ours[key]) == kf.normalized(ref[key]), key
    assert len(back.optimizer.variables) == len(w.optimizer_variables)
    for a, b in zip(back.optimizer.variables, w.optimizer_variables):
        kf.assert_close(np.asarray(a), b, what=a.path)


def test_keras2_file_to_keras3(tmp_path):
    w = kf.written("k2_float")
    out = tmp_path / "out.keras"
    save_keras_model(load_keras_model(w.paths["h5"]), out)
    kf.assert_close(kf.predict(kf.keras3().models.load_model(out), w.x), w.ref)


def test_weights_file_round_trip(tmp_path):
    """fastrnn -> .weights.h5 -> keras_model.load_weights (weights and optimizer state)."""
    keras = kf.keras3()
    w = kf.written("k3_masked_stack")
    ours = load_keras_model(w.paths["keras"])
    path = tmp_path / "w.weights.h5"
    save_keras_weights(ours, path)
    ref = keras.models.load_model(w.paths["keras"])
    ref.set_weights([np.zeros_like(v) for v in ref.get_weights()])
    for v in ref.optimizer.variables:
        v.assign(np.zeros(v.shape, v.dtype))
    ref.load_weights(path)
    kf.assert_close(kf.predict(ref, w.x), w.ref)
    for a, b in zip(ref.optimizer.variables, w.optimizer_variables):
        kf.assert_close(np.asarray(a), b, what=a.path)


@pytest.mark.parametrize("name,fmt", [("k2_masked", "h5"), ("k2_float", "keras"),
                                      ("k3_sgd", "keras"), ("k3_float_merges", "keras")])
def test_legacy_h5_round_trip(name, fmt, tmp_path):
    """fastrnn -> Keras 2 .h5: tf-keras opens it with equal predictions and optimizer state,
    and continues training with equal steps; Keras 3 opens it too (uncompiled, as it opens
    tf-keras' own files)."""
    tf_keras = kf.keras2()
    w = kf.written(name)
    ours = load_keras_model(w.paths[fmt])
    path = tmp_path / "out.h5"
    save_legacy_h5(ours, path)
    ref = tf_keras.models.load_model(path)
    kf.assert_close(kf.predict(ref, w.x), w.ref)
    state = ours.optimizer.get_state()
    assert int(np.asarray(ref.optimizer.iterations)) == int(state[0])
    assert type(ref.optimizer).__name__ == type(ours.optimizer).__name__
    x, y = w.batch
    _, weights = kf.train_step(load_keras_model(path), x, y)
    _, ref_weights = kf.train_step(ref, x, y)
    for i, (a, b) in enumerate(zip(weights, ref_weights)):
        kf.assert_close(a, b, kf.STEP_ATOL, kf.STEP_RTOL, f"weight {i} after the step")
    # Keras 3 cannot compile from tf-keras training configs ("Custom>Adam", metric names)
    kf.assert_close(kf.predict(kf.keras3().models.load_model(path, compile=False), w.x), w.ref)


def test_hard_sigmoid_never_changes_meaning(tmp_path):
    """Keras 3's hard_sigmoid has no Keras 2 spelling: the .h5 writer refuses it."""
    model = load_keras_model(kf.written("k3_masked_stack").paths["keras"])
    with pytest.raises(WriteError, match="hard_sigmoid"):
        save_legacy_h5(model, tmp_path / "out.h5")
    assert not (tmp_path / "out.h5").exists()


def test_keras2_hard_sigmoid_stays_keras2(tmp_path):
    """A model with Keras 2's hard_sigmoid cannot become a .keras file (Keras 3 has no such
    activation) but round-trips through a Keras 2 .h5 file that tf-keras reads identically."""
    w = kf.written(kf.IMDB_RECIPE[0])
    model = load_keras_model(w.paths["h5"])
    with pytest.raises(WriteError, match="hard_sigmoid"):
        save_keras_model(model, tmp_path / "out.keras")
    save_legacy_h5(model, tmp_path / "out.h5")
    kf.assert_close(kf.predict(kf.keras2().models.load_model(tmp_path / "out.h5"), w.x), w.ref)
    kf.assert_close(load_keras_model(tmp_path / "out.h5").predict(w.x), w.ref)


def test_save_any_by_suffix(tmp_path):
    w = kf.written("k3_sgd")
    model = load_keras_model(w.paths["keras"])
    for name, kind in (("m.keras", "keras"), ("m.h5", "legacy_h5"), ("m.fnrn", "fastrnn")):
        save_any(model, tmp_path / name)
        assert detect_format(tmp_path / name) == kind
        back = load_any(tmp_path / name)
        kf.assert_close(back.predict(w.x), w.ref)
        assert back.optimizer.iterations == 1
    with pytest.raises(FileExistsError):
        save_any(model, tmp_path / "m.keras", overwrite=False)


def test_weights_any_by_suffix_and_content(tmp_path):
    w = kf.written("k3_float_merges")
    model = load_keras_model(w.paths["keras"])
    for name, kind in (("w.weights.h5", "keras_weights"), ("w.fnrnw", "fastrnn")):
        save_weights_any(model, tmp_path / name)
        assert detect_format(tmp_path / name) == kind
        target = load_keras_model(w.paths["keras"])
        for layer in target.layers:
            layer.set_weights([np.zeros_like(v) for v in layer.weights])
        load_weights_any(target, tmp_path / name)
        kf.assert_close(target.predict(w.x), w.ref)
    assert detect_format(w.paths["weights"]) == "keras_weights"
    assert detect_format(kf.written("k2_float").paths["h5"]) == "legacy_h5"


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5"])
def test_interrupted_save_keeps_the_previous_file(suffix, tmp_path, monkeypatch):
    import h5py
    w = kf.written("k3_sgd")
    model = load_keras_model(w.paths["keras"])
    path = tmp_path / ("m" + suffix)
    save = save_keras_weights if suffix == ".weights.h5" else save_any
    save(model, path)
    before = path.read_bytes()
    calls = []

    def failing(self, name, *args, **kwargs):
        calls.append(name)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(self, name, *args, **kwargs)
    real = h5py.Group.create_dataset
    monkeypatch.setattr(h5py.Group, "create_dataset", failing)
    with pytest.raises(OSError, match="disk full"):
        save(model, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == [path.name]


def test_cli_convert_and_predict(tmp_path, capsys, monkeypatch):
    w = kf.written("k2_masked")              # Embedding model: scores token ids from text
    monkeypatch.setenv("FASTRNN_DATA", str(tmp_path / "no-imdb"))   # encode with the vocabulary
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "m.keras"
    assert cli.main(["convert", w.paths["h5"], str(out)]) == 0
    assert "converted" in capsys.readouterr().out
    kf.assert_close(load_any(out).predict(w.x), w.ref)
    meta = {"format": cli.META_FORMAT, "version": 1, "num_words": 25, "maxlen": 6,
            "vocabulary": ["the", "a", "film", "good"]}     # no IMDB data needed to encode
    Path(cli.meta_path(out)).write_text(json.dumps(meta))
    assert cli.main(["predict", str(out), "a good film"]) == 0
    probability = float(capsys.readouterr().out.split("\t")[0])
    assert 0.0 <= probability <= 1.0
    with pytest.raises(SystemExit):
        cli.main(["convert", str(tmp_path / "missing.h5"), str(out)])
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a model")
    assert cli.main(["convert", str(bad), str(tmp_path / "x.fnrn")]) == 1
    assert "not a model file" in capsys.readouterr().err


def test_example_script(tmp_path):
    w = kf.written("k3_sgd")
    out = tmp_path / "tuned.keras"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(fastrnn.__file__)))
    run = subprocess.run([sys.executable, str(REPO / "examples" / "keras_roundtrip.py"),
                          w.paths["h5"], str(out), "--epochs", "2"], capture_output=True,
                         text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "saved" in run.stdout
    tuned = kf.keras3().models.load_model(out)
    assert int(tuned.optimizer.iterations.numpy()) == 1 + 2 * 2     # 2 epochs of 2 batches
    assert not np.allclose(kf.predict(tuned, w.x), w.ref)
