"""Keras model configs <-> fastrnn models: Sequential (every Keras spelling) here,
Functional in functional.py.

Keras 2 Sequential configs come in three shapes: a bare list of layers (Keras <= 2.2.4), a
dict with `layers` whose first layer carries `batch_input_shape` (tf.keras), and the same
with an InputLayer first; Keras 3 adds `build_config`. All become a fastrnn `Sequential`
with an InputLayer when the input shape is known.
"""
from ..layers.core import InputLayer
from ..layers.registry import deserialize as deserialize_fastrnn_layer
from ..layers.registry import registered
from .config import (RECURRENT, check_builtin, dtype_policy, layer_from_keras,
                     layer_to_keras, serialized)
from .functional import functional_from_keras, functional_to_keras, layer_order

MAX_LAYERS = 100_000
_FUNCTIONAL = ("Functional", "Model")


class LoadedModel:
    """A fastrnn model built from a Keras config, without the file's weights yet.

    `layers`: the layers in the order Keras lists them (that order names the weight groups of
    .keras files and matches the layers of legacy .h5 files)."""

    def __init__(self, model, layers):
        self.model = model
        self.layers = layers


class WeightBudget:
    """Refuses a config that declares more weights than the file can hold, before anything
    is allocated: a crafted config (say an Embedding of 10^12 rows) next to a small file
    fails here instead of exhausting memory. Compression is allowed for up to 2x."""

    def __init__(self, file_bytes, src):
        self.limit = 2 * file_bytes + (1 << 20)
        self.used = 0
        self.src = src

    def charge(self, layer, input_shape):
        self.used += 4 * _weight_count(layer, input_shape)
        if self.used > self.limit:
            raise self.src.error(f"the model config declares at least {self.used} bytes of "
                                 f"weights (at layer {layer.name!r}) but the file holds only "
                                 f"{(self.limit - (1 << 20)) // 2} bytes: damaged or crafted")


def _weight_count(layer, shape):
    """A lower bound of the number of weights `layer` creates for inputs of `shape`."""
    cls = type(layer).__name__
    if cls == "Bidirectional":
        return _weight_count(layer.forward_layer, shape) + _weight_count(layer.backward_layer,
                                                                          shape)
    if cls == "TimeDistributed":
        return _weight_count(layer.layer, tuple(shape[:1]) + tuple(shape[2:]))
    if cls == "Embedding":
        return layer.input_dim * layer.output_dim
    features = shape[-1] if shape and isinstance(shape[-1], int) else 0
    if cls == "Dense":
        return features * layer.units
    if cls == "Conv1D":
        return layer.kernel_size[0] * features * layer.filters // layer.groups
    if cls in RECURRENT:
        return layer.gates * layer.units * (features + layer.units)
    if cls == "RNN":
        total = 0
        for cell in layer._cells:
            total += cell.gates * cell.units * (features + cell.units)
            features = cell.units
        return total
    return 0


def model_from_keras(spec, src, budget):
    """A LoadedModel built for the file's input shape (budget-checked first)."""
    if not isinstance(spec, dict):
        raise src.error("the model config is not a JSON object")
    cls = spec.get("class_name")
    if cls == "Sequential":
        return _sequential(spec, src, budget)
    if cls in _FUNCTIONAL:
        return LoadedModel(*functional_from_keras(spec, src, budget))
    raise src.unsupported(f"model class {cls!r} is not supported (only Sequential and "
                          "Functional models)")


def _sequential(spec, src, budget):
    Sequential = registered()["Sequential"]
    config = spec.get("config")
    if isinstance(config, list):        # Keras <= 2.2.4: the config is the list of layers
        config = {"layers": config}
    check_builtin(spec, src, "model")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise src.error("the Sequential config has no list of layers")
    specs = config["layers"]
    if len(specs) > MAX_LAYERS:
        raise src.error(f"the model has {len(specs)} layers (more than {MAX_LAYERS})")
    input_layer, layers = None, []
    for i, layer_spec in enumerate(specs):
        layer, declared = layer_from_keras(layer_spec, src)
        if isinstance(layer, InputLayer):
            if i:
                raise src.error(f"layer {i} is an InputLayer; only the first layer may be one")
            input_layer = layer
            continue
        if input_layer is None and not layers and declared is not None:
            input_layer = InputLayer(batch_shape=declared)
        layers.append(layer)
    if input_layer is None:
        shape = _build_shape(config, spec, specs)
        if shape is not None:
            input_layer = InputLayer(batch_shape=shape)
    model = Sequential(name=config.get("name"), trainable=config.get("trainable", True))
    for layer in ([input_layer] if input_layer else []) + layers:
        try:
            model.add(layer, rebuild=False)
        except (TypeError, ValueError) as e:
            raise src.error(f"invalid Sequential model: {e}") from e
    if input_layer is not None:     # else the file has no weights (Keras saved it unbuilt)
        shape = input_layer.batch_shape
        for layer in layers:
            budget.charge(layer, shape)
            try:
                shape = layer.compute_output_shape(shape)
            except (TypeError, ValueError, IndexError):
                break
            shape = shape[0] if isinstance(shape, list) else shape
        try:
            model.build(input_layer.batch_shape)
        except (TypeError, ValueError, IndexError) as e:
            raise src.error(f"cannot build the model for input shape "
                            f"{input_layer.batch_shape}: {e}") from e
    return LoadedModel(model, layers)


def _build_shape(config, spec, specs):
    """The input shape of a model built without an InputLayer (tf.keras' build_input_shape,
    Keras 3's build_config)."""
    candidates = [config.get("build_input_shape"), (spec.get("build_config") or {}).get(
        "input_shape")]
    if specs and isinstance(specs[0], dict):
        candidates.append((specs[0].get("build_config") or {}).get("input_shape"))
    for shape in candidates:
        if isinstance(shape, list) and all(d is None or (isinstance(d, int) and d >= 0)
                                           for d in shape):
            return tuple(shape)
    return None


# --- fastrnn -> Keras --------------------------------------------------------------------------
def model_to_keras(model, keras_major):
    """(serialized Keras model config, the model's layers in the order Keras lists them)."""
    if _is_sequential(model):
        return _sequential_to_keras(model, keras_major), list(model.layers)
    return functional_to_keras(model, keras_major)


def keras_layers(model, keras_major):
    """The model's layers in the order Keras lists them (names weight groups and slots)."""
    return list(model.layers) if _is_sequential(model) else layer_order(model, keras_major)


def _is_sequential(model):
    return isinstance(model, registered()["Sequential"])


def _sequential_to_keras(model, keras_major):
    """The serialized Keras model config of a fastrnn Sequential."""
    specs = model.get_config()["layers"]
    layers = []
    if specs and specs[0].get("class_name") == "InputLayer":
        layers.append(layer_to_keras(deserialize_fastrnn_layer(specs[0]), keras_major))
    elif model.input_shape is not None:
        layers.append(layer_to_keras(InputLayer(batch_shape=model.input_shape),
                                     keras_major))
    layers += [layer_to_keras(layer, keras_major) for layer in model.layers]
    config = {"name": model.name, "trainable": model.trainable, "layers": layers}
    if keras_major == 3:
        config["dtype"] = dtype_policy(3)
    if model.input_shape is not None:
        config["build_input_shape"] = list(model.input_shape)
    spec = serialized("Sequential", config, "keras")
    if keras_major == 3 and model.input_shape is not None:
        spec["build_config"] = {"input_shape": list(model.input_shape)}
    return spec
