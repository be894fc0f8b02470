"""Long runs and files: memory stays flat over many training steps, file descriptors do not
leak, and saving is atomic (an interrupted or killed save never damages the previous file and
an interrupted save leaves no temporary file behind).

The leak check runs N=200 steps in CI; `FASTRNN_LONG=1` runs N=2000:

    FASTRNN_LONG=1 PYTHONPATH=python python -m pytest tests/test_long_run.py -q
"""
import gc
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastrnn
from fastrnn import saving
from fastrnn.callbacks import ModelCheckpoint
from fastrnn.layers import GRU, LSTM, Bidirectional
from fastrnn.layers.core import Dense, Dropout
from fastrnn.layers.embedding import Embedding

LONG = os.environ.get("FASTRNN_LONG") == "1"
STEPS = 2000 if LONG else 200
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def leak_model():
    """Small but not tiny: one leaked per-step buffer (the two LSTM caches alone are ~250 kB
    per step) would add tens of MB over the run."""
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([Embedding(200, 8, mask_zero=True),
                            Bidirectional(LSTM(16, return_sequences=True, dropout=0.1,
                                               recurrent_dropout=0.1)),
                            GRU(8), Dropout(0.2), Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return m


SANITIZED = os.environ.get("FASTRNN_SANITIZED") == "1"   # set by tools/sanitize.sh
needs_plain_rss = pytest.mark.skipif(
    not os.path.exists("/proc/self/statm") or SANITIZED,
    reason="needs Linux /proc and the plain allocator (ASan's quarantine grows the RSS)")


@needs_plain_rss
def test_training_memory_stays_flat(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 200, (16, 20))
    y = (rng.random((16, 1)) > 0.5).astype(np.float32)
    m = leak_model()

    def work(n):
        for i in range(n):
            m.train_on_batch(x, y)
            if i % 10 == 0:
                m.predict_on_batch(x[:7])
                m.test_on_batch(x, y)
            if i % 50 == 0:
                m.save(tmp_path / "m.fnrn")
                fastrnn.load_model(tmp_path / "m.fnrn")
                m.fit(x, y, batch_size=8, epochs=1, verbose=0)

    work(51)                         # warm-up: buffers, optimizer slots, allocator pools
    gc.collect()
    rss0, fds0 = rss_bytes(), open_fds()
    work(STEPS)
    gc.collect()
    rss1, fds1 = rss_bytes(), open_fds()
    work(STEPS // 2)
    gc.collect()
    rss2, fds2 = rss_bytes(), open_fds()
    mb = 1 << 20
    assert fds1 == fds0 and fds2 == fds0, f"file descriptors leak: {fds0} -> {fds1} -> {fds2}"
    # allocator noise is a few MB at most and does not grow; a real leak grows linearly and
    # shows in both windows
    assert rss1 - rss0 < 16 * mb and rss2 - rss1 < 8 * mb, (
        f"RSS grew {(rss1 - rss0) / mb:.1f} MB over {STEPS} steps, then "
        f"{(rss2 - rss1) / mb:.1f} MB over {STEPS // 2}")
    assert all(np.isfinite(w).all() for w in m.get_weights())


@needs_plain_rss
def test_ops_memory_stays_flat():
    """The raw kernels: forward/backward with fresh arrays every call, all cells, both dtypes."""
    rng = np.random.default_rng(1)
    problems = []
    for cell, G in (("simple_rnn", 1), ("lstm", 4), ("gru", 3)):
        for dt in (np.float32, np.float64):
            B, T, D, H = 8, 30, 8, 24
            problems.append((cell, rng.standard_normal((B, T, D)).astype(dt),
                             (rng.standard_normal((D, G * H)) * 0.3).astype(dt),
                             (rng.standard_normal((H, G * H)) * 0.2).astype(dt),
                             rng.random((B, T)) < 0.8))

    def work(n):
        for i in range(n):
            cell, x, k, rk, mask = problems[i % len(problems)]
            res = fastrnn.ops.rnn_forward(cell, x, k, rk, None, None, mask)
            fastrnn.ops.rnn_backward(res.cache, d_outputs=np.ones_like(res.outputs))
            fastrnn.ops.rnn_forward(cell, x, k, rk, None, None, mask, training=False)

    work(60)
    gc.collect()
    rss0 = rss_bytes()
    work(STEPS)
    gc.collect()
    rss1 = rss_bytes()
    work(STEPS // 2)
    gc.collect()
    rss2 = rss_bytes()
    mb = 1 << 20
    assert rss1 - rss0 < 16 * mb and rss2 - rss1 < 8 * mb, (
        f"RSS grew {(rss1 - rss0) / mb:.1f} MB then {(rss2 - rss1) / mb:.1f} MB")


# ---------------------------------------------------------------------------------------------
# atomic saving

def small_model(seed=0):
    fastrnn.utils.set_random_seed(seed)
    m = fastrnn.Sequential([fastrnn.Input((5, 3)), GRU(8), Dense(2)])
    m.compile("adam", "mse")
    m.fit(np.ones((4, 5, 3), np.float32), np.zeros((4, 2), np.float32), verbose=0)
    return m


class Interrupted(Exception):
    pass


def failing_write_array(after_arrays, exc):
    """A replacement for np.lib.format.write_array that writes `after_arrays` arrays, then half
    of the next one, then raises `exc` (a crash in the middle of the temporary file)."""
    real = np.lib.format.write_array
    count = {"n": 0}

    def write_array(fp, array, *args, **kwargs):
        if count["n"] >= after_arrays:
            import io
            buf = io.BytesIO()
            real(buf, array, *args, **kwargs)
            fp.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            raise exc
        count["n"] += 1
        return real(fp, array, *args, **kwargs)
    return write_array


@pytest.mark.parametrize("what", ["save", "save_weights"])
@pytest.mark.parametrize("after_arrays", [0, 2])
@pytest.mark.parametrize("exc", [OSError(28, "No space left on device"), Interrupted("crash"),
                                 KeyboardInterrupt()])
def test_interrupted_save_keeps_the_previous_file(tmp_path, monkeypatch, what, after_arrays,
                                                  exc):
    old, new = small_model(0), small_model(1)
    path = tmp_path / ("m.fnrn" if what == "save" else "m.weights.fnrn")
    getattr(old, what)(path)
    before = path.read_bytes()
    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array(after_arrays, exc))
    with pytest.raises(type(exc)):
        getattr(new, what)(path)
    monkeypatch.undo()
    assert path.read_bytes() == before, "the previous file was modified"
    assert sorted(os.listdir(tmp_path)) == [path.name], "a temporary file was left behind"
    if what == "save":
        back = fastrnn.load_model(path)
    else:
        back = small_model(2)
        back.load_weights(path)
    for a, b in zip(back.get_weights(), old.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_interrupted_first_save_leaves_nothing(tmp_path, monkeypatch):
    m = small_model()
    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array(1, OSError("boom")))
    with pytest.raises(OSError, match="boom"):
        m.save(tmp_path / "new.fnrn")
    assert os.listdir(tmp_path) == []


def test_failure_at_the_final_rename_keeps_the_previous_file(tmp_path, monkeypatch):
    old, new = small_model(0), small_model(1)
    path = tmp_path / "m.fnrn"
    old.save(path)
    before = path.read_bytes()

    def no_replace(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))
    monkeypatch.setattr(saving.os, "replace", no_replace)
    with pytest.raises(PermissionError):
        new.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.fnrn"]


def test_checkpoint_callback_writes_atomically(tmp_path, monkeypatch):
    m = small_model(0)
    x, y = np.ones((8, 5, 3), np.float32), np.zeros((8, 2), np.float32)
    path = tmp_path / "ckpt.fnrn"
    m.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    before = path.read_bytes()
    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array(1, OSError("full")))
    with pytest.raises(OSError, match="full"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(path)])
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.fnrn"]
    fastrnn.load_model(path)


