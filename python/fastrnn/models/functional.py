"""`Functional`: a model that is a directed acyclic graph of layer calls.

Built from symbolic tensors (`fastrnn.Input`, then layers called on them), like Keras 3's
Functional model, whose graph walk (ops/function.py `map_graph`) this follows so that layers
come in the same order, and with them `get_weights()`.

Execution is a precomputed plan over the graph's nodes in topological order:
- forward: each node's layer is called on the arrays of its input tensors (a list for merge
  layers, tensor-valued keyword arguments such as `initial_state`), with the masks those
  tensors carry (`layer.compute_mask` gives the outputs' masks, as in Keras);
- backward: nodes in reverse order; a tensor used several times gets the sum of its
  gradients; nodes with nothing trainable upstream or downstream are skipped; gradients of
  `initial_state` arguments flow back to the tensors that produced them;
- a layer called several times (shared weights) runs its extra calls on twins that share the
  weight arrays (`Layer._twin`), and its gradients are the sum of all its calls'.
"""
from collections import defaultdict

import numpy as np

from .. import graph
from ..indexed_slices import IndexedSlices
from ..layers.core import InputLayer
from ..layers.registry import register
from ..penalties import activity_penalty
from .model import Model


class _Step:
    """One node of the plan: which layer object runs it and where its values live."""

    __slots__ = ("node", "runner", "args", "kwargs", "outs", "trainable_here",
                 "needs_backward", "has_consumers")

    def __init__(self, node, runner, args, kwargs, outs):
        self.node = node
        self.runner = runner
        self.args = args        # slot index, or list of slot indices
        self.kwargs = kwargs    # {name: slot index or list of slot indices}
        self.outs = outs        # slot index of each output
        self.trainable_here = False
        self.needs_backward = False
        self.has_consumers = False


def map_graph(inputs, outputs):
    """Nodes between `inputs` and `outputs` and the layers in Keras' order (by depth, then
    by first traversal); raises on cycles and on tensors the inputs cannot compute."""
    finished, in_progress = set(), set()
    ordered = []          # nodes from inputs to outputs (DFS post-order)
    first_seen = {}       # layer -> traversal index
    input_ids = {id(t) for t in inputs}

    def visit(tensor):
        layer, node_index, _ = tensor.history
        node = layer._inbound_nodes[node_index]
        if node in finished:
            return
        if node.input_tensors == [] and id(tensor) not in input_ids and \
                not isinstance(layer, InputLayer):
            raise ValueError(f"{tensor} is not connected to an Input")
        if node in in_progress:
            raise ValueError(f"Tensor {tensor} from layer '{layer.name}' is part of a cycle.")
        first_seen.setdefault(layer, len(first_seen))
        in_progress.add(node)
        if id(tensor) not in input_ids:
            for t in node.input_tensors:
                visit(t)
        finished.add(node)
        in_progress.discard(node)
        ordered.append(node)

    for t in outputs:
        visit(t)
    in_graph = set(ordered)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[node] = depth
        for t in node.input_tensors:
            parent = t.node
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    for t in inputs:   # unused inputs still belong to the model
        layer = t.history[0]
        if layer not in layer_depth:
            layer_depth[layer] = 0
            first_seen[layer] = -1
            node_depth[t.node] = 0
    by_depth = defaultdict(list)
    for layer, depth in layer_depth.items():
        by_depth[depth].append(layer)
    layers = []
    for depth in sorted(by_depth, reverse=True):
        layers.extend(sorted(by_depth[depth], key=lambda lay: first_seen[lay]))
    nodes_by_depth = defaultdict(list)
    for node, depth in node_depth.items():
        nodes_by_depth[depth].append(node)
    computable = {id(t) for t in inputs}
    done = []
    nodes = []
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            for t in node.input_tensors:
                if id(t) not in computable:
                    raise ValueError(
                        f"Graph disconnected: cannot find parent for tensor {t} at layer "
                        f"'{node.layer.name}'. The following previous layers were accessed "
                        f"without issue: {done}")
            if isinstance(node.layer, InputLayer) and not node.input_tensors:
                continue   # an Input: computable only when it is one of `inputs`
            done.append(node.layer.name)
            for t in node.outputs:
                computable.add(id(t))
            nodes.append(node)
    names = [layer.name for layer in layers]
    for name in names:
        if names.count(name) != 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the '
                             "model. All layer names should be unique.")
    return nodes, layers, dict(nodes_by_depth)


