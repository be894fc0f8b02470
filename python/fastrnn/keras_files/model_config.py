"""Keras model configs <-> fastrnn models: Sequential (every Keras spelling) and Functional.

Keras 2 Sequential configs come in three shapes: a bare list of layers (Keras <= 2.2.4), a
dict with `layers` whose first layer carries `batch_input_shape` (tf.keras), and the same
with an InputLayer first; Keras 3 adds `build_config`. All become a fastrnn `Sequential`
with an InputLayer when the input shape is known.

A Functional config (layers with `inbound_nodes`, `input_layers`, `output_layers`) is parsed
into calls of fastrnn's Functional API (`fastrnn.Input`, calling layers on tensors,
`fastrnn.Model`); while that API is not in fastrnn, such files raise UnsupportedKerasFeature.
"""
from ..layers.core import InputLayer
from ..layers.registry import deserialize as deserialize_fastrnn_layer
from ..layers.registry import registered
from .config import (RECURRENT, check_builtin, dtype_policy, layer_from_keras,
                     layer_to_keras, serialized, spec_parts)

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
    if cls in RECURRENT:
        return layer.gates * layer.units * (features + layer.units)
    return 0


def model_from_keras(spec, src, budget):
    """A LoadedModel built for the file's input shape (budget-checked first)."""
    if not isinstance(spec, dict):
        raise src.error("the model config is not a JSON object")
    cls = spec.get("class_name")
    if cls == "Sequential":
        return _sequential(spec, src, budget)
    if cls in _FUNCTIONAL:
        return _functional(spec, src, budget)
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


# --- Functional --------------------------------------------------------------------------------
class Node:
    """Call number `index` of a layer in a Functional graph: `layer(*args, **kwargs)` where
    tensors are (layer name, node index, tensor index) references."""

    def __init__(self, layer_name, index, args, kwargs):
        self.layer_name = layer_name
        self.index = index
        self.args = args
        self.kwargs = kwargs


class TensorRef(tuple):
    """(layer name, node index, tensor index) of a tensor produced in the graph."""


