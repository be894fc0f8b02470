"""fastrnn.distributed without MPI: sharding, the gradient reduction and the Trainer hook,
with N ranks as N threads over a fake communicator (tests/_fake_comm.py), against one-process
runs. The same code runs under mpirun in test_distributed_mpi.py."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from fastrnn import callbacks as C
from fastrnn import layers as L
from fastrnn import random as frandom
from fastrnn.distributed import context, gradients, hooks, sharding, sync
from fastrnn.indexed_slices import IndexedSlices
from fastrnn.models import Sequential

import _mpi_cases as cases
from _fake_comm import FakeAbort, FakeWorld, run_ranks

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastrnn.__file__)))


def close(got, ref, atol=1e-5, rtol=1e-4):
    got, ref = np.asarray(got), np.asarray(ref)
    return got.shape == ref.shape and np.isfinite(got).all() and \
        bool((np.abs(got - ref) <= atol + rtol * np.abs(ref)).all())


# -- sharding -----------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_shards_cover_the_batch_in_order(size):
    for n in range(0, 12):
        parts = [sharding.bounds(n, size, r) for r in range(size)]
        assert parts[0][0] == 0 and parts[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
        c = sharding.counts(n, size)
        assert max(c) - min(c) <= 1 and (n == 0 or c[0] >= 1)
        idx = np.arange(100, 100 + n)
        assert np.concatenate([sharding.take(idx, *p) for p in parts]).tolist() == idx.tolist()
        sl = slice(7, 7 + n)
        assert [sharding.take(sl, *p) for p in parts][0].start == 7
        assert sharding.batch_length(sl) == sharding.batch_length(idx) == n


# -- the gradient reduction ---------------------------------------------------------------
def _grads(rank, n):
    rng = np.random.default_rng(rank)
    dense = rng.standard_normal((3, 4)).astype(np.float32)
    ids = rng.integers(0, 6, n * 2)          # 2 ids per sample
    rows = rng.standard_normal((n * 2, 5)).astype(np.float32)
    return [dense, IndexedSlices(ids, rows, (6, 5))]


@pytest.mark.parametrize("mode", ["gather", "dense"])
def test_reducer_gives_the_sample_weighted_mean(mode):
    counts = [3, 2, 2]     # samples per rank: the mean over 7 samples
    total = sum(counts)

    def rank_fn(rank):
        r = gradients.GradientReducer(context.communicator(), mode)
        r.add(_grads(rank, counts[rank]), counts[rank] / total, counts[rank], total)
        return r.reduce(counts)
    out = run_ranks(3, rank_fn)
    parts = [_grads(r, counts[r]) for r in range(3)]
    dense = sum(p[0] * (c / total) for p, c in zip(parts, counts))
    table = sum(p[1].to_dense() * (c / total) for p, c in zip(parts, counts))
    for got in out:
        assert close(got[0], dense, 1e-6, 1e-6)
        if mode == "gather":   # every rank's occurrences, in rank order
            assert isinstance(got[1], IndexedSlices)
            assert got[1].indices.tolist() == np.concatenate(
                [p[1].indices for p in parts]).tolist()
            assert close(got[1].to_dense(), table, 1e-6, 1e-6)
        else:
            assert close(got[1], table, 1e-6, 1e-6)


def test_reducer_accumulates_and_skips_stand_ins():
    """Two adds per rank (accumulation), rank 1's second add a stand-in (scale 0, grads inf):
    the result is sum(samples x grads) / all samples."""
    def rank_fn(rank):
        r = gradients.GradientReducer(context.communicator(), "gather")
        r.add(_grads(rank, 2), 2, 2, 4)
        if rank == 1:
            inf = [np.full((3, 4), np.inf, np.float32),
                   IndexedSlices(np.zeros(2, int), np.full((2, 5), np.inf, np.float32), (6, 5))]
            r.add(inf, 0, 1, 1)
        else:
            r.add(_grads(rank + 10, 1), 1, 1, 1)
        return r.reduce([3, 2], post_scale=1 / 5)
    out = run_ranks(2, rank_fn)
    a, b, c = _grads(0, 2), _grads(10, 1), _grads(1, 2)
    dense = (a[0] * 2 + b[0] + c[0] * 2) / 5
    table = (a[1].to_dense() * 2 + b[1].to_dense() + c[1].to_dense() * 2) / 5
    for got in out:
        assert close(got[0], dense, 1e-6, 1e-6) and close(got[1].to_dense(), table, 1e-6, 1e-6)


def test_reducer_refuses_ranks_with_different_gradients():
    def rank_fn(rank):
        r = gradients.GradientReducer(context.communicator(), "dense")
        r.add([np.ones((2, 2 + rank), np.float32)], 0.5, 1, 2)
        return r.reduce([1, 1])
    with pytest.raises(RuntimeError, match="gradients differ in number, shape or kind"):
        run_ranks(2, rank_fn)


def test_sparse_kind_gathers_where_only_that_is_exact_else_sends_fewer_bytes():
    opt = fastrnn.optimizers
    sgd = opt.SGD(0.1, momentum=0.9)
    # seed LSTM: 128 x 500 occurrences of 32 floats (8.7 MB) against a 10000 x 32 table
    assert gradients.sparse_kind("auto", sgd, (10000, 32), 128 * 500) == "table"
    assert gradients.sparse_kind("auto", sgd, (10000, 128), 64 * 100) == "gather"
    for o in (opt.SGD(0.1, clipnorm=1.0), opt.Adam(), opt.RMSprop()):
        assert gradients.sparse_kind("auto", o, (10000, 32), 128 * 500) == "gather"
    assert gradients.sparse_kind("dense", opt.Adam(), (10, 2), 1) == "table"
    assert gradients.sparse_kind("gather", sgd, (10, 2), 1000) == "gather"
    with pytest.raises(ValueError, match="sparse_gradients"):
        gradients.sparse_kind("sparse", sgd, (10, 2), 1)


# -- fit / evaluate / predict on fake ranks ------------------------------------------------
def _fit(x, y, opt="adam", ranks=2, world=None, **kw):
    """[(model, history)] of a 2-epoch fit on each rank (one process: ranks=0). The models are
    built here, one after the other (the seed is global), rank 0's last: its weights and the
    global generator are then in the one-process run's state. Rank 1 starts elsewhere."""
    models = [cases.model("lstm", opt, seed=cases.SEED + 1000 * r)
              for r in reversed(range(max(ranks, 1)))][::-1]

    def fit(rank):
        history = models[rank].fit(x, y, batch_size=64, epochs=2, verbose=0, **kw)
        return models[rank], history.history
    return [fit(0)] if ranks == 0 else run_ranks(ranks, fit, world)


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_fit_on_two_ranks_matches_one_process_with_a_one_sample_last_batch(opt):
    x, y = cases.data(3 * 64 + 1)    # the last batch has one sample: rank 1 computes a stand-in
    for kw in ({}, {"validation_split": 0.3}):
        [(ref, ref_history)] = _fit(x, y, opt, ranks=0, **kw)
        ref_state = frandom.generator().bit_generator.state
        out = _fit(x, y, opt, **kw)
        for m, history in out:
            assert all(close(a, b) for a, b in zip(m.get_weights(), ref.get_weights()))
            assert history.keys() == ref_history.keys()
            assert all(close(history[k], ref_history[k]) for k in history)
        assert all(np.array_equal(a, b) for a, b in zip(out[0][0].get_weights(),
                                                          out[1][0].get_weights()))
        # after fit, the global generator is where one process's would be (no dropout)
        assert frandom.generator().bit_generator.state == ref_state