@register
class Functional(Model):
    """`fastrnn.Model(inputs, outputs, name=None)`: a graph of layers (see module docstring)."""

    def __init__(self, inputs, outputs, name=None, trainable=True):
        self._init_model(name, trainable, "functional")
        self._set_graph(inputs, outputs)

    # -- graph -------------------------------------------------------------------------------
    def _set_graph(self, inputs, outputs):
        flat_in, flat_out = graph.flatten(inputs), graph.flatten(outputs)
        for what, flat in (("inputs", flat_in), ("outputs", flat_out)):
            if not flat:
                raise ValueError(f"`{what}` argument cannot be empty. Received: {what}="
                                 f"{inputs if what == 'inputs' else outputs}")
            for t in flat:
                if not isinstance(t, graph.SymbolicTensor):
                    raise ValueError(f"All `{what}` values must be symbolic tensors (from "
                                     f"fastrnn.Input and layers called on them). Received: "
                                     f"{t!r} of type {type(t).__name__}")
        for t in flat_in:
            if not isinstance(t.history[0], InputLayer):
                raise ValueError(f"inputs: {t} is not a model input: use the tensors returned "
                                 "by fastrnn.Input (sub-models from intermediate tensors are "
                                 "not supported)")
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = flat_in, flat_out
        nodes, self._layers, self._nodes_by_depth = map_graph(flat_in, flat_out)
        self._nodes = {n for v in self._nodes_by_depth.values() for n in v}
        self._build_plan(nodes)
        self.input_names = [t.history[0].name for t in flat_in]
        self.output_names = [t.history[0].name for t in flat_out]
        self.built = True

    def _build_plan(self, nodes):
        slots = {}
        for t in self.inputs:
            slots[id(t)] = len(slots)
        self._input_slots = [slots[id(t)] for t in self.inputs]
        calls = defaultdict(int)
        steps = []
        for node in nodes:
            if isinstance(node.layer, InputLayer) and not node.input_tensors:
                continue
            layer = node.layer
            runner = layer if calls[layer] == 0 else layer._twin()
            calls[layer] += 1

            def slot_of(t):
                return slots[id(t)]

            args = _map_tensors(node.args, slot_of)
            kwargs = {k: _map_tensors(v, slot_of) for k, v in node.kwargs.items()
                      if graph.is_symbolic(v)}
            outs = []
            for t in node.outputs:
                slots[id(t)] = len(slots)
                outs.append(slots[id(t)])
            steps.append(_Step(node, runner, args, kwargs, outs))
        self._n_slots = len(slots)
        self._output_slots = [slots[id(t)] for t in self.outputs]
        self._steps = steps
        self._runners = defaultdict(list)
        for st in steps:
            self._runners[st.node.layer].append(st.runner)
        self._producer = {}
        for st in steps:
            for s in st.outs:
                self._producer[s] = st
        for st in steps:
            for s in _slots_of(st):
                if s in self._producer:
                    self._producer[s].has_consumers = True
        self._output_producers = [self._producer.get(s) for s in self._output_slots]

    def _mark_backward(self):
        """Backward runs only where a gradient reaches something trainable: a node needs it
        when it or a node upstream of it has trainable weights. Recomputed per step, since
        `layer.trainable` may change between steps."""
        producer = self._producer
        for st in self._steps:
            st.trainable_here = bool(self.trainable and st.node.layer.trainable and
                                     st.runner.weights)
            st.needs_backward = st.trainable_here or any(
                producer[s].needs_backward for s in _slots_of(st) if s in producer)

    @property
    def layers(self):
        return list(self._layers)

    def _ensure_built(self, xs):
        pass

    def _check_input_values(self, xs, what="x"):
        """Whole-array checks of the layers that read a model input directly (Embedding's
        token ids), run before the first batch so bad data fails before any update and
        reports its position in the input."""
        for st in self._steps:
            check = getattr(st.runner, "check_inputs", None)
            if check is None or isinstance(st.args, list) or st.args not in self._input_slots:
                continue
            i = self._input_slots.index(st.args)
            name = what if len(xs) == 1 else f"{what}[{self.input_names[i]!r}]"
            check(xs[i], argument=name)

    # -- execution ---------------------------------------------------------------------------
    def _run(self, xs, training):
        """Forward pass over the plan; returns (outputs, their masks), lists in output order."""
        if len(xs) != len(self._input_slots):
            raise ValueError(f"{self.name}: expected {len(self._input_slots)} input arrays, got "
                             f"{len(xs)}")
        values = [None] * self._n_slots
        masks = [None] * self._n_slots
        self._activity_loss = np.float32(0)
        self._activity_grads = []   # (slot, gradient of the activity penalties)
        for s, x in zip(self._input_slots, xs):
            values[s] = x
        for st in self._steps:
            args = _gather(st.args, values)
            amask = _gather(st.args, masks)
            kwargs = {k: _gather(v, values) for k, v in st.kwargs.items()}
            out = st.runner(args, mask=amask, training=training, **kwargs)
            out_mask = st.runner.compute_mask(args, amask)
            reg = st.runner.activity_regularizer
            if reg is not None:
                penalty, grads = activity_penalty(reg, out if isinstance(out, list) else [out])
                self._activity_loss = self._activity_loss + penalty
                self._activity_grads.extend(zip(st.outs, grads))
            if len(st.outs) == 1 and not isinstance(out, list):
                values[st.outs[0]] = out
                masks[st.outs[0]] = out_mask
            else:
                if out_mask is None:
                    out_mask = [None] * len(st.outs)
                for s, v, m in zip(st.outs, out, out_mask):
                    values[s] = v
                    masks[s] = m
        self._last_steps_ran = True
        return ([values[s] for s in self._output_slots],
                [masks[s] for s in self._output_slots])

    def _output_logits(self):
        """Per output: the pre-activation logits of a sigmoid/softmax output layer, when the
        loss may be computed from them (the output feeds nothing else)."""
        out = []
        for st in self._output_producers:
            logits = None
            if st is not None and not st.has_consumers and len(st.outs) == 1:
                logits = getattr(st.runner, "logits", None)
            out.append(logits)
        return out

    def _run_backward(self, output_grads, wrt_logits):
        """Backpropagate the loss gradients of the outputs; fills every trainable layer's
        `grads` (None for weights no gradient reached)."""
        self._mark_backward()
        grads = [None] * self._n_slots
        logits_slots = set()
        for s, g, w in zip(self._output_slots, output_grads, wrt_logits):
            if g is None:
                continue
            grads[s] = g if grads[s] is None else grads[s] + g
            if w:
                logits_slots.add(s)
        for s, g in self._activity_grads:
            if s in logits_slots:   # the loss' gradient is w.r.t. the logits: chain through
                runner = self._producer[s].runner     # the output activation
                z = runner._z
                g = runner._activation_grad(g.reshape(z.shape), False).reshape(g.shape)
            grads[s] = g if grads[s] is None else grads[s] + g
        for st in reversed(self._steps):
            if not st.needs_backward:
                continue
            d_out = [grads[s] for s in st.outs]
            if all(d is None for d in d_out):
                st.runner.grads = [None] * len(st.runner.weights)
                continue
            single = len(st.outs) == 1 and st.node.single_output
            if single and st.outs[0] in logits_slots:
                dx = st.runner.backward(d_out[0], wrt_logits=True)
            else:
                dx = st.runner.backward(d_out[0] if single else d_out)
            if dx is not None:
                _scatter(st.args, dx, grads)
            if "initial_state" in st.kwargs:
                init = getattr(st.runner, "initial_state_grads", None)
                if init is not None:
                    _scatter(st.kwargs["initial_state"], list(init), grads)
        self._sum_shared_grads()

    def _sum_shared_grads(self):
        for layer, runners in self._runners.items():
            if len(runners) < 2 or not layer.weights:
                continue
            total = []
            for i in range(len(layer.weights)):
                parts = [r.grads[i] for r in runners if r.grads and r.grads[i] is not None]
                total.append(_add_grads(parts))
            layer.grads = total

    def _pack_outputs(self, outs):
        if isinstance(self._outputs_struct, (list, tuple, dict)):
            return graph.pack_like(self._outputs_struct, outs)
        return outs[0]

    def _input_list(self, x, what):
        if isinstance(self._inputs_struct, dict) and isinstance(x, dict):
            keys = list(self._inputs_struct)
            missing = [k for k in keys if k not in x]
            if missing:
                raise ValueError(f"{what}: missing input(s) {missing}; the model's inputs are "
                                 f"{keys}, got keys {sorted(x)}")
            return [x[k] for k in keys]
        return super()._input_list(x, what)

    # -- summary and config ------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        from .._summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    def _summary_rows(self):
        """(layer, output shape, connections) per row and whether to show "Connected to":
        Keras shows it unless the graph is a chain without shared layers."""
        mine = self._node_set()
        chain = all(len(v) == 1 and len(v[0].input_tensors) <= 1
                    for v in self._nodes_by_depth.values())
        if chain:
            chain = all(sum(n in mine for n in layer._inbound_nodes) <= 1
                        for layer in self._layers)
        rows = []
        for layer in self._layers:
            last = layer._inbound_nodes[-1]
            shape = last.outputs[0].shape if last.single_output else \
                [t.shape for t in last.outputs]
            connections = [f"{t.history[0].name}[{t.history[1]}][{t.history[2]}]"
                           for node in layer._inbound_nodes if node in mine
                           for t in node.input_tensors]
            rows.append((layer, shape, connections))
        return rows, not chain

    def _node_set(self):
        return self._nodes

    def _node_position(self, layer, node_index):
        """A node's index among its layer's nodes that belong to this model."""
        mine = self._node_set()
        return sum(1 for n in layer._inbound_nodes[:node_index] if n in mine)

    def get_config(self):
        """Keras 3's Functional config: layers with their inbound nodes, input/output refs."""
        mine = self._node_set()
        layers = []
        for layer in self._layers:
            spec = {"class_name": type(layer).__name__, "config": layer.get_config(),
                    "name": layer.name, "inbound_nodes": []}
            for node in layer._inbound_nodes:
                if node in mine and node.input_tensors:
                    spec["inbound_nodes"].append(
                        {"args": [_serialize_tensors(node.args, self)],
                         "kwargs": {k: _serialize_tensors(v, self)
                                    for k, v in node.kwargs.items()}})
            layers.append(spec)

        def ref(t):
            layer, node_index, tensor_index = t.history
            return [layer.name, self._node_position(layer, node_index), tensor_index]
        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": _map_structure(self._inputs_struct, ref),
                "output_layers": _map_structure(self._outputs_struct, ref)}

    @classmethod
    def from_config(cls, config):
        return functional_from_config(cls, config)


