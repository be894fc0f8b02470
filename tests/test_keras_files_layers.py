"""Every layer and argument of the layer table both ways, for Keras 3 and tf-keras (Keras 2):
a Keras layer's config becomes a fastrnn layer computing the same outputs with the Keras
layer's weights, and that layer's Keras config makes Keras build the same layer again (equal
configs). Regularizers, constraints, initializers and dtype-independent settings included;
what fastrnn cannot reproduce is refused by name."""
import json
import warnings

import numpy as np
import pytest

import _keras_files as kf
import fastrnn
from fastrnn.keras_files import UnsupportedKerasFeature
from fastrnn.keras_files.config import WriteError, layer_from_keras, layer_to_keras
from fastrnn.keras_files.errors import Source

O = kf.KerasObject
L2, L1, L1L2 = O("regularizers.L2", l2=0.02), O("regularizers.L1", l1=0.01), O(
    "regularizers.L1L2", l1=0.01, l2=0.03)
MAX_NORM, NON_NEG = O("constraints.MaxNorm", max_value=1.5, axis=0), O("constraints.NonNeg")
UNIT_NORM = O("constraints.UnitNorm", axis=1)
MIN_MAX = O("constraints.MinMaxNorm", min_value=0.1, max_value=1.0, rate=0.5, axis=0)
BOTH, K3 = (3, 2), (3,)
EXECUTION = ("unroll", "implementation", "use_cudnn")
ACTIVATIONS = ["linear", "relu", "relu6", "elu", "selu", "sigmoid", "tanh", "softmax",
               "softplus", "softsign", "exponential", "silu", "swish", "mish", "gelu",
               "leaky_relu"]

# (Keras class, arguments, input, Keras versions)
CASES = [
    ("Dense", {"units": 3, "activation": "relu", "use_bias": False, "kernel_initializer":
               "he_normal", "kernel_regularizer": L2, "kernel_constraint": MAX_NORM}, "vec",
     BOTH),
    ("Dense", {"units": 2, "activation": "softmax", "bias_regularizer": L1,
               "activity_regularizer": L1L2, "bias_constraint": NON_NEG}, "seq", BOTH),
    ("Embedding", {"input_dim": 10, "output_dim": 3, "mask_zero": True,
                   "embeddings_initializer": "random_normal", "embeddings_regularizer": L2,
                   "embeddings_constraint": UNIT_NORM, "activity_regularizer": L1}, "ids",
     BOTH),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
                "activation": "tanh", "kernel_regularizer": L1, "bias_constraint": MIN_MAX,
                "kernel_initializer": "lecun_uniform"}, "seq", BOTH),
    ("Conv1D", {"filters": 4, "kernel_size": 2, "padding": "causal", "dilation_rate": 2,
                "groups": 2, "use_bias": False, "activity_regularizer": L2}, "seq", BOTH),
    # (3 filters for 2 steps out: Keras 3 on TensorFlow adds the bias of a channels_first
    # Conv1D along the wrong axis when the two are equal)
    ("Conv1D", {"filters": 3, "kernel_size": 3, "data_format": "channels_first"}, "seq", K3),
    ("MaxPooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, "seq", BOTH),
    ("MaxPooling1D", {"pool_size": 2, "data_format": "channels_first"}, "seq", K3),
    ("AveragePooling1D", {"pool_size": 2, "padding": "same"}, "seq", BOTH),
    ("AveragePooling1D", {"pool_size": 3, "strides": 2}, "seq", BOTH),
    ("GlobalMaxPooling1D", {"keepdims": True}, "seq", BOTH),
    ("GlobalMaxPooling1D", {"data_format": "channels_first"}, "seq", BOTH),
    ("GlobalAveragePooling1D", {"keepdims": True}, "seq", BOTH),
    ("GlobalAveragePooling1D", {"data_format": "channels_first"}, "seq", K3),
    ("BatchNormalization", {"momentum": 0.9, "epsilon": 0.01, "center": False,
                            "gamma_regularizer": L2, "gamma_constraint": NON_NEG}, "seq", BOTH),
    ("BatchNormalization", {"axis": 1, "scale": False, "beta_initializer": "ones",
                            "moving_variance_initializer": "ones", "beta_regularizer": L1,
                            "beta_constraint": MAX_NORM}, "seq", BOTH),
    ("LayerNormalization", {"epsilon": 0.01, "center": False, "gamma_regularizer": L1,
                            "gamma_constraint": NON_NEG}, "seq", BOTH),
    ("LayerNormalization", {"axis": [1, 2], "scale": False, "beta_initializer": "ones",
                            "beta_regularizer": L2}, "seq", BOTH),
    ("Dropout", {"rate": 0.3, "noise_shape": [None, 1, 4], "seed": 3}, "seq", BOTH),
    ("SpatialDropout1D", {"rate": 0.2, "seed": 1}, "seq", BOTH),
    ("Masking", {"mask_value": 0.5}, "seq", BOTH),
    ("Flatten", {}, "seq", BOTH),
    ("Flatten", {"data_format": "channels_first"}, "seq", BOTH),
    ("RepeatVector", {"n": 3}, "vec", BOTH),
    ("Reshape", {"target_shape": [4, 6]}, "seq", BOTH),
    ("Reshape", {"target_shape": [-1, 2]}, "seq", BOTH),
    ("Permute", {"dims": [2, 1]}, "seq", BOTH),
    ("TimeDistributed", {"layer": ("Dense", {"units": 2, "kernel_regularizer": L2,
                                             "activation": "elu"})}, "seq", BOTH),
    ("Concatenate", {"axis": 1}, "pair_seq", BOTH),
    ("Concatenate", {}, "pair_vec", BOTH),
    ("Dot", {"axes": 1, "normalize": True}, "pair_vec", BOTH),
    ("Dot", {"axes": [2, 2]}, "pair_seq", BOTH),
    *[(cls, {}, "pair_seq", BOTH) for cls in ("Add", "Subtract", "Multiply", "Average",
                                               "Maximum", "Minimum")],
    *[("Activation", {"activation": a}, "seq", BOTH) for a in ACTIVATIONS],
    ("Activation", {"activation": "hard_sigmoid"}, "seq", K3),
    ("LSTM", {"units": 3, "return_sequences": True, "recurrent_initializer": "glorot_normal",
              "dropout": 0.1, "unroll": True}, "seq", BOTH),
    ("GRU", {"units": 2, "reset_after": False, "go_backwards": True, "return_state": True,
             "use_cudnn": False}, "seq", K3),
    ("Bidirectional", {"layer": ("SimpleRNN", {"units": 2, "return_sequences": True}),
                       "merge_mode": "ave"}, "seq", BOTH),
]


