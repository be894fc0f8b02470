"""Threads: the kernels release the GIL, concurrent inference is safe and exact, the OpenMP
thread count is honoured, and results are deterministic for a fixed seed and thread count.

Bitwise comparisons are always made between runs with the same kernel thread count; across
thread counts results agree within float32 tolerance (the backward pass sums per-thread
partial weight gradients, so the summation order depends on the thread count).
"""
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastrnn
from fastrnn.layers import GRU, LSTM, Bidirectional, SimpleRNN
from fastrnn.layers.core import Dense, Dropout
from fastrnn.layers.embedding import Embedding


@pytest.fixture(autouse=True)
def restore_thread_count():
    n = fastrnn.get_num_threads()
    yield
    fastrnn.set_num_threads(n)


def in_thread(fn, *args):
    """Run fn in a fresh Python thread (fresh OpenMP settings) and return its result."""
    out = {}

    def target():
        try:
            out["value"] = fn(*args)
        except BaseException as e:    # re-raised in the caller
            out["error"] = e
    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def run_concurrently(fns, timeout=120):
    """Start all fns at once (barrier) in their own threads; return results in order. The GIL
    switch interval is made tiny meanwhile, so that Python-level races between the threads
    (shared layer attributes) actually interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        return _run_concurrently(fns, timeout)
    finally:
        sys.setswitchinterval(interval)


def _run_concurrently(fns, timeout):
    barrier = threading.Barrier(len(fns))
    results = [None] * len(fns)
    errors = []

    def target(i, fn):
        try:
            barrier.wait()
            results[i] = fn()
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=target, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a thread hung"
    if errors:
        raise errors[0]
    return results


def text_model(cell=LSTM, seed=0, bidirectional=False, dropout=0.0):
    fastrnn.utils.set_random_seed(seed)
    rnn = cell(16, dropout=dropout, recurrent_dropout=dropout)
    m = fastrnn.Sequential([Embedding(100, 8, mask_zero=True),
                            Bidirectional(rnn) if bidirectional else rnn,
                            Dropout(dropout), Dense(1, activation="sigmoid")])
    m.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    m.build((None, 20))
    return m


def text_data(n=96, t=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 100, (n, t))
    x[rng.random((n, t)) < 0.2] = 0         # padding/masked positions
    y = (rng.random((n, 1)) > 0.5).astype(np.float32)
    return x, y


def clone(model):
    twin = fastrnn.Sequential.from_config(model.get_config())
    twin.set_weights(model.get_weights())
    twin.compile("adam", "binary_crossentropy")
    return twin


# ---------------------------------------------------------------------------------------------

def test_kernels_release_the_gil():
    """While a long kernel call runs in a worker thread, the main thread keeps running Python:
    the longest pause it sees is far below the kernel's duration."""
    rng = np.random.default_rng(0)
    B, T, D, H = 4, 20000, 4, 32
    args = ("lstm", rng.standard_normal((B, T, D)).astype(np.float32),
            rng.standard_normal((D, 4 * H)).astype(np.float32) * 0.3,
            rng.standard_normal((H, 4 * H)).astype(np.float32) * 0.1)
    t0 = time.perf_counter()
    fastrnn.ops.rnn_forward(*args, training=False)
    serial = time.perf_counter() - t0
    done = threading.Event()
    ticks = []

    def worker():
        try:
            for _ in range(3):
                fastrnn.ops.rnn_forward(*args, training=True)
        finally:
            done.set()
    th = threading.Thread(target=worker)
    th.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    th.join()
    gaps = np.diff(ticks)
    assert len(ticks) > 10, f"main thread starved: {len(ticks)} ticks during ~{3 * serial:.2f} s"
    assert gaps.max() < max(0.5 * serial, 0.05), (
        f"main thread blocked for {gaps.max():.3f} s while a {serial:.3f} s kernel ran")


