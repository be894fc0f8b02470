"""The one atomic file writer of fastrnn (saved models and weights, the dataset cache)."""
import contextlib
import os
import tempfile


def _umask():
    # The umask can only be read by setting it; set it straight back.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path):
    """Write `path` all at once or not at all: yields a binary file open on a temporary file in
    the destination folder (created if missing); when the block ends without error the data is
    flushed and fsynced, the file gets the permissions a plain `open()` would give it (mkstemp
    creates 0600) and is renamed over `path` with `os.replace`. On any error the temporary file
    is removed and an existing `path` is left as it was."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
