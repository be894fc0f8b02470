"""Flatten, Masking, SpatialDropout1D and TimeDistributed against Keras 3 (outputs, gradients,
masks, shapes, configs); Keras' IMDB CNN example models predict like Keras with its weights."""
import keras
import numpy as np
import pytest

import fastrnn
from fastrnn import layers as L

from _layer_parity import assert_close, assert_config_equal, assert_parity, random


@pytest.mark.parametrize("shape, kwargs", [((3, 4, 5), {}), ((2, 3, 4, 2), {}),
                                           ((3, 4, 5), {"data_format": "channels_first"}),
                                           ((2, 3, 4, 2), {"data_format": "channels_first"}),
                                           ((4, 6), {})])
def test_flatten_parity(shape, kwargs):
    ours, theirs = L.Flatten(**kwargs), keras.layers.Flatten(**kwargs)
    assert_parity(ours, theirs, random(shape))
    assert_config_equal(ours, theirs)
    for s in [(None,) + shape[1:], (None, None) + shape[2:], shape]:
        assert ours.compute_output_shape(s) == theirs.compute_output_shape(s)


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking_parity(mask_value):
    x = random((3, 6, 4))
    x[0, 2] = mask_value
    x[1, 4:] = mask_value
    x[2, 0, 1] = mask_value          # one feature only: not masked
    ours, theirs = L.Masking(mask_value), keras.layers.Masking(mask_value)
    a, b = assert_parity(ours, theirs, x)
    assert a["mask"].shape == (3, 6) and not a["mask"][0, 2] and a["mask"][2, 0]
    assert_config_equal(ours, theirs)
    # an incoming mask is replaced by the layer's own
    assert ours.compute_mask(x, np.zeros((3, 6), bool)).all(axis=1).tolist() == [False] * 2 + [True]


def test_masking_feeds_recurrent_layers_like_keras():
    x = random((2, 5, 3))
    x[0, 3:] = 0.0
    ours = fastrnn.Sequential([L.Input((5, 3)), L.Masking(), L.LSTM(4)])
    theirs = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(), keras.layers.LSTM(4)])
    ours.set_weights(theirs.get_weights())
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), what="masked LSTM")


def test_spatial_dropout_drops_whole_channels_at_training_only():
    x = np.ones((64, 7, 5), np.float32)
    layer = L.SpatialDropout1D(0.4, seed=3)
    y = layer(x, training=True)
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.6)}
    assert (y == y[:, :1]).all()                   # the same for every step
    assert 0.3 < (y[:, 0] == 0).mean() < 0.5
    d = random(x.shape)
    np.testing.assert_array_equal(layer.backward(d), d * y)
    assert layer(x) is x and layer(x, training=True).shape == x.shape
    assert_config_equal(layer, keras.layers.SpatialDropout1D(0.4, seed=3))
    twin = L.SpatialDropout1D.from_config(layer.get_config())
    assert twin.rate == 0.4 and twin.seed == 3
    assert_parity(L.SpatialDropout1D(0.5), keras.layers.SpatialDropout1D(0.5), x)  # inference
    with pytest.raises(ValueError, match=r"rank 3.*\(4, 5\)"):
        layer(np.ones((4, 5)), training=True)
    with pytest.raises(ValueError, match=r"`rate`.*rate=1.5"):
        L.SpatialDropout1D(1.5)


def test_time_distributed_dense_parity_with_mask():
    x = random((3, 5, 4))
    mask = np.ones((3, 5), bool)
    mask[0, 3:] = False
    ours = L.TimeDistributed(L.Dense(6, activation="tanh"))
    theirs = keras.layers.TimeDistributed(keras.layers.Dense(6, activation="tanh"))
    a, b = assert_parity(ours, theirs, x, mask=mask)
    np.testing.assert_array_equal(a["mask"], mask)       # passed on unchanged
    assert [w.shape for w in ours.weights] == [(4, 6), (6,)]
    assert ours.weights is ours.layer.weights
    cfg, kcfg = ours.get_config(), theirs.get_config()
    assert cfg["layer"]["class_name"] == kcfg["layer"]["class_name"] == "Dense"
    inner = {k: v for k, v in kcfg["layer"]["config"].items() if k in cfg["layer"]["config"]}
    inner.pop("name"), inner.pop("dtype")
    assert all(cfg["layer"]["config"][k] == v for k, v in inner.items())
    twin = L.TimeDistributed.from_config(cfg)
    assert isinstance(twin.layer, L.Dense) and twin.layer.units == 6
    for s in [(None, None, 4), (2, 5, 4)]:
        assert ours.compute_output_shape(s) == theirs.compute_output_shape(s)


