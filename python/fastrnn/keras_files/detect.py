"""Recognise a model/weights file by its content, not its name."""
import os
import zipfile

from ..saving import ModelFileError
from . import container, h5safe

FASTRNN = "fastrnn"                 # fastrnn's own zip (config.json + .npy arrays)
KERAS_ZIP = "keras"                 # Keras 3 / tf-keras .keras zip
LEGACY_MODEL = "legacy_h5"          # Keras 2 / tf.keras / Keras 3 legacy .h5 model
LEGACY_WEIGHTS = "legacy_weights"   # Keras 2 .h5 written by save_weights
KERAS_WEIGHTS = "keras_weights"     # Keras 3 .weights.h5
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def detect_format(path):
    """One of the kinds above; ModelFileError for anything else."""
    path = os.fspath(path)
    where = repr(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {where}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{where} is a directory, not a model file")
    with open(path, "rb") as f:
        head = f.read(len(_HDF5_SIGNATURE))
    if head == _HDF5_SIGNATURE:
        with h5safe.open_file(path, where) as h5, h5safe.guarded(where):
            if "model_config" in h5.attrs:
                return LEGACY_MODEL
            if "layer_names" in h5.attrs or "layer_names0" in h5.attrs:
                return LEGACY_WEIGHTS
            if any(name in h5 for name in ("layers", "vars", "_layer_checkpoint_dependencies")):
                return KERAS_WEIGHTS
        raise ModelFileError(f"{where} is an HDF5 file but not a Keras model or weights file")
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as zf:
                names = set(zf.namelist())
        except container.ZIP_ERRORS as e:
            raise ModelFileError(f"{where} is not a readable zip file (truncated or "
                                 f"corrupted?): {type(e).__name__}: {e}") from e
        if container.is_keras_zip(names):
            return KERAS_ZIP
        if container.CONFIG in names:
            return FASTRNN
    raise ModelFileError(f"{where} is not a model file fastrnn recognises (a .keras zip, a "
                         "Keras .h5 file or a fastrnn file)")
