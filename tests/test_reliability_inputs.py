"""Bad input at the public entry points above the ops/layers (those are in test_bad_input.py):
Sequential.fit / evaluate / predict / *_on_batch / set_weights, imdb.load_data, load_model /
load_weights, and impossible sizes. The extension must never crash Python.

Policy checked here (and stated in the README "Guarantees"):
  * invalid arguments raise TypeError (wrong kind of object / dtype), ValueError (wrong shape,
    length, range), IndexError (token id outside [0, input_dim)) or MemoryError (impossible
    size); the message names the argument and gives the expected and the actual value;
  * a failed call changes nothing: weights, inputs and files are left as they were;
  * NaN/Inf in the data is NOT rejected (like Keras): it propagates to the outputs of the
    affected samples only, and to the loss; TerminateOnNaN then stops training and keeps the
    last finite weights. Without TerminateOnNaN the weights become NaN, as in Keras;
  * inputs are never written: read-only arrays and any strided view (negative strides,
    transposes, Fortran order) work and give the results of a contiguous copy.
"""
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import fastrnn
from fastrnn import ops
from fastrnn.callbacks import TerminateOnNaN
from fastrnn.datasets import imdb
from fastrnn.layers import GRU, LSTM, Bidirectional, SimpleRNN
from fastrnn.layers.core import Dense
from fastrnn.layers.embedding import Embedding
from fastrnn.saving import ModelFileError

SANITIZED = os.environ.get("FASTRNN_SANITIZED") == "1"   # set by tools/sanitize.sh
B, T, D, H = 6, 5, 3, 4


def _model(cell=LSTM, out=1, activation="sigmoid", loss="binary_crossentropy", seed=0):
    fastrnn.utils.set_random_seed(seed)
    m = fastrnn.Sequential([fastrnn.Input((T, D)), cell(H), Dense(out, activation=activation)])
    m.compile("adam", loss, metrics=["accuracy"] if loss != "mse" else None)
    return m


def _data(seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, D)).astype(np.float32)
    y = (rng.random((B, 1)) > 0.5).astype(np.float32)
    return x, y


def _weights_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(u, v, equal_nan=True) for u, v in zip(a, b))


# ---------------------------------------------------------------------------------------------
# Sequential: shapes, lengths, dtypes

ENTRY_POINTS = ["fit", "evaluate", "predict", "train_on_batch", "test_on_batch",
                "predict_on_batch"]


def _call(m, entry, x, y=None, **kw):
    if entry == "fit":
        return m.fit(x, y, epochs=1, verbose=0, **kw)
    if entry == "evaluate":
        return m.evaluate(x, y, verbose=0, **kw)
    if entry in ("predict", "predict_on_batch"):
        return getattr(m, entry)(x, **kw)
    return getattr(m, entry)(x, y, **kw)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("shape", [(B, T), (B, T, D, 1), (B,)])
def test_wrong_rank(entry, shape):
    m = _model()
    _, y = _data()
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"ndim=3.*got ndim=%d.*%s" % (
            len(shape), re_shape(shape))):
        _call(m, entry, np.zeros(shape, np.float32), y)
    assert _weights_equal(m.get_weights(), before)


def re_shape(shape):
    return r"\(" + r",\s*".join(str(s) for s in shape) + (r",\)" if len(shape) == 1 else r"\)")


@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_mismatched_x_y_lengths(entry):
    m = _model()
    x, y = _data()
    before = m.get_weights()
    with pytest.raises(ValueError, match=rf"x has {B} samples but y has {B - 2} samples"):
        _call(m, entry, x, y[:-2])
    assert _weights_equal(m.get_weights(), before)


def test_mismatched_validation_lengths():
    m = _model()
    x, y = _data()
    with pytest.raises(ValueError, match=r"validation x has 3 samples but validation y has 2"):
        m.fit(x, y, validation_data=(x[:3], y[:2]), verbose=0)


@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
@pytest.mark.parametrize("yshape", [(B, 3), (B, 1, 2)])
def test_labels_of_the_wrong_shape(entry, yshape):
    m = _model()
    x, _ = _data()
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"y_true.shape=%s.*y_pred.shape=\(%d, 1\)" % (
            re_shape(yshape), B)):
        _call(m, entry, x, np.zeros(yshape, np.float32))
    assert _weights_equal(m.get_weights(), before)