@pytest.mark.parametrize("cell, bidirectional", [(LSTM, False), (GRU, True), (SimpleRNN, False)])
def test_concurrent_predict_on_one_model_is_bitwise_serial(cell, bidirectional):
    m = text_model(cell, bidirectional=bidirectional)
    inputs = [text_data(n, seed=s)[0] for n, s in ((96, 1), (37, 2), (5, 3), (64, 4))]
    batch_sizes = (16, 7, 5, 11)     # different batch shapes meet in the shared layers
    # serial results, each computed in a fresh thread (the same default thread count) with
    # the same batch size (results may differ in the last bit between batch sizes)
    serial = [in_thread(lambda x=x, bs=bs: m.predict(x, batch_size=bs))
              for x, bs in zip(inputs, batch_sizes)]
    for rnd in range(2):
        jobs = list(zip(inputs, batch_sizes, serial))
        if rnd:
            jobs.reverse()
        results = run_concurrently([
            lambda x=x, bs=bs: [m.predict(x, batch_size=bs) for _ in range(8)]
            for x, bs, _ in jobs])
        for got, (_, _, want) in zip(results, jobs):
            for g in got:
                np.testing.assert_array_equal(g, want)


def test_concurrent_calls_with_bad_input_do_not_disturb_good_ones():
    m = text_model(GRU)
    x, _ = text_data()
    want = in_thread(m.predict, x)
    bad = x.copy()
    bad[3, 3] = 1000

    def good():
        return m.predict(x)

    def failing():
        with pytest.raises(IndexError, match="token id 1000"):
            m.predict(bad)
        with pytest.raises(ValueError):
            m.predict(x[:, :, None])
        return None
    results = run_concurrently([good, failing, good, failing])
    np.testing.assert_array_equal(results[0], want)
    np.testing.assert_array_equal(results[2], want)


def test_training_while_another_thread_predicts_on_a_copy():
    m = text_model(LSTM)
    twin = clone(m)
    x, y = text_data()
    xp, _ = text_data(50, seed=9)
    want_pred = in_thread(twin.predict, xp)

    def train(model):
        fastrnn.utils.set_random_seed(5)
        model.fit(x, y, epochs=3, batch_size=16, verbose=0)
        return model.get_weights()

    serial_model = clone(m)
    serial_model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    want_weights = in_thread(train, serial_model)

    def predict_many():
        return [twin.predict(xp, batch_size=8) for _ in range(6)]
    trained, preds = run_concurrently([lambda: train(m), predict_many])
    for p in preds:
        np.testing.assert_array_equal(p, want_pred)
    for a, b in zip(trained, want_weights):
        np.testing.assert_array_equal(a, b)


def test_set_num_threads_is_honoured_in_the_calling_thread():
    for n in (1, 2, 3, 1):
        fastrnn.set_num_threads(n)
        if fastrnn._core.openmp_enabled():
            assert fastrnn.get_num_threads() == n
        else:
            assert fastrnn.get_num_threads() == 1


def test_set_num_threads_applies_to_other_threads():
    if not fastrnn._core.openmp_enabled():
        pytest.skip("built without OpenMP")
    default = in_thread(fastrnn.get_num_threads)
    target = 1 if default != 1 else 2
    fastrnn.set_num_threads(target)
    assert in_thread(fastrnn.get_num_threads) == target


_TOGGLE_SCRIPT = textwrap.dedent(r"""
    import sys, threading, time
    import numpy as np
    import fastrnn
    from fastrnn import ops
    rng = np.random.default_rng(0)
    T, D, H = 8, 16, 64
    k = rng.standard_normal((D, 4 * H)) * 0.1
    rk = rng.standard_normal((H, 4 * H)) * 0.1
    stop = False

    def toggler():
        i = 0
        while not stop:
            fastrnn.set_num_threads(1 if i % 2 else 8)
            i += 1
    th = threading.Thread(target=toggler)
    th.start()
    t0, n = time.time(), 0
    try:
        while time.time() - t0 < float(sys.argv[1]):
            x = rng.standard_normal((2 + n, T, D))   # a new size: the workspace grows each call
            r = ops.rnn_forward("lstm", x, k, rk, None)
            g = ops.rnn_backward(r.cache, d_outputs=np.ones_like(r.outputs))
            fastrnn.set_num_threads(1)
            r1 = ops.rnn_forward("lstm", x, k, rk, None)
            g1 = ops.rnn_backward(r1.cache, d_outputs=np.ones_like(r1.outputs))
            np.testing.assert_allclose(g["kernel"], g1["kernel"], rtol=1e-10, atol=1e-12)
            n += 1
    finally:
        stop = True
        th.join()
    print("calls", n)
""")