def _inputs(kind, rng):
    if kind == "ids":
        ids = rng.integers(1, 10, (3, 6))
        ids[:, :2] = 0
        return ids
    shape = (3, 4) if kind.endswith("vec") else (3, 6, 4)
    x = rng.normal(size=shape).astype("float32")
    if kind.startswith("pair"):
        return [x, rng.normal(size=shape).astype("float32")]
    return x


def _random_weights(layer, rng):
    """Non-trivial weights for a Keras layer (positive variances for BatchNormalization)."""
    names = [w.path if hasattr(w, "path") else w.name for w in layer.weights]
    return [np.abs(rng.normal(size=w.shape)).astype("float32") + 0.5 if "variance" in n
            else rng.normal(size=w.shape).astype("float32") * 0.5
            for w, n in zip(layer.get_weights(), names)]


def _case_id(case, major):
    cls, kwargs, _, _ = case
    text = kwargs.get("activation") if cls == "Activation" else "-".join(sorted(kwargs))
    return f"k{major}-{cls}" + (f"-{text}"[:50] if text else "")


@pytest.mark.parametrize("case,major", [(c, m) for c in CASES for m in c[3]],
                         ids=[_case_id(c, m) for c in CASES for m in c[3]])
def test_layer_both_ways(case, major):
    cls, kwargs, kind, _ = case
    K = kf.keras3() if major == 3 else kf.keras2()
    rng = np.random.default_rng(0)
    x = _inputs(kind, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_layer = kf.make_layer(K, (cls, kwargs))
        ref_layer(x)
        ref_layer.set_weights(_random_weights(ref_layer, rng))
        ref = ref_layer(x, training=False)
    spec = json.loads(json.dumps(K.layers.serialize(ref_layer)))
    ours, _ = layer_from_keras(spec, Source("test", f"{major}.0"))
    ours(x)
    ours.set_weights(ref_layer.get_weights())
    for a, b in zip(kf.outputs(ours(x)), kf.outputs(ref)):
        kf.assert_close(a, b, what=f"{cls} outputs")
    back = K.layers.deserialize(layer_to_keras(ours, major))
    back(x)         # built, as the original: Keras completes some configs when building
    assert _without_execution(back.get_config()) == _without_execution(ref_layer.get_config())


def _without_execution(config):
    """A normalized config without the arguments that only say how Keras executes a layer
    (accepted when reading, not kept)."""
    return {k: v for k, v in kf.normalized(config).items() if k not in EXECUTION}


def test_the_table_names_fastrnn_layers():
    from fastrnn.keras_files.config import LAYERS
    registered = fastrnn.layers.registry.registered()
    assert all(name in registered for name, _, _ in LAYERS.values())
    tested = {case[0] for case in CASES} | {"InputLayer", "Embedding", "SimpleRNN", "LSTM",
                                             "GRU", "Bidirectional"}
    # test_rnn_cells.py::test_keras_files_with_cells_both_ways
    tested |= {"RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"}
    assert sorted(set(LAYERS) - tested) == []


def test_batch_normalization_moving_statistics_in_files(tmp_path):
    """The moving mean and variance (non-trainable) travel in both weight layouts and are
    not optimizer slots; training updates them as Keras does (the Sequential recipes'
    training steps compare them too)."""
    keras = kf.keras3()
    rng = np.random.default_rng(1)
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.BatchNormalization(),
                              keras.layers.LSTM(2), keras.layers.Dense(1)])
    bn = model.layers[0]
    bn.set_weights(_random_weights(bn, rng))
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    model.train_on_batch(x, np.zeros((4, 1), "float32"))
    ref = np.asarray(model(x, training=False))
    for suffix in (".keras", ".h5"):
        path = tmp_path / ("bn" + suffix)
        model.save(path)
        ours = fastrnn.load_model(path)
        kf.assert_close(ours.predict(x), ref)
        assert [w.shape for w in ours.layers[0].weights] == [(3,)] * 4
        kf.assert_close(ours.layers[0].weights[3], np.asarray(bn.moving_variance))
        assert len(ours.trainable_weights) == len(model.trainable_weights)