def test_sparse_labels_out_of_range():
    m = _model(out=3, activation="softmax", loss="sparse_categorical_crossentropy")
    x, _ = _data()
    before = m.get_weights()
    for bad in (3, -1):
        y = np.zeros(B, np.int64)
        y[2] = bad
        with pytest.raises(ValueError, match=rf"label value of {bad}.*\[0, 3\)"):
            m.train_on_batch(x, y)
    assert _weights_equal(m.get_weights(), before)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_ragged_or_object_input(entry):
    m = _model()
    _, y = _data()
    ragged = np.empty(B, dtype=object)
    for i in range(B):
        ragged[i] = np.zeros((T - i % 2, D), np.float32)
    with pytest.raises(ValueError, match=r"^x: expected a rectangular numeric array"):
        _call(m, entry, ragged, y)
    with pytest.raises(ValueError, match=r"^x: expected a rectangular numeric array"):
        _call(m, entry, [np.zeros((T, D)), np.zeros((T + 1, D))], y[:2])
    # a rectangular object array is refused too (no silent per-element conversion)
    with pytest.raises(ValueError, match=r"^x: .*object"):
        _call(m, entry, np.zeros((B, T, D), dtype=object), y)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("dtype", ["<U1", "S1", "complex64", "datetime64[s]", "V4"])
def test_non_numeric_x(entry, dtype):
    m = _model()
    _, y = _data()
    x = np.zeros((B, T, D), dtype=dtype)
    with pytest.raises(TypeError, match=r"^x: expected a real numeric array.*got dtype"):
        _call(m, entry, x, y)


@pytest.mark.parametrize("entry", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_non_numeric_y(entry):
    m = _model()
    x, _ = _data()
    with pytest.raises(TypeError, match=r"^y: expected a real numeric array.*<U1"):
        _call(m, entry, x, np.array([["a"]] * B))
    with pytest.raises(TypeError, match=r"^y: .*complex128"):
        _call(m, entry, x, np.zeros((B, 1), complex))


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32, np.int8, np.bool_])
def test_other_real_dtypes_are_cast_like_float32(dtype):
    m = _model()
    x, y = _data()
    x = (x * 3).astype(dtype)
    ref = m.predict(x.astype(np.float32))
    np.testing.assert_array_equal(m.predict(x), ref)
    np.testing.assert_array_equal(m.predict_on_batch(x), ref)
    m.fit(x, y.astype(dtype), verbose=0)      # trains without complaint
    assert all(np.isfinite(w).all() for w in m.get_weights())


@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict", "train_on_batch",
                                   "test_on_batch", "predict_on_batch"])
def test_zero_samples(entry):
    m = _model()
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"^x: expected at least one sample, got shape "
                                         rf"\(0, {T}, {D}\)"):
        _call(m, entry, np.zeros((0, T, D), np.float32), np.zeros((0, 1), np.float32))
    assert _weights_equal(m.get_weights(), before)


def test_zero_batch_direct_call_is_fine():
    """Calling the model (like a layer) on an empty batch returns an empty batch."""
    m = _model()
    assert m(np.zeros((0, T, D), np.float32)).shape == (0, 1)


def test_zero_timesteps():
    m = _model()
    with pytest.raises(ValueError, match=r"at least one timestep, got shape \(2, 0, 3\)"):
        m.predict(np.zeros((2, 0, D), np.float32))


def test_scalars():
    m = _model()
    x, _ = _data()
    with pytest.raises(ValueError, match=r"^x: expected an array with a batch dimension"):
        m.predict(3.0)
    with pytest.raises(ValueError, match=r"^y: expected an array with a batch dimension.*1\.0"):
        m.fit(x, 1.0, verbose=0)


@pytest.mark.parametrize("kw, name", [
    (dict(batch_size=0), "batch_size"), (dict(batch_size=-1), "batch_size"),
    (dict(batch_size=2.5), "batch_size"), (dict(batch_size=True), "batch_size"),
    (dict(epochs=-1), "epochs"), (dict(epochs=1.5), "epochs"),
    (dict(initial_epoch=-1), "initial_epoch"),
    (dict(steps_per_epoch=0), "steps_per_epoch"),
    (dict(validation_split=1.0), "validation_split"),
    (dict(validation_split=-0.1), "validation_split"),
    (dict(validation_split="0.2"), "validation_split"),
    (dict(validation_freq=0), "validation_freq"),
    (dict(validation_batch_size=-3), "validation_batch_size"),
])
def test_fit_bad_arguments(kw, name):
    m = _model()
    x, y = _data()
    before = m.get_weights()
    value = repr(next(iter(kw.values())))
    with pytest.raises(ValueError, match=rf"^{name}: expected .*got {value}"):
        m.fit(x, y, verbose=0, **kw)
    assert _weights_equal(m.get_weights(), before)


@pytest.mark.parametrize("entry", ["evaluate", "predict"])
@pytest.mark.parametrize("kw, name", [(dict(batch_size=0), "batch_size"),
                                      (dict(batch_size=-2), "batch_size"),
                                      (dict(steps=0), "steps"), (dict(steps=-1), "steps")])