def functional_from_config(cls, config):
    """Rebuild layers from their configs, then replay their calls in dependency order."""
    from ..layers.registry import deserialize
    created = {}
    pending = []
    for spec in config["layers"]:
        layer = deserialize(spec)
        name = spec.get("name", layer.name)
        created[name] = layer
        pending.extend((layer, node) for node in spec.get("inbound_nodes", []))
    produced = defaultdict(list)   # layer name -> output tensors of each replayed call
    for name, layer in created.items():
        if isinstance(layer, InputLayer):
            produced[name].append([layer.output])

    def tensor(ref_config):
        name, node_index, tensor_index = ref_config
        calls = produced.get(name, [])
        if node_index >= len(calls):
            raise LookupError
        return calls[node_index][tensor_index]

    def resolve(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return tensor(value["config"]["keras_history"])
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    while pending:
        progressed = False
        remaining = []
        blocked_layers = set()
        for layer, node in pending:
            if id(layer) in blocked_layers:    # keep each layer's calls in order
                remaining.append((layer, node))
                continue
            try:
                args = resolve(node["args"])
                kwargs = {k: resolve(v) for k, v in node.get("kwargs", {}).items()}
            except LookupError:
                remaining.append((layer, node))
                blocked_layers.add(id(layer))
                continue
            args = args[0] if len(args) == 1 else args
            kwargs = {k: v for k, v in kwargs.items() if graph.is_symbolic(v)}
            out = layer(args, **kwargs)
            produced[layer.name].append(out if isinstance(out, list) else [out])
            progressed = True
        if not progressed:
            raise ValueError("Invalid Functional model configuration: the graph has loops or "
                             "disconnected nodes: "
                             f"{sorted({layer.name for layer, _ in remaining})}")
        pending = remaining

    def refs(structure):
        if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
            return tensor(structure)
        if isinstance(structure, dict):
            return {k: refs(v) for k, v in structure.items()}
        return [refs(v) for v in structure]

    try:
        inputs, outputs = refs(config["input_layers"]), refs(config["output_layers"])
    except LookupError:
        raise ValueError("Invalid Functional model configuration: an input or output refers "
                         "to a layer call that does not exist") from None
    return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


# -- helpers over slot structures --------------------------------------------------------------
def _map_tensors(structure, fn):
    if isinstance(structure, (list, tuple)):
        return [_map_tensors(v, fn) for v in structure]
    if isinstance(structure, graph.SymbolicTensor):
        return fn(structure)
    return structure


def _map_structure(structure, fn):
    if isinstance(structure, dict):
        return {k: _map_structure(v, fn) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_map_structure(v, fn) for v in structure]
    return fn(structure)


def _slots_of(step):
    out = []
    for v in [step.args] + list(step.kwargs.values()):
        out.extend(graph.flatten(v))
    return [s for s in out if isinstance(s, int)]


def _gather(structure, values):
    if isinstance(structure, list):
        return [_gather(s, values) for s in structure]
    return values[structure] if isinstance(structure, int) else structure


def _scatter(structure, grads_in, grads):
    """Add `grads_in` (same structure as `structure`) to the slots' gradients."""
    if isinstance(structure, list):
        if not isinstance(grads_in, (list, tuple)):
            raise TypeError("internal error: a layer with several inputs returned one gradient")
        for s, g in zip(structure, grads_in):
            _scatter(s, g, grads)
        return
    if grads_in is None or not isinstance(structure, int):
        return
    cur = grads[structure]
    grads[structure] = grads_in if cur is None else cur + grads_in


def _add_grads(parts):
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, IndexedSlices) for p in parts):
        return IndexedSlices(np.concatenate([np.reshape(p.indices, -1) for p in parts]),
                             np.concatenate([np.reshape(p.values, (-1, p.values.shape[-1]))
                                             for p in parts]), parts[0].dense_shape)
    dense = [p.to_dense() if isinstance(p, IndexedSlices) else p for p in parts]
    total = dense[0].copy()
    for d in dense[1:]:
        total += d
    return total


def _serialize_tensors(structure, model):
    if isinstance(structure, (list, tuple)):
        return [_serialize_tensors(v, model) for v in structure]
    if isinstance(structure, graph.SymbolicTensor):
        layer, node_index, tensor_index = structure.history
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(structure.shape), "dtype": structure.dtype,
                           "keras_history": [layer.name,
                                             model._node_position(layer, node_index),
                                             tensor_index]}}
    return structure
