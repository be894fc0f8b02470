"""`Model`: what every fastrnn model has: layers, weights in Keras order, saving, summary,
and the Trainer (compile/fit/evaluate/predict).

`fastrnn.Model(inputs, outputs)` builds a `Functional` graph model (as `keras.Model` does);
`Sequential` is a Functional model whose graph is a chain.
"""
import numpy as np

from .. import keras_files, quantization
from ..layers.base import unique_name
from ..penalties import weight_penalties
from ..trainer import Trainer


class Model(Trainer):
    """Base class of fastrnn models. Use `fastrnn.Model(inputs, outputs)` or `Sequential`."""

    _functional = None   # set by fastrnn.models: the class Model(inputs, outputs) builds
    _exporter = None     # set by fastrnn: fastrnn.export.export_model

    def __new__(cls, *args, **kwargs):
        if cls is Model:   # keras.Model(inputs, outputs) is a Functional model
            return super().__new__(Model._functional)
        return super().__new__(cls)

    def _init_model(self, name, trainable, default_name):
        self.name = name or unique_name(default_name)
        self.trainable = bool(trainable)
        self.built = False
        self._init_trainer()

    # -- layers and weights ------------------------------------------------------------------
    @property
    def layers(self):
        raise NotImplementedError

    def _weight_layers(self):
        """Layers whose weights make up `model.weights`, in Keras order."""
        return self.layers

    def _trainable_layers(self):
        if not self.trainable:
            return []
        return [layer for layer in self._weight_layers() if layer.trainable and layer.weights]

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in self.layers]}.")

    @property
    def weights(self):
        return [w for layer in self._weight_layers() for w in layer.weights]

    @property
    def trainable_weights(self):
        return [w for layer in self._trainable_layers() for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def losses(self):
        """The regularization penalties of the last call (Keras' `model.losses`): each
        regularized trainable weight's, then the activity regularizers' total."""
        out = weight_penalties(self._trainable_layers())
        activity = getattr(self, "_activity_loss", None)
        return out + ([activity] if activity else [])

    def reset_states(self):
        """Zero the states of every stateful layer (recurrent layers with `stateful=True`, a
        Bidirectional wrapping one), as Keras 2's `model.reset_states()`."""
        for layer in self.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    reset_state = reset_states

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every weight (Keras order); all arrays are checked before any is written."""
        weights = list(weights)
        layers = self._weight_layers()
        expected = sum(len(layer.weights) for layer in layers)
        if len(weights) != expected:
            detail = ", ".join(f"{layer.name}: {[w.shape for w in layer.weights]}"
                               for layer in layers)
            raise ValueError(f"{self.name}.set_weights: expected {expected} arrays ({detail}), "
                             f"got {len(weights)}" +
                             ("; the model is not built yet (call it on data or build it)"
                              if not self.built else ""))
        pos = 0
        chunks = []
        for layer in layers:
            n = len(layer.weights)
            chunk = weights[pos:pos + n]
            for i, (dst, src) in enumerate(zip(layer.weights, chunk)):
                if np.shape(src) != dst.shape:
                    raise ValueError(
                        f"Layer '{layer.name}' weight {i} ({layer.weight_names[i]}) expected shape "
                        f"{dst.shape}, got {np.shape(src)}")
                kind = np.asarray(src).dtype.kind
                if kind not in "iuf":
                    raise TypeError(
                        f"Layer '{layer.name}' weight {i} ({layer.weight_names[i]}) expected a "
                        f"real numeric array, got dtype {np.asarray(src).dtype}")
            chunks.append((layer, chunk))
            pos += n
        for layer, chunk in chunks:
            if chunk:
                layer.set_weights(chunk)

    def _weight_names(self):
        return [n for layer in self._weight_layers() for n in layer.weight_names]

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, x, training=False):
        xs = self._inputs(x)
        self._ensure_built(xs)
        return self._pack_outputs(self._run(xs, training)[0])

    # -- reduced precision -------------------------------------------------------------------
    def quantize(self, mode=None, config=None, filters=None, **kwargs):
        """Run the recurrent layers' inference in `mode`: "int8" (Keras 3's name) or
        "bfloat16" (a fastrnn extension). See fastrnn/quantization.py for what changes."""
        quantization.quantize_model(self, mode, config=config, filters=filters, **kwargs)

    # -- saving ------------------------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True, **kwargs):
        """Save architecture, weights, compile config and optimizer state to one file. The
        format follows the suffix: `.keras` Keras 3, `.h5`/`.hdf5` Keras 2 HDF5,
        anything else (`.fnrn`) fastrnn's own. A quantized model raises ValueError."""
        quantization.refuse_quantized(self, "save")
        keras_files.save_any(self, filepath, overwrite=overwrite,
                             include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """`.weights.h5`: Keras 3's weights layout; anything else fastrnn's own format."""
        keras_files.save_weights_any(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """From a fastrnn or Keras weights or model file (recognised by content)."""
        keras_files.load_weights_any(self, filepath)

    def export(self, filepath, format="onnx", verbose=None, input_signature=None, **kwargs):
        """Export for inference (Keras 3's signature); fastrnn writes ONNX (see
        `fastrnn.export.export_model` for `mask_padding` and `opset_version`)."""
        quantization.refuse_quantized(self, "export")
        return Model._exporter(self, filepath, format=format, verbose=verbose,
                               input_signature=input_signature, **kwargs)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
