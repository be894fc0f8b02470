"""End-to-end smoke tests of the seed-notebook ports in examples/ (fastrnn framework, --quick).

Each script runs as a subprocess on a few hundred IMDB reviews for one epoch and must write,
per model, a results JSON (with a numeric test accuracy) and an accuracy/loss PNG.

Data: the IMDB archive from $FASTRNN_TEST_IMDB, else $FASTRNN_DATA, else
../shared/datasets/aclImdb_v1_labeled.tar.gz next to the repository. If none is found the
tests fail, unless FASTRNN_ALLOW_NO_DATA=1 (then they are skipped). The archive is tokenised
once per test session into a shared temporary FASTRNN_CACHE_DIR.
"""
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastrnn

REPO = Path(__file__).resolve().parents[1]
# The folder holding the fastrnn package under test (installed or built in place).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
EXAMPLES = REPO / "examples"
ARCHIVE_NAME = "aclImdb_v1_labeled.tar.gz"
SCRIPTS = {
    "000": ["lstm", "gru", "bilstm"],
    "001": ["bilstm", "bigru"],
    "002": ["simple_rnn", "gru", "lstm"],
    "003": ["bilstm"],
    "004": ["simple_rnn", "lstm"],
}
TIMEOUT = 300


def find_imdb():
    """Path of the IMDB archive for the tests, or None."""
    for var in ("FASTRNN_TEST_IMDB", "FASTRNN_DATA"):
        value = os.environ.get(var)
        if value:
            return value
    for candidate in (REPO.parent / "shared" / "datasets" / ARCHIVE_NAME,
                      REPO / "shared" / "datasets" / ARCHIVE_NAME):
        if candidate.exists():
            return str(candidate)
    return None


def require_imdb():
    path = find_imdb()
    if path and os.path.exists(path):
        return path
    msg = (f"IMDB data not found (FASTRNN_TEST_IMDB={os.environ.get('FASTRNN_TEST_IMDB')!r}, "
           f"FASTRNN_DATA={os.environ.get('FASTRNN_DATA')!r}): set FASTRNN_TEST_IMDB to "
           f"{ARCHIVE_NAME}, or FASTRNN_ALLOW_NO_DATA=1 to skip these tests")
    if os.environ.get("FASTRNN_ALLOW_NO_DATA") == "1":
        pytest.skip(msg)
    pytest.fail(msg)


def plain_env():
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", FASTRNN_NO_DOWNLOAD="1",
               PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                        env.get("PYTHONPATH")])))
    return env


@pytest.fixture(scope="session")
def imdb_env(tmp_path_factory):
    """Environment for subprocesses: data, a session-wide cache, the package on the path."""
    data = require_imdb()
    # The same folder for every test module of the session: tokenised once.
    cache = tmp_path_factory.getbasetemp() / "fastrnn-imdb-cache"
    cache.mkdir(exist_ok=True)
    env = plain_env()
    env.update(FASTRNN_DATA=data, FASTRNN_CACHE_DIR=str(cache))
    return env


def run(cmd, env, timeout=TIMEOUT):
    proc = subprocess.run(cmd, env=env, cwd=str(REPO), capture_output=True, text=True,
                          timeout=timeout)
    return proc


