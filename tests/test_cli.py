"""The `fastrnn` command line: `train --quick` then `predict`, and argument errors (exit 2).

Data: as in test_examples.py ($FASTRNN_TEST_IMDB, $FASTRNN_DATA or
../shared/datasets/aclImdb_v1_labeled.tar.gz; FASTRNN_ALLOW_NO_DATA=1 skips the tests that
need it). Argument-error tests need no data.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastrnn

from fastrnn import cli

REPO = Path(__file__).resolve().parents[1]
# The folder holding the fastrnn package under test (installed or built in place).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))
ARCHIVE_NAME = "aclImdb_v1_labeled.tar.gz"
REVIEWS = ["A wonderful, moving film: great acting and a beautiful story.",
           "Dull, boring and far too long. The worst movie I have seen this year."]


def find_imdb():
    for var in ("FASTRNN_TEST_IMDB", "FASTRNN_DATA"):
        value = os.environ.get(var)
        if value:
            return value
    for candidate in (REPO.parent / "shared" / "datasets" / ARCHIVE_NAME,
                      REPO / "shared" / "datasets" / ARCHIVE_NAME):
        if candidate.exists():
            return str(candidate)
    return None


def base_env():
    env = dict(os.environ)
    env.update(MPLBACKEND="Agg", FASTRNN_NO_DOWNLOAD="1",
               PYTHONPATH=os.pathsep.join(filter(None, [PACKAGE_ROOT,
                                                        env.get("PYTHONPATH")])))
    return env


@pytest.fixture(scope="session")
def cli_env(tmp_path_factory):
    data = find_imdb()
    if not (data and os.path.exists(data)):
        msg = (f"IMDB data not found: set FASTRNN_TEST_IMDB to {ARCHIVE_NAME}, or "
               "FASTRNN_ALLOW_NO_DATA=1 to skip these tests")
        if os.environ.get("FASTRNN_ALLOW_NO_DATA") == "1":
            pytest.skip(msg)
        pytest.fail(msg)
    cache = tmp_path_factory.getbasetemp() / "fastrnn-imdb-cache"   # shared with other modules
    cache.mkdir(exist_ok=True)
    env = base_env()
    env.update(FASTRNN_DATA=data, FASTRNN_CACHE_DIR=str(cache))
    return env


def fastrnn_cmd(*args, env, timeout=300, stdin=None):
    return subprocess.run([sys.executable, "-m", "fastrnn", *args], env=env, cwd=str(REPO),
                          capture_output=True, text=True, timeout=timeout, input=stdin)


def describe(proc):
    return (f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n"
            f"--- stderr ---\n{proc.stderr[-3000:]}")


def parse_probabilities(stdout):
    probs = []
    for line in stdout.strip().splitlines():
        probs.append(float(line.split("\t")[0]))
    return probs


@pytest.fixture(scope="module")
def trained(cli_env, tmp_path_factory):
    model = tmp_path_factory.mktemp("cli") / "model.fnrn"
    proc = fastrnn_cmd("train", "--quick", "--cell", "gru", "--units", "8", "--layers", "2",
                       "--bidirectional", "--maxlen", "40", "--num-words", "5000",
                       "--embedding-dim", "16", "--dropout", "0.1", "--optimizer", "adam",
                       "--batch-size", "64", "--seed", "1", "--save", str(model), env=cli_env)
    assert proc.returncode == 0, describe(proc)
    return model, proc


def test_train_quick_prints_and_saves(trained):
    model, proc = trained
    assert "test accuracy" in proc.stdout
    assert model.is_file()
    meta = json.loads(Path(cli.meta_path(model)).read_text())
    assert meta["num_words"] == 5000 and meta["maxlen"] == 40
    assert meta["train_args"]["cell"] == "gru" and meta["train_args"]["bidirectional"]
    assert 0.0 <= meta["results"]["test_accuracy"] <= 1.0
    # the stored vocabulary covers exactly the word ids 4 .. num_words-1 (rank + index_from 3)
    assert len(meta["vocabulary"]) == 5000 - 4


def test_predict_two_texts(trained, cli_env):
    model, _ = trained
    proc = fastrnn_cmd("predict", str(model), *REVIEWS, env=cli_env)
    assert proc.returncode == 0, describe(proc)
    probs = parse_probabilities(proc.stdout)
    assert len(probs) == 2
    assert all(0.0 <= p <= 1.0 for p in probs), probs


def test_predict_without_dataset_uses_stored_vocabulary(trained, cli_env, tmp_path):
    model, _ = trained
    with_data = parse_probabilities(fastrnn_cmd("predict", str(model), *REVIEWS,
                                                env=cli_env).stdout)
    env = base_env()
    env.pop("FASTRNN_DATA", None)
    env["FASTRNN_CACHE_DIR"] = str(tmp_path / "empty-cache")
    proc = fastrnn_cmd("predict", str(model), *REVIEWS, env=env)
    assert proc.returncode == 0, describe(proc)
    assert parse_probabilities(proc.stdout) == with_data


def test_predict_reads_stdin(trained, cli_env):
    model, _ = trained
    proc = fastrnn_cmd("predict", str(model), "-", env=cli_env, stdin="\n".join(REVIEWS) + "\n")
    assert proc.returncode == 0, describe(proc)
    assert len(parse_probabilities(proc.stdout)) == 2


def test_stored_vocabulary_encodes_like_imdb_encode(trained, cli_env, monkeypatch):
    from fastrnn.datasets import imdb
    model, _ = trained
    monkeypatch.setenv("FASTRNN_DATA", cli_env["FASTRNN_DATA"])
    monkeypatch.setenv("FASTRNN_CACHE_DIR", cli_env["FASTRNN_CACHE_DIR"])
    meta = cli.read_meta(model)
    texts = REVIEWS + ["It's <br />GREAT, isn't it?!  'Really' zzzunknownword"]
    assert cli.encode_with_vocabulary(texts, meta["vocabulary"], 5000) == \
        imdb.encode(texts, num_words=5000)


@pytest.mark.parametrize("argv, message", [
    ([], "a command is required"),
    (["bogus"], "invalid choice"),
    (["train", "--units", "0"], "--units"),
    (["train", "--cell", "transformer"], "--cell"),
    (["train", "--dropout", "1.5"], "--dropout"),
    (["train", "--validation-split", "abc"], "--validation-split"),
    (["train", "--optimizer", "adagrad"], "--optimizer"),
    (["train", "--num-words", "2"], "--num-words"),
    (["train", "--data", "/no/such/imdb.tar.gz"], "--data"),
    (["predict"], "required"),
    (["predict", "model.fnrn"], "required"),
    (["predict", "/no/such/model.fnrn", "text"], "no such model file"),
])
def test_bad_arguments_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "error" in err


def test_not_a_model_file_exits_2(tmp_path, capsys):
    bogus = tmp_path / "bogus.fnrn"
    bogus.write_text("not a model")
    with pytest.raises(SystemExit) as exc:
        cli.main(["predict", str(bogus), "text"])
    assert exc.value.code == 2
    assert "MODEL" in capsys.readouterr().err


def test_python_dash_m_bad_argument_exit_2():
    proc = fastrnn_cmd("train", "--epochs", "-1", env=base_env(), timeout=120)
    assert proc.returncode == 2
    assert "--epochs" in proc.stderr


def test_help():
    proc = fastrnn_cmd("--help", env=base_env(), timeout=120)
    assert proc.returncode == 0 and "train" in proc.stdout and "predict" in proc.stdout


@pytest.mark.skipif(shutil.which("fastrnn") is None, reason="console script not installed")
def test_console_script_help():
    proc = subprocess.run(["fastrnn", "predict", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "MODEL" in proc.stdout
