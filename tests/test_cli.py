"""The `fastrnn` command line: `train --quick` then `predict`, and argument errors (exit 2).

Data: as in test_examples.py ($FASTRNN_TEST_IMDB, $FASTRNN_DATA or
../shared/datasets/aclImdb_v1_labeled.tar.gz; FASTRNN_ALLOW_NO_DATA=1 skips the tests that
need it). Argument-error tests need no data.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastrnn

from fastrnn import cli
from fastrnn.datasets import imdb

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
    model, _ = trained
    monkeypatch.setenv("FASTRNN_DATA", cli_env["FASTRNN_DATA"])
    monkeypatch.setenv("FASTRNN_CACHE_DIR", cli_env["FASTRNN_CACHE_DIR"])
    meta = cli.read_meta(model)
    texts = REVIEWS + ["It's <br />GREAT, isn't it?!  'Really' zzzunknownword"]
    expected = imdb.encode(texts, num_words=5000)   # over the whole data
    monkeypatch.setenv("FASTRNN_DATA", "/no/such/imdb.tar.gz")    # the metadata is enough
    assert cli.encode_texts(texts, 5000, meta, None) == expected


def test_predict_encodes_with_imdb_encode(monkeypatch):
    calls = []

    def spy(texts, **kwargs):
        calls.append(kwargs)
        return [[1, 2]] * len(texts)

    monkeypatch.setattr(imdb, "encode", spy)
    meta = {"vocabulary": ["the", "film"], "start_char": 1, "oov_char": 2, "index_from": 3,
            "skip_top": 0}
    assert cli.encode_texts(["a", "b"], 6, meta, None) == [[1, 2], [1, 2]]
    assert calls == [dict(num_words=6, word_index={"the": 1, "film": 2}, start_char=1,
                          oov_char=2, index_from=3, skip_top=0)]
    cli.encode_texts(["a"], 6, None, "data.tar.gz")
    assert calls[-1] == dict(num_words=6, path="data.tar.gz")


def test_cells_are_the_ops_cells():
    assert cli.CELLS is fastrnn.ops.CELLS
    for cell in fastrnn.ops.CELLS:
        assert cli._cell(cell) == cell and cli._cell(cell.upper().replace("_", "-")) == cell
    assert cli._cell("SimpleRNN") == "simple_rnn"
    help_text = cli.build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert f"recurrent cell: {', '.join(fastrnn.ops.CELLS)} " in " ".join(help_text.split())


class _FakeTrained:
    """What the `train` command needs from fastrnn.train's result; fails if evaluated."""

    def __init__(self, data_path):
        self.history = {"loss": [0.6], "accuracy": [0.7], "val_loss": [0.65],
                        "val_accuracy": [0.68]}
        self.test = {"loss": 0.5, "accuracy": 0.75}
        self.data_path = data_path

    def evaluate(self, *args, **kwargs):
        raise AssertionError("the test set was evaluated again after fastrnn.train")


def test_train_passes_the_data_path_and_evaluates_once(monkeypatch, tmp_path, capsys):
    archive = tmp_path / "my-imdb.tar.gz"
    archive.write_bytes(b"not read: fastrnn.train is replaced")
    seen = []

    def fake_train(**kwargs):
        seen.append(kwargs)
        for cb in kwargs["callbacks"]:     # what fit would call around the epochs
            cb.on_train_begin()
            cb.on_epoch_begin(0)
            cb.on_epoch_end(0)
            cb.on_train_end()
        fake = _FakeTrained(kwargs["data_path"])
        return fake, fake

    monkeypatch.setattr(fastrnn, "train", fake_train)
    monkeypatch.setattr(cli, "_summary_callback", lambda: fastrnn.callbacks.Callback())
    monkeypatch.delenv("FASTRNN_DATA", raising=False)
    assert cli.main(["train", "--data", str(archive), "--epochs", "1", "--verbose", "0"]) == 0
    assert "FASTRNN_DATA" not in os.environ
    (kwargs,) = seen
    assert kwargs["dataset"] == "imdb" and kwargs["data_path"] == str(archive)
    assert "test accuracy 0.7500  test loss 0.5000" in capsys.readouterr().out


def test_quick_train_reads_the_data_path(monkeypatch, tmp_path):
    paths = []

    def fake_load_data(path=None, **kwargs):
        paths.append(path)
        raise imdb.InvalidDatasetError(f"{path!r} is not usable")

    monkeypatch.setattr(imdb, "load_data", fake_load_data)
    monkeypatch.delenv("FASTRNN_DATA", raising=False)
    archive = tmp_path / "quick.tar.gz"
    archive.write_bytes(b"")
    assert cli.main(["train", "--quick", "--data", str(archive)]) == 1
    assert paths == [str(archive)]


def _option_helps(help_text):
    """{option: its help text, on one line} from argparse's --help output."""
    options, current = {}, None
    for line in help_text.split("options:", 1)[1].splitlines():
        m = re.match(r"  (-[-\w]+)", line)
        if m:
            current = m.group(1)
            options[current] = line[len(m.group(0)):]
        elif current:
            options[current] += " " + line.strip()
    return {k: " ".join(v.split()) for k, v in options.items()}


@pytest.mark.parametrize("command", ["train", "predict"])
def test_help_documents_each_option_with_one_default(command):
    proc = fastrnn_cmd(command, "--help", env=base_env(), timeout=120)
    assert proc.returncode == 0, describe(proc)
    helps = _option_helps(proc.stdout)
    parser = cli.build_parser()._subparsers._group_actions[0].choices[command]
    expected = {a.option_strings[-1] for a in parser._actions if a.option_strings} - {"--help"}
    assert set(helps) - {"-h"} == expected
    for option in expected:
        text = helps[option]
        assert text.count("(default") == 1, (option, text)
        assert "(default: None)" not in text, (option, text)
    if command == "train":
        for option in ("--embedding-dim", "--batch-size", "--epochs"):
            assert re.search(r"\w+ \w+.*\(default: \d+\)", helps[option]), helps[option]
    else:
        assert "MODEL" in proc.stdout


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


def test_corrupt_archive_is_one_error_line(tmp_path):
    corrupt = tmp_path / "aclImdb_v1_labeled.tar.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00 a truncated gzip")
    env = base_env()
    env["FASTRNN_CACHE_DIR"] = str(tmp_path / "cache")
    proc = fastrnn_cmd("train", "--quick", "--data", str(corrupt), env=env, timeout=120)
    assert proc.returncode == 1, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    assert proc.stderr.startswith(f"fastrnn: error: cannot read {str(corrupt)!r}"), describe(proc)
