"""BatchNormalization and LayerNormalization against Keras 3 with identical weights: outputs,
input and weight gradients, moving statistics, masks, configs, bad arguments."""
import keras
import numpy as np
import pytest

from fastrnn import constraints as C
from fastrnn import layers as L
from fastrnn import regularizers as R

from _layer_parity import assert_close, assert_config_equal, assert_parity, random


def _mask(shape, seed=3):
    m = np.random.default_rng(seed).random(shape) > 0.3
    m[..., 0] = True
    return m


BN_CASES = [
    dict(),
    dict(momentum=0.9, epsilon=1e-5),
    dict(center=False),
    dict(scale=False, center=False),
    dict(axis=1),
    dict(gamma_initializer="random_normal", beta_initializer="random_uniform",
         moving_mean_initializer="random_normal", moving_variance_initializer="glorot_uniform"),
]


@pytest.mark.parametrize("kwargs", BN_CASES, ids=str)
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_batch_normalization_parity(kwargs, training, masked):
    x = random((4, 6, 5), scale=2.0) + 1.0
    mask = _mask((4, 6)) if masked else None
    ours, theirs = L.BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    if kwargs.get("moving_variance_initializer") == "glorot_uniform":
        theirs.build(x.shape)     # positive variances from a random draw
        theirs.moving_variance.assign(np.abs(theirs.moving_variance.numpy()) + 0.5)
    assert_parity(ours, theirs, x, mask=mask, training=training, atol=2e-5, rtol=2e-5)
    # training updated the moving statistics as Keras did (inference left them alone)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert_close(a, b, atol=1e-6, rtol=1e-6, what="weights after the call")
    assert ours.grads[-2:] == [None, None]
    assert_config_equal(ours, theirs)


def test_batch_normalization_2d_inputs_and_frozen_layer():
    x = random((8, 3)) * 3
    assert_parity(L.BatchNormalization(), keras.layers.BatchNormalization(), x, training=True)
    ours, theirs = L.BatchNormalization(trainable=False), keras.layers.BatchNormalization()
    theirs.trainable = False      # frozen: training mode uses the moving statistics
    a, _ = assert_parity(ours, theirs, x, training=True)
    assert_close(ours.moving_mean, np.zeros(3), what="moving mean of a frozen layer")
    assert ours.trainable_weights == [] and len(ours.non_trainable_weights) == 4


def test_batch_normalization_moving_statistics_converge_to_the_data():
    layer = L.BatchNormalization(momentum=0.5)
    x = random((64, 3)) * np.float32([1, 2, 3]) + np.float32([5, -1, 0])
    for _ in range(30):
        layer(x, training=True)
    assert_close(layer.moving_mean, x.mean(axis=0), atol=1e-5, rtol=1e-5, what="moving mean")
    assert_close(layer.moving_variance, x.var(axis=0), atol=1e-5, rtol=1e-5, what="moving var")
    y = layer(x)                       # inference now normalises with them
    assert_close(y.mean(axis=0), np.zeros(3), atol=1e-5, what="normalised mean")


def test_batch_normalization_config_and_errors():
    kwargs = dict(axis=1, momentum=0.8, gamma_regularizer="l2", beta_constraint="non_neg",
                  synchronized=True)
    ours = L.BatchNormalization(**kwargs)
    assert_config_equal(ours, keras.layers.BatchNormalization(**kwargs))
    assert_config_equal(L.BatchNormalization.from_config(ours.get_config()), ours)
    assert L.BatchNormalization(axis=[2]).axis == 2      # Keras 2 configs list the axis
    with pytest.raises(NotImplementedError, match="renorm"):
        L.BatchNormalization(renorm=True)
    with pytest.raises(TypeError, match=r"axis expected an int, got 'x'"):
        L.BatchNormalization(axis="x")
    with pytest.raises(ValueError, match=r"Axis 3 is out of bounds.*rank 3"):
        L.BatchNormalization(axis=3).build((None, 4, 5))
    layer = L.BatchNormalization()
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"expected inputs with 4 entries on axis -1.*\(2, 5\)"):
        layer(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"one dimension less.*mask.shape=\(2, 4\)"):
        layer(np.zeros((2, 4), np.float32), mask=np.ones((2, 4), bool), training=True)


LN_CASES = [
    dict(),
    dict(epsilon=1e-5, center=False),
    dict(scale=False),
    dict(axis=[1, 2]),
    dict(axis=1),
    dict(gamma_initializer="random_normal", beta_initializer="random_normal"),
    dict(rms_scaling=True),
]


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize("kwargs", LN_CASES, ids=str)
def test_layer_normalization_parity(kwargs):
    x = random((3, 4, 6), scale=2.0) + 0.5
    ours, theirs = L.LayerNormalization(**kwargs), keras.layers.LayerNormalization(**kwargs)
    assert_config_equal(ours, theirs)          # before build: axis as given
    assert_parity(ours, theirs, x, mask=_mask((3, 4)), atol=2e-5, rtol=2e-5)
    assert_config_equal(ours, theirs)          # after build: axis as a sorted list


def test_layer_normalization_errors_and_warning():
    with pytest.warns(UserWarning, match="rms_scaling=True.*deprecated"):
        L.LayerNormalization(rms_scaling=True)
    with pytest.raises(TypeError, match=r"'axis'.*received: 'last'"):
        L.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match=r"Axis 2 is out of bounds.*rank 2"):
        L.LayerNormalization(axis=2).build((None, 4))
    layer = L.LayerNormalization()
    layer(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match=r"dimensions \(4,\) on axes \[1\].*\(2, 3\)"):
        layer(np.zeros((2, 3), np.float32))
def test_new_layers_pass_their_regularizers_and_constraints_to_the_weights():
    conv = L.Conv1D(4, 3, kernel_regularizer="l2", bias_constraint="non_neg",
                    activity_regularizer=R.L2(0.1))
    conv.build((None, 9, 2))
    assert isinstance(conv.weight_regularizers[0], R.L2) and conv.weight_regularizers[1] is None
    assert conv.weight_constraints[0] is None and isinstance(conv.weight_constraints[1], C.NonNeg)
    bn = L.BatchNormalization(gamma_regularizer="l1", beta_constraint="max_norm")
    bn.build((None, 5))
    assert bn.weight_trainable == [True, True, False, False]
    assert isinstance(bn.weight_regularizers[0], R.L1)
    assert isinstance(bn.weight_constraints[1], C.MaxNorm)
    td = L.TimeDistributed(L.Conv1D(2, 2, kernel_constraint="unit_norm"))
    td.build((None, 4, 6, 3))
    assert isinstance(td.weight_constraints[0], C.UnitNorm) and td.weight_trainable == [True] * 2
    td.layer.trainable = False
    assert td.trainable_weights == []