def test_evaluate_predict_bad_arguments(entry, kw, name):
    m = _model()
    x, y = _data()
    with pytest.raises(ValueError, match=rf"^{name}: expected a positive integer"):
        _call(m, entry, x, y, **kw)


def test_bad_callbacks():
    m = _model()
    x, y = _data()
    with pytest.raises(TypeError, match=r"callbacks: expected .*Callback.*got str"):
        m.fit(x, y, verbose=0, callbacks=["early_stopping"])


def test_uncompiled_model():
    m = fastrnn.Sequential([fastrnn.Input((T, D)), LSTM(H)])
    x, y = _data()
    for entry in ("fit", "evaluate", "train_on_batch", "test_on_batch"):
        with pytest.raises(RuntimeError, match=rf"compile\(\)` before calling `{entry}\(\)"):
            _call(m, entry, x, y)


# ---------------------------------------------------------------------------------------------
# Inputs are never written; views and read-only arrays work

@pytest.mark.parametrize("cell", [SimpleRNN, LSTM, GRU])
def test_read_only_inputs(cell):
    m = _model(cell)
    x, y = _data()
    xr, yr = x.copy(), y.copy()
    xr.flags.writeable = False
    yr.flags.writeable = False
    ref = m.predict(x)
    np.testing.assert_array_equal(m.predict(xr), ref)
    m.evaluate(xr, yr, verbose=0)
    m.fit(xr, yr, verbose=0, validation_split=0.34)
    m.train_on_batch(xr, yr)
    np.testing.assert_array_equal(xr, x)
    np.testing.assert_array_equal(yr, y)


def test_inputs_are_not_modified():
    m = _model()
    x, y = _data()
    x64 = x.astype(np.float64)
    xc, yc, x64c = x.copy(), y.copy(), x64.copy()
    m.fit(x, y, verbose=0, epochs=2, batch_size=4)
    m.fit(x64, y, verbose=0)
    m.predict(x)
    m.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(x, xc)
    np.testing.assert_array_equal(y, yc)
    np.testing.assert_array_equal(x64, x64c)


def test_embedding_ids_are_not_modified():
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([Embedding(20, 3, mask_zero=True), GRU(4), Dense(1)])
    m.compile("sgd", "mse")
    ids = np.random.default_rng(0).integers(0, 20, (5, 7))
    ids.flags.writeable = False
    m.fit(ids, np.zeros((5, 1)), verbose=0)
    m.predict(ids)


@pytest.mark.parametrize("view", ["reversed_batch", "reversed_time", "every_other",
                                  "transposed", "fortran"])
def test_strided_views(view):
    m = _model(GRU)
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2 * B, T, D)).astype(np.float32)
    x = {"reversed_batch": base[::-2][:B],
         "reversed_time": base[:B, ::-1],
         "every_other": base[::2],
         "transposed": np.ascontiguousarray(base[:B].transpose(2, 1, 0)).transpose(2, 1, 0),
         "fortran": np.asfortranarray(base[:B])}[view]
    assert not x.flags.c_contiguous
    xc = np.ascontiguousarray(x)
    np.testing.assert_array_equal(m.predict(x), m.predict(xc))
    np.testing.assert_array_equal(m.predict_on_batch(x), m.predict_on_batch(xc))
    y = np.zeros((B, 1), np.float32)[::-1]
    twin = _model(GRU)
    m.fit(x, y, verbose=0, shuffle=False)
    twin.fit(xc, np.ascontiguousarray(y), verbose=0, shuffle=False)
    assert _weights_equal(m.get_weights(), twin.get_weights())


# ---------------------------------------------------------------------------------------------
# NaN / Inf: propagated (Keras behaviour), contained to the affected samples

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_propagates_to_its_own_sample_only(bad):
    m = _model(LSTM)
    x, _ = _data()
    clean = m.predict(x)
    xb = x.copy()
    xb[2, 1, 0] = bad
    out = m.predict(xb)
    assert np.all(np.isfinite(np.delete(out, 2, axis=0)))
    np.testing.assert_array_equal(np.delete(out, 2, axis=0), np.delete(clean, 2, axis=0))
    if np.isnan(bad):
        assert np.isnan(out[2]).all()


def test_nonfinite_input_in_fit_with_terminate_on_nan(capsys):
    m = _model()
    x, y = _data()
    m.fit(x, y, verbose=0)            # optimizer slots built, weights moved
    before = m.get_weights()
    x[3, 2, 1] = np.nan
    hist = m.fit(x, y, verbose=0, epochs=3, batch_size=B, callbacks=[TerminateOnNaN()])
    assert len(hist.history["loss"]) == 1 and np.isnan(hist.history["loss"][0])
    assert "Invalid loss" in capsys.readouterr().out
    assert _weights_equal(m.get_weights(), before)   # the NaN batch was not applied


