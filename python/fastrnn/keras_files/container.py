"""The `.keras` zip container (config.json, metadata.json, model.weights.h5) and atomic writes."""
import contextlib
import json
import os
import shutil
import tempfile
import zipfile

from ..saving import ModelFileError
from . import h5safe

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS = "model.weights.h5"
MAX_JSON_BYTES = 64 << 20
# A member that expands far beyond what it stores is a decompression bomb, not a Keras file
# (Keras stores members uncompressed); small members may compress well legitimately.
_BOMB_FLOOR_BYTES = 256 << 20
_MAX_EXPANSION = 100
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
              NotImplementedError, UnicodeDecodeError, OverflowError)


def is_keras_zip(names):
    return CONFIG in names and WEIGHTS in names


def _check_member(zf, name, where, limit=None):
    info = zf.getinfo(name)
    if limit is not None and info.file_size > limit:
        raise ModelFileError(f"{where}: {name} is {info.file_size} bytes (more than {limit})")
    if info.file_size > _BOMB_FLOOR_BYTES and info.file_size > _MAX_EXPANSION * info.compress_size:
        raise ModelFileError(f"{where}: {name} declares {info.file_size} bytes but stores "
                             f"{info.compress_size}; refusing a decompression bomb")
    return info


@contextlib.contextmanager
def read_keras_zip(path):
    """Yields (config, metadata, weights_h5_path): the JSON documents, and the weights file
    extracted to a temporary folder (removed afterwards). The zip CRCs are checked while
    reading, so a flipped byte anywhere in a member is an error here."""
    where = repr(str(path))
    tmp = tempfile.mkdtemp(prefix="fastrnn-keras-")
    try:
        try:
            with zipfile.ZipFile(path, "r") as zf:
                names = set(zf.namelist())
                if not is_keras_zip(names):
                    raise ModelFileError(f"{where} is not a Keras .keras file (it needs {CONFIG} "
                                         f"and {WEIGHTS})")
                _check_member(zf, CONFIG, where, MAX_JSON_BYTES)
                config = h5safe.parse_json(zf.read(CONFIG), CONFIG, where)
                metadata = {}
                if METADATA in names:
                    _check_member(zf, METADATA, where, MAX_JSON_BYTES)
                    metadata = h5safe.parse_json(zf.read(METADATA), METADATA, where)
                _check_member(zf, WEIGHTS, where)
                weights = os.path.join(tmp, WEIGHTS)
                with zf.open(WEIGHTS) as src, open(weights, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
        except ModelFileError:
            raise
        except ZIP_ERRORS as e:
            raise ModelFileError(f"{where} is not a readable .keras file (truncated or "
                                 f"corrupted?): {type(e).__name__}: {e}") from e
        if not isinstance(config, dict) or not isinstance(metadata, dict):
            raise ModelFileError(f"{where}: {CONFIG} and {METADATA} must hold JSON objects")
        yield config, metadata, weights
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_keras_zip(path, config, metadata, write_weights):
    """Write a .keras file atomically; `write_weights(h5_path)` writes the weights file."""
    with atomic_path(path) as tmp_zip, tempfile.TemporaryDirectory(prefix="fastrnn-keras-") as d:
        weights = os.path.join(d, WEIGHTS)
        write_weights(weights)
        with zipfile.ZipFile(tmp_zip, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.writestr(METADATA, json.dumps(metadata))
            zf.writestr(CONFIG, json.dumps(config))
            zf.write(weights, WEIGHTS)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to `path`, moved onto `path` only when the block
    succeeds: an interrupted save never leaves a half-written file under the final name."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)     # mkstemp creates 0600; give the file open()'s permissions
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
