"""Initializers: Keras 3 names, configs, formulas/statistics (against the formulas and against
Keras' own draws), seeds, callables, bad arguments."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tf_keras  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import initializers as I  # noqa: E402
from fastrnn import layers as L  # noqa: E402

KI = keras.initializers
from keras.src.initializers import ALL_OBJECTS_DICT as KERAS_NAMES  # noqa: E402
SHAPE = (300, 200)           # fan_in 300, fan_out 200
N = SHAPE[0] * SHAPE[1]


def _keras_names():
    return sorted(n for n, c in KERAS_NAMES.items()
                  if c.__name__ not in ("STFT", "Initializer", "Constant"))


@pytest.mark.parametrize("name", _keras_names())
def test_every_keras_name_resolves_to_the_same_class_and_config(name):
    ours, theirs = I.get(name), KI.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    assert I.serialize(ours) == KI.serialize(theirs)


@pytest.mark.parametrize("ours, theirs", [
    (I.Constant(3.5), KI.Constant(3.5)),
    (I.RandomNormal(1.0, 2.0, seed=3), KI.RandomNormal(1.0, 2.0, seed=3)),
    (I.TruncatedNormal(stddev=0.3, seed=4), KI.TruncatedNormal(stddev=0.3, seed=4)),
    (I.RandomUniform(-2, 3, seed=5), KI.RandomUniform(-2, 3, seed=5)),
    (I.VarianceScaling(2.0, "fan_out", "uniform", seed=1),
     KI.VarianceScaling(2.0, "fan_out", "uniform", seed=1)),
    (I.VarianceScaling(distribution="normal", input_axes=[0], output_axes=[1]),
     KI.VarianceScaling(distribution="normal", input_axes=[0], output_axes=[1])),
    (I.GlorotNormal(seed=7), KI.GlorotNormal(seed=7)),
    (I.HeUniform(seed=8), KI.HeUniform(seed=8)),
    (I.LecunNormal(), KI.LecunNormal()),
    (I.Orthogonal(gain=2.0, seed=9), KI.Orthogonal(gain=2.0, seed=9)),
    (I.Identity(), KI.Identity()),
])
def test_configs_equal_keras_and_round_trip(ours, theirs):
    assert ours.get_config() == theirs.get_config()
    assert I.serialize(ours) == KI.serialize(theirs)
    for spec in (I.serialize(ours), KI.serialize(theirs)):
        back = I.deserialize(spec)
        assert type(back) is type(ours) and back.get_config() == ours.get_config()
        assert I.get(spec).get_config() == ours.get_config()
    back = KI.deserialize(I.serialize(ours))
    assert back.get_config() == theirs.get_config()


def test_identity_keeps_a_non_default_gain():
    # Keras 3 reports {} and loses the gain; fastrnn keeps it in the key Keras accepts
    init = I.deserialize(I.serialize(I.Identity(gain=2.0)))
    np.testing.assert_array_equal(init((2, 3)), 2 * np.eye(2, 3, dtype=np.float32))
    assert KI.Identity.from_config(I.Identity(gain=2.0).get_config()).gain == 2.0


@pytest.mark.parametrize("cls", ["GlorotUniform", "HeNormal", "Orthogonal", "RandomNormal",
                                 "TruncatedNormal", "Constant", "VarianceScaling"])
def test_keras2_configs_deserialize(cls):
    legacy = getattr(tf_keras.initializers, cls)
    obj = legacy(0.5) if cls == "Constant" else legacy(seed=11)
    ours = I.deserialize(tf_keras.initializers.serialize(obj))
    assert type(ours).__name__ == cls
    if cls != "Constant":
        assert ours.seed == 11


def test_tf1_era_dtype_key_and_legacy_normal_distribution():
    spec = {"class_name": "VarianceScaling",
            "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "normal", "seed": None,
                       "dtype": "float32"}}
    init = I.deserialize(spec)
    assert init.distribution == "truncated_normal"


# -- statistics: formulas ------------------------------------------------------------------
def _limit(scale, n):
    return np.sqrt(3.0 * scale / n)


UNIFORM = {   # name -> (instance, limit)
    "glorot_uniform": (I.GlorotUniform(seed=1), _limit(1.0, 250.0)),
    "he_uniform": (I.HeUniform(seed=1), _limit(2.0, 300.0)),
    "lecun_uniform": (I.LecunUniform(seed=1), _limit(1.0, 300.0)),
    "variance_scaling_uniform_fan_out": (
        I.VarianceScaling(3.0, "fan_out", "uniform", seed=1), _limit(3.0, 200.0)),
    "random_uniform": (I.RandomUniform(-0.3, 0.3, seed=1), 0.3),
}
NORMAL = {   # name -> (instance, target std after truncation, truncation bound or None)
    "glorot_normal": (I.GlorotNormal(seed=2), np.sqrt(1 / 250), 2 * np.sqrt(1 / 250) / 0.87962566),
    "he_normal": (I.HeNormal(seed=2), np.sqrt(2 / 300), 2 * np.sqrt(2 / 300) / 0.87962566),
    "lecun_normal": (I.LecunNormal(seed=2), np.sqrt(1 / 300), 2 * np.sqrt(1 / 300) / 0.87962566),
    "variance_scaling_untruncated": (
        I.VarianceScaling(0.5, "fan_avg", "untruncated_normal", seed=2), np.sqrt(0.5 / 250),
        None),
    "random_normal": (I.RandomNormal(0.0, 0.2, seed=2), 0.2, None),
    "truncated_normal": (I.TruncatedNormal(0.0, 0.2, seed=2), 0.2 * 0.87962566, 0.4),
}


@pytest.mark.parametrize("name", sorted(UNIFORM))
def test_uniform_statistics(name):
    init, limit = UNIFORM[name]
    w = init(SHAPE)
    assert w.dtype == np.float32 and w.shape == SHAPE and np.isfinite(w).all()
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.999 * limit
    assert abs(w.mean()) < 5 * limit / np.sqrt(3 * N)
    assert abs(w.std() / (limit / np.sqrt(3)) - 1) < 0.02


@pytest.mark.parametrize("name", sorted(NORMAL))
def test_normal_statistics(name):
    init, std, bound = NORMAL[name]
    w = init(SHAPE, "float64")
    assert w.dtype == np.float64 and np.isfinite(w).all()
    assert abs(w.mean()) < 5 * std / np.sqrt(N)
    assert abs(w.std() / std - 1) < 0.02
    if bound is not None:
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    else:
        assert np.abs(w).max() > 3.5 * std      # not truncated


def test_random_normal_mean_and_conv_fans():
    w = I.RandomNormal(mean=1.5, stddev=0.1, seed=0)(SHAPE)
    assert abs(w.mean() - 1.5) < 5 * 0.1 / np.sqrt(N)
    # a conv kernel (5, 16, 32): fan_in 5 * 16, fan_out 5 * 32
    k = I.GlorotUniform(seed=0)((5, 16, 32))
    assert np.abs(k).max() <= _limit(1.0, (80 + 160) / 2)
    assert I.compute_fans((5, 16, 32)) == (80, 160)
    assert I.compute_fans((3, 4, 5), input_axes=[0, 1], output_axes=[2]) == (12, 5)


@pytest.mark.parametrize("shape", [(30, 20), (20, 30), (4, 5, 6), (3, 30)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    w = I.Orthogonal(gain=gain, seed=3)(shape, "float64")
    flat = w.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-12)


def test_identity_constant_zeros_ones_are_exact():
    np.testing.assert_array_equal(I.get("identity")((3, 5)), np.eye(3, 5, dtype=np.float32))
    np.testing.assert_array_equal(I.Identity(gain=3)((4, 2)), 3 * np.eye(4, 2, dtype=np.float32))
    np.testing.assert_array_equal(I.Constant(2.5)((2, 3)), np.full((2, 3), 2.5, np.float32))
    np.testing.assert_array_equal(I.get("zeros")((2, 2)), np.zeros((2, 2), np.float32))
    np.testing.assert_array_equal(I.get("ones")((3,)), np.ones(3, np.float32))
    assert I.get("ones")((3,), "float64").dtype == np.float64


# -- statistics: against Keras' own draws --------------------------------------------------
@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal", "random_normal",
                                  "random_uniform", "truncated_normal", "orthogonal",
                                  "variance_scaling"])
def test_statistics_match_keras_draws(name):
    ours = I.get({"class_name": name, "config": {"seed": 5}})(SHAPE)
    theirs = np.asarray(KI.get({"class_name": name, "config": {"seed": 5}})(SHAPE))
    assert abs(ours.mean() - theirs.mean()) < 6 * theirs.std() / np.sqrt(N)
    assert abs(ours.std() / theirs.std() - 1) < 0.03
    if name not in ("random_normal", "orthogonal"):     # bounded: the same bound
        assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < 0.01
    assert not np.array_equal(ours, theirs)   # same distribution, NumPy's bits


# -- seeds ---------------------------------------------------------------------------------
def test_seeded_initializers_repeat_and_differ_by_seed():
    a = I.GlorotUniform(seed=1)
    np.testing.assert_array_equal(a((4, 5)), a((4, 5)))
    np.testing.assert_array_equal(a((4, 5)), I.GlorotUniform(seed=1)((4, 5)))
    assert not np.array_equal(a((4, 5)), I.GlorotUniform(seed=2)((4, 5)))
    assert I.GlorotUniform(seed=1).get_config()["seed"] == 1


def test_unseeded_instance_repeats_like_keras_and_instances_differ():
    a, b = I.HeNormal(), I.HeNormal()
    np.testing.assert_array_equal(a((4, 5)), a((4, 5)))   # Keras: same values on every call
    assert not np.array_equal(a((4, 5)), b((4, 5)))
    assert a.get_config()["seed"] is None
    k = KI.HeNormal()
    np.testing.assert_array_equal(np.asarray(k((4, 5))), np.asarray(k((4, 5))))


def test_set_random_seed_makes_weights_reproducible_and_copies_independent():
    def build():
        fastrnn.utils.set_random_seed(42)
        d = L.Dense(4, kernel_initializer="orthogonal")
        d.build((None, 3))
        bi = L.Bidirectional(L.LSTM(3))
        bi.build((None, 5, 2))
        return d.get_weights() + bi.get_weights()

    first, second = build(), build()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    # Bidirectional copies the unbuilt layer: the two directions draw their own weights
    assert not np.array_equal(first[2], first[5])


# -- callables and arrays ------------------------------------------------------------------
def test_keras_style_callables_and_arrays():
    def twos(shape, dtype=None):
        return np.full(shape, 2.0, dtype)

    d = L.Dense(3, kernel_initializer=twos, bias_initializer=lambda shape, dtype=None:
                keras.ops.ones(shape))
    d.build((None, 4))
    np.testing.assert_array_equal(d.kernel, np.full((4, 3), 2.0, np.float32))
    np.testing.assert_array_equal(d.bias, np.ones(3, np.float32))
    values = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(I.get(values)((2, 3)), values.astype(np.float32))
    with pytest.raises(ValueError, match=r"Expected `shape` to be \(2, 3\).*\(3, 2\)"):
        I.get(values)((3, 2))
    with pytest.raises(ValueError, match="cannot be serialized"):
        I.serialize(I.get(twos))
    assert I.get(I.GlorotUniform).get_config() == I.GlorotUniform().get_config()
    assert I.get(None) is None


# -- bad arguments -------------------------------------------------------------------------
@pytest.mark.parametrize("make, pattern", [
    (lambda: I.get("glorot"), r"unknown name 'glorot'.*glorot_uniform"),
    (lambda: I.get(3), r"Could not interpret initializer identifier: 3"),
    (lambda: I.VarianceScaling(scale=0), r"`scale` must be positive.*scale=0"),
    (lambda: I.VarianceScaling(mode="fan"), r"`mode`.*fan_in.*'fan'"),
    (lambda: I.VarianceScaling(distribution="cauchy"), r"`distribution`.*'cauchy'"),
    (lambda: I.GlorotUniform(seed="7"), r"`seed`.*seed='7'"),
    (lambda: I.Identity()((2, 2, 2)), r"2D matrices.*shape=\(2, 2, 2\)"),
    (lambda: I.Orthogonal()((5,)), r"at least two-dimensional.*shape=\(5,\)"),
    (lambda: I.deserialize({"class_name": "__import__", "config": {"name": "os"}}),
     r"unknown class_name '__import__'"),
    (lambda: I.deserialize({"class_name": "GlorotUniform", "config": {"sead": 1}}),
     r"GlorotUniform: unknown config key\(s\) \['sead'\].*'seed'"),
    (lambda: I.deserialize({"class_name": "Zeros", "config": [1]}), r"expected a config dict"),
])
def test_bad_arguments_name_what_is_wrong(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()