def parse_functional(config, src):
    """(layer specs by name in config order, [Node] in config order, input refs, output refs)
    from a Keras 2 or Keras 3 Functional config; raises ModelFileError if malformed."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise src.error("the Functional config has no list of layers")
    specs, nodes = {}, []
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise src.error("invalid layer entry in the Functional config")
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if not isinstance(name, str) or name in specs:
            raise src.error(f"layer name {name!r} is missing or repeated")
        specs[name] = entry
        for index, node in enumerate(entry.get("inbound_nodes") or []):
            nodes.append(_node(name, index, entry.get("class_name"), node, src))
    return specs, nodes, _refs(config.get("input_layers"), src), _refs(
        config.get("output_layers"), src)


_TAKES_STATES = RECURRENT + ("Bidirectional",)


def _node(layer_name, index, cls, node, src):
    if isinstance(node, dict):                       # Keras 3: {"args": [...], "kwargs": {...}}
        return Node(layer_name, index, _tensors(node.get("args", []), src),
                    _tensors(node.get("kwargs", {}), src))
    if isinstance(node, list):                       # Keras 2: [[name, node, tensor, kwargs]]
        args, kwargs = [], {}
        for item in node:
            if not (isinstance(item, list) and len(item) >= 3):
                raise src.error(f"invalid inbound node of layer {layer_name!r}")
            args.append(TensorRef((item[0], item[1], item[2])))
            if len(item) > 3 and isinstance(item[3], dict):
                kwargs.update(_tensors(item[3], src))
        if len(args) > 1 and cls in _TAKES_STATES:   # Keras 2 passes states as inputs
            kwargs["initial_state"], args = args[1:], args[:1]
        return Node(layer_name, index, [args[0]] if len(args) == 1 else [args], kwargs)
    raise src.error(f"invalid inbound node of layer {layer_name!r}")


def _tensors(value, src, depth=0):
    """Replace serialized tensors by TensorRefs inside nested lists/dicts of call arguments."""
    if depth > 8:
        raise src.error("call arguments nest too deeply")
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = (value.get("config") or {}).get("keras_history")
            if not (isinstance(history, list) and len(history) == 3):
                raise src.error("a tensor in the Functional config has no keras_history")
            return TensorRef(tuple(history))
        return {k: _tensors(v, src, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        # Keras 2 kwargs spell a tensor as [layer name, node index, tensor index]
        if len(value) == 3 and isinstance(value[0], str) and all(
                isinstance(v, int) for v in value[1:]):
            return TensorRef(tuple(value))
        return [_tensors(v, src, depth + 1) for v in value]
    return value


def _refs(value, src):
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]                              # Keras 3 writes a single input unnested
    if not isinstance(value, list) or not all(isinstance(v, list) and len(v) == 3
                                              for v in value):
        raise src.error("invalid input_layers/output_layers in the Functional config")
    return [TensorRef(tuple(v)) for v in value]


def _functional(spec, src, budget):
    cls, config = spec_parts(spec, src, "model")
    specs, nodes, inputs, outputs = parse_functional(config, src)
    return _build_functional(registered()["Functional"], config, specs, nodes, inputs, outputs, src, budget)


def _build_functional(model_cls, config, specs, nodes, inputs, outputs, src, budget):
    """Replay the graph through fastrnn's Functional API (`fastrnn.Input`, layer calls on
    tensors, `fastrnn.Model`); a node runs once the tensors it takes exist (shared layers may
    be listed before the layers that feed their later calls)."""
    layers = {name: layer_from_keras(entry, src)[0] for name, entry in specs.items()}
    tensors = {}
    for ref in inputs:
        layer = layers.get(ref[0])
        if not isinstance(layer, InputLayer):
            raise src.error(f"model input {list(ref)} is not an InputLayer")
        tensors[ref] = layer.output
    pending = [n for n in nodes if not isinstance(layers[n.layer_name], InputLayer)]
    while pending:
        ready = [n for n in pending if _available((n.args, n.kwargs), tensors)]
        if not ready:
            raise src.error(f"the Functional graph cannot compute the inputs of layer "
                            f"{pending[0].layer_name!r}")
        for node in ready:
            args = _resolve(node.args, tensors, src)
            kwargs = _resolve(node.kwargs, tensors, src)
            first = args[0][0] if args and isinstance(args[0], list) else args[0] if args \
                else None
            budget.charge(layers[node.layer_name], tuple(getattr(first, "shape", ()) or ()))
            out = layers[node.layer_name](*args, **kwargs)
            for i, t in enumerate(out if isinstance(out, (list, tuple)) else [out]):
                tensors[TensorRef((node.layer_name, node.index, i))] = t
        pending = [n for n in pending if n not in ready]
    model = model_cls([tensors[r] for r in inputs] if len(inputs) > 1 else tensors[inputs[0]],
                      [_resolve(r, tensors, src) for r in outputs] if len(outputs) > 1
                      else _resolve(outputs[0], tensors, src), name=config.get("name"))
    return LoadedModel(model, list(layers.values()))


def _available(value, tensors):
    if isinstance(value, TensorRef):
        return value in tensors
    if isinstance(value, dict):
        return all(_available(v, tensors) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_available(v, tensors) for v in value)
    return True


def _resolve(value, tensors, src):
    if isinstance(value, TensorRef):
        if value not in tensors:
            raise src.error(f"the Functional graph uses tensor {list(value)}, which no layer "
                            "computes")
        return tensors[value]
    if isinstance(value, dict):
        return {k: _resolve(v, tensors, src) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, tensors, src) for v in value]
    return value


# --- fastrnn -> Keras --------------------------------------------------------------------------
def sequential_to_keras(model, keras_major):
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
