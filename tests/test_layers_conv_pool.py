"""Conv1D and the 1D pooling layers against Keras 3 with identical weights: outputs, input and
weight gradients, masks, output shapes (symbolic, None dims), configs, bad arguments."""
import keras
import numpy as np
import pytest

from fastrnn import layers as L

from _layer_parity import assert_close, assert_config_equal, assert_parity, random

CONV_CASES = [
    dict(filters=5, kernel_size=3),
    dict(filters=5, kernel_size=3, padding="same", activation="relu"),
    dict(filters=4, kernel_size=4, padding="same", strides=2, use_bias=False),
    dict(filters=4, kernel_size=3, padding="valid", strides=3, activation="tanh"),
    dict(filters=5, kernel_size=2, padding="causal", dilation_rate=2, activation="sigmoid"),
    dict(filters=3, kernel_size=3, padding="same", dilation_rate=3),
    dict(filters=4, kernel_size=1, strides=2, padding="causal"),
    dict(filters=6, kernel_size=3, groups=2, padding="same", activation="relu"),
    dict(filters=4, kernel_size=3, padding="same", strides=2, data_format="channels_first"),
    dict(filters=64, kernel_size=5, activation="relu"),          # imdb_cnn_lstm's
]


@pytest.mark.parametrize("kwargs", CONV_CASES, ids=lambda k: "-".join(f"{a}={b}" for a, b in
                                                                    k.items()))
def test_conv1d_parity(kwargs):
    shape = (3, 4, 11) if kwargs.get("data_format") == "channels_first" else (3, 11, 4)
    ours, theirs = L.Conv1D(**kwargs), keras.layers.Conv1D(**kwargs)
    assert_parity(ours, theirs, random(shape), atol=1e-5, rtol=1e-5)
    assert_config_equal(ours, theirs)
    for batch_shape in [(None, None, shape[1]) if "data_format" not in kwargs else
                        (None, 4, None), (2,) + shape[1:]]:
        assert ours.compute_output_shape(batch_shape) == theirs.compute_output_shape(batch_shape)


def test_conv1d_sigmoid_logits_and_wrt_logits():
    ours = L.Conv1D(2, 3, activation="sigmoid")
    x = random((2, 6, 3))
    y = ours(x)
    np.testing.assert_allclose(1 / (1 + np.exp(-ours.logits)), y, rtol=1e-6)
    d = random(y.shape, seed=1)
    dx_logits = ours.backward(d, wrt_logits=True)
    lin = L.Conv1D(2, 3)
    lin.build(x.shape)
    lin.set_weights(ours.get_weights())
    lin(x)
    np.testing.assert_allclose(dx_logits, lin.backward(d), rtol=1e-6)


def test_conv1d_config_with_regularizers_and_constraints():
    kwargs = dict(filters=3, kernel_size=2, kernel_initializer="he_normal",
                  bias_initializer=keras.initializers.Constant(0.5), kernel_regularizer="l2",
                  bias_regularizer=keras.regularizers.L1(0.2), activity_regularizer="l1",
                  kernel_constraint="max_norm", bias_constraint="non_neg")
    ours_kwargs = dict(kwargs, bias_initializer=keras.initializers.serialize(
        kwargs["bias_initializer"]), bias_regularizer=keras.regularizers.serialize(
        kwargs["bias_regularizer"]))
    ours, theirs = L.Conv1D(**ours_kwargs), keras.layers.Conv1D(**kwargs)
    assert_config_equal(ours, theirs)
    twin = L.Conv1D.from_config(ours.get_config())
    assert_config_equal(twin, theirs)


