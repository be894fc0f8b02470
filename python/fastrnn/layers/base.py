"""The Layer protocol every fastrnn layer follows.

A layer owns its weights as a list of float32 NumPy arrays (`self.weights`, Keras order) that
optimisers update in place. Training is explicit, not taped:

    y = layer(x, mask=mask, training=True)   # forward; the layer keeps what backward needs
    dx = layer.backward(dy)                   # gradients w.r.t. the input; fills layer.grads

`layer.grads` is aligned with `layer.weights` (an entry is a dense array, an `IndexedSlices`
for a sparse embedding gradient, or None for a non-trainable weight such as BatchNormalization's
moving statistics). `backward` WRITES the gradients (it does not accumulate): each call replaces
the previous ones. A layer keeps one pending forward at a time; a Functional model that calls
one layer several times runs the extra calls on twins (`_twin()`: same weight arrays, own call
state) and adds up their gradients.

Each weight may carry a regularizer, a constraint and a trainable flag (`add_weight`), listed
aligned with `layer.weights` by `weight_regularizers`, `weight_constraints`,
`weight_trainable`; `activity_regularizer` applies to the layer's outputs. Applying them is the
trainer's job (see fastrnn/regularizers.py and fastrnn/constraints.py for Keras' rules).

Called on symbolic tensors (`fastrnn.Input(...)` and what layers return for them), a layer
computes nothing: it records a node (fastrnn.graph) and returns symbolic outputs.
"""
import copy
from typing import NamedTuple

import numpy as np

from .. import constraints
from .. import graph
from .. import initializers
from .. import random as frandom
from .. import regularizers
from .._serialization import snake_case  # noqa: F401  (Keras' automatic layer names)

_name_counts = {}


def unique_name(base):
    """Keras-style automatic names: lstm, lstm_1, lstm_2, ..."""
    n = _name_counts.get(base, 0)
    _name_counts[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_names():
    _name_counts.clear()


class _WeightSpec(NamedTuple):
    regularizer: object
    constraint: object
    trainable: bool


_DEFAULT_SPEC = _WeightSpec(None, None, True)


class Layer:
    """Base class. Subclasses implement `build`, `call`, `backward`, `compute_output_shape`."""

    supports_masking = False

    def __init__(self, name=None, trainable=True, dtype="float32", input_shape=None,
                 activity_regularizer=None, **kwargs):
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
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._weight_specs = {}  # id(weight) -> (weight, _WeightSpec)
        self._inbound_nodes = []  # symbolic calls (fastrnn.graph.Node)

    # -- weights ---------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer, rng=None, regularizer=None, constraint=None,
                   trainable=True):
        """Create a weight; a trainable one goes before the non-trainable ones (Keras' order:
        `weights` lists the weights created trainable, then the others)."""
        init = initializers.get("glorot_uniform" if initializer is None else initializer)
        value = np.ascontiguousarray(
            init(tuple(int(s) for s in shape), self.dtype, rng or frandom.generator()),
            dtype=self.dtype)
        spec = _WeightSpec(regularizers.get(regularizer), constraints.get(constraint),
                           bool(trainable))
        index = len(self.weights)
        if spec.trainable:
            index = next((i for i, w in enumerate(self.weights) if not self._spec(w).trainable),
                         index)
        self.weights.insert(index, value)
        self.weight_names.insert(index, f"{self.name}/{name}")
        self._weight_specs[id(value)] = (value, spec)
        return value

    def _spec(self, weight):
        # looked up by identity, so the lists stay aligned with whatever `weights` holds
        entry = self._weight_specs.get(id(weight))
        return entry[1] if entry is not None and entry[0] is weight else _DEFAULT_SPEC

    @property
    def weight_regularizers(self):
        return [self._spec(w).regularizer for w in self.weights]

    @property
    def weight_constraints(self):
        return [self._spec(w).constraint for w in self.weights]

    @property
    def weight_trainable(self):
        return [self._spec(w).trainable for w in self.weights]

    @property
    def trainable_weights(self):
        if not self.trainable:
            return []
        return [w for w in self.weights if self._spec(w).trainable]

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return list(self.weights)
        return [w for w in self.weights if not self._spec(w).trainable]

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
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.activity_regularizer is not None:
            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return cfg

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _shape_of(inputs):
    if isinstance(inputs, (list, tuple)):
        return [tuple(np.shape(i)) for i in inputs]
    return tuple(np.shape(inputs))
