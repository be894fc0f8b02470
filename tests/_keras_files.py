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

class KerasObject:
    """A Keras object of the Keras a recipe is built with: `KerasObject("regularizers.L2",
    l2=0.01)` is `K.regularizers.L2(l2=0.01)`."""

    def __init__(self, path, **kwargs):
        self.path, self.kwargs = path, kwargs

    def make(self, K):
        obj = K
        for part in self.path.split("."):
            obj = getattr(obj, part)
        return obj(**self.kwargs)


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
# Convolutions, poolings, normalizations, reshapes, regularizers and constraints (Keras 3).
K3_RECIPES += [
    ("k3_conv", ("int", 9, 30), [
        ("Embedding", {"input_dim": 30, "output_dim": 6,
                       "embeddings_regularizer": KerasObject("regularizers.L2", l2=1e-3)}),
        ("Conv1D", {"filters": 8, "kernel_size": 3, "padding": "causal", "dilation_rate": 2,
                    "activation": "relu",
                    "kernel_regularizer": KerasObject("regularizers.L1L2", l1=1e-3, l2=1e-3),
                    "kernel_constraint": KerasObject("constraints.MaxNorm", max_value=2.0),
                    "bias_constraint": KerasObject("constraints.NonNeg")}),
        ("MaxPooling1D", {"pool_size": 2, "padding": "same"}),
        ("BatchNormalization", {"momentum": 0.9}),
        ("Conv1D", {"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same",
                    "groups": 2}),
        ("AveragePooling1D", {"pool_size": 2, "padding": "same"}),
        ("LayerNormalization", {}),
        ("LSTM", {"units": 4}),
        ("Dense", {"units": 1, "activation": "sigmoid",
                   "activity_regularizer": KerasObject("regularizers.L2", l2=1e-2)})],
     ("Adam", {"learning_rate": 0.01}, "binary_crossentropy", ["accuracy"])),
    ("k3_reshape", ("float", 4, 6), [
        ("Permute", {"dims": (2, 1)}),
        ("Reshape", {"target_shape": (3, 8)}),
        ("GRU", {"units": 3}),
        ("RepeatVector", {"n": 2}),
        ("SimpleRNN", {"units": 2, "return_sequences": True}),
        ("Flatten", {}),
        ("Dense", {"units": 2})],
     ("SGD", {"learning_rate": 0.05}, "mse", None)),
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
K2_RECIPES.append(
    ("k2_conv", ("float", 8, 3), [
        ("Conv1D", {"filters": 4, "kernel_size": 3, "activation": "relu",
                    "kernel_regularizer": KerasObject("regularizers.L2", l2=1e-2)}),
        ("BatchNormalization", {}),
        ("MaxPooling1D", {"pool_size": 2}),
        ("GRU", {"units": 3, "reset_after": False}),
        ("Dense", {"units": 1, "kernel_constraint": KerasObject("constraints.MaxNorm",
                                                                 max_value=1.0)})],
     ("Adam", {"learning_rate": 0.01}, "mse", None)))
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
    kwargs = {k: make_layer(K, v) if isinstance(v, tuple) and isinstance(v[0], str) else
              v.make(K) if isinstance(v, KerasObject) else v for k, v in kwargs.items()}
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
    """A Keras config without the ids Keras gives shared objects in one process, and with
    the operations of a Functional config (whose names count up in one process: not_equal,
    not_equal_1, ...) named by their order in it."""
    text = re.sub(r', "shared_object_id": \d+', "", json.dumps(config, sort_keys=True))
    config = json.loads(text)
    layers = config.get("layers") if isinstance(config, dict) else None
    if isinstance(layers, list):
        names = {e["name"]: f"operation{i}" for i, e in enumerate(layers)
                 if str(e.get("module", "")).startswith("keras.src.ops")}
        config = _renamed(config, names)
    return config


def _renamed(value, names):
    if isinstance(value, dict):
        return {k: _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    return names.get(value, value) if isinstance(value, str) else value


def train_step(model, x, y):
    """(loss, weights) after one train_on_batch on (x, y) (eagerly, for Keras models)."""
    if not isinstance(model, fastrnn.Sequential):
        model.run_eagerly = True
    logs = model.train_on_batch(x, y)
    loss = logs[0] if isinstance(logs, list) else logs
    return float(loss), [np.asarray(w) for w in model.get_weights()]


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


# --- Functional graphs ----------------------------------------------------------------------
# tests/test_functional_keras.py's graphs (the Keras seq2seq example, two Embedding+BiLSTM
# branches with mask_zero joined by Concatenate, two outputs, a shared LSTM, the seed
# notebooks' models), plus graphs of Keras 3's mask operations.
def _masked_sequence(K, training_variant=False):
    """Masking feeding LSTM, TimeDistributed and GlobalAveragePooling1D (Keras 3 records
    NotEqual + Any and passes the result as their `mask=`)."""
    L = K.layers
    a = K.Input(shape=(6, 3), name="features")
    x = L.Masking(mask_value=0.0, name="masking")(a)
    x = L.LSTM(4, return_sequences=True, name="lstm")(x)
    x = L.TimeDistributed(L.Dense(3, activation="tanh"), name="td")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.GlobalAveragePooling1D(name="gap")(x)
    return K.Model(a, L.Dense(1, activation="sigmoid", name="out")(x), name="masked_sequence")


def _masking_order(K, training_variant=False):
    """Keras 3 orders this graph's Dense layers differently from tf-keras (the NotEqual/Any
    path from `da` to the LSTM makes `da` deeper), and so names their weight groups
    differently."""
    L = K.layers
    a = K.Input(shape=(5, 2), name="a")
    b = K.Input(shape=(5, 2), name="b")
    x = L.LSTM(2, name="lstm_a")(L.Masking(name="masking")(L.Dense(3, name="da")(a)))
    y = L.Dense(3, name="db3")(L.Dense(3, name="db2")(L.Dense(3, name="db")(b)))
    y = L.LSTM(2, name="lstm_b")(y)
    out = L.Dense(1, activation="sigmoid", name="out")(L.Concatenate(name="cat")([x, y]))
    return K.Model([a, b], out, name="masking_order")


def _merged_masks(K, training_variant=False):
    """Two masked embeddings added: Keras 3 combines their masks with LogicalOr."""
    L = K.layers
    ids = K.Input(shape=(5,), name="ids")
    e1 = L.Embedding(10, 3, mask_zero=True, name="e1")(ids)
    e2 = L.Embedding(10, 3, mask_zero=True, name="e2")(ids)
    x = L.LSTM(2, name="lstm")(L.Add(name="add")([e1, e2]))
    return K.Model(ids, L.Dense(1, activation="sigmoid", name="out")(x))


_EXTRA_GRAPHS = {"masked_sequence": _masked_sequence, "masking_order": _masking_order,
                 "merged_masks": _merged_masks}


def graph_module():
    import test_functional_keras
    return test_functional_keras


def functional_builder(name):
    return _EXTRA_GRAPHS.get(name) or graph_module().GRAPHS[name]


def functional_data(name, seed):
    """(x, y) for a graph: test_functional_keras' data for its graphs."""
    rng = np.random.default_rng(seed)
    if name == "masked_sequence":
        x = rng.normal(size=(6, 6, 3)).astype("float32")
        x[:, :2] = 0.0          # masked steps (a fully masked row would average to 0/0)
        x[1, 4] = 0.0
        return x, rng.integers(0, 2, (6, 1)).astype("float32")
    if name == "masking_order":
        x = [rng.normal(size=(6, 5, 2)).astype("float32") for _ in range(2)]
        return x, rng.integers(0, 2, (6, 1)).astype("float32")
    if name == "merged_masks":
        ids = rng.integers(1, 10, (6, 5))
        ids[:, :2] = 0
        return ids, rng.integers(0, 2, (6, 1)).astype("float32")
    g = graph_module()
    saved, g.RNG = g.RNG, rng   # its data come from its module's generator
    try:
        return g._data(name)
    finally:
        g.RNG = saved


class WrittenFunctional:
    """A Keras Functional model (one training step taken) saved in several formats."""

    def __init__(self, K, name, formats, optimizer):
        self.K, self.name = K, name
        K.utils.set_random_seed(0)
        model = functional_builder(name)(K, training_variant=True)
        model.compile(**graph_module()._compile_args(K, name, optimizer))
        model.run_eagerly = True
        x, y = functional_data(name, 1)
        model.train_on_batch(x, y)
        self.config = model.get_config()
        self.compile_config = model.get_compile_config() if hasattr(
            model, "get_compile_config") else None
        self.optimizer_variables = [np.asarray(v) for v in model.optimizer.variables]
        self.x, _ = functional_data(name, 5)
        self.batch = functional_data(name, 9)
        self.ref = outputs(model(self.x, training=False))
        self.layer_names = [layer.name for layer in model.layers]
        tag = "k3" if K is keras3() else "k2"
        self.paths = save_all(model, folder(), f"{tag}_{name}", formats)


def outputs(value):
    """A model's predictions as a list of arrays (one per output)."""
    return [np.asarray(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


_WITH_EMBEDDINGS = ("two_branches", "two_outputs", "merged_masks") + tuple(
    f"seed_{k}" for k in ("000_lstm", "000_gru", "000_bilstm", "001_bilstm", "001_bigru",
                          "002_simple_rnn", "002_gru", "002_lstm", "003_bilstm",
                          "004_simple_rnn", "004_lstm"))


def written_functional(name, keras_major):
    """The WrittenFunctional of a graph by Keras 3 or tf-keras (.keras, .h5), built on first
    use; each graph trains with one of the three optimizers."""
    key = (name, keras_major)
    if key not in _CACHE:
        optimizer = ("sgd", "rmsprop", "adam")[sum(map(ord, name)) % 3]
        if name == "two_outputs":
            optimizer = "adam"
        if keras_major == 2 and name in _WITH_EMBEDDINGS:
            # tf-keras sums the rows of a repeated id before RMSprop/Adam square the
            # gradient, Keras 3 and fastrnn square each occurrence: SGD is linear
            optimizer = "sgd"
        _CACHE[key] = WrittenFunctional(keras3() if keras_major == 3 else keras2(), name,
                                        ("keras", "h5"), optimizer)
    return _CACHE[key]


def layer_weights(model):
    """{layer name: [arrays]} of a Keras or fastrnn model (orders of layers may differ)."""
    return {layer.name: [np.asarray(w) for w in layer.get_weights()] for layer in model.layers}
