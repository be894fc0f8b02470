"""fastrnn._atomic.atomic_write: the one writer of model files and the dataset cache."""
import os
import stat

import pytest

from fastrnn._atomic import atomic_write


def test_writes_with_the_permissions_of_open(tmp_path):
    target = tmp_path / "new" / "folder" / "file.bin"
    with atomic_write(target) as f:
        f.write(b"data")
    assert target.read_bytes() == b"data"
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)
    assert os.listdir(target.parent) == ["file.bin"]


def test_an_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_write(target) as f:
            f.write(b"half of the new da")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["file.bin"]


def test_saving_and_the_imdb_cache_use_it():
    from fastrnn import saving
    from fastrnn.datasets import _cache
    assert saving.atomic_write is atomic_write and _cache.atomic_write is atomic_write
