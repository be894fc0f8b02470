"""Helpers for the Keras-file tests: small models written by Keras 3 (`keras`) and by
tf-keras 2.21 (`tf_keras`, the Keras 2 API) into a temporary folder, with what the writing
Keras computes on a fixed input (the oracle).

A recipe is (name, input, layers, compile): `input` is ("int", steps, vocabulary) or
("float", steps, features); layers are (class name, kwargs) with nested layers as
(class name, kwargs) too; compile is (optimizer class, kwargs, loss, metrics) or None.
"""
import json
import os
import re

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import fastrnn  # noqa: E402

ATOL, RTOL = 1e-6, 1e-5          # predictions: |ours - ref| <= ATOL + RTOL * |ref|
STEP_ATOL, STEP_RTOL = 1e-5, 1e-5  # weights after one training step

# Keras 3 recipes: every layer and argument fastrnn supports, in few models.
K3_RECIPES = [
    ("k3_masked_stack", ("int", 7, 30), [
        ("Embedding", {"input_dim": 30, "output_dim": 5, "mask_zero": True}),
        ("Bidirectional", {"layer": ("LSTM", {"units": 4, "return_sequences": True,
                                              "unit_forget_bias": False}),
                           "merge_mode": "concat"}),
        ("GRU", {"units": 3, "return_sequences": True, "reset_after": False,
                 "go_backwards": True}),
        ("SimpleRNN", {"units": 3, "return_sequences": True, "activation": "relu"}),
        ("Bidirectional", {"layer": ("GRU", {"units": 2, "return_sequences": True}),
                           "backward_layer": ("GRU", {"units": 2, "return_sequences": True,
                                                      "go_backwards": True,
                                                      "reset_after": False}),
                           "merge_mode": "sum"}),
        ("LSTM", {"units": 3, "recurrent_activation": "hard_sigmoid", "use_bias": False}),
        ("Dense", {"units": 4, "activation": "relu"}),
        ("Dense", {"units": 1}),
        ("Activation", {"activation": "sigmoid"})],
     ("Adam", {"learning_rate": 0.01, "amsgrad": True}, "binary_crossentropy", ["accuracy"])),
    ("k3_float_merges", ("float", 5, 3), [
        ("Bidirectional", {"layer": ("LSTM", {"units": 3, "return_sequences": True}),
                           "merge_mode": "mul"}),
        ("Bidirectional", {"layer": ("SimpleRNN", {"units": 2, "return_sequences": True}),
                           "merge_mode": "ave"}),
        ("GRU", {"units": 3, "use_bias": False, "recurrent_activation": "tanh"}),
        ("Dense", {"units": 3, "activation": "softmax"})],
     ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True},
      "sparse_categorical_crossentropy", ["accuracy"])),
    ("k3_sgd", ("float", 4, 2), [
        ("LSTM", {"units": 3, "return_sequences": True, "activation": "relu"}),
        ("SimpleRNN", {"units": 2, "go_backwards": True, "trainable": False}),
        ("Dense", {"units": 2})],
     ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}, "mse", ["mae"])),
]
# The layers of the IMDB/sequence-tagging models around the recurrent ones (branch wt-layers).
NEW_LAYER_RECIPES = [
    ("k3_tagging", ("float", 6, 3), [
        ("Masking", {"mask_value": 0.0}),
        ("SpatialDropout1D", {"rate": 0.2}),
        ("LSTM", {"units": 4, "return_sequences": True}),
        ("TimeDistributed", {"layer": ("Dense", {"units": 3, "activation": "tanh"})}),
        ("GlobalMaxPooling1D", {}),
        ("Dense", {"units": 1})],
     ("Adam", {"learning_rate": 0.01}, "mse", None)),
    ("k3_flatten", ("int", 5, 20), [
        ("Embedding", {"input_dim": 20, "output_dim": 4}),
        ("GRU", {"units": 3, "return_sequences": True}),
        ("Flatten", {}),
        ("Dense", {"units": 1, "activation": "sigmoid"})],
     ("SGD", {"learning_rate": 0.1}, "binary_crossentropy", ["accuracy"])),
    ("k3_fasttext", ("int", 5, 20), [
        ("Embedding", {"input_dim": 20, "output_dim": 4}),
        ("GlobalAveragePooling1D", {}),
        ("Dense", {"units": 1, "activation": "sigmoid"})],
     ("RMSprop", {"learning_rate": 0.01}, "binary_crossentropy", ["accuracy"])),
]
# tf-keras (Keras 2) recipes; "first_layer" input style puts batch_input_shape on the first layer.
K2_RECIPES = [
    ("k2_masked", ("int", 6, 25), [
        ("Embedding", {"input_dim": 25, "output_dim": 4, "mask_zero": True}),
        ("Bidirectional", {"layer": ("GRU", {"units": 3, "return_sequences": True,
                                             "reset_after": False})}),
        ("SimpleRNN", {"units": 3, "return_sequences": True}),
        ("LSTM", {"units": 3}),
        ("Dense", {"units": 2, "activation": "softmax"})],
     ("RMSprop", {"learning_rate": 0.01}, "sparse_categorical_crossentropy", ["accuracy"])),
    ("k2_float", ("float", 5, 3), [
        ("LSTM", {"units": 3, "return_sequences": True, "go_backwards": True}),
        ("Bidirectional", {"layer": ("LSTM", {"units": 2}), "merge_mode": "ave"}),
        ("Dense", {"units": 1}),
        ("Activation", {"activation": "sigmoid"})],
     ("SGD", {"learning_rate": 0.05, "momentum": 0.8}, "binary_crossentropy", ["accuracy"])),
    ("k2_legacy_adam", ("float", 4, 2), [   # tf.keras <= 2.10's optimizer (optimizer_v2)
        ("GRU", {"units": 3, "return_sequences": True}),
        ("SimpleRNN", {"units": 2}),
        ("Dense", {"units": 1})],
     ("legacy.Adam", {"learning_rate": 0.01}, "mse", None)),
]
# The Keras-2-era IMDB model: LSTM with that era's recurrent_activation, hard_sigmoid.
IMDB_RECIPE = ("k2_imdb_hard_sigmoid", ("int", 12, 40), [
    ("Embedding", {"input_dim": 40, "output_dim": 8}),
    ("LSTM", {"units": 6, "recurrent_activation": "hard_sigmoid", "dropout": 0.2,
              "recurrent_dropout": 0.2}),
    ("Dropout", {"rate": 0.5}),
    ("Dense", {"units": 1, "activation": "sigmoid"})],
    ("Adam", {"learning_rate": 0.001}, "binary_crossentropy", ["accuracy"]))


