"""ONNX export of the layers beyond the recurrent ones: Conv1D, the 1D poolings, the merge
layers, Flatten/RepeatVector/Reshape/Permute, Masking, SpatialDropout1D, BatchNormalization,
LayerNormalization and TimeDistributed, each in a small model with random weights. ONNX
Runtime predicts what `model.predict` does (tests/_onnx_check.py: 1e-5 + 1e-5 * |ref|, finite,
declared shapes hold) on several batch sizes and lengths; masks of every form where the layer
reads the mask itself."""
import numpy as np
import pytest
from _onnx_check import assert_matches, padded_ids, randomize, run, session
from test_layers_conv_pool import CONV_CASES, GLOBAL_CASES, POOL_CASES

import fastrnn
from fastrnn import layers as L

LENGTHS = [(3, 11), (1, 13), (2, 20), (4, 12)]     # (batch, steps): every step count mod 2, 3


def _features(rng, shapes, features=4, channels_first=False):
    xs = [rng.normal(size=(b, t, features)).astype(np.float32) for b, t in shapes]
    return [np.ascontiguousarray(x.transpose(0, 2, 1)) for x in xs] if channels_first else xs


def _model(*layers, features=4, channels_first=False, steps=None):
    shape = (features, steps) if channels_first else (steps, features)
    inp = fastrnn.Input(shape=shape)
    x = inp
    for layer in layers:
        x = layer(x)
    return fastrnn.Model(inp, x)


def _check(model, xs, rng, **export_kwargs):
    randomize(model, rng)
    assert_matches(model, xs, **export_kwargs)


def _case_id(value):
    return "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


@pytest.mark.parametrize("kwargs", CONV_CASES + [
    dict(filters=3, kernel_size=2, strides=3, padding="same", activation="softmax"),
    dict(filters=4, kernel_size=3, padding="causal", data_format="channels_first",
         activation="softmax"),
    dict(filters=4, kernel_size=2, groups=4, dilation_rate=2, use_bias=False)],
    ids=_case_id)
def test_conv1d(kwargs):
    """Keras parity's cases (test_layers_conv_pool.py) and softmax over the filters."""
    rng = np.random.default_rng(20)
    cf = kwargs.get("data_format") == "channels_first"
    model = _model(L.Conv1D(**kwargs), channels_first=cf)
    _check(model, _features(rng, LENGTHS, channels_first=cf), rng)


@pytest.mark.parametrize("cls, kwargs", POOL_CASES + [
    ("MaxPooling1D", dict(pool_size=2, strides=3, padding="same")),
    ("AveragePooling1D", dict(pool_size=2, strides=3, padding="same")),
    ("AveragePooling1D", dict(pool_size=5, strides=2, padding="same"))], ids=_case_id)
def test_pooling(cls, kwargs):
    rng = np.random.default_rng(21)
    cf = kwargs.get("data_format") == "channels_first"
    model = _model(getattr(L, cls)(**kwargs), channels_first=cf)
    _check(model, _features(rng, LENGTHS, channels_first=cf), rng)


def _random_mask_ids(rng, shapes, vocab=20):
    """Ids with zeros anywhere (holes, empty-looking rows avoided: one id per row at least)."""
    out = []
    for b, t in shapes:
        ids = rng.integers(1, vocab, size=(b, t))
        ids[rng.random((b, t)) < 0.4] = 0
        ids[:, rng.integers(0, t)] = rng.integers(1, vocab)
        out.append(ids)
    return out


@pytest.mark.parametrize("cls, kwargs", GLOBAL_CASES, ids=_case_id)
def test_global_pooling(cls, kwargs):
    """Without a mask, and after Embedding(mask_zero=True) with a mask of any form (the
    average counts the valid steps only; the max ignores the mask)."""
    rng = np.random.default_rng(22)
    cf = kwargs.get("data_format") == "channels_first"
    _check(_model(getattr(L, cls)(**kwargs), channels_first=cf),
           _features(rng, LENGTHS, channels_first=cf), rng)
    if not cf:
        masked = fastrnn.Sequential([L.Embedding(20, 4, mask_zero=True),
                                     getattr(L, cls)(**kwargs)])
        masked.build((None, None))
        _check(masked, _random_mask_ids(rng, LENGTHS), rng)


def test_keras_imdb_cnn_examples():
    """Keras' imdb_cnn_lstm, imdb_cnn and imdb_fasttext (as test_layers_reshape_mask.py builds
    them, Keras' initial weights) on reviews of other lengths than the 40 they declare."""
    from test_layers_reshape_mask import _imdb_models
    rng = np.random.default_rng(23)
    for name in ("imdb_cnn_lstm", "imdb_cnn", "imdb_fasttext"):
        model, _ = _imdb_models(name)
        xs = [rng.integers(0, 200, size=shape) for shape in [(6, 40), (1, 40), (3, 57), (2, 23)]]
        assert_matches(model, xs)


def test_reshaping_layers():
    rng = np.random.default_rng(24)
    fixed = [(3, 6), (1, 6)]
    cases = [
        (_model(L.Flatten(), L.Dense(3), steps=6), fixed),
        (_model(L.Flatten(data_format="channels_first"), steps=6), fixed),
        (_model(L.Reshape((3, -1)), features=2, steps=6), fixed),
        (_model(L.Reshape((2, 2, 6)), L.Flatten(data_format="channels_first"), steps=6), fixed),
        (_model(L.Permute((2, 1)), L.Dense(2), steps=6), fixed),
        (_model(L.LSTM(3), L.RepeatVector(4), L.GRU(2, return_sequences=True)), LENGTHS),
    ]
    for model, shapes in cases:
        _check(model, _features(rng, shapes, features=model.inputs[0].shape[-1]), rng)
    four = fastrnn.Input(shape=(3, 2, 5))
    model = fastrnn.Model(four, L.Permute((3, 1, 2))(four))
    assert_matches(model, [rng.normal(size=(2, 3, 2, 5)).astype(np.float32)])