def test_set_num_threads_from_another_thread_during_kernels(tmp_path):
    """Changing the thread count while other threads run kernels must neither crash nor change
    results (each call uses one consistent thread count)."""
    if not fastrnn._core.openmp_enabled():
        pytest.skip("built without OpenMP")
    script = tmp_path / "toggle.py"
    script.write_text(_TOGGLE_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastrnn.__file__)), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(script), "4"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"


def _one_training_step(n_threads, cell):
    fastrnn.set_num_threads(n_threads)
    m = text_model(cell, seed=3)
    x, y = text_data(64)
    pred = m.predict(x)
    m.train_on_batch(x, y)
    return pred, m.get_weights()


@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_results_across_thread_counts(cell):
    runs = {n: [in_thread(_one_training_step, n, cell) for _ in range(2)] for n in (1, 2, 3)}
    for n, (a, b) in runs.items():           # same thread count: bitwise
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"{n} threads: predict")
        for wa, wb in zip(a[1], b[1]):
            np.testing.assert_array_equal(wa, wb, err_msg=f"{n} threads: weights")
    base = runs[1][0]
    for n in (2, 3):                          # other thread counts: float32 tolerance
        pred, weights = runs[n][0]
        np.testing.assert_allclose(pred, base[0], rtol=1e-5, atol=1e-6)
        for wa, wb in zip(weights, base[1]):
            np.testing.assert_allclose(wa, wb, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_fit_is_deterministic_for_a_fixed_seed_and_thread_count(cell):
    """Dropout, recurrent dropout, a Dropout layer and shuffling all draw from the seeded
    generator: two fits from the same seed give bitwise identical weights and history."""
    x, y = text_data()

    def run():
        m = text_model(cell, seed=0, dropout=0.3)
        fastrnn.utils.set_random_seed(0)
        h = m.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
        return m.get_weights(), h.history

    (w1, h1), (w2, h2) = run(), run()
    assert h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    fastrnn.utils.set_random_seed(1)        # and a different seed really differs
    m = text_model(cell, seed=0, dropout=0.3)
    fastrnn.utils.set_random_seed(1)
    m.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(m.get_weights(), w1))


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
def test_call_thread_count_leaves_inference_bits_unchanged(cell):
    """A call's own team size (threads=) changes who computes, not what: the inference
    forward gives the same bits on 1 and 2 threads, through forward and stream (at H=150 and
    batch 1, LSTM and GRU split the units across threads with a barrier per step)."""
    rng = np.random.default_rng(3)
    k = fastrnn._core.RnnKernel(cell, 5, 150)
    w = [rng.standard_normal(s).astype(np.float32) * 0.3
         for s in (k.kernel_shape, k.recurrent_kernel_shape, k.bias_shape)]
    k.bind_weights(*w)
    x = rng.standard_normal((1, 7, 5)).astype(np.float32)
    outs = [k.forward(x, threads=n)[0] for n in (0, 1, 2)]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])
    streamed = []
    for n in (1, 2):
        states = [np.zeros((1, 150), np.float32) for _ in range(k.states)]
        streamed.append(k.stream(x, states, threads=n))
    np.testing.assert_array_equal(streamed[0], outs[0])
    np.testing.assert_array_equal(streamed[1], outs[0])
    with pytest.raises(ValueError, match=r"threads: expected an int >= 0.*got -1"):
        k.forward(x, threads=-1)
    with pytest.raises(ValueError, match=r"threads: expected an int >= 0.*got -2"):
        k.stream(x, [np.zeros((1, 150), np.float32)] * k.states, threads=-2)
    k.forward(x, training=True)
    grads = [k.backward(np.ones((1, 7, 150), np.float32), threads=n) for n in (1, 2)]
    for g1, g2 in zip(grads[0][:4], grads[1][:4]):   # one row: no partial sums to reorder
        np.testing.assert_array_equal(g1, g2)
    with pytest.raises(ValueError, match=r"threads: expected an int >= 0.*got -3"):
        k.backward(np.ones((1, 7, 150), np.float32), threads=-3)
