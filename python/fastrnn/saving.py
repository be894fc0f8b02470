"""One-file model/weights format: a zip holding a JSON config and `.npy` arrays (npz-style).

No pickle anywhere (`allow_pickle=False` both ways). Files are written to a temporary file in
the destination directory, then moved into place with `os.replace`, so an interrupted save
never leaves a half-written file under the final name. Layer classes are resolved from an
explicit registry of fastrnn layers, never by importing names found in the file.

    model.save("model.fnrn")             fastrnn.load_model("model.fnrn")
    model.save_weights("w.weights.fnrn") model.load_weights("w.weights.fnrn")

Files are recognised by their content, not their suffix (older files named .keras load too).
"""
import json
import os
import zipfile

import numpy as np

from ._atomic import atomic_write
from .layers.registry import registered

FORMAT = "fastrnn"
VERSION = 1
_CONFIG = "config.json"
_MODEL_CLASSES = ("Sequential", "Functional")


class ModelFileError(ValueError):
    """A model/weights file is truncated, corrupted, of another kind or of another version."""


# --- container ------------------------------------------------------------------------------
def _write(path, header, groups):
    """Atomically write `header` (JSON) and named lists of arrays to `path`."""
    with atomic_write(path) as fh:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(_CONFIG, json.dumps(header, indent=1))
            for group, arrays in groups.items():
                for i, arr in enumerate(arrays):
                    with zf.open(f"{group}/{i:05d}.npy", "w", force_zip64=True) as f:
                        np.lib.format.write_array(f, np.asarray(arr), allow_pickle=False)


_MAX_CONFIG_BYTES = 64 << 20   # a JSON config larger than this is not a fastrnn file


def _read_npy(zf, name, path):
    """One `.npy` member, checking its declared size against the member's real size before
    anything is allocated (a crafted header cannot request terabytes)."""
    info = zf.getinfo(name)
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ModelFileError(f"{path!r}: member {name!r} has unsupported .npy version "
                                 f"{version}")
        if dtype.hasobject or dtype.kind not in "biuf":
            raise ModelFileError(f"{path!r}: member {name!r} holds dtype {dtype}; fastrnn files "
                                 "only hold numeric arrays")
        count = 1
        for d in shape:
            count *= int(d)
        if count * dtype.itemsize != info.file_size - f.tell():
            raise ModelFileError(
                f"{path!r}: member {name!r} declares shape {shape} ({count * dtype.itemsize} "
                f"bytes) but holds {info.file_size - f.tell()} bytes of data")
    with zf.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _read(path, kind):
    """Read a file written by `_write`; returns (header, {group: [arrays]}).

    Anything that is not exactly such a file (not a zip, truncated, corrupted, another format
    or version, unexpected members, pickled or non-numeric arrays, sizes that disagree)
    raises ModelFileError (a ValueError); nothing found in the file is ever executed.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a fastrnn file")
    try:
        with zipfile.ZipFile(path, "r") as zf:
            if zf.getinfo(_CONFIG).file_size > _MAX_CONFIG_BYTES:
                raise ModelFileError(f"{path!r}: {_CONFIG} is larger than "
                                     f"{_MAX_CONFIG_BYTES} bytes")
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
            declared = header.get("arrays", {})
            if not isinstance(declared, dict) or not all(
                    isinstance(g, str) and "/" not in g and isinstance(n, int) and
                    not isinstance(n, bool) and n >= 0 for g, n in declared.items()):
                raise ModelFileError(f"{path!r}: invalid array table {declared!r}")
            members = set(zf.namelist())
            if sum(declared.values()) > len(members):    # checked before listing names
                raise ModelFileError(f"{path!r}: the header lists {sum(declared.values())} "
                                     f"arrays but the file has {len(members) - 1} members "
                                     "besides the config (missing zip members)")
            expected = {_CONFIG} | {f"{g}/{i:05d}.npy" for g, n in declared.items()
                                    for i in range(n)}
            if members != expected:
                extra, missing = sorted(members - expected), sorted(expected - members)
                raise ModelFileError(
                    f"{path!r}: unexpected zip members {extra[:5]}" if extra else
                    f"{path!r}: missing zip members {missing[:5]}")
            groups = {g: [_read_npy(zf, f"{g}/{i:05d}.npy", path) for i in range(n)]
                      for g, n in declared.items()}
            return header, groups
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError, UnicodeDecodeError,
            json.JSONDecodeError, ValueError, OSError, RecursionError, NotImplementedError,
            OverflowError, TypeError) as e:
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
              "compile": model.get_compile_config(),
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
    header, groups = _read(filepath, ("model",))
    where = repr(os.fspath(filepath))
    spec = header.get("model", {})
    cls = registered().get(spec.get("class_name")) if isinstance(spec, dict) else None
    if cls is None or spec.get("class_name") not in _MODEL_CLASSES:
        name = spec.get("class_name") if isinstance(spec, dict) else spec
        raise ModelFileError(f"{where}: unknown model class {name!r}")
    try:
        model = cls.from_config(spec["config"])
    except (KeyError, TypeError, ValueError, AttributeError, NotImplementedError,
            LookupError) as e:
        raise ModelFileError(f"{where}: invalid model config: {type(e).__name__}: {e}") from e
    weights = groups.get("weights", [])
    _check_weights(filepath, header, weights)
    try:
        if weights or model.weights:
            model.set_weights(weights)
        comp = header.get("compile")
        if compile and comp:
            model.compile_from_config(comp)
            state = groups.get("optimizer")
            if state:
                model.optimizer.set_state(model.trainable_weights, state)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError,
            NotImplementedError) as e:
        raise ModelFileError(f"{where}: the weights or compile state do not fit the model: "
                             f"{type(e).__name__}: {e}") from e
    return model


def save_weights(model, filepath):
    weights = model.get_weights()
    header = {"format": FORMAT, "version": VERSION, "kind": "weights",
              "weight_names": model._weight_names(),
              "weight_shapes": [list(w.shape) for w in weights],
              "arrays": {"weights": len(weights)}}
    _write(filepath, header, {"weights": weights})


def load_weights(model, filepath):
    """Set `model`'s weights from a file; on any error the weights are left unchanged."""
    header, groups = _read(filepath, ("weights", "model"))
    weights = groups.get("weights", [])
    _check_weights(filepath, header, weights)
    model.set_weights(weights)   # validates every array before writing any
