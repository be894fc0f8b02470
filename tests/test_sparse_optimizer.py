"""The fused native optimizer steps against their NumPy oracle (tests/optimizer_oracle.py).

Both evaluate the same float32 operations in the same order (the C++ is built without fused
multiply-add), so the table and every slot must agree bit for bit, for any thread count.
Keras parity of the sparse updates themselves is in test_optimizers.py.
"""
from functools import partial

import fastrnn
import numpy as np
import optimizer_oracle
import pytest
from _optimizer_configs import CONFIGS
from fastrnn import _core, optimizers
from fastrnn.indexed_slices import IndexedSlices


@pytest.fixture
def threads():
    before = fastrnn.get_num_threads()
    yield fastrnn.set_num_threads
    fastrnn.set_num_threads(before)


def _apply(opt, native, grads, weights):
    (opt.apply if native else partial(optimizer_oracle.apply, opt))(grads, weights)


def _run(name, kwargs, native, V, E, steps, ids_fn, seed=0):
    opt = getattr(optimizers, name)(**kwargs)
    rng = np.random.default_rng(seed)
    table = rng.standard_normal((V, E)).astype(np.float32)
    for step in range(steps):
        ids = ids_fn(rng, step)
        values = rng.standard_normal(ids.shape + (E,)).astype(np.float32)
        _apply(opt, native, [IndexedSlices(ids.reshape(-1), values.reshape(-1, E), (V, E))],
               [table])
    return table, [np.asarray(v) for v in opt.variables]