def test_evaluate_and_predict_with_partial_batches():
    m = cases.model("bigru", "adam")
    x, y = cases.data(2 * 50 + 3, seed=1)
    ref_logs = m.evaluate(x, y, batch_size=50, verbose=0, return_dict=True)
    ref_pred = m.predict(x, batch_size=50)
    models = [m, cases.model("bigru", "adam", seed=99)]   # rank 1's weights are replaced

    def rank_fn(rank):
        mm = models[rank]
        return (mm.evaluate(x, y, batch_size=50, verbose=0, return_dict=True),
                mm.evaluate(x[:1], y[:1], verbose=0, return_dict=True),
                mm.predict(x, batch_size=50), mm.predict(x[:1]))
    for logs, one_logs, pred, one in run_ranks(2, rank_fn):
        assert all(close(logs[k], ref_logs[k]) for k in ref_logs)
        assert close(pred, ref_pred) and close(one, ref_pred[:1])
        assert close(one_logs["loss"], m.evaluate(x[:1], y[:1], verbose=0)[0])


def test_steps_per_update_is_the_big_batch_in_one_process():
    x, y = cases.data(5 * 64 + 20)      # 5 full groups of 4 x 16, then 20 samples
    big = cases.model("lstm", "sgd")
    big.fit(x, y, batch_size=64, epochs=2, verbose=0, shuffle=True)
    acc = cases.model("lstm", "sgd")
    acc.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True, steps_per_update=4)
    assert acc.optimizer.iterations == big.optimizer.iterations == 2 * 6
    assert all(close(a, b) for a, b in zip(acc.get_weights(), big.get_weights()))
    with pytest.raises(ValueError, match="steps_per_update"):
        acc.fit(x, y, steps_per_update=0)
    assert acc._distribution is hooks.LOCAL


