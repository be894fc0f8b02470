"""One-file model/weights format: a zip holding a JSON config and `.npy` arrays (npz-style).

No pickle anywhere (`allow_pickle=False` both ways). Files are written to a temporary file in
the destination directory, then moved into place with `os.replace`, so an interrupted save
never leaves a half-written file under the final name. Layer classes are resolved from an
explicit registry of fastrnn layers, never by importing names found in the file.

    model.save("model.keras")            fastrnn.load_model("model.keras")
    model.save_weights("w.weights.h5")   model.load_weights("w.weights.h5")
"""
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "fastrnn"
VERSION = 1
_CONFIG = "config.json"


class ModelFileError(ValueError):
    """A model/weights file is truncated, corrupted, of another kind or of another version."""


def layer_registry():
    """The layer classes a file may name (explicit: nothing else can be instantiated)."""
    from .layers.bidirectional import Bidirectional
    from .layers.core import Activation, Dense, Dropout, InputLayer
    from .layers.embedding import Embedding
    from .layers.recurrent import GRU, LSTM, SimpleRNN
    return {cls.__name__: cls for cls in (Dense, Dropout, Activation, InputLayer, Embedding,
                                          SimpleRNN, LSTM, GRU, Bidirectional)}


def serialize_layer(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec):
    registry = layer_registry()
    name = spec.get("class_name") if isinstance(spec, dict) else None
    if name not in registry:
        raise ValueError(f"unknown layer class {name!r}; fastrnn can load {sorted(registry)}")
    return registry[name].from_config(dict(spec.get("config", {})))


# --- container ------------------------------------------------------------------------------
def _write(path, header, groups):
    """Atomically write `header` (JSON) and named lists of arrays to `path`."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                zf.writestr(_CONFIG, json.dumps(header, indent=1))
                for group, arrays in groups.items():
                    for i, arr in enumerate(arrays):
                        with zf.open(f"{group}/{i:05d}.npy", "w", force_zip64=True) as f:
                            np.lib.format.write_array(f, np.asarray(arr),
                                                      allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read(path, kind):
    """Read a file written by `_write`; returns (header, {group: [arrays]})."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with zipfile.ZipFile(path, "r") as zf:
            header = json.loads(zf.read(_CONFIG).decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise ModelFileError(f"{path!r} is not a fastrnn file")
            if header.get("version") != VERSION:
                raise ModelFileError(
                    f"{path!r} has fastrnn format version {header.get('version')!r}; this "
                    f"fastrnn reads version {VERSION}")
            if header.get("kind") not in kind:
                raise ModelFileError(f"{path!r} holds {header.get('kind')!r}, expected "
                                     f"{' or '.join(kind)}")
            groups = {}
            for group, count in header.get("arrays", {}).items():
                arrays = []
                for i in range(int(count)):
                    with zf.open(f"{group}/{i:05d}.npy") as f:
                        arrays.append(np.lib.format.read_array(f, allow_pickle=False))
                groups[group] = arrays
            return header, groups
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError, UnicodeDecodeError,
            json.JSONDecodeError, ValueError, OSError) as e:
        raise ModelFileError(
            f"{path!r} is not a readable fastrnn file (truncated or corrupted?): "
            f"{type(e).__name__}: {e}") from e


def _check_weights(path, header, arrays):
    shapes = header.get("weight_shapes", [])
    if len(shapes) != len(arrays) or any(tuple(s) != a.shape for s, a in zip(shapes, arrays)):
        raise ModelFileError(f"{path!r}: the weight arrays do not match the recorded shapes")


# --- public API -----------------------------------------------------------------------------
def save_model(model, filepath, include_optimizer=True):
    weights = model.get_weights()
    header = {"format": FORMAT, "version": VERSION, "kind": "model",
              "model": {"class_name": type(model).__name__, "config": model.get_config()},
              "compile": model._compile_config(),
              "weight_names": model._weight_names(),
              "weight_shapes": [list(w.shape) for w in weights]}
    groups = {"weights": weights}
    opt = model.optimizer
    if include_optimizer and opt is not None and opt.built and model.compiled:
        groups["optimizer"] = opt.get_state()
    header["arrays"] = {k: len(v) for k, v in groups.items()}
    _write(filepath, header, groups)


def load_model(filepath, compile=True):
    """Load a model saved with `model.save(path)` (architecture, weights, compile state)."""
    from .models import Sequential
    header, groups = _read(filepath, ("model",))
    spec = header.get("model", {})
    if spec.get("class_name") != "Sequential":
        raise ModelFileError(f"{os.fspath(filepath)!r}: unknown model class "
                             f"{spec.get('class_name')!r}")
    try:
        model = Sequential.from_config(spec["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{os.fspath(filepath)!r}: invalid model config: {e}") from e
    weights = groups.get("weights", [])
    _check_weights(filepath, header, weights)
    if weights:
        model.set_weights(weights)
    comp = header.get("compile")
    if compile and comp:
        model._compile_from_config(comp)
        state = groups.get("optimizer")
        if state:
            model.optimizer.set_state(model.trainable_weights, state)
    return model


def save_weights(model, filepath):
    weights = model.get_weights()
    header = {"format": FORMAT, "version": VERSION, "kind": "weights",
              "weight_names": model._weight_names(),
              "weight_shapes": [list(w.shape) for w in weights],
              "arrays": {"weights": len(weights)}}
    _write(filepath, header, {"weights": weights})


def load_weights(model, filepath):
    header, groups = _read(filepath, ("weights", "model"))
    weights = groups.get("weights", [])
    _check_weights(filepath, header, weights)
    model.set_weights(weights)
