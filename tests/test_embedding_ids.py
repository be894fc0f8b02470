"""Float token ids in Embedding and in the models' whole-array id check: whole numbers (3.0)
are ids as in Keras; fractions (3.7) are an error instead of Keras' silent truncation to row 3;
huge values (1e30) are reported as they are, without a cast warning or a wrapped-around id."""
import re
import warnings

import numpy as np
import pytest

import fastrnn
from fastrnn.layers import Dense, Embedding, LSTM

IDS = np.array([[1, 2, 3, 4], [5, 6, 7, 0]])


def _layer():
    layer = Embedding(10, 3)
    layer.build(None)
    layer.set_weights([np.arange(30, dtype=np.float32).reshape(10, 3)])
    return layer


def _model():
    fastrnn.utils.set_random_seed(0)
    m = fastrnn.Sequential([Embedding(10, 3), LSTM(2), Dense(1)])
    m.compile("adam", "mse")
    m.build((None, 4))
    return m


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_whole_float_ids_are_ids(dtype):
    layer = _layer()
    np.testing.assert_array_equal(layer(IDS.astype(dtype)), layer(IDS))
    m = _model()
    np.testing.assert_array_equal(m.predict(IDS.astype(dtype), verbose=0),
                                  m.predict(IDS, verbose=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fractional_float_id_is_rejected_by_the_layer(dtype):
    ids = IDS.astype(dtype)
    ids[1, 2] = 3.7
    with pytest.raises(ValueError, match=r"token ids must be whole numbers, but `inputs` holds "
                                         r"3\.7 at position \(1, 2\)"):
        _layer()(ids)


@pytest.mark.parametrize("entry", ["fit", "evaluate", "predict"])
def test_fractional_float_id_fails_the_model_before_any_update(entry):
    m = _model()
    ids = IDS.astype(np.float64)
    ids[0, 1] = 2.5
    y = np.zeros((2, 1), np.float32)
    before = m.get_weights()
    call = {"fit": lambda: m.fit(ids, y, epochs=1, verbose=0),
            "evaluate": lambda: m.evaluate(ids, y, verbose=0),
            "predict": lambda: m.predict(ids, verbose=0)}[entry]
    with pytest.raises(ValueError, match=r"`x` holds 2\.5 at position \(0, 1\)"):
        call()
    for w, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(w, b)


@pytest.mark.parametrize("bad, shown", [(1e30, "1e+30"), (-1e30, "-1e+30"), (10.0, "10.0"),
                                        (2.0**63, "9.223372e+18")])
def test_out_of_range_float_id_is_reported_as_it_is(bad, shown):
    ids = IDS.astype(np.float32)
    ids[1, 1] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # no "invalid value encountered in cast"
        with pytest.raises(IndexError, match=rf"token id {re.escape(shown)} at position \(1, 1\) "
                                             r"is out of range \[0, 10\)"):
            _layer()(ids)
        with pytest.raises(IndexError, match=rf"token id {re.escape(shown)} at position \(1, 1\)"):
            _model().predict(ids, verbose=0)