def test_one_gradient_allreduce_of_one_buffer_per_update():
    x, y = cases.data(4 * 64)
    world = FakeWorld(2)
    out = _fit(x, y, "sgd", world=world)
    params = sum(w.size for w in out[0][0].trainable_weights)
    grads = [c for c in world.calls if c[0] == 0 and c[2] == np.float32
             and c[1] == "allreduce"]
    assert [c[3] for c in grads] == [params] * 8      # 2 epochs x 4 steps; SGD: dense table
    assert not [c for c in world.calls if c[1] == "allgatherv"]


def test_ranks_that_disagree_fail_with_a_clear_error():
    def rank_fn(rank):
        x, y = cases.data(100 + rank)
        cases.model("lstm", "sgd").fit(x, y, verbose=0)
    with pytest.raises(FakeAbort) as info:
        run_ranks(2, rank_fn)
    cause = info.value.__context__
    assert isinstance(cause, ValueError) and "the ranks disagree on samples" in str(cause) \
        and "rank 0: 100, rank 1: 101" in str(cause)


def test_a_raising_rank_ends_the_job(capfd):
    class Boom(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if context.rank() == 1 and batch == 1:
                raise RuntimeError("boom on purpose")
    x, y = cases.data(4 * 64)
    with pytest.raises(Exception):
        _fit(x, y, callbacks=[Boom()])
    assert "rank 1 of 2 failed in fit: RuntimeError: boom on purpose" in capfd.readouterr().err


def test_non_finite_loss_on_one_rank_stops_every_rank_alike():
    fastrnn.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((128, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    x[64 + 40] = np.nan     # batch 1, in rank 1's shard

    def rank_fn(rank):
        fastrnn.utils.set_random_seed(rank)
        m = Sequential([L.Input(shape=(4,)), L.Dense(1, activation="sigmoid")])
        m.compile("sgd", "binary_crossentropy")
        h = m.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0,
                  callbacks=[C.TerminateOnNaN()])
        return m.get_weights(), h.history["loss"], m.optimizer.iterations
    (w0, loss0, it0), (w1, loss1, it1) = run_ranks(2, rank_fn)
    assert it0 == it1 == 1 and np.isnan(loss0[0]) and np.isnan(loss1[0])
    assert all(np.array_equal(a, b) and np.isfinite(a).all() for a, b in zip(w0, w1))


def test_only_rank_0_writes_and_prints(tmp_path, capfd):
    x, y = cases.data(2 * 64)
    path = tmp_path / "ckpt-{epoch}.fnrn"

    def rank_fn(rank):
        m = cases.model("lstm", "sgd")
        m.fit(x, y, batch_size=64, epochs=1, verbose=2,
              callbacks=[C.ModelCheckpoint(str(path), verbose=1)])
        m.save(tmp_path / f"model-{rank}.fnrn")
    run_ranks(2, rank_fn)
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1.fnrn", "model-0.fnrn"]
    out = capfd.readouterr().out
    assert out.count("saving model to") == 1 and out.count("2/2 - ") == 1, out


def test_metrics_must_be_running_sums():
    class Odd(fastrnn.metrics.Metric):
        default_name = "odd"

        def reset_state(self):
            self.values = []

        def update_state(self, y_true, y_pred, mask=None):
            self.values.append(1.0)

        def result(self):
            return 0.0
    m = cases.model("lstm", "sgd")
    m.compile("sgd", "binary_crossentropy", metrics=[Odd()])
    x, y = cases.data(64)
    with pytest.raises(Exception):
        run_ranks(2, lambda r: m.fit(x, y, verbose=0) if r == 0 else
                  cases.model("lstm", "sgd").fit(x, y, verbose=0))
    with pytest.raises(TypeError, match="no running total/count"):
        hooks.DataParallel(context._SELF, m).metric_results([Odd()])


def test_rank_streams_differ_and_shared_state_is_rank_0s():
    def rank_fn(rank):
        if rank == 1:
            frandom.using(np.random.default_rng(5)).__enter__()   # rank 1's own state differs
        shared = sync.shared_generator(context.communicator())
        return shared.bit_generator.state, sync.rank_generator(shared, rank).random(3)
    (s0, d0), (s1, d1) = run_ranks(2, rank_fn)
    assert s0 == s1 == frandom.generator().bit_generator.state
    assert not np.allclose(d0, d1)


def test_local_block_runs_on_one_rank():
    def rank_fn(rank):
        with context.local():
            return context.size(), context.rank(), hooks.for_fit(None, 1)
    for size, rank, hook in run_ranks(2, rank_fn):
        assert (size, rank) == (1, 0) and hook is hooks.LOCAL


# -- import and init ----------------------------------------------------------------------
def _python(code, **env):
    full = dict(os.environ, PYTHONPATH=PACKAGE_ROOT, **env)
    for var in context.LAUNCHER_VARIABLES:
        full.pop(var, None)
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=120)


def test_import_and_init_without_a_launcher_never_import_mpi4py():
    proc = _python("import sys, fastrnn; from fastrnn import distributed as d; "
                   "assert 'mpi4py' not in sys.modules; assert d.init() == (0, 1); "
                   "assert 'mpi4py' not in sys.modules; assert d.size() == 1 and d.is_main(); "
                   "print('ok')")
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_init_under_a_launcher_without_mpi4py_says_what_to_install():
    proc = _python("import sys; sys.modules['mpi4py'] = None; import fastrnn; "
                   "fastrnn.distributed.init()", OMPI_COMM_WORLD_SIZE="2")
    assert proc.returncode != 0
    assert "OMPI_COMM_WORLD_SIZE is set" in proc.stderr and \
        "pip install 'fastrnn[mpi]'" in proc.stderr, proc.stderr


def test_init_rejects_an_unknown_sparse_mode():
    with pytest.raises(ValueError, match="sparse_gradients expected one of"):
        fastrnn.distributed.init(sparse_gradients="sparse")


def test_scaling_model_of_the_committed_results():
    """bench/mpi_scaling.py: the ring formulas, and its tables from the committed results."""
    import importlib.util
    # the repository's bench/, beside tests/ (the package itself may be installed elsewhere)
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench",
                        "mpi_scaling.py")
    spec = importlib.util.spec_from_file_location("mpi_scaling", path)
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    assert model.allreduce_s(10e6, 1, 10e9, 25e-6) == 0.0
    # 4 machines: 6 latencies, 2 x 3/4 of 10 MB at 1.25 GB/s
    assert abs(model.allreduce_s(10e6, 4, 10e9, 25e-6) - (6 * 25e-6 + 1.5 * 10e6 * 8 / 10e9)) \
        < 1e-12
    assert abs(model.allgather_s(1e6, 4, 10e9, 25e-6) - (3 * 25e-6 + 3e6 * 8 / 10e9)) < 1e-12
    results = sorted(glob.glob(os.path.join(os.path.dirname(path), "results", "mpi-*.json")))
    assert results
    with open(results[-1]) as f:
        text = model.summary(json.load(f))
    assert "lstm-E32-H32-T500-B128" in text and "(100% at" not in text.split("\n")[2]