def test_overwrite_false_leaves_the_file(tmp_path):
    old, new = small_model(0), small_model(1)
    path = tmp_path / "m.fnrn"
    old.save(path)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        new.save(path, overwrite=False)
    with pytest.raises(FileExistsError):
        new.save_weights(path, overwrite=False)
    assert path.read_bytes() == before


_KILL_SCRIPT = textwrap.dedent(r"""
    import sys
    import numpy as np
    import fastrnn
    from fastrnn.layers import LSTM
    from fastrnn.layers.core import Dense
    path = sys.argv[1]
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([fastrnn.Input((5, 64)),
                            LSTM(256, recurrent_initializer="glorot_uniform"), Dense(256)])
    m.compile("adam", "mse")
    m.save(path)
    print("ready", flush=True)
    i = 0
    while True:      # rewrite the file forever with changing weights, until killed
        i += 1
        for w in m.weights:
            w += np.float32(1e-3)
        m.save(path)
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_save_killed_at_random_moments_never_corrupts_the_file(tmp_path):
    """A process killed (SIGKILL, no cleanup) while saving in a loop: the file is always a
    complete model, either the previous or the new version."""
    script = tmp_path / "saver.py"
    script.write_text(_KILL_SCRIPT)
    path = tmp_path / "m.fnrn"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastrnn.__file__)), os.environ.get("PYTHONPATH", "")]))
    rng = np.random.default_rng(0)
    for trial in range(3):
        proc = subprocess.Popen([sys.executable, str(script), str(path)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.strip() == "ready", proc.stderr.read()
            time.sleep(float(rng.uniform(0.05, 0.6)))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        m = fastrnn.load_model(path)           # must not raise ModelFileError
        assert [w.shape for w in m.get_weights()] == [(64, 1024), (256, 1024), (1024,),
                                                      (256, 256), (256,)]
        # a killed process cannot clean up: only its hidden temporary file may remain
        leftovers = [n for n in os.listdir(tmp_path) if n not in ("m.fnrn", "saver.py")]
        assert len(leftovers) <= 1 and all(
            n.startswith(".m.fnrn.") and n.endswith(".tmp") for n in leftovers), leftovers
        for n in leftovers:
            os.unlink(tmp_path / n)
