"""Tests for fastrnn.preprocessing.sequence.pad_sequences (vs keras.utils.pad_sequences)."""

import itertools

import numpy as np
import pytest


from fastrnn.preprocessing import sequence
pad_sequences = sequence.pad_sequences


@pytest.fixture(scope="module")
def keras_pad():
    keras_utils = pytest.importorskip("keras.src.utils.sequence_utils")
    return keras_utils.pad_sequences


def _outcome(fn, *args, **kwargs):
    try:
        return ("ok", fn(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - we compare exception types
        return ("error", type(e))


def _assert_same(ours, theirs):
    assert ours[0] == theirs[0], (ours, theirs)
    if ours[0] == "error":
        assert issubclass(ours[1], theirs[1]) or issubclass(theirs[1], ours[1]), (ours, theirs)
        return
    a, b = ours[1], theirs[1]
    assert isinstance(a, np.ndarray)
    assert a.dtype == b.dtype
    assert a.shape == b.shape
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(a, b)  # NaN == NaN for assert_array_equal
    else:
        assert (a == b).all()


def _random_sequences(rng, n, max_len, empty_prob=0.2, floats=False):
    seqs = []
    for _ in range(n):
        length = 0 if rng.random() < empty_prob else int(rng.integers(1, max_len + 1))
        if floats:
            seqs.append((rng.standard_normal(length) * 10).tolist())
        else:
            seqs.append(rng.integers(-5, 1000, size=length).tolist())
    return seqs


MODES = ["pre", "post"]


@pytest.mark.parametrize("padding,truncating", list(itertools.product(MODES, MODES)))
@pytest.mark.parametrize("maxlen", [None, 1, 3, 7, 50])
def test_random_int_lists_match_keras(keras_pad, padding, truncating, maxlen):
    rng = np.random.default_rng([MODES.index(padding), MODES.index(truncating), maxlen or 0])
    for trial in range(20):
        seqs = _random_sequences(rng, int(rng.integers(1, 12)), 12)
        if all(len(s) == 0 for s in seqs):
            seqs.append([1, 2, 3])
        kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating)
        _assert_same(_outcome(pad_sequences, seqs, **kwargs), _outcome(keras_pad, seqs, **kwargs))


@pytest.mark.parametrize("dtype", ["int32", "int64", "float32", "float64", "int8", "uint8", "bool", np.int16])
@pytest.mark.parametrize("value", [0.0, -1, 3.5, 255])
def test_dtype_and_value_match_keras(keras_pad, dtype, value):
    rng = np.random.default_rng(7)
    for padding, truncating, maxlen in itertools.product(MODES, MODES, [None, 4, 20]):
        seqs = _random_sequences(rng, 6, 10, floats=True)
        seqs.append([0.5, 1.5])
        kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating, dtype=dtype, value=value)
        _assert_same(_outcome(pad_sequences, seqs, **kwargs), _outcome(keras_pad, seqs, **kwargs))


def test_numpy_inputs_match_keras(keras_pad):
    rng = np.random.default_rng(3)
    cases = [
        rng.integers(0, 9, size=(5, 8)),  # 2-D array: rows are sequences
        np.array([np.arange(3), np.arange(5), np.arange(0)], dtype=object),  # ragged object array
        [rng.standard_normal((4, 3)), rng.standard_normal((6, 3)), np.zeros((0, 3))],  # 3-D samples
        [np.arange(4), [1, 2], (7, 8, 9)],  # mixed sequence types
        [[], [1], []],
    ]
    for seqs in cases:
        for padding, truncating, maxlen in itertools.product(MODES, MODES, [None, 2, 10]):
            for dtype in ("int32", "float32"):
                kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating, dtype=dtype)
                _assert_same(_outcome(pad_sequences, seqs, **kwargs), _outcome(keras_pad, seqs, **kwargs))