def describe(proc):
    return (f"exit {proc.returncode}\n--- stdout (tail) ---\n{proc.stdout[-3000:]}\n"
            f"--- stderr (tail) ---\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="module")
def quick_runs(imdb_env, tmp_path_factory):
    """Every seed script with --quick (all its models), into one output folder."""
    out = tmp_path_factory.mktemp("examples-out")
    procs = {}
    for nb in SCRIPTS:
        procs[nb] = run([sys.executable, str(EXAMPLES / f"seed_{nb}_imdb.py"), "--quick",
                         "--framework", "fastrnn", "--seed", "7", "--out", str(out)], imdb_env)
    return out, procs


@pytest.mark.parametrize("nb", sorted(SCRIPTS))
def test_seed_script_quick(quick_runs, nb):
    out, procs = quick_runs
    proc = procs[nb]
    assert proc.returncode == 0, describe(proc)
    for model in SCRIPTS[nb]:
        stem = f"seed_{nb}_imdb_{model}_fastrnn_seed7_quick"
        js, png = out / f"{stem}.json", out / f"{stem}.png"
        assert js.is_file(), f"missing {js.name}\n{describe(proc)}"
        assert png.is_file(), f"missing {png.name}\n{describe(proc)}"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        r = json.loads(js.read_text())
        assert r["framework"] == "fastrnn" and r["seed"] == 7 and r["quick"] is True
        assert r["model"] == model and r["notebook"] == nb
        for key in ("test_accuracy", "test_loss", "seconds_per_epoch", "total_seconds"):
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key]), (key, r[key])
        assert 0.0 <= r["test_accuracy"] <= 1.0
        assert r["best_val_accuracy"] is None or 0.0 <= r["best_val_accuracy"] <= 1.0
        assert len(r["epoch_seconds"]) == r["config"]["epochs"] == 1
        assert r["config"]["maxlen"] <= 50 and r["config"]["n_train"] <= 400
        assert set(r["history"]) >= {"loss", "val_loss"}
        assert r["machine"]["nproc"] >= 1 and r["threads"]["fastrnn_threads"] >= 1
        assert f"{model} [fastrnn]: test accuracy" in proc.stdout


def test_run_table_renders_quick_results(quick_runs, imdb_env, tmp_path):
    out, _ = quick_runs
    table = tmp_path / "results.md"
    proc = run([sys.executable, str(EXAMPLES / "run_table.py"), "--quick", "--render-only",
                "--out", str(out), "--table", str(table)], imdb_env, timeout=120)
    assert proc.returncode == 0, describe(proc)
    text = table.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| 0")]
    assert len(rows) >= sum(len(m) for m in SCRIPTS.values())   # + the config table
    assert "| 002 | lstm | 0.839 |" in text
    # --time-threads keeps accuracies from every run but times only runs with that setting
    # (the quick runs were made without --threads): no s/epoch, no speedup.
    proc = run([sys.executable, str(EXAMPLES / "run_table.py"), "--quick", "--render-only",
                "--time-threads", "3", "--out", str(out), "--table", str(table)], imdb_env,
               timeout=120)
    assert proc.returncode == 0, describe(proc)
    text = table.read_text()
    assert "only the runs made with --threads 3" in text
    row = next(line for line in text.splitlines() if line.startswith("| 002 | lstm |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] != "—" and cells[7:10] == ["—", "—", "—"], row


def test_run_table_dry_run():
    proc = run([sys.executable, str(EXAMPLES / "run_table.py"), "--dry-run", "--notebooks",
                "002,004", "--models", "lstm", "--seeds", "1,2"], plain_env(), timeout=120)
    assert proc.returncode == 0, describe(proc)
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 8          # 2 notebooks x 1 model x 2 seeds x 2 frameworks
    assert all("--models lstm" in line for line in lines)


def test_bad_models_argument_exits_2():
    proc = run([sys.executable, str(EXAMPLES / "seed_002_imdb.py"), "--models", "lstm,nope"],
               plain_env(), timeout=120)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "simple_rnn" in proc.stderr


def test_seq2seq_functional_example_trains_and_decodes():
    proc = run([sys.executable, str(EXAMPLES / "seq2seq_functional.py"), "--epochs", "1",
                "--samples", "200", "--units", "16"], plain_env())
    assert proc.returncode == 0, describe(proc)
    assert "decoder_step" not in proc.stdout            # summary is the training model's
    assert re.search(r"exact-match reversal accuracy on 500 held-out sequences: "
                     r"[01]\.\d{4}", proc.stdout), describe(proc)
