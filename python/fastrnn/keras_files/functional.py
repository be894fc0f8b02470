"""Keras Functional configs <-> fastrnn Functional models.

Reading: the config (Keras 3: nodes {"args", "kwargs"} with serialized tensors; Keras 2:
[[layer, node, tensor, kwargs], ...] with a recurrent layer's initial states as extra inputs)
is replayed through fastrnn's Functional API: each InputLayer's `output`, then each layer
called on the tensors it takes once they exist (so a shared layer may be listed before the
layers that feed its later calls), then the model class of fastrnn's registry. Keras 3's mask
operations are checked and dropped (see masks.py); `training=False` arguments are dropped;
any other call argument than `initial_state` is an error.

Writing: fastrnn's `Functional.get_config()` is in Keras 3's shape already; each layer config
goes through the layer table, nodes keep only their tensor arguments (Keras recomputes masks
and `training` itself), and the layers are listed in the order Keras will give them, which
names the weight groups of .keras files (Keras 3 counts the mask operations it adds into the
depth that orders its layers; tf-keras adds none, and orders as fastrnn does).
"""
from collections import defaultdict, deque

from ..layers.core import InputLayer
from ..layers.registry import registered
from . import masks
from .config import WriteError, layer_from_keras, layer_to_keras, serialized, spec_parts

RECURRENT_CALLS = ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional")   # take initial_state
_MODULE = "keras.src.models.functional"
_ABSENT = object()


class Node:
    """Call number `index` of a layer in a Functional graph: `layer(*args, **kwargs)` where
    tensors are TensorRefs; `recorded` says the file records call arguments as Keras 3 does
    (masks and `training` included)."""

    def __init__(self, layer_name, index, args, kwargs, recorded):
        self.layer_name = layer_name
        self.index = index
        self.args = args
        self.kwargs = kwargs
        self.recorded = recorded

    def refs(self):
        return [v for v in _leaves([self.args, self.kwargs]) if isinstance(v, TensorRef)]


class TensorRef(tuple):
    """(layer name, node index, tensor index) of a tensor produced in the graph."""


def parse_functional(config, src):
    """(layer specs by name in config order, [Node] in config order, input refs, output refs
    (each a ref, a list or a dict of refs, as the file has them)) from a Keras 2 or Keras 3
    Functional config; raises ModelFileError if malformed."""
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
        inbound = entry.get("inbound_nodes") or []
        if not isinstance(inbound, list):
            raise src.error(f"invalid inbound nodes of layer {name!r}")
        for index, node in enumerate(inbound):
            nodes.append(_node(name, index, entry.get("class_name"), node, src))
    return specs, nodes, _refs(config.get("input_layers"), src), _refs(
        config.get("output_layers"), src)


