"""TimeDistributed with Keras 3 semantics, by folding time into the batch.

Keras calls the inner layer once per step on `inputs[:, t]` (with `mask[:, t]`); for a layer
that treats batch rows independently that is one call on `[batch * steps, ...]`, which is
what this does, forward and backward. BatchNormalization in training mode is the exception
(Keras normalises each step with that step's batch statistics): it raises.
"""
import numpy as np

from .base import Layer
from .normalization import BatchNormalization
from .registry import deserialize, register


@register
class TimeDistributed(Layer):
    """Applies `layer` to every step of `[batch, steps, ...]` inputs. Its weights are the inner
    layer's (the same arrays); the mask passes through unchanged."""

    supports_masking = True

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a fastrnn layer "
                             f"instance. Received: {layer!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self._share_weights()
        self._steps = None

    def _twin(self):
        twin = super()._twin()
        twin.layer = self.layer._twin()
        return twin

    def _share_weights(self):
        self.weights, self.weight_names = self.layer.weights, self.layer.weight_names

    def _spec(self, weight):
        spec = self.layer._spec(weight)
        return spec if self.layer.trainable else spec._replace(trainable=False)

    @staticmethod
    def _child_shape(input_shape):
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with at "
                             f"least 3 dimensions, received: {input_shape}")
        return (input_shape[0],) + tuple(input_shape[2:])

    def build(self, input_shape):
        child = self._child_shape(input_shape)
        if not self.layer.built:
            self.layer.build(child)
            self.layer.built = True
        self._share_weights()
        self.built = True

    def call(self, inputs, mask=None, training=False):
        x = np.asarray(inputs)
        self._child_shape(x.shape)
        b, t = x.shape[:2]
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim < 2 or mask.shape[:2] != (b, t):
                raise ValueError(f"The `mask` passed to the `TimeDistributed` layer has a shape "
                                 f"{mask.shape} that is incompatible with the input shape "
                                 f"{x.shape}: expected a mask of shape prefix {(b, t)}")
            mask = mask.reshape((b * t,) + mask.shape[2:])
        if training and isinstance(self.layer, BatchNormalization) and self.layer.trainable:
            raise NotImplementedError(
                "TimeDistributed(BatchNormalization) in training mode is not supported by "
                "fastrnn (Keras uses per-step batch statistics)")
        y = self.layer(x.reshape((b * t,) + x.shape[2:]), mask=mask, training=training)
        if isinstance(y, (list, tuple)):
            raise NotImplementedError(f"TimeDistributed: {self.layer.name} returns several "
                                      "outputs, which fastrnn does not support here")
        self._share_weights()
        self._steps = (b, t)
        return y.reshape((b, t) + y.shape[1:])

    def backward(self, d_outputs):
        if self._steps is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call")
        b, t = self._steps
        d = np.asarray(d_outputs)
        dx = self.layer.backward(d.reshape((b * t,) + d.shape[2:]))
        self.grads = list(self.layer.grads)
        return dx.reshape((b, t) + dx.shape[1:])

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1]) + tuple(child[1:])

    def get_config(self):
        cfg = super().get_config()
        cfg["layer"] = {"module": "keras.layers", "class_name": type(self.layer).__name__,
                        "config": self.layer.get_config(), "registered_name": None}
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
