"""The Layer protocol every fastrnn layer follows.

A layer owns its weights as a list of float32 NumPy arrays (`self.weights`, Keras order) that
optimisers update in place. Training is explicit, not taped:

    y = layer(x, mask=mask, training=True)   # forward; the layer keeps what backward needs
    dx = layer.backward(dy)                   # gradients w.r.t. the input; fills layer.grads

`layer.grads` is aligned with `layer.weights` (an entry is a dense array, or an
`IndexedSlices` for a sparse embedding gradient). `backward` WRITES the gradients (it does not
accumulate): each call replaces the previous ones. A layer keeps one pending forward at a time;
a Functional model that calls one layer several times runs the extra calls on twins
(`_twin()`: same weight arrays, own call state) and adds up their gradients.

Called on symbolic tensors (`fastrnn.Input(...)` and what layers return for them), a layer
computes nothing: it records a node (fastrnn.graph) and returns symbolic outputs.
"""
import copy

import numpy as np

from .. import graph
from .. import initializers
from .. import random as frandom

_name_counts = {}


def unique_name(base):
    """Keras-style automatic names: lstm, lstm_1, lstm_2, ..."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_names():
    _name_counts.clear()


def snake_case(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i > 0 and (not name[i - 1].isupper() or
                                       (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class Layer:
    """Base class. Subclasses implement `build`, `call`, `backward`, `compute_output_shape`."""

    supports_masking = False

    def __init__(self, name=None, trainable=True, dtype="float32", input_shape=None, **kwargs):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.trainable = trainable
        self.dtype = np.dtype(dtype)
        self.built = False
        self.weights = []        # live arrays, Keras order
        self.weight_names = []
        self.grads = []
        self.input_shape_hint = None if input_shape is None else tuple(input_shape)
        self._inbound_nodes = []  # symbolic calls (fastrnn.graph.Node)

    # -- weights ---------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, rng=None):
        init = initializers.get(initializer)
        value = np.ascontiguousarray(
            init(tuple(int(s) for s in shape), self.dtype, rng or frandom.generator()),
            dtype=self.dtype)
        self.weights.append(value)
        self.weight_names.append(f"{self.name}/{name}")
        return value

    @property
    def trainable_weights(self):
        return self.weights if self.trainable else []

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(
                f"{self.name}.set_weights: expected a list of {len(self.weights)} arrays "
                f"(shapes {[w.shape for w in self.weights]}), got {len(weights)}")
        for i, (dst, src) in enumerate(zip(self.weights, weights)):
            src = np.asarray(src)
            if src.shape != dst.shape:
                raise ValueError(
                    f"{self.name}.set_weights: weight {i} ({self.weight_names[i]}) expected "
                    f"shape {dst.shape}, got {src.shape}")
            if not np.issubdtype(src.dtype, np.number) or np.issubdtype(src.dtype, np.complexfloating):
                raise TypeError(
                    f"{self.name}.set_weights: weight {i} expected a real numeric array, "
                    f"got dtype {src.dtype}")
        for dst, src in zip(self.weights, weights):
            dst[...] = src   # in place: optimiser slots and views stay valid

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    # -- calling ---------------------------------------------------------------------------
    def build(self, input_shape):
        self.built = True

    def __call__(self, inputs, mask=None, training=False, **kwargs):
        if graph.is_symbolic([inputs, kwargs]):
            return graph.call_symbolic(self, inputs, kwargs)
        if not self.built:
            self.build(_shape_of(inputs))
            self.built = True
        return self.call(inputs, mask=mask, training=training, **kwargs)

    def call(self, inputs, mask=None, training=False):
        raise NotImplementedError

    # Attributes a call sets for its backward; a twin starts with them cleared.
    _call_state = ()

    def _twin(self):
        """A copy sharing this layer's weight arrays with its own call state (for a layer
        called more than once in one forward pass)."""
        twin = copy.copy(self)
        twin.grads = []
        for attr in self._call_state:
            setattr(twin, attr, None)
        return twin

    def backward(self, d_outputs):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def compute_mask(self, inputs, mask=None):
        """The mask passed to the next layer (Keras: kept only by masking-aware layers)."""
        return mask if self.supports_masking else None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _shape_of(inputs):
    if isinstance(inputs, (list, tuple)):
        return [tuple(np.shape(i)) for i in inputs]
    return tuple(np.shape(inputs))