def test_nonfinite_labels_with_terminate_on_nan():
    m = _model(loss="mse", activation=None)
    x, y = _data()
    y[0, 0] = np.inf
    before = m.get_weights()
    m.fit(x, y, verbose=0, epochs=2, batch_size=B, callbacks=[TerminateOnNaN()])
    assert _weights_equal(m.get_weights(), before)


def test_nonfinite_input_without_terminate_on_nan_does_not_crash():
    """Keras behaviour: the loss is NaN and the weights become NaN; no exception, no hang."""
    m = _model()
    x, y = _data()
    x[0] = np.nan
    hist = m.fit(x, y, verbose=0, epochs=2)
    assert np.isnan(hist.history["loss"]).all()
    assert np.isnan(m.evaluate(x, y, verbose=0)[0])


# ---------------------------------------------------------------------------------------------
# Embedding ids

def _embedding_model(input_dim=10, mask_zero=False):
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([Embedding(input_dim, 3, mask_zero=mask_zero), LSTM(2), Dense(1)])
    m.compile("adam", "mse")
    m.build((None, 4))
    return m


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("bad", [10, 11, 2**40, -1, -(2**31)])
def test_embedding_id_out_of_range(entry, bad):
    m = _embedding_model(10)
    ids = np.array([[1, 2, 3, 4], [5, 6, bad, 7]], np.int64)
    before = m.get_weights()
    with pytest.raises(IndexError, match=rf"token id {bad} at position \(1, 2\) is out of "
                                         r"range \[0, 10\)"):
        _call(m, entry, ids, np.zeros((2, 1), np.float32))
    assert _weights_equal(m.get_weights(), before)


@pytest.mark.parametrize("where", ["x", "validation_data", "validation_split"])
def test_embedding_bad_id_in_a_later_batch_fails_before_any_update(where):
    m = _embedding_model(10)
    ids = np.random.default_rng(0).integers(0, 10, (40, 4))
    y = np.zeros((40, 1), np.float32)
    bad = ids.copy()
    bad[37, 1] = 12
    before = m.get_weights()
    kw = {"x": dict(x=bad), "validation_data": dict(x=ids, validation_data=(bad, y)),
          "validation_split": dict(x=bad, validation_split=0.25)}[where]
    pos = r"\(7, 1\)" if where == "validation_split" else r"\(37, 1\)"
    with pytest.raises(IndexError, match=rf"token id 12 at position {pos}"):
        m.fit(y=y, batch_size=8, epochs=2, verbose=0, **kw)
    assert _weights_equal(m.get_weights(), before)


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8, np.uint64])
def test_embedding_id_dtypes(dtype):
    m = _embedding_model(300)
    ids = np.array([[1, 2, 3, min(299, np.iinfo(dtype).max)]], dtype)
    np.testing.assert_array_equal(m.predict(ids), m.predict(ids.astype(np.int64)))
    big = np.array([[1, 2, 3, np.iinfo(dtype).max]], dtype)
    if np.iinfo(dtype).max >= 300:
        with pytest.raises(IndexError, match=rf"token id {np.iinfo(dtype).max} "):
            m.predict(big)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_embedding_nonfinite_float_ids(bad):
    m = _embedding_model(10)
    with pytest.raises(IndexError, match=r"ids must be finite"):
        m.predict(np.array([[1.0, bad, 2.0, 3.0]]))


# ---------------------------------------------------------------------------------------------
# set_weights: all-or-nothing

def _two_layer_model():
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([fastrnn.Input((T, D)), LSTM(H, return_sequences=True), GRU(3),
                            Dense(2)])
    m.compile("adam", "mse")
    return m


@pytest.mark.parametrize("position", [0, 3, -1])
@pytest.mark.parametrize("problem", ["shape", "dtype_str", "dtype_complex", "ragged"])
def test_set_weights_is_atomic(position, problem):
    m = _two_layer_model()
    before = m.get_weights()
    new = [w + 1 for w in before]
    w = new[position]
    if problem == "shape":
        new[position] = np.zeros(w.shape + (1,), w.dtype)
        err, msg = ValueError, r"expected shape"
    elif problem == "dtype_str":
        new[position] = np.full(w.shape, "x")
        err, msg = TypeError, r"expected a real numeric array, got dtype <U1"
    elif problem == "dtype_complex":
        new[position] = w.astype(np.complex64)
        err, msg = TypeError, r"expected a real numeric array, got dtype complex64"
    else:
        new[position] = [[1.0], [1.0, 2.0]]
        err, msg = ValueError, r"inhomogeneous"
    with pytest.raises(err, match=msg):
        m.set_weights(new)
    assert _weights_equal(m.get_weights(), before)