def keras3():
    import keras
    return keras


def keras2():
    import tf_keras
    return tf_keras


def make_layer(K, spec):
    cls, kwargs = spec
    kwargs = {k: make_layer(K, v) if isinstance(v, tuple) and isinstance(v[0], str) else v
              for k, v in kwargs.items()}
    return getattr(K.layers, cls)(**kwargs)


def build(K, recipe, input_style="input", seed=0):
    """The Keras model of `recipe`, with seeded weights and one training step taken (so the
    optimizer has slots to save)."""
    _, (kind, steps, width), layers, compile_args = recipe
    K.utils.set_random_seed(seed)
    built = [make_layer(K, spec) for spec in layers]
    shape = (steps,) if kind == "int" else (steps, width)
    if input_style == "input":
        model = K.Sequential([K.Input(shape=shape, dtype="int32" if kind == "int" else None)]
                             + built)
    else:   # Keras 2 style: the input shape on the first layer
        first = make_layer(K, (layers[0][0], {**layers[0][1], "input_shape": shape}))
        model = K.Sequential([first] + built[1:])
    if compile_args:
        opt, opt_kwargs, loss, metrics = compile_args
        opt_cls = K.optimizers
        for part in opt.split("."):
            opt_cls = getattr(opt_cls, part)
        model.compile(optimizer=opt_cls(**opt_kwargs), loss=loss, metrics=metrics)
        model.run_eagerly = True      # no graph tracing: fast for these tiny models
        x, y = data(recipe, seed=seed + 1)
        model.train_on_batch(x, y)
    return model


def data(recipe, batch=6, seed=0):
    """(x, y) for a recipe: ids with zero padding (masking) or floats; labels fitting the
    output layer and loss."""
    _, (kind, steps, width), layers, compile_args = recipe
    rng = np.random.default_rng(seed)
    if kind == "int":
        # Left padding of different lengths (masking); the other ids are distinct while the
        # vocabulary allows: tf-keras sums repeated rows of a sparse gradient before its
        # optimizers square them, Keras 3 (and fastrnn) square each occurrence.
        pad = np.arange(steps)[None, :] < (np.arange(batch) % steps)[:, None]
        n = int((~pad).sum())
        ids = rng.permutation(np.arange(1, width))[:n] if n < width else rng.integers(
            1, width, size=n)
        x = np.zeros((batch, steps), "int32")
        x[~pad] = ids
    else:
        x = rng.normal(size=(batch, steps, width)).astype("float32")
    units = _output_units(layers)
    loss = compile_args[2] if compile_args else "mse"
    if loss == "sparse_categorical_crossentropy":
        y = rng.integers(0, units, size=(batch, 1))
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, size=(batch, units)).astype("float32")
    else:
        y = rng.normal(size=(batch, units)).astype("float32")
    return x, y