@pytest.mark.parametrize("make, error, pattern", [
    (lambda: L.Conv1D(0, 3), ValueError, r"`filters`.*filters=0"),
    (lambda: L.Conv1D(4, 0), ValueError, r"`kernel_size`.*kernel_size=0"),
    (lambda: L.Conv1D(4, (2, 2)), ValueError, r"`kernel_size` argument must be a tuple of 1"),
    (lambda: L.Conv1D(4, 3, padding="full"), ValueError, r"`padding`.*padding='full'"),
    (lambda: L.Conv1D(4, 3, strides=2, dilation_rate=2), ValueError, r"strides > 1.*dilation"),
    (lambda: L.Conv1D(5, 3, groups=2), ValueError, r"divisible.*groups=2, filters=5"),
    (lambda: L.Conv1D(4, 3, data_format="nhwc"), ValueError, r"data_format='nhwc'"),
    (lambda: L.Conv1D(4, 3, lora_rank=2), NotImplementedError, r"lora_rank"),
    (lambda: L.Conv1D(4, 3)(np.zeros((2, 5))), ValueError, r"rank 3.*\(2, 5\)"),
    (lambda: L.Conv1D(4, 6)(np.zeros((2, 5, 3))), ValueError, r"zero or negative.*length 5"),
    (lambda: L.Conv1D(4, 3, groups=2)(np.zeros((2, 5, 3))), ValueError,
     r"input channels.*groups=2.*3 channels"),
])
def test_conv1d_bad_arguments(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_conv1d_wrong_channels_at_call():
    layer = L.Conv1D(4, 3)
    layer(np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"expected inputs with 3 channels, got shape \(2, 5, 4\)"):
        layer(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(RuntimeError, match="needs a preceding call"):
        L.Conv1D(1, 1).backward(np.zeros((1, 1, 1)))


POOL_CASES = [
    ("MaxPooling1D", dict()),
    ("MaxPooling1D", dict(pool_size=4)),
    ("MaxPooling1D", dict(pool_size=3, strides=1)),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same")),
    ("MaxPooling1D", dict(pool_size=2, padding="same", data_format="channels_first")),
    ("AveragePooling1D", dict(pool_size=2)),
    ("AveragePooling1D", dict(pool_size=3, strides=1)),
    ("AveragePooling1D", dict(pool_size=4, strides=3, padding="same")),
    ("AveragePooling1D", dict(pool_size=3, padding="same", data_format="channels_first")),
]


@pytest.mark.parametrize("cls, kwargs", POOL_CASES, ids=lambda v: str(v))
def test_pooling_parity(cls, kwargs):
    ours, theirs = getattr(L, cls)(**kwargs), getattr(keras.layers, cls)(**kwargs)
    x = random((2, 11, 3))
    if kwargs.get("data_format") == "channels_first":
        x = random((2, 3, 11))
    assert_parity(ours, theirs, x, mask=None)
    assert_config_equal(ours, theirs)
    cf = kwargs.get("data_format") == "channels_first"
    for shape in [(None, 3, None) if cf else (None, None, 3), (4, 3, 9) if cf else (4, 9, 3)]:
        assert ours.compute_output_shape(shape) == theirs.compute_output_shape(shape)


def test_max_pooling_ties_take_the_first_maximum_like_tensorflow():
    x = np.maximum(random((2, 12, 3)), 0)      # many zero windows, as after a relu
    x[0, 4:8, 0] = 1.5
    assert_parity(L.MaxPooling1D(4), keras.layers.MaxPooling1D(4), x)
    assert_parity(L.MaxPooling1D(3, strides=1, padding="same"),
                  keras.layers.MaxPooling1D(3, strides=1, padding="same"), x)


GLOBAL_CASES = [
    ("GlobalMaxPooling1D", dict()), ("GlobalMaxPooling1D", dict(keepdims=True)),
    ("GlobalMaxPooling1D", dict(data_format="channels_first")),
    ("GlobalAveragePooling1D", dict()), ("GlobalAveragePooling1D", dict(keepdims=True)),
    ("GlobalAveragePooling1D", dict(data_format="channels_first", keepdims=True)),
]


@pytest.mark.filterwarnings("ignore:Layer 'global_max_pooling1d.*does not support masking")
@pytest.mark.parametrize("cls, kwargs", GLOBAL_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("masked", [False, True])
def test_global_pooling_parity(cls, kwargs, masked):
    x = np.maximum(random((3, 7, 4)), 0)       # ties at 0 for the max
    x[1, :, 2] = 0.0
    mask = None
    if masked:
        mask = np.ones((3, 7), bool)
        mask[0, 5:] = False
        mask[2] = False         # a row without any step: Keras' average is 0/0 = NaN
    ours, theirs = getattr(L, cls)(**kwargs), getattr(keras.layers, cls)(**kwargs)
    if kwargs.get("data_format") == "channels_first":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    assert_parity(ours, theirs, x, mask=mask)
    assert_config_equal(ours, theirs)
    for shape in [(None, None, 4), (5, 7, 4)]:
        if kwargs.get("data_format") == "channels_first":
            shape = (shape[0], 4, shape[1])
        assert ours.compute_output_shape(shape) == theirs.compute_output_shape(shape)


def test_global_average_pooling_with_mask_ignores_masked_values():
    x = random((2, 5, 3))
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    x[0, 2:] = np.nan         # never read
    y = L.GlobalAveragePooling1D()(x, mask=mask)
    assert_close(y[0], x[0, :2].mean(axis=0), what="masked mean")
    with pytest.raises(ValueError, match=r"mask of shape \(2, 5\).*got \(2, 4\)"):
        L.GlobalAveragePooling1D()(x, mask=mask[:, :4])


@pytest.mark.parametrize("make, pattern", [
    (lambda: L.MaxPooling1D(0), r"`pool_size`.*pool_size=0"),
    (lambda: L.AveragePooling1D(2, strides=-1), r"`strides`.*strides=-1"),
    (lambda: L.MaxPooling1D(2, padding="causal"), r"`padding`.*padding='causal'"),
    (lambda: L.MaxPooling1D(4)(np.zeros((1, 3, 2))), r"zero or negative.*length 3"),
    (lambda: L.GlobalMaxPooling1D()(np.zeros((2, 3))), r"rank 3.*\(2, 3\)"),
    (lambda: L.MaxPooling1D(2)(np.zeros((2, 3))), r"rank 3.*\(2, 3\)"),
])
def test_pooling_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()