def _randomize_with_statistics(model, rng):
    """Random weights, BatchNormalization's moving variances positive."""
    randomize(model, rng)
    for layer in model.layers:
        bn = getattr(layer, "layer", layer)
        if isinstance(bn, L.BatchNormalization):
            bn.moving_variance[...] = rng.uniform(0.2, 2.0, size=bn.moving_variance.shape)


@pytest.mark.parametrize("axis", [-1, 1])
def test_batch_normalization(axis):
    """Moving statistics (set away from their initial values), with and without center and
    scale; the mask passes through to an LSTM."""
    rng = np.random.default_rng(25)
    for center, scale in ((True, True), (False, True), (True, False)):
        bn = L.BatchNormalization(axis=axis, center=center, scale=scale, epsilon=0.01)
        steps = None if axis == -1 else 5
        model = _model(L.Dense(4), bn, features=3, steps=steps)
        _randomize_with_statistics(model, rng)
        assert_matches(model, _features(rng, LENGTHS if steps is None else [(3, 5), (1, 5)],
                                        features=3))
    masked = fastrnn.Sequential([L.Embedding(20, 4, mask_zero=True), L.BatchNormalization(),
                                 L.LSTM(3)])
    masked.build((None, None))
    _randomize_with_statistics(masked, rng)
    assert_matches(masked, [padded_ids(rng, [4, 0, 6], 6, 20, "pre")])


@pytest.mark.parametrize("kwargs", [
    dict(), dict(epsilon=0.1, center=False), dict(scale=False), dict(axis=[1, 2]),
    dict(axis=1), dict(axis=[-1, 1], center=False, scale=False), dict(rms_scaling=True),
    dict(rms_scaling=True, axis=1)], ids=_case_id)
def test_layer_normalization(kwargs):
    """ONNX's LayerNormalization over trailing axes, fastrnn's formula otherwise."""
    rng = np.random.default_rng(26)
    axes = kwargs.get("axis", -1)
    fixed = axes != -1      # a normalised time axis has a known length
    if kwargs.get("rms_scaling"):
        with pytest.warns(UserWarning, match="rms_scaling"):
            layer = L.LayerNormalization(**kwargs)
    else:
        layer = L.LayerNormalization(**kwargs)
    model = _model(L.Dense(4), layer, steps=5 if fixed else None)
    shapes = [(3, 5), (1, 5)] if fixed else LENGTHS
    _check(model, [3.0 * x + 1.0 for x in _features(rng, shapes)], rng)


def test_time_distributed():
    """Dense, Conv1D and pooling on every step; a GRU over inner sequences masked by an
    Embedding (the mask folded in, the outer mask kept); BatchNormalization."""
    rng = np.random.default_rng(27)
    _check(_model(L.TimeDistributed(L.Dense(3, activation="softmax"))),
           _features(rng, LENGTHS), rng)
    bn = _model(L.TimeDistributed(L.BatchNormalization()))
    _randomize_with_statistics(bn, rng)
    assert_matches(bn, _features(rng, LENGTHS))
    inp = fastrnn.Input(shape=(None, 6, 2))
    y = L.TimeDistributed(L.Conv1D(3, 2, padding="same"))(inp)
    y = L.TimeDistributed(L.GlobalMaxPooling1D())(y)
    model = fastrnn.Model(inp, L.LSTM(2)(y))
    _check(model, [rng.normal(size=(b, t, 6, 2)).astype(np.float32) for b, t in LENGTHS[:2]],
           rng)
    for padding in ("pre", "post"):
        ids = fastrnn.Input(shape=(None, None), dtype="int32")
        words = L.Embedding(20, 3, mask_zero=True)(ids)     # mask [batch, sentences, words]
        sentences = L.TimeDistributed(L.GRU(2))(words)
        model = fastrnn.Model(ids, L.Dense(1)(sentences))
        randomize(model, rng)
        x = np.stack([padded_ids(rng, rng.integers(1, 6, size=4), 5, 20, padding)
                      for _ in range(3)]).astype(np.int32)
        assert_matches(model, [x, x[:1, :2]], mask_padding=padding)
        (out,) = run(session(model, mask_padding=padding), x[:, :, ::-1].copy())
        assert np.isnan(out).any()       # the other padding side: NaN, never another number


def test_masking_and_spatial_dropout():
    """Masking's zeros and mask (holes too) through Dense and SpatialDropout1D into a global
    average, and into an LSTM with padding on the declared side."""
    rng = np.random.default_rng(28)
    xs = _features(rng, LENGTHS)
    for x in xs:
        x[rng.random(x.shape[:2]) < 0.3] = -1.0
        x[:, 0] = rng.normal(size=x[:, 0].shape)     # a valid step in every row
    _check(_model(L.Masking(-1.0), L.Dense(3), L.SpatialDropout1D(0.5),
                  L.GlobalAveragePooling1D()), xs, rng)
    for padding in ("pre", "post"):
        model = _model(L.Masking(0.0), L.SpatialDropout1D(0.3), L.LSTM(3, return_sequences=True))
        xs = _features(rng, [(3, 6), (1, 2)])
        for x in xs:
            pad = slice(0, 2) if padding == "pre" else slice(-2, None)
            x[0, pad] = 0.0
        _check(model, xs, rng, mask_padding=padding)