def test_time_distributed_other_layers():
    x = random((2, 3, 7, 4))
    assert_parity(L.TimeDistributed(L.Conv1D(3, 2, padding="same", activation="relu")),
                  keras.layers.TimeDistributed(keras.layers.Conv1D(3, 2, padding="same",
                                                                  activation="relu")), x)
    assert_parity(L.TimeDistributed(L.GlobalMaxPooling1D()),
                  keras.layers.TimeDistributed(keras.layers.GlobalMaxPooling1D()), x)
    assert_parity(L.TimeDistributed(L.BatchNormalization()),
                  keras.layers.TimeDistributed(keras.layers.BatchNormalization()), x)
    with pytest.raises(NotImplementedError, match="per-step batch statistics"):
        L.TimeDistributed(L.BatchNormalization())(x, training=True)
    with pytest.raises(ValueError, match=r"at least 3 dimensions.*\(2, 3\)"):
        L.TimeDistributed(L.Dense(2))(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"mask.*\(2, 4\).*incompatible.*\(2, 3\)"):
        L.TimeDistributed(L.Dense(2))(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="Please initialize `TimeDistributed`"):
        L.TimeDistributed("dense")


# -- Keras' IMDB CNN examples: same weights, same predictions ------------------------------
def _imdb_models(name, dropout=0.2):
    if name == "imdb_cnn_lstm":
        specs = [("Embedding", (200, 16), {}), ("Dropout", (dropout,), {}),
                 ("Conv1D", (8, 5), {"padding": "valid", "activation": "relu", "strides": 1}),
                 ("MaxPooling1D", (), {"pool_size": 4}), ("LSTM", (7,), {}),
                 ("Dense", (1,), {"activation": "sigmoid"})]
    elif name == "imdb_cnn":
        specs = [("Embedding", (200, 10), {}), ("Dropout", (dropout,), {}),
                 ("Conv1D", (12, 3), {"padding": "valid", "activation": "relu", "strides": 1}),
                 ("GlobalMaxPooling1D", (), {}), ("Dense", (9,), {}), ("Dropout", (dropout,), {}),
                 ("Activation", ("relu",), {}), ("Dense", (1,), {"activation": "sigmoid"})]
    else:   # imdb_fasttext
        specs = [("Embedding", (200, 10), {}), ("GlobalAveragePooling1D", (), {}),
                 ("Dense", (1,), {"activation": "sigmoid"})]
    ours = fastrnn.Sequential([L.Input((40,))] + [getattr(L, c)(*a, **k) for c, a, k in specs])
    theirs = keras.Sequential([keras.Input((40,), dtype="int32")] +
                              [getattr(keras.layers, c)(*a, **k) for c, a, k in specs])
    ours.set_weights(theirs.get_weights())
    return ours, theirs


@pytest.mark.parametrize("name", ["imdb_cnn_lstm", "imdb_cnn", "imdb_fasttext"])
def test_keras_imdb_cnn_examples_predict_like_keras(name):
    ours, theirs = _imdb_models(name)
    x = np.random.default_rng(0).integers(0, 200, (6, 40))
    assert_close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6, rtol=1e-5,
                 what=name)
    assert ours.count_params() == theirs.count_params()


@pytest.mark.parametrize("name", ["imdb_cnn_lstm", "imdb_cnn", "imdb_fasttext"])
def test_keras_imdb_cnn_examples_train_like_keras(name):
    ours, theirs = _imdb_models(name, dropout=0.0)    # no random masks: identical steps
    ours.compile(fastrnn.optimizers.Adam(0.01), "binary_crossentropy")
    theirs.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    rng = np.random.default_rng(1)
    for _ in range(3):
        x, y = rng.integers(0, 200, (8, 40)), rng.integers(0, 2, 8).astype(np.float32)
        assert_close(ours.train_on_batch(x, y), theirs.train_on_batch(x, y), atol=1e-6,
                     rtol=1e-5, what="loss")
    for i, (w, kw) in enumerate(zip(ours.get_weights(), theirs.get_weights())):
        assert_close(w, kw, atol=1e-5, rtol=1e-4, what=f"weight {i} after 3 steps")


def test_every_new_layer_round_trips_through_the_registry_and_a_saved_model(tmp_path):
    from fastrnn.layers import registry
    layers = [L.Conv1D(4, 3, padding="causal", kernel_regularizer="l2"), L.MaxPooling1D(3),
              L.AveragePooling1D(2, padding="same"), L.GlobalMaxPooling1D(keepdims=True),
              L.GlobalAveragePooling1D(), L.Flatten(), L.Masking(-1.0), L.SpatialDropout1D(0.1),
              L.TimeDistributed(L.Dense(3)), L.BatchNormalization(momentum=0.9),
              L.LayerNormalization(axis=[1, 2])]
    for layer in layers:
        twin = registry.deserialize(registry.serialize(layer))
        assert type(twin) is type(layer)
        assert {k: v for k, v in twin.get_config().items() if k != "name"} == \
            {k: v for k, v in layer.get_config().items() if k != "name"}
    model = fastrnn.Sequential([L.Input((12, 3)), L.Masking(), L.Conv1D(4, 3, activation="relu"),
                                L.BatchNormalization(), L.TimeDistributed(L.Dense(5)),
                                L.LayerNormalization(), L.MaxPooling1D(2), L.Flatten(),
                                L.Dense(1)])
    x = random((4, 12, 3))
    model.layers[2](model.layers[1](x), training=True)     # moving statistics off their init
    model.save(tmp_path / "m.keras")
    back = fastrnn.load_model(tmp_path / "m.keras")
    assert_close(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=0, rtol=0,
                 what="reloaded model")
    assert len(back.get_weights()) == len(model.get_weights())
