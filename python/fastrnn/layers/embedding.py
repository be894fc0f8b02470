"""Embedding: integer ids -> dense vectors, with Keras 3 semantics and a sparse gradient."""
import warnings

import numpy as np

from .. import constraints
from .. import initializers
from .. import regularizers
from ..indexed_slices import IndexedSlices
from .base import Layer
from .registry import register

from .._core import embedding_lookup as _native_lookup   # C++ gather with the id range check


def _initializer(spec):
    return initializers.deserialize(spec) if isinstance(spec, dict) else initializers.get(spec)


@register
class Embedding(Layer):
    """Looks up rows of `embeddings` [input_dim, output_dim] for integer ids.

    `mask_zero=True` emits the mask `ids != 0` for downstream (recurrent) layers. The gradient
    is an `IndexedSlices` of the looked-up rows (one entry per id occurrence), which the
    optimisers apply like Keras does with `tf.IndexedSlices`.
    """

    _call_state = ("_ids",)

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False,
                 weights=None, input_length=None, **kwargs):
        for key in ("lora_rank", "lora_alpha", "quantization_config", "sparse"):
            if kwargs.pop(key, None):
                raise NotImplementedError(f"Embedding: {key} is not supported by fastrnn")
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(f"`{arg}` must be a positive integer. Received: {arg}={value!r} "
                                 f"(of type {type(value).__name__}).")
        if input_length is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.",
                          stacklevel=2)
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = _initializer(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self._ids = None
        if weights is not None:
            self.build(None)
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape=None):
        if self.built:
            return
        self.add_weight("embeddings", (self.input_dim, self.output_dim),
                        self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                        constraint=self.embeddings_constraint)
        self.built = True

    @property
    def embeddings(self):
        return self.weights[0]

    def _check_range(self, ids):
        if not ids.size:
            return
        lo, hi = ids.min(), ids.max()
        if lo < 0 or hi >= self.input_dim:
            bad = lo if lo < 0 else hi
            pos = tuple(int(i) for i in np.argwhere(ids == bad)[0])
            shown = str(bad) if ids.dtype.kind == "f" else int(bad)   # 1e+30 as it is
            raise IndexError(
                f"{self.name}: token id {shown} at position {pos} is out of range "
                f"[0, {self.input_dim}) (input_dim={self.input_dim}); "
                "use a larger input_dim or clip the ids, e.g. num_words in load_data")

    def _float_ids(self, ids, argument):
        """Float ids as int64. Keras casts them (3.7 -> row 3); fastrnn takes only whole
        numbers, and checks the range before the cast (which would wrap 1e30 around)."""
        finite = np.isfinite(ids)
        if not finite.all():
            raise IndexError(f"{self.name}: ids must be finite numbers, got "
                             f"{ids[~finite].ravel()[0]!r}")
        fractional = ids != np.floor(ids)
        if fractional.any():
            pos = tuple(int(i) for i in np.argwhere(fractional)[0])
            raise ValueError(
                f"{self.name}: token ids must be whole numbers, but `{argument}` holds "
                f"{ids[pos]!s} at position {pos} (of dtype {ids.dtype}); float ids are not "
                "rounded: pass integer ids")
        self._check_range(ids)
        return ids.astype(np.int64)

    def _ids_of(self, inputs, check_range=True, argument="inputs"):
        ids = np.asarray(inputs)
        if ids.dtype.kind == "f":
            return self._float_ids(ids, argument)
        if ids.dtype.kind not in "iub":
            raise TypeError(f"{self.name}: expected integer token ids, got dtype {ids.dtype}")
        if check_range:
            self._check_range(ids)
        return ids

    def check_inputs(self, inputs, argument="x"):
        """Validate a whole input array (dtype, whole finite numbers, ids in range) without
        computing; the models call it before a multi-batch fit/evaluate/predict so that a bad
        id is reported at its position in the user's array (`argument` names it) and before
        any weight update."""
        self._ids_of(inputs, argument=argument)

    def call(self, inputs, mask=None, training=False):
        ids = self._ids_of(inputs, check_range=False)
        try:
            out = _native_lookup(np.ascontiguousarray(self.weights[0]), ids)
        except IndexError:
            self._check_range(ids)          # raises the detailed message
            raise
        self._ids = ids
        return out

    def backward(self, d_outputs):
        """Sparse gradient of the embeddings; integer inputs get no gradient (returns None)."""
        if self._ids is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        dy = np.asarray(d_outputs, np.float32).reshape(-1, self.output_dim)
        self.grads = [IndexedSlices(self._ids.reshape(-1), dy, self.weights[0].shape)]
        return None

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(input_dim=self.input_dim, output_dim=self.output_dim,
                   embeddings_initializer=initializers.serialize(self.embeddings_initializer),
                   embeddings_regularizer=regularizers.serialize(self.embeddings_regularizer),
                   activity_regularizer=regularizers.serialize(self.activity_regularizer),
                   embeddings_constraint=constraints.serialize(self.embeddings_constraint),
                   mask_zero=self.mask_zero)
        return cfg