def _node(layer_name, index, cls, node, src):
    if isinstance(node, dict):                       # Keras 3: {"args": [...], "kwargs": {...}}
        args, kwargs = node.get("args", []), node.get("kwargs", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise src.error(f"invalid inbound node of layer {layer_name!r}")
        return Node(layer_name, index, _tensors(args, src), _tensors(kwargs, src), True)
    if isinstance(node, list):                       # Keras 2: [[name, node, tensor, kwargs]]
        args, kwargs = [], {}
        for item in node:
            if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
                raise src.error(f"invalid inbound node of layer {layer_name!r}")
            args.append(TensorRef((item[0], item[1], item[2])))
            if len(item) > 3 and isinstance(item[3], dict):
                kwargs.update(_tensors(item[3], src))
        if len(args) > 1 and cls in RECURRENT_CALLS:   # Keras 2 passes states as inputs
            kwargs["initial_state"], args = args[1:], args[:1]
        return Node(layer_name, index, [args[0]] if len(args) == 1 else [args], kwargs, False)
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


def _refs(value, src, depth=0):
    """Input/output refs: one [name, node, tensor], or a list or dict of them."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return TensorRef(tuple(value))
    if isinstance(value, list) and value and depth < 2:
        refs = [_refs(v, src, depth + 1) for v in value]
        if all(isinstance(r, TensorRef) for r in refs):
            return refs[0] if len(refs) == 1 else refs   # Keras 2 lists a single one too
    if isinstance(value, dict) and value and depth < 1:
        refs = {k: _refs(v, src, depth + 1) for k, v in value.items()}
        if all(isinstance(r, TensorRef) for r in refs.values()):
            return refs
    raise src.error("invalid input_layers/output_layers in the Functional config")


def _leaves(value):
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def _map(value, fn):
    if isinstance(value, TensorRef):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map(v, fn) for v in value]
    return value


def in_dependency_order(nodes, inputs, error):
    """`nodes` reordered so that each comes after the nodes computing its tensors (`inputs`:
    the refs available at the start); the calls of one layer keep their order. Linear time
    (a topological sort), whatever order a crafted file lists its layers in."""
    keyed = {(n.layer_name, n.index): n for n in nodes}
    available = {(r[0], r[1]) for r in inputs}
    missing, waiting = {}, defaultdict(list)
    for key, node in keyed.items():
        needs = {(r[0], r[1]) for r in node.refs()} - available
        if node.index and (node.layer_name, node.index - 1) in keyed:
            needs.add((node.layer_name, node.index - 1))
        missing[key] = len(needs)
        for need in needs:
            waiting[need].append(key)
    queue = deque(key for key in keyed if not missing[key])
    ordered = []
    while queue:
        key = queue.popleft()
        ordered.append(keyed[key])
        for other in waiting.pop(key, ()):
            missing[other] -= 1
            if not missing[other]:
                queue.append(other)
    if len(ordered) < len(keyed):
        stuck = next(n for k, n in keyed.items() if missing[k])
        raise error(f"the Functional graph cannot compute the inputs of layer "
                    f"{stuck.layer_name!r} (a tensor no layer computes, or a cycle)")
    return ordered


# --- Keras -> fastrnn --------------------------------------------------------------------------
def functional_from_keras(spec, src, budget):
    """(model, layers in the file's order, operations excluded) from a Functional config."""
    _, config = spec_parts(spec, src, "model")
    specs, nodes, inputs, outputs = parse_functional(config, src)
    layers = {name: layer_from_keras(entry, src)[0] for name, entry in specs.items()
              if not masks.is_operation(entry)}
    tensors, tensor_masks, op_masks = {}, {}, {}
    for ref in _leaves(inputs):
        if not isinstance(layers.get(ref[0]), InputLayer):
            raise src.error(f"model input {list(ref)} is not an InputLayer")
        tensors[ref] = layers[ref[0]].output
        tensor_masks[ref] = None
    calls = [n for n in nodes if not isinstance(layers.get(n.layer_name), InputLayer)]
    for node in in_dependency_order(calls, list(tensors), src.error):
        if node.layer_name not in layers:
            entry = specs[node.layer_name]
            op_masks[TensorRef((node.layer_name, node.index, 0))] = masks.operation_mask(
                node.layer_name, entry.get("class_name"), entry.get("config"), node,
                op_masks, src)
            continue
        _replay(node, layers[node.layer_name], tensors, tensor_masks, op_masks, src, budget)
    try:
        model = registered()["Functional"](
            _map(inputs, lambda r: _tensor(r, tensors, src)),
            _map(outputs, lambda r: _tensor(r, tensors, src)), name=config.get("name"),
            trainable=config.get("trainable", True))
    except (TypeError, ValueError) as e:
        raise src.error(f"invalid Functional model: {e}") from e
    return model, list(layers.values())


def _tensor(ref, tensors, src):
    if ref not in tensors:
        raise src.error(f"the Functional graph uses tensor {list(ref)}, which no layer "
                        "computes")
    return tensors[ref]


def _replay(node, layer, tensors, tensor_masks, op_masks, src, budget):
    """Call `layer` as `node` says, after checking its arguments and masks."""
    cls = type(layer).__name__
    where = f"layer {node.layer_name!r} ({cls})"
    args, kwargs = list(node.args), dict(node.kwargs)
    if kwargs.pop("training", None) not in (None, False):
        raise src.unsupported(f"{where} is called with training={node.kwargs['training']!r} "
                              "(always in training mode), which fastrnn does not support")
    recorded_mask = kwargs.pop("mask", _ABSENT)
    if len(args) == 2 and cls in RECURRENT_CALLS and "initial_state" not in kwargs:
        kwargs["initial_state"] = args.pop()        # Keras 3: states passed positionally
    extra = sorted(set(kwargs) - ({"initial_state"} if cls in RECURRENT_CALLS else set()))
    if len(args) != 1 or extra:
        raise src.unsupported(f"{where}: call arguments {extra or args} are not supported")
    if any(r in op_masks for r in _leaves([args, kwargs]) if isinstance(r, TensorRef)):
        raise src.unsupported(f"{where} takes a mask operation's result as data")
    first = _map(args[0], lambda r: _tensor(r, tensors, src))
    arg_masks = _map(args[0], lambda r: tensor_masks.get(r))
    _check_mask(node, cls, where, arg_masks, recorded_mask, bool(kwargs), op_masks, src)
    shapes = [t.shape for t in first] if isinstance(first, list) else [first.shape]
    if not layer.built:                 # before its weights exist; a shared layer once
        budget.charge(layer, shapes[0])
    try:
        out = layer(first, **_map(kwargs, lambda r: _tensor(r, tensors, src)))
    except (TypeError, ValueError, IndexError) as e:
        raise src.error(f"{where}: {e}") from e
    out = out if isinstance(out, list) else [out]
    out_masks = masks.output_masks(layer, node, arg_masks, shapes)
    for i, t in enumerate(out):
        ref = TensorRef((node.layer_name, node.index, i))
        tensors[ref] = t
        tensor_masks[ref] = out_masks[i] if i < len(out_masks) else None


def _check_mask(node, cls, where, arg_mask, recorded, has_states, op_masks, src):
    """A `mask=` argument in the file must be the mask fastrnn carries to this call; without
    one, Keras 3 passes none to a call with initial_state."""
    if recorded is _ABSENT:
        if node.recorded and has_states and cls in masks.MASK_ARGUMENT and \
                isinstance(arg_mask, masks.Mask):
            raise src.unsupported(
                f"{where} is called with initial_state on a masked input ({arg_mask!r}): "
                "Keras 3 ignores the mask there, fastrnn would apply it")
        return
    if recorded is not None and not (isinstance(recorded, TensorRef) and
                                     recorded in op_masks):
        raise src.unsupported(f"{where}: its mask {recorded!r} is not computed by the mask "
                              "operations of an Embedding or a Masking layer")
    expected = None if recorded is None else op_masks[recorded]
    carried = None if isinstance(arg_mask, list) and not any(arg_mask) else arg_mask
    if (expected is None and carried is not None) or (
            expected is not None and not expected.same(carried)):
        raise src.unsupported(f"{where}: Keras passes it the mask {expected!r}, but fastrnn "
                              f"would carry {carried!r} to it")


# --- fastrnn -> Keras --------------------------------------------------------------------------
def functional_to_keras(model, keras_major):
    """(serialized Keras model config, the model's layers in Keras' order) of a fastrnn
    Functional model, for Keras 3 (`keras_major=3`) or Keras 2 / tf-keras."""
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    entries = {}
    for spec in config["layers"]:
        layer = by_name[spec["name"]]
        entries[spec["name"]] = {**layer_to_keras(layer, keras_major), "name": spec["name"],
                                 "inbound_nodes": [_inbound(layer, node, keras_major)
                                                   for node in spec["inbound_nodes"]]}
    layers = list(model.layers)
    if keras_major == 3:
        names, unmasked = keras3_order(*_graph(model, config))
        if unmasked:
            raise WriteError(f"{unmasked[0]} is called with initial_state on a masked input: "
                             "Keras 3 would ignore the mask there; save as .h5 (tf-keras "
                             "applies it) instead")
        layers = [by_name[n] for n in names]
    inputs, outputs = config["input_layers"], config["output_layers"]
    if keras_major == 2:        # tf-keras lists a single input/output too
        inputs, outputs = ([v] if _is_ref(v) else v for v in (inputs, outputs))
    body = {"name": config["name"], "trainable": config["trainable"],
            "layers": [entries[layer.name] for layer in layers], "input_layers": inputs,
            "output_layers": outputs}
    if keras_major == 2:
        return {"class_name": "Functional", "config": body}, layers
    spec = serialized("Functional", body, _MODULE)
    spec.update(registered_name="Functional", build_config={"input_shape": None})
    return spec, layers


def layer_order(model, keras_major):
    """The model's layers in the order Keras lists them (that order names the weight groups
    of .keras files): tf-keras' is fastrnn's; Keras 3 counts the mask operations it adds."""
    if keras_major == 2:
        return list(model.layers)
    by_name = {layer.name: layer for layer in model.layers}
    return [by_name[n] for n in keras3_order(*_graph(model, model.get_config()))[0]]


def _graph(model, config):
    """(layers by name, [Node], tensor shapes by ref, input refs, output refs) of a fastrnn
    Functional config."""
    nodes, shapes = [], {}
    for spec in config["layers"]:
        for index, node in enumerate(spec["inbound_nodes"]):
            kwargs = _tensor_kwargs(node["kwargs"])
            for t in _serialized_tensors([node["args"], kwargs]):
                shapes[TensorRef(t["config"]["keras_history"])] = t["config"]["shape"]
            nodes.append(Node(spec["name"], index, _tensors(node["args"], None),
                              _tensors(kwargs, None), True))
    return ({layer.name: layer for layer in model.layers}, nodes, shapes,
            _tensors(config["input_layers"], None), _tensors(config["output_layers"], None))


def _is_ref(value):
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _serialized_tensors(value):
    """The serialized tensors ({"class_name": "__keras_tensor__", ...}) in call arguments."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value]
        value = list(value.values())
    if isinstance(value, list):
        return [t for v in value for t in _serialized_tensors(v)]
    return []


def _tensor_kwargs(kwargs):
    """Only tensor arguments reach fastrnn's layers (others are not part of its graph)."""
    return {k: v for k, v in kwargs.items() if _serialized_tensors(v)}


def _inbound(layer, node, keras_major):
    kwargs = _tensor_kwargs(node["kwargs"])
    where = f"layer {layer.name!r} ({type(layer).__name__})"
    if set(kwargs) - {"initial_state"}:
        raise WriteError(f"{where}: call arguments {sorted(kwargs)} have no Keras equivalent")
    if keras_major == 3:
        return {"args": node["args"], "kwargs": kwargs}
    history = [t["config"]["keras_history"] for t in _serialized_tensors([node["args"], kwargs])]
    return [[name, node_index, tensor_index, {}] for name, node_index, tensor_index in history]


def keras3_order(by_name, nodes, shapes, inputs, outputs):
    """(the layer names in the order Keras 3 gives the layers of this graph (its
    `ops.function.map_graph`), the calls Keras 3 passes no mask although their input has
    one). The order counts the mask operations Keras 3 adds: a NotEqual for each
    Embedding(mask_zero=True) call and NotEqual + Any for each Masking call whose mask a
    layer taking `mask` receives (extra parents of that call); Keras passes it only to a call
    with a single tensor argument (not with initial_state)."""
    parents = {(n.layer_name, n.index): n.refs() for n in nodes}
    inputs, outputs = _leaves(inputs), _leaves(outputs)
    tensor_masks, ops, unmasked = {}, {}, []
    calls = [n for n in nodes if not isinstance(by_name[n.layer_name], InputLayer)]
    for node in in_dependency_order(calls, inputs, WriteError):
        layer = by_name[node.layer_name]
        cls = type(layer).__name__
        arg_masks = _map(node.args[0], tensor_masks.get)
        if cls in masks.MASK_ARGUMENT and isinstance(arg_masks, masks.Mask):
            where = f"layer {node.layer_name!r} ({cls})"
            if node.kwargs:
                unmasked.append(where)
            elif arg_masks.kind == "combined":
                raise WriteError(f"{where} takes a mask combined by a merge layer: Keras 3 "
                                 "computes it with operations that change the order of its "
                                 "layers (which names their weights in .keras and .weights.h5 "
                                 "files) in ways fastrnn does not reproduce; use .h5 files")
            else:
                parents[(node.layer_name, node.index)].append(_mask_op(arg_masks, ops,
                                                                       parents))
        arg_shapes = [shapes[r] for r in _leaves(node.args[0])]
        for i, m in enumerate(masks.output_masks(layer, node, arg_masks, arg_shapes)):
            tensor_masks[TensorRef((node.layer_name, node.index, i))] = m
    order = map_graph_order(parents, inputs, outputs)
    return [name for name in order if name in by_name], unmasked


def _mask_op(mask, ops, parents):
    """The output ref of the operation computing `mask` (created once per producing call)."""
    key = id(mask.producer)
    if key not in ops:
        not_equal = (f"\0not_equal{len(ops)}", 0)
        parents[not_equal] = [mask.source]
        ops[key] = TensorRef(not_equal + (0,))
        if mask.kind == "any":
            any_op = (f"\0any{len(ops)}", 0)
            parents[any_op] = [ops[key]]
            ops[key] = TensorRef(any_op + (0,))
    return ops[key]


def map_graph_order(parents, inputs, outputs):
    """Layer (or operation) names ordered as Keras' `map_graph`: by decreasing depth from the
    outputs, then by first visit of a depth-first walk from the outputs. `parents`: node
    (name, index) -> the refs it takes."""
    finished, order_visited, post_order = set(), {}, []
    input_set = set(inputs)
    for out in outputs:
        stack = [(out, False)]
        while stack:
            ref, done = stack.pop()
            key = (ref[0], ref[1])
            if done:
                if key not in finished:
                    finished.add(key)
                    post_order.append(key)
                continue
            if key in finished:
                continue
            order_visited.setdefault(ref[0], len(order_visited))
            stack.append((ref, True))
            if ref not in input_set:
                stack.extend((p, False) for p in reversed(parents.get(key, [])))
    node_depth, layer_depth = {}, {}
    for key in reversed(post_order):
        depth = max(node_depth.setdefault(key, 0), layer_depth.get(key[0], 0))
        layer_depth[key[0]] = node_depth[key] = depth
        for p in parents.get(key, []):
            pk = (p[0], p[1])
            node_depth[pk] = max(depth + 1, node_depth.get(pk, 0))
    for ref in inputs:
        if ref[0] not in layer_depth:
            layer_depth[ref[0]], order_visited[ref[0]] = 0, -1
    return sorted(layer_depth, key=lambda name: (-layer_depth[name], order_visited[name]))