def test_set_weights_wrong_count_is_atomic():
    m = _two_layer_model()
    before = m.get_weights()
    with pytest.raises(ValueError, match=rf"expected {len(before)} arrays .* got "
                                         rf"{len(before) - 1}"):
        m.set_weights([w + 1 for w in before[:-1]])
    assert _weights_equal(m.get_weights(), before)


# ---------------------------------------------------------------------------------------------
# imdb.load_data: argument validation (before any data is touched), bad sources

@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTRNN_NO_DOWNLOAD", "1")
    monkeypatch.setenv("FASTRNN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FASTRNN_DATA", raising=False)
    return tmp_path


@pytest.mark.parametrize("kw, pattern", [
    (dict(num_words=0), r"`num_words` must be >= 1, got num_words=0"),
    (dict(num_words=-5), r"`num_words` must be >= 1, got num_words=-5"),
    (dict(num_words="100"), r"`num_words` must be an integer or None, got '100'"),
    (dict(num_words=1.5), r"`num_words` must be an integer or None, got 1.5"),
    (dict(num_words=True), r"`num_words` must be an integer or None, got True"),
    (dict(skip_top=-1), r"`skip_top` must be >= 0, got skip_top=-1"),
    (dict(skip_top=None), r"`skip_top` must be an integer, got None"),
    (dict(maxlen=0), r"`maxlen` must be >= 1, got maxlen=0"),
    (dict(seed=-1), r"`seed` must be >= 0, got seed=-1"),
    (dict(seed=2**32), r"`seed` must be <= 4294967295"),
    (dict(index_from=-3), r"`index_from` must be >= 0, got index_from=-3"),
    (dict(oov_char=-2), r"`oov_char` must be >= 0"),
    (dict(start_char=[1]), r"`start_char` must be an integer or None, got \[1\]"),
])
def test_load_data_bad_arguments(offline, kw, pattern):
    with pytest.raises(ValueError, match=pattern):
        imdb.load_data(**kw)


def test_load_data_bad_sources(offline):
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        imdb.load_data(path=offline / "nope.tar.gz")
    assert issubclass(imdb.DatasetNotFoundError, FileNotFoundError)
    junk = offline / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8b this is not a gzip stream")
    with pytest.raises(imdb.InvalidDatasetError):
        imdb.load_data(path=junk)
    assert issubclass(imdb.InvalidDatasetError, ValueError)
    empty_dir = offline / "empty"
    empty_dir.mkdir()
    with pytest.raises(FileNotFoundError, match=r"not an extracted aclImdb/ folder"):
        imdb.load_data(path=empty_dir)
    with pytest.raises(imdb.DatasetNotFoundError):   # nothing anywhere, downloads forbidden
        imdb.load_data()


# ---------------------------------------------------------------------------------------------
# load_model / load_weights on bad files: clear ModelFileError, nothing executed, no change

@pytest.fixture
def saved(tmp_path):
    m = _two_layer_model()
    x = np.random.default_rng(0).standard_normal((4, T, D)).astype(np.float32)
    m.fit(x, np.zeros((4, 2), np.float32), verbose=0)   # optimizer state is saved too
    path = tmp_path / "model.fnrn"
    m.save(path)
    return m, path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write_members(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for n, b in members.items():
            zf.writestr(n, b)


def _load_both_ways(path, model):
    """load_model and load_weights must both fail with ModelFileError, weights unchanged."""
    before = model.get_weights()
    with pytest.raises(ModelFileError, match=str(path.name)) as e1:
        fastrnn.load_model(path)
    with pytest.raises(ModelFileError) as e2:
        model.load_weights(path)
    assert _weights_equal(model.get_weights(), before)
    return str(e1.value), str(e2.value)


def test_load_round_trip_is_exact(saved):
    m, path = saved
    back = fastrnn.load_model(path)
    assert _weights_equal(back.get_weights(), m.get_weights())


def test_truncated_files(saved, tmp_path):
    m, path = saved
    data = path.read_bytes()
    for cut in sorted({0, 1, 4, 22, 100, len(data) // 3, len(data) // 2, len(data) - 23,
                       len(data) - 1}):
        bad = tmp_path / f"cut{cut}.fnrn"
        bad.write_bytes(data[:cut])
        _load_both_ways(bad, m)


def test_corrupted_bytes(saved, tmp_path):
    m, path = saved
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(0)
    for k in range(12):
        bad_data = bytearray(data)
        for pos in rng.integers(0, len(data), 1 + k % 3):
            bad_data[pos] ^= 0xFF
        bad = tmp_path / f"flip{k}.fnrn"
        bad.write_bytes(bytes(bad_data))
        before = m.get_weights()
        try:
            back = fastrnn.load_model(bad)
        except ModelFileError:
            pass
        else:   # a flip in zip padding/comments may be harmless: then the model must be exact
            assert _weights_equal(back.get_weights(), before)
        try:
            m.load_weights(bad)
        except ModelFileError:
            pass
        assert _weights_equal(m.get_weights(), before)


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40,
                                     json.dumps({"format": "fastrnn"}).encode(),
                                     bytes(range(256)) * 8])
