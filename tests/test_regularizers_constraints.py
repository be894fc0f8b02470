"""Regularizers (values and gradients) and constraints against Keras 3's own objects; the
Layer.add_weight hook (regularizers, constraints, trainable flags, Keras' weight order)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from fastrnn import constraints as C  # noqa: E402
from fastrnn import regularizers as R  # noqa: E402
from fastrnn.layers.base import Layer  # noqa: E402

from _layer_parity import assert_close  # noqa: E402


def _weights(shape, dtype=np.float32, seed=0):
    w = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    w.flat[::7] = 0.0     # exact zeros: |x|' = sign(0) = 0 in TensorFlow
    return w


# -- regularizers --------------------------------------------------------------------------
REGULARIZERS = [
    (lambda m: m.L1(), "default l1"), (lambda m: m.L1(0.3), "l1 0.3"),
    (lambda m: m.L2(), "default l2"), (lambda m: m.L2(1e-4), "l2 1e-4"),
    (lambda m: m.L1L2(), "l1l2 zeros"), (lambda m: m.L1L2(l1=0.02), "l1l2 l1 only"),
    (lambda m: m.L1L2(l1=0.01, l2=0.5), "l1l2 both"), (lambda m: m.l1_l2(l2=0.1), "alias"),
]


@pytest.mark.parametrize("make", [m for m, _ in REGULARIZERS], ids=[i for _, i in REGULARIZERS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regularizer_value_and_gradient_equal_keras(make, dtype):
    ours, theirs = make(R), make(keras.regularizers)
    for shape in [(7, 5), (3, 4, 6), (11,)]:
        w = _weights(shape, dtype)
        wt = tf.Variable(w)
        with tf.GradientTape() as tape:
            value = theirs(wt)
        grad = tape.gradient(value, wt)
        grad = np.zeros_like(w) if grad is None else np.asarray(grad)
        ours_value = ours(w)
        assert np.asarray(ours_value).dtype == dtype
        assert_close(ours_value, np.asarray(value), atol=0, rtol=2e-6, what="penalty")
        assert ours.grad(w).dtype == dtype
        assert_close(ours.grad(w), grad, atol=0, rtol=1e-6, what="penalty gradient")
    assert ours.get_config() == theirs.get_config()
    assert R.serialize(ours) == keras.regularizers.serialize(theirs)


@pytest.mark.parametrize("name", ["l1", "L1", "l2", "L2", "l1l2", "L1L2"])
def test_regularizer_names_as_keras(name):
    assert R.serialize(R.get(name)) == keras.regularizers.serialize(keras.regularizers.get(name))


def test_l1_l2_name_is_keras2s_and_configs_round_trip():
    legacy = tf_keras.regularizers.serialize(tf_keras.regularizers.get("l1_l2"))
    ours = R.serialize(R.get("l1_l2"))
    assert ours["class_name"] == legacy["class_name"] == "L1L2"
    assert np.float32(ours["config"]["l1"]) == np.float32(legacy["config"]["l1"])  # Keras 2 keeps
    assert np.float32(ours["config"]["l2"]) == np.float32(legacy["config"]["l2"])  # float32s
    for obj in (R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4)):
        for spec in (R.serialize(obj), keras.regularizers.serialize(
                keras.regularizers.deserialize(R.serialize(obj)))):
            assert R.get(spec).get_config() == obj.get_config()
    # Keras 2 layout (no "module")
    legacy = tf_keras.regularizers.serialize(tf_keras.regularizers.L1L2(l1=0.5, l2=0.25))
    assert R.deserialize(legacy).get_config() == {"l1": 0.5, "l2": 0.25}
    assert R.get(R.L2) .get_config() == {"l2": 0.01} and R.get(None) is None


@pytest.mark.parametrize("make, pattern", [
    (lambda: R.L1(-0.1), r"argument l1: expected a non-negative float.*l1=-0.1"),
    (lambda: R.L2(float("nan")), r"argument l2.*l2=nan"),
    (lambda: R.L1L2(l2="big"), r"argument l2.*l2='big'"),
    (lambda: R.get("l3"), r"unknown name 'l3'.*'l1_l2'"),
    (lambda: R.get(lambda w: 0.0), r"Could not interpret regularizer identifier"),
    (lambda: R.deserialize({"class_name": "OrthogonalRegularizer", "config": {}}),
     r"unknown class_name 'OrthogonalRegularizer'"),
])
def test_bad_regularizers(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


# -- constraints ---------------------------------------------------------------------------
CONSTRAINTS = [
    (lambda m: m.MaxNorm(), "max_norm default"), (lambda m: m.MaxNorm(0.5, axis=1), "max_norm"),
    (lambda m: m.NonNeg(), "non_neg"), (lambda m: m.UnitNorm(), "unit_norm"),
    (lambda m: m.UnitNorm(axis=[0, 1]), "unit_norm conv"),
    (lambda m: m.MinMaxNorm(), "min_max_norm default"),
    (lambda m: m.MinMaxNorm(0.5, 1.5, rate=0.3, axis=1), "min_max_norm"),
    (lambda m: m.MaxNorm(1.0, axis=[0, 1]), "max_norm conv"),
]


@pytest.mark.parametrize("make", [m for m, _ in CONSTRAINTS], ids=[i for _, i in CONSTRAINTS])
def test_constraint_equals_keras(make):
    ours, theirs = make(C), make(keras.constraints)
    for w in (_weights((6, 5)) * 0.7, _weights((3, 4, 5), seed=1), np.zeros((4, 3), np.float32)):
        if w.ndim == 2 and isinstance(getattr(ours, "axis", 0), list):
            continue
        assert_close(ours(w), np.asarray(theirs(tf.constant(w))), atol=1e-7, rtol=1e-6,
                     what="constrained weight")
    assert ours.get_config() == theirs.get_config()
    assert C.serialize(ours) == keras.constraints.serialize(theirs)
    assert C.deserialize(keras.constraints.serialize(theirs)).get_config() == ours.get_config()


@pytest.mark.parametrize("name", ["max_norm", "MaxNorm", "non_neg", "unit_norm", "min_max_norm",
                                  "MinMaxNorm"])
def test_constraint_names_as_keras(name):
    assert C.serialize(C.get(name)) == keras.constraints.serialize(keras.constraints.get(name))


def test_bad_constraints():
    with pytest.raises(ValueError, match=r"unknown name 'maxnorm'.*'max_norm'"):
        C.get("maxnorm")
    with pytest.raises(ValueError, match=r"MaxNorm: unknown config key\(s\) \['max'\]"):
        C.deserialize({"class_name": "MaxNorm", "config": {"max": 1}})


# -- the Layer.add_weight hook -------------------------------------------------------------
class _Mixed(Layer):
    def build(self, input_shape):
        self.add_weight("stat", (2,), "zeros", trainable=False)
        self.add_weight("kernel", (2, 3), "ones", regularizer="l2", constraint="non_neg")
        self.add_weight("count", (1,), "zeros", trainable=False)
        self.add_weight("bias", (3,), "zeros", regularizer=R.L1(0.5))
        self.built = True


def test_add_weight_records_specs_in_keras_order():
    layer = _Mixed(activity_regularizer="l1")
    layer.build((None, 2))
    # Keras lists the weights created trainable first, then the others, each in creation order
    assert [n.split("/")[1] for n in layer.weight_names] == ["kernel", "bias", "stat", "count"]
    assert layer.weight_trainable == [True, True, False, False]
    regs = layer.weight_regularizers
    assert isinstance(regs[0], R.L2) and isinstance(regs[1], R.L1) and regs[2:] == [None, None]
    cons = layer.weight_constraints
    assert isinstance(cons[0], C.NonNeg) and cons[1:] == [None, None, None]
    assert [w.shape for w in layer.trainable_weights] == [(2, 3), (3,)]
    assert [w.shape for w in layer.non_trainable_weights] == [(2,), (1,)]
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4
    assert isinstance(layer.activity_regularizer, R.L1)
    assert layer.get_config()["activity_regularizer"] == keras.regularizers.serialize(
        keras.regularizers.L1())
    assert "activity_regularizer" not in Layer().get_config()