def _uniform(V):
    # Alternate steps use only the lower half of the rows: untouched rows must decay.
    return lambda rng, step: rng.integers(0, V if step % 2 == 0 else V // 2, (16, 25))


def _zipf(V):
    # Text-like ids: a few rows take most occurrences (padding 0, frequent words).
    return lambda rng, step: np.minimum(rng.zipf(1.3, (32, 40)) - 1, V - 1).astype(np.int32)


def _assert_identical(a, b):
    (ta, va), (tb, vb) = a, b
    assert np.isfinite(ta).all()
    np.testing.assert_array_equal(ta, tb)
    assert len(va) == len(vb)
    for x, y in zip(va, vb):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name,kwargs", CONFIGS)
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_native_equals_numpy_bitwise(name, kwargs, n_threads, threads, monkeypatch):
    threads(n_threads)
    calls = []
    native_step = optimizers._native_step
    monkeypatch.setattr(optimizers, "_native_step",
                        lambda *a, **k: calls.append(1) or native_step(*a, **k))
    # 3000 x 17 is above the size where the native step splits rows across threads.
    for V, E, ids_fn in [(50, 3, _uniform(50)), (3000, 17, _uniform(3000)),
                         (3000, 17, _zipf(3000))]:
        native = _run(name, kwargs, True, V, E, 4, ids_fn)
        numpy_path = _run(name, kwargs, False, V, E, 4, ids_fn)
        _assert_identical(native, numpy_path)
    assert len(calls) == 3 * 4   # the native path did run


def test_thread_count_does_not_change_the_result(threads):
    results = []
    for n in (1, 2, 4):
        threads(n)
        results.append(_run("RMSprop", {}, True, 4000, 32, 3, _zipf(4000)))
    _assert_identical(results[0], results[1])
    _assert_identical(results[0], results[2])


def _run_dense(name, kwargs, native, shapes, steps, seed=0):
    opt = getattr(optimizers, name)(**kwargs)
    rng = np.random.default_rng(seed)
    ws = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    for _ in range(steps):
        _apply(opt, native, [rng.standard_normal(s).astype(np.float32) for s in shapes], ws)
    return ws, [np.asarray(v) for v in opt.variables]


@pytest.mark.parametrize("name,kwargs", CONFIGS)
def test_native_dense_updates_equal_numpy_bitwise(name, kwargs, threads, monkeypatch):
    threads(2)
    calls = []
    native_step = optimizers._native_dense_step
    monkeypatch.setattr(optimizers, "_native_dense_step",
                        lambda *a, **k: calls.append([w.shape for w in a[1]]) or native_step(*a, **k))
    shapes = [(7, 5), (5,), (3, 4, 2), (600, 64)]   # the last one spans both threads
    (wa, va), (wb, vb) = (_run_dense(name, kwargs, n, shapes, 3) for n in (True, False))
    assert calls == [shapes] * 3   # the native path did run, one call per step
    for a, b in zip(wa, wb):
        assert np.isfinite(a).all()
        np.testing.assert_array_equal(a, b)
    for a, b in zip(va, vb):
        np.testing.assert_array_equal(a, b)


def test_empty_gradient_still_decays_slots():
    native = _run("Adam", {}, True, 40, 4, 2, lambda rng, step: np.zeros((0,), np.int64))
    numpy_path = _run("Adam", {}, False, 40, 4, 2, lambda rng, step: np.zeros((0,), np.int64))
    _assert_identical(native, numpy_path)


# -- the binding's checks ----------------------------------------------------------------------
def _args(V=20, E=4, N=6):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((V, E)).astype(np.float32)
    ids = rng.integers(0, V, N)
    values = rng.standard_normal((N, E)).astype(np.float32)
    slots = {"velocity": np.zeros((V, E), np.float32)}
    return table, ids, values, slots


def test_rejects_bad_optimizer_name():
    table, ids, values, slots = _args()
    with pytest.raises(ValueError, match="optimizer: expected 'sgd', 'rmsprop' or 'adam'"):
        _core.sparse_optimizer_step("adagrad", table, ids, values, slots, lr=0.1)


def test_rejects_out_of_range_id_without_touching_the_table():
    table, ids, values, slots = _args()
    ids[3] = 20
    before = table.copy()
    with pytest.raises(IndexError, match=r"token id 20 at flat position 3 .*\[0, 20\)"):
        _core.sparse_optimizer_step("rmsprop", table, ids, values, slots, lr=0.1)
    np.testing.assert_array_equal(table, before)


def test_rejects_wrong_values_shape():
    table, ids, values, slots = _args()
    with pytest.raises(ValueError, match=r"values: expected 6 rows of width 4.*got shape \(6, 3\)"):
        _core.sparse_optimizer_step("rmsprop", table, ids, values[:, :3], slots, lr=0.1)


def test_rejects_missing_or_mismatched_slots():
    table, ids, values, slots = _args()
    with pytest.raises(ValueError, match="slots: missing 'momentum'"):
        _core.sparse_optimizer_step("adam", table, ids, values, slots, lr=0.1)
    with pytest.raises(ValueError, match=r"slots\['velocity'\]: expected shape \(20, 4\), got \(20, 5\)"):
        _core.sparse_optimizer_step("rmsprop", table, ids, values,
                                    {"velocity": np.zeros((20, 5), np.float32)}, lr=0.1)
    with pytest.raises(TypeError, match=r"slots\['velocity'\]: expected dtype float32"):
        _core.sparse_optimizer_step("rmsprop", table, ids, values,
                                    {"velocity": np.zeros((20, 4), np.float64)}, lr=0.1)


def test_rejects_tables_it_cannot_update_in_place():
    table, ids, values, _ = _args()
    with pytest.raises(ValueError, match="table: must be a writeable C-contiguous array"):
        _core.sparse_optimizer_step("sgd", np.asfortranarray(table), ids, values, {}, lr=0.1)
    table.setflags(write=False)
    with pytest.raises(ValueError, match="table: must be a writeable C-contiguous array"):
        _core.sparse_optimizer_step("sgd", table, ids, values, {}, lr=0.1)
    with pytest.raises(TypeError, match="table: expected dtype float32 or float64, got int64"):
        _core.sparse_optimizer_step("sgd", np.zeros((20, 4), np.int64), ids, values, {}, lr=0.1)
    with pytest.raises(ValueError, match=r"table: expected a 2-D array.*got shape \(20,\)"):
        _core.sparse_optimizer_step("sgd", np.zeros(20, np.float32), ids, values, {}, lr=0.1)


def test_rejects_non_integer_ids():
    table, ids, values, _ = _args()
    with pytest.raises(TypeError, match="ids: expected an integer array"):
        _core.sparse_optimizer_step("sgd", table, ids.astype(np.float32), values, {}, lr=0.1)