def test_not_zip_files(saved, tmp_path, content):
    m, _ = saved
    bad = tmp_path / "junk.fnrn"
    bad.write_bytes(content)
    _load_both_ways(bad, m)


def test_directory_and_missing_file(saved, tmp_path):
    m, _ = saved
    with pytest.raises(IsADirectoryError):
        fastrnn.load_model(tmp_path)
    with pytest.raises(FileNotFoundError):
        fastrnn.load_model(tmp_path / "missing.fnrn")
    with pytest.raises(FileNotFoundError):
        m.load_weights(tmp_path / "missing.fnrn")


def _edit_config(path, out, edit):
    members = _members(path)
    cfg = json.loads(members["config.json"])
    edit(cfg)
    members["config.json"] = json.dumps(cfg).encode()
    _write_members(out, members)


@pytest.mark.parametrize("edit, pattern", [
    (lambda c: c.update(version=2), r"format version 2; this fastrnn reads version 1"),
    (lambda c: c.update(version="1"), r"format version '1'"),
    (lambda c: c.update(format="keras"), r"is not a fastrnn file"),
    (lambda c: c.update(kind="optimizer"), r"holds 'optimizer'"),
    (lambda c: c.update(arrays={"weights": -1}), r"invalid array table"),
    (lambda c: c.update(arrays=["weights"]), r"invalid array table"),
    (lambda c: c.update(arrays={"weights": 10**9}), r"missing zip members"),
    (lambda c: c.update(arrays={"../weights": 1}), r"invalid array table"),
    (lambda c: c["weight_shapes"].__setitem__(0, [1, 2]), r"do not match the recorded shapes"),
])
def test_bad_headers(saved, tmp_path, edit, pattern):
    m, path = saved
    bad = tmp_path / "bad.fnrn"
    _edit_config(path, bad, edit)
    msg_model, msg_weights = _load_both_ways(bad, m)
    assert any(re.search(pattern, s) for s in (msg_model, msg_weights)), \
        (msg_model, msg_weights)


@pytest.mark.parametrize("edit", [
    lambda c: c["model"].update(class_name="Functional"),
    lambda c: c["model"]["config"]["layers"][1].update(class_name="os.system"),
    lambda c: c["model"]["config"]["layers"][1].update(class_name="__import__"),
    lambda c: c["model"]["config"]["layers"][1]["config"].update(
        kernel_initializer={"class_name": "__import__", "config": {"name": "os"}}),
    lambda c: c["model"]["config"]["layers"][1]["config"].update(units="many"),
    lambda c: c["model"]["config"]["layers"][1]["config"].update(evil=1),
    lambda c: c["model"]["config"].update(layers=None),
    lambda c: c["model"].pop("config"),
    lambda c: c.update(model=[]),
    lambda c: c["compile"].update(optimizer={"class_name": "os.system"}),
    lambda c: c["compile"].pop("optimizer"),
])
def test_bad_model_configs(saved, tmp_path, edit):
    m, path = saved
    bad = tmp_path / "bad.fnrn"
    _edit_config(path, bad, edit)
    with pytest.raises(ModelFileError, match="bad.fnrn"):
        fastrnn.load_model(bad)


def test_json_bombs(saved, tmp_path):
    m, path = saved
    members = _members(path)
    for i, cfg in enumerate([b"[" * 100000 + b"]" * 100000, b"\xff\xfe garbage", b"42",
                             b'{"format": "fastrnn", "version": 1, "kind": "model", '
                             b'"arrays": {"weights": "lots"}}']):
        members["config.json"] = cfg
        bad = tmp_path / f"bomb{i}.fnrn"
        _write_members(bad, members)
        _load_both_ways(bad, m)