def _output_units(layers):
    for cls, kwargs in reversed(layers):
        if "units" in kwargs:
            return kwargs["units"]
    raise ValueError("no layer with units")


def predict(model, x):
    out = model(x, training=False)
    return np.asarray(out[0] if isinstance(out, list) else out)


def save_all(model, folder, name, formats):
    """Save `model` in each of `formats` ('keras', 'h5', 'weights') under `folder`."""
    paths = {}
    for fmt in formats:
        path = os.path.join(folder, name + {"keras": ".keras", "h5": ".h5",
                                            "weights": ".weights.h5"}[fmt])
        if fmt == "weights":
            model.save_weights(path)
        else:
            model.save(path)
        paths[fmt] = path
    return paths


def assert_close(ours, ref, atol=ATOL, rtol=RTOL, what="predictions"):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape} != {ref.shape}"
    assert np.isfinite(ours).all() and np.isfinite(ref).all(), f"{what}: not finite"
    err = np.abs(ours - ref) - (atol + rtol * np.abs(ref))
    assert (err <= 0).all(), f"{what}: max |diff| {np.abs(ours - ref).max():.3g} over tolerance"


def normalized(config):
    """A Keras config without the ids Keras gives shared objects in one process."""
    text = re.sub(r', "shared_object_id": \d+', "", json.dumps(config, sort_keys=True))
    return json.loads(text)


def train_step(model, x, y):
    """(loss, weights) after one train_on_batch on (x, y) (eagerly, for Keras models)."""
    if not isinstance(model, fastrnn.Sequential):
        model.run_eagerly = True
    logs = model.train_on_batch(x, y)
    loss = logs[0] if isinstance(logs, list) else logs
    return float(loss), [np.asarray(w) for w in model.get_weights()]


def _keras2_hard_sigmoid_available():
    """Whether fastrnn has Keras 2's hard_sigmoid (clip(0.2x + 0.5, 0, 1)) for recurrent
    layers: branch wt-cxx adds it."""
    try:
        fastrnn.layers.LSTM(1, recurrent_activation="keras2_hard_sigmoid")
    except ValueError:
        return False
    return True


# --- files written once per test session -----------------------------------------------------
_FOLDER = []


def folder():
    """A temporary folder for this session's files (removed at exit)."""
    if not _FOLDER:
        import atexit
        import shutil
        import tempfile
        _FOLDER.append(tempfile.mkdtemp(prefix="fastrnn-keras-files-"))
        atexit.register(shutil.rmtree, _FOLDER[0], True)
    return _FOLDER[0]


class Written:
    """One Keras model saved in several formats, with the oracle on a fixed input."""

    def __init__(self, K, recipe, formats, input_style="input"):
        self.recipe = recipe
        self.name = recipe[0]
        self.K = K
        model = build(K, recipe, input_style)
        self.config = model.get_config()
        self.compile_config = model.get_compile_config() if hasattr(
            model, "get_compile_config") else None
        self.optimizer_variables = [np.asarray(v) for v in model.optimizer.variables] if \
            recipe[3] and isinstance(model.optimizer.variables, list) else None
        self.x, _ = data(recipe, seed=5)
        self.batch = data(recipe, seed=9)
        self.ref = predict(model, self.x)
        self.paths = save_all(model, folder(), self.name, formats)


_CACHE = {}


def written(name):
    """The Written of a recipe (built on first use, then shared by all tests)."""
    if name not in _CACHE:
        for recipe in K3_RECIPES + NEW_LAYER_RECIPES:
            if recipe[0] == name:
                _CACHE[name] = Written(keras3(), recipe, ("keras", "h5", "weights"))
        for i, recipe in enumerate(K2_RECIPES + [IMDB_RECIPE]):
            if recipe[0] == name:   # Keras 2 style (input shape on the first layer) for some
                _CACHE[name] = Written(keras2(), recipe, ("h5", "keras"),
                                       "first_layer" if i % 2 == 0 else "input")
    return _CACHE[name]


def _needs_keras2_hard_sigmoid():
    import pytest
    from fastrnn.keras_files import UnsupportedKerasFeature
    return pytest.mark.xfail(
        not _keras2_hard_sigmoid_available(), strict=True, raises=UnsupportedKerasFeature,
        reason="needs fastrnn's keras2_hard_sigmoid activation (branch wt-cxx)")


# Marks the tests of Keras 2 files with hard_sigmoid: they fail (as expected) until fastrnn
# has Keras 2's hard_sigmoid, then run as ordinary tests.
needs_keras2_hard_sigmoid = _needs_keras2_hard_sigmoid()