def test_string_sequences_match_keras(keras_pad):
    seqs = [["a", "bb"], ["ccc"], [], ["d", "e", "f", "g"]]
    for padding, truncating, maxlen in itertools.product(MODES, MODES, [None, 2]):
        for dtype, value in [(object, "PAD"), ("<U5", "x"), (object, 0)]:
            kwargs = dict(maxlen=maxlen, padding=padding, truncating=truncating, dtype=dtype, value=value)
            _assert_same(_outcome(pad_sequences, seqs, **kwargs), _outcome(keras_pad, seqs, **kwargs))


def test_empty_inputs_match_keras(keras_pad):
    for seqs in ([[], []], [[]], [np.array([])]):
        for maxlen in (None, 3):
            _assert_same(_outcome(pad_sequences, seqs, maxlen=maxlen),
                         _outcome(keras_pad, seqs, maxlen=maxlen))
    _assert_same(_outcome(pad_sequences, [], maxlen=4), _outcome(keras_pad, [], maxlen=4))


def test_errors_match_keras(keras_pad):
    cases = [
        (([[1, 2], [3]],), dict(padding="middle")),
        (([[1, 2], [3]],), dict(truncating="middle")),
        (([[1, 2], [3]],), dict(truncating="bad", padding="bad")),
        ((5,), {}),  # not a sized iterable
        (([1, 2, 3],), {}),  # items are not sequences
        (([[1, 2], [[3, 4]]],), {}),  # inconsistent sample shapes
        (([[1, 2]],), dict(value="x")),  # str value with int dtype
        (([],), {}),  # nothing to infer maxlen from
    ]
    for args, kwargs in cases:
        ours = _outcome(pad_sequences, *args, **kwargs)
        theirs = _outcome(keras_pad, *args, **kwargs)
        assert ours[0] == "error" and theirs[0] == "error", (args, kwargs, ours, theirs)
        assert issubclass(ours[1], ValueError), (args, kwargs, ours)
        assert issubclass(ours[1], theirs[1]) or issubclass(theirs[1], ours[1]), (args, kwargs, ours, theirs)


# ---------------------------------------------------------------------------
# Hand-checked behaviour (runs without Keras)
# ---------------------------------------------------------------------------


def test_docstring_examples():
    seqs = [[1], [2, 3], [4, 5, 6]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2), [[0, 1], [2, 3], [5, 6]])
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post"), [[0, 1], [2, 3], [4, 5]])
    assert pad_sequences(seqs).dtype == np.int32


def test_empty_sequences_stay_padding():
    out = pad_sequences([[], [1, 2], []], maxlen=3, value=9, padding="post")
    np.testing.assert_array_equal(out, [[9, 9, 9], [1, 2, 9], [9, 9, 9]])
    assert pad_sequences([], maxlen=5).shape == (0, 5)


def test_multidimensional_samples():
    a = np.arange(6).reshape(3, 2)
    out = pad_sequences([a, a[:1]], maxlen=2, dtype="float32")
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[0], a[1:])
    np.testing.assert_array_equal(out[1], [[0, 0], [0, 1]])


def test_maxlen_zero_gives_zero_timesteps():
    for truncating in MODES:
        for padding in MODES:
            out = pad_sequences([[1, 2], []], maxlen=0, truncating=truncating, padding=padding)
            assert out.shape == (2, 0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(padding="middle"), 'Padding type "middle" not understood'),
        (dict(truncating="middle"), 'Truncating type "middle" not understood'),
        (dict(maxlen=-1), "maxlen"),
        (dict(maxlen=2.5), "maxlen"),
        (dict(value="x"), "dtype=object"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pad_sequences([[1, 2, 3], [4]], **kwargs)


def test_bad_padding_rejected_even_without_nonempty_sequence():
    with pytest.raises(ValueError, match="Padding type"):
        pad_sequences([[], []], maxlen=2, padding="left")


def test_non_iterable_inputs():
    with pytest.raises(ValueError, match="must be iterable"):
        pad_sequences(iter([[1, 2]]))
    with pytest.raises(ValueError, match="list of iterables"):
        pad_sequences([[1], 2])
    with pytest.raises(ValueError, match="different from expected shape"):
        pad_sequences([[1, 2], [[3, 4]]])


def test_package_exports():
    import fastrnn.preprocessing as prep
    assert prep.pad_sequences is prep.sequence.pad_sequences