class _Canary:
    """Unpickling this would create a file: proof that code was executed."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def _pickled_npy(target):
    import io
    buf = io.BytesIO()
    arr = np.empty(2, dtype=object)
    arr[0] = _Canary(target)
    arr[1] = 1
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def test_pickle_members_are_never_loaded(saved, tmp_path):
    m, path = saved
    canary = tmp_path / "CANARY"
    members = _members(path)
    # 1. a weight array replaced by a pickled object array
    first = sorted(n for n in members if n.startswith("weights/"))[0]
    evil = dict(members)
    evil[first] = _pickled_npy(str(canary))
    bad = tmp_path / "pickled_weight.fnrn"
    _write_members(bad, evil)
    msg, _ = _load_both_ways(bad, m)
    assert "dtype object" in msg
    # 2. an extra pickle member
    evil = dict(members)
    import pickle
    evil["evil.pkl"] = pickle.dumps(_Canary(str(canary)))
    bad = tmp_path / "extra_member.fnrn"
    _write_members(bad, evil)
    msg, _ = _load_both_ways(bad, m)
    assert "unexpected zip members ['evil.pkl']" in msg
    # 3. the config itself is a pickle
    evil = dict(members)
    evil["config.json"] = pickle.dumps(_Canary(str(canary)))
    bad = tmp_path / "pickled_config.fnrn"
    _write_members(bad, evil)
    _load_both_ways(bad, m)
    assert not canary.exists()


def test_unexpected_and_missing_members(saved, tmp_path):
    m, path = saved
    members = _members(path)
    extra = dict(members, **{"weights/99999.npy": members["weights/00000.npy"]})
    _write_members(tmp_path / "extra.fnrn", extra)
    msg, _ = _load_both_ways(tmp_path / "extra.fnrn", m)
    assert "unexpected zip members" in msg
    missing = {k: v for k, v in members.items() if k != "weights/00001.npy"}
    _write_members(tmp_path / "missing.fnrn", missing)
    msg, _ = _load_both_ways(tmp_path / "missing.fnrn", m)
    assert "missing zip members ['weights/00001.npy']" in msg


def _npy_header(shape, dtype="<f4"):
    import io
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": dtype, "fortran_order": False, "shape": tuple(shape)})
    return buf.getvalue()


@pytest.mark.parametrize("shape", [(10**12,), (2**31, 2**31), (3, 10**15)])
def test_npy_header_claiming_huge_arrays(saved, tmp_path, shape):
    """A crafted header must not make the loader allocate what it claims."""
    m, path = saved
    members = _members(path)
    members["weights/00000.npy"] = _npy_header(shape) + b"\0" * 64
    bad = tmp_path / "huge.fnrn"
    _write_members(bad, members)
    msg, _ = _load_both_ways(bad, m)
    assert "declares shape" in msg


@pytest.mark.parametrize("dtype", ["<U4", "|S4", "<c8", "|V8", "<M8[s]"])
def test_non_numeric_arrays_in_file(saved, tmp_path, dtype):
    import io
    m, path = saved
    members = _members(path)
    w0 = np.load(io.BytesIO(members["weights/00000.npy"]))
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.zeros(w0.shape, dtype), allow_pickle=False)
    members["weights/00000.npy"] = buf.getvalue()
    _write_members(tmp_path / "nonnum.fnrn", members)
    msg, _ = _load_both_ways(tmp_path / "nonnum.fnrn", m)
    assert f"holds dtype" in msg


def test_deflated_members_are_fine(saved, tmp_path):
    m, path = saved
    _write_members(tmp_path / "deflated.fnrn", _members(path), zipfile.ZIP_DEFLATED)
    back = fastrnn.load_model(tmp_path / "deflated.fnrn")
    assert _weights_equal(back.get_weights(), m.get_weights())


def test_load_weights_of_another_architecture_changes_nothing(saved, tmp_path):
    m, _ = saved
    other = _model()
    other.save_weights(tmp_path / "other.weights.fnrn")
    before = m.get_weights()
    with pytest.raises(ValueError, match=r"expected \d+ arrays"):
        m.load_weights(tmp_path / "other.weights.fnrn")
    assert _weights_equal(m.get_weights(), before)
    # same count, one shape different (a wider last layer)
    fastrnn.utils.set_random_seed(1)
    wide = fastrnn.Sequential([fastrnn.Input((T, D)), LSTM(H, return_sequences=True), GRU(3),
                               Dense(5)])
    wide.save_weights(tmp_path / "wide.weights.fnrn")
    with pytest.raises(ValueError, match=r"expected shape \(3, 2\), got \(3, 5\)"):
        m.load_weights(tmp_path / "wide.weights.fnrn")
    assert _weights_equal(m.get_weights(), before)


def test_saving_never_allows_pickle():
    """Source check: every NumPy (de)serialisation in saving.py passes allow_pickle=False."""
    import ast
    import fastrnn.saving as saving
    tree = ast.parse(open(saving.__file__).read())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and
             isinstance(n.func, ast.Attribute) and
             n.func.attr in ("load", "read_array", "write_array", "save", "savez",
                             "savez_compressed")]
    assert calls
    for c in calls:
        kws = {k.arg: k.value for k in c.keywords}
        assert "allow_pickle" in kws and isinstance(kws["allow_pickle"], ast.Constant) \
            and kws["allow_pickle"].value is False, ast.dump(c)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                for a in n.names}
    assert not imported & {"pickle", "cPickle", "dill", "marshal", "shelve"}


# ---------------------------------------------------------------------------------------------
# Impossible sizes: MemoryError, never a crash

@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_layer_with_impossible_units(cls):
    layer = cls(10**6)
    with pytest.raises(MemoryError):
        layer(np.zeros((2, 3, 4), np.float32))
    bi = Bidirectional(cls(10**6))
    with pytest.raises(MemoryError):
        bi(np.zeros((2, 3, 4), np.float32))


def test_dense_and_embedding_with_impossible_sizes():
    with pytest.raises(MemoryError):
        Dense(10**12)(np.zeros((2, 4), np.float32))
    with pytest.raises(MemoryError):
        Embedding(10**12, 10**3)(np.zeros((2, 4), np.int64))


def test_model_with_impossible_units():
    m = fastrnn.Sequential([Embedding(100, 4), LSTM(10**6), Dense(1)])
    with pytest.raises(MemoryError):
        m.build((None, 10))


@pytest.fixture
def huge_sparse_x(tmp_path):
    """A 256 GiB float32 x [2**16, 2**20, 1] backed by a sparse file: C-contiguous, costs no
    memory until read. Outputs [B,T,H] of it cannot be allocated."""
    path = tmp_path / "huge.bin"
    try:
        with open(path, "wb") as f:
            f.truncate(2**38)
        x = np.memmap(path, dtype=np.float32, mode="r", shape=(2**16, 2**20, 1))
    except (OSError, ValueError) as e:   # pragma: no cover - filesystem without sparse files
        pytest.skip(f"no sparse files here: {e}")
    yield x
    del x


@pytest.mark.parametrize("cell", ["simple_rnn", "lstm", "gru"])
@pytest.mark.parametrize("training", [False, True])
def test_ops_with_impossible_outputs(huge_sparse_x, cell, training):
    G = {"simple_rnn": 1, "lstm": 4, "gru": 3}[cell]
    h = 64
    with pytest.raises(MemoryError):
        ops.rnn_forward(cell, huge_sparse_x, np.zeros((1, G * h), np.float32),
                        np.zeros((h, G * h), np.float32), None, training=training)


def test_layer_with_impossible_outputs(huge_sparse_x):
    layer = LSTM(64, return_sequences=True)
    with pytest.raises(MemoryError):
        layer(huge_sparse_x)


_RLIMIT_SCRIPT = textwrap.dedent(r"""
    import resource, sys
    import numpy as np
    import fastrnn
    from fastrnn import ops
    fastrnn.set_num_threads(2)
    cell, G, H, B = sys.argv[1], int(sys.argv[2]), 32, 8
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, G * H)).astype(np.float32) * 0.1
    rk = rng.standard_normal((H, G * H)).astype(np.float32) * 0.1
    def run(T):
        x = np.ones((B, T, 3), np.float32)
        res = ops.rnn_forward(cell, x, k, rk, None, training=True)
        g = ops.rnn_backward(res.cache, d_outputs=np.ones_like(res.outputs))
        return float(g["kernel"].sum())
    run(4)   # warm up: OpenMP threads and the per-thread workspace exist
    def vm_bytes():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm_bytes() + (160 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    ok = mem = 0
    T = 8
    while T < 400000:
        try:
            run(T)
            ok += 1
        except MemoryError:
            mem += 1
        T = int(T * 1.15) + 1
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    print("result", ok, mem, run(16))
""")


@pytest.mark.skipif(SANITIZED, reason="ASan reserves terabytes of address space")
@pytest.mark.parametrize("cell, gates", [("simple_rnn", 1), ("lstm", 4), ("gru", 3)])
def test_allocation_failures_under_address_space_limit(tmp_path, cell, gates):
    """With RLIMIT_AS just above the current use, growing sequences hit every allocation of
    the forward/backward path (outputs, cache, workspaces, gradients) in turn: each must raise
    MemoryError, and the process must survive and still compute afterwards."""
    script = tmp_path / "rlimit.py"
    script.write_text(_RLIMIT_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(fastrnn.__file__)), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(script), cell, str(gates)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    _, ok, mem, total = proc.stdout.split()[-4:]
    assert int(ok) > 0 and int(mem) > 0, proc.stdout
    assert np.isfinite(float(total))
