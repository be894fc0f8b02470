"""Keras model files in and out, without Keras or TensorFlow (h5py and NumPy only).

    model = load_keras_model("m.keras")          # or a Keras 2 / tf.keras / Keras 3 .h5
    save_keras_model(model, "out.keras")         # keras.models.load_model opens it
    save_legacy_h5(model, "out.h5")              # tf-keras (and Keras 3) open it
    save_keras_weights(model, "w.weights.h5"); load_keras_weights(model, "w.weights.h5")

`load_any(path)` recognises fastrnn's own files, .keras and .h5 files by content;
`save_any(model, path)` picks the format from the suffix (.keras, .h5/.hdf5, anything else:
fastrnn's own format). Nothing in a file is executed or imported: layers and objects are
looked up in fixed tables (custom classes and Lambda layers are refused). In data-parallel
training (fastrnn.distributed) only rank 0 writes; the others hold the same model.
"""
import os

from .. import saving
from ..distributed.context import is_main
from .config import WriteError
from .detect import detect_format
from .errors import UnsupportedKerasFeature
from .reader import load_keras_model, load_keras_weights
from .writer import save_keras_model, save_keras_weights, save_legacy_h5

__all__ = ["load_keras_model", "load_keras_weights", "save_keras_model", "save_keras_weights",
           "save_legacy_h5", "load_any", "save_any", "load_weights_any", "save_weights_any",
           "detect_format", "UnsupportedKerasFeature", "WriteError"]

_KERAS = ".keras"
_LEGACY = (".h5", ".hdf5")
_KERAS_WEIGHTS = ".weights.h5"


def load_any(path, compile=True, safe_mode=True, custom_objects=None):
    """Load a model file of any supported format, recognised by its content (this is
    `fastrnn.load_model`). `custom_objects` cannot be given: loading never resolves classes
    or code named in a file beyond fastrnn's own layers."""
    if custom_objects:
        raise ValueError(f"custom_objects: fastrnn loads only its built-in layers and never "
                         f"code named in a file, got {sorted(custom_objects)}")
    if detect_format(path) == "fastrnn":
        return saving.load_model(path, compile=compile)
    return load_keras_model(path, compile=compile)


def save_any(model, path, overwrite=True, include_optimizer=True):
    """Save by suffix: `.keras` Keras 3, `.h5`/`.hdf5` Keras 2 HDF5, otherwise fastrnn's own
    format (e.g. `.fnrn`)."""
    name = os.fspath(path).lower()
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    if name.endswith(_KERAS_WEIGHTS):
        raise ValueError(f"{path}: a .weights.h5 file holds weights only; use save_weights")
    if not is_main():    # data-parallel training: the ranks hold the same model; rank 0 writes
        return None
    if name.endswith(_KERAS):
        return save_keras_model(model, path, include_optimizer=include_optimizer)
    if name.endswith(_LEGACY):
        return save_legacy_h5(model, path, include_optimizer=include_optimizer)
    return saving.save_model(model, path, include_optimizer=include_optimizer)


def load_weights_any(model, path):
    """Set `model`'s weights from a fastrnn or Keras weights/model file (by content)."""
    if detect_format(path) == "fastrnn":
        return saving.load_weights(model, path)
    return load_keras_weights(model, path)


def save_weights_any(model, path, overwrite=True):
    """`.weights.h5`: Keras 3 layout; anything else: fastrnn's own weights format."""
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    if not is_main():
        return None
    if os.fspath(path).lower().endswith(_KERAS_WEIGHTS):
        return save_keras_weights(model, path)
    return saving.save_weights(model, path)
