"""`Sequential`: a Functional model whose graph is a chain of layers.

As in Keras 3: with an input shape (a leading `fastrnn.Input`/`InputLayer`, or `input_shape=`
on the first layer) the graph is built as layers are added; otherwise it is built on the first
data (`fit`, `predict`, calling the model) from that data's shape. `model.layers` leaves out
the InputLayer. `add`/`pop` rebuild the graph.
"""
from .. import graph
from ..layers.base import Layer
from ..layers.core import InputLayer
from ..layers.registry import register, serialize, deserialize
from .functional import Functional


@register
class Sequential(Functional):
    """A linear stack of layers, like `keras.Sequential`."""

    def __init__(self, layers=None, trainable=True, name=None):
        self._init_model(name, trainable, "sequential")
        self._stack = []          # InputLayer (if any) then the layers, in order
        self._build_input_shape = None
        self.input_names, self.output_names = ["input_layer"], ["output"]
        for layer in layers or []:
            self.add(layer, rebuild=False)
        self._maybe_rebuild()

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer, rebuild=True):
        if isinstance(layer, graph.SymbolicTensor) and isinstance(layer.history[0], InputLayer):
            layer = layer.history[0]     # Sequential([fastrnn.Input(...), ...])
        if not self._stack and not isinstance(layer, InputLayer) and \
                getattr(layer, "input_shape_hint", None) is not None:
            self.add(InputLayer(shape=layer.input_shape_hint), rebuild=False)
        if not isinstance(layer, Layer):
            raise ValueError("Only instances of fastrnn layers can be added to a Sequential "
                             f"model. Received: {layer!r} (of type {type(layer).__name__})")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError("All layers added to a Sequential model should have unique names. "
                             f"Name '{layer.name}' is already the name of a layer in this model.")
        if isinstance(layer, InputLayer) and self._stack:
            raise ValueError(f"Sequential model '{self.name}' already has layers; an Input "
                             "must come first.")
        self._stack.append(layer)
        self.built = False
        if rebuild:
            self._maybe_rebuild()

    def pop(self, rebuild=True):
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        layer = self._stack.pop()
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self):
        if self._stack and isinstance(self._stack[0], InputLayer) and len(self._stack) > 1:
            self.build(self._stack[0].batch_shape)
        elif self._build_input_shape is not None and self.layers:
            self.build(self._build_input_shape)

    @property
    def layers(self):
        """The layers, without the InputLayer (like Keras)."""
        if self._stack and isinstance(self._stack[0], InputLayer):
            return self._stack[1:]
        return list(self._stack)

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of shape `input_shape` (batch first)."""
        if input_shape is None:
            if self._stack and isinstance(self._stack[0], InputLayer):
                input_shape = self._stack[0].batch_shape
            else:
                raise ValueError("You must provide an `input_shape` argument.")
        if not self.layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers to build.")
        shape = tuple(None if d is None else int(d) for d in input_shape)
        self._build_input_shape = shape
        if self._stack and isinstance(self._stack[0], InputLayer):
            first = self._stack[0]
            if tuple(first.batch_shape) != shape:
                raise ValueError(f"{self.name}: build shape {shape} differs from the Input's "
                                 f"{first.batch_shape}")
        else:
            first = InputLayer(batch_shape=shape, name=f"{self.name}_input")
        x = first.output
        for i, layer in enumerate(self.layers):
            if isinstance(x, list):
                raise ValueError(f"{self.name}: layer '{self.layers[i - 1].name}' returns "
                                 f"{len(x)} tensors but the next layer '{layer.name}' takes "
                                 "one; in a Sequential model only the last layer may return "
                                 "several (use the Functional API)")
            x = layer(x)   # a list from the last layer makes several model outputs
        self._set_graph(first.output, x)
        self._input_layer = first

    def _weight_layers(self):
        return self.layers

    def _ensure_built(self, xs):
        if not self.built or any(not layer.built for layer in self.layers):
            if self._stack and isinstance(self._stack[0], InputLayer):
                self.build(self._stack[0].batch_shape)
            else:
                self.build((None,) + tuple(xs[0].shape[1:]))

    def _input_list(self, x, what):
        return [x]

    def _target_list(self, y, what):
        if not self.built or len(self.outputs) == 1:
            return [y]
        return super()._target_list(y, what)

    @property
    def input_shape(self):
        return self._build_input_shape

    @property
    def output_shape(self):
        return self.outputs[0].shape if self.built else None

    def _summary_rows(self):
        """Sequential summaries list the layers without the input, and "?" before build."""
        rows = []
        for layer in self.layers:
            shape = None
            if self.built and layer._inbound_nodes:
                last = layer._inbound_nodes[-1]
                shape = last.outputs[0].shape
            rows.append((layer, shape, []))
        return rows, False

    # -- config ------------------------------------------------------------------------------
    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialize(layer) for layer in self._stack],
                "build_input_shape": (None if self._build_input_shape is None
                                      else list(self._build_input_shape))}

    @classmethod
    def from_config(cls, config):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for spec in config.get("layers", []):
            model.add(deserialize(spec), rebuild=False)
        shape = config.get("build_input_shape")
        if shape is not None and model.layers:
            model.build(tuple(shape))
        return model