@pytest.mark.parametrize("major", [3, 2])
def test_recurrent_regularizers_constraints_and_stateful_round_trip(major):
    keras = kf.keras3() if major == 3 else kf.keras2()
    layer = keras.layers.LSTM(2, kernel_regularizer=keras.regularizers.L2(0.01),
                              recurrent_regularizer=keras.regularizers.L1(0.02),
                              bias_regularizer=keras.regularizers.L1L2(0.1, 0.2),
                              activity_regularizer=keras.regularizers.L2(0.3),
                              kernel_constraint=keras.constraints.MaxNorm(2.0),
                              recurrent_constraint=keras.constraints.NonNeg(),
                              bias_constraint=keras.constraints.UnitNorm(), stateful=True)
    spec = json.loads(json.dumps(keras.layers.serialize(layer)))
    ours, _ = layer_from_keras(spec, Source("test", str(major)))
    assert ours.stateful and ours.recurrent_regularizer.l1 == pytest.approx(0.02)
    back = keras.layers.deserialize(layer_to_keras(ours, major))
    assert kf.normalized(back.get_config()) == kf.normalized(layer.get_config())


@pytest.mark.parametrize("cls,kwargs,match", [
    ("LayerNormalization", {"rms_scaling": True}, "rms_scaling"),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "kernel_initializer": O(
        "initializers.VarianceScaling", input_axes=[0], output_axes=[1])}, "input_axes"),
])
def test_keras3_only_arguments_are_not_written_for_keras2(cls, kwargs, match):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_layer = kf.make_layer(kf.keras3(), (cls, kwargs))
    spec = json.loads(json.dumps(kf.keras3().layers.serialize(ref_layer)))
    ours, _ = layer_from_keras(spec, Source("test", "3"))
    layer_to_keras(ours, 3)
    with pytest.raises(WriteError, match=match):
        layer_to_keras(ours, 2)
