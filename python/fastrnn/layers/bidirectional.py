"""Bidirectional wrapper with Keras 3 semantics.

The forward copy reads the sequence as given, the backward copy with go_backwards flipped;
both get `zero_output_for_mask = return_sequences` (as Keras sets it). The backward copy's
output sequence is flipped back into input order before merging. `initial_state` is split in
half: forward states first. Weights: the forward layer's, then the backward layer's. A
stateful wrapped layer makes both copies stateful: each carries its own states (Keras 3's
`states`: the forward copy's, then the backward copy's), `reset_state()` resets both.
"""
import copy

import numpy as np

from .base import Layer
from .registry import deserialize, register, registered, serialize
from .recurrent import _RNN
from .rnn_cells import RNN

_WRAPPABLE = (_RNN, RNN)

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


# A layer's state that a fresh copy does not share, with its unbuilt value: weights and the
# kernel objects built with them (an RNN's runners), its states, pending forward, gradients.
_BUILT_STATE = {"weights": list, "weight_names": list, "grads": list, "_pending": None,
                "_kernel": None, "_kernel_opts": None, "_bound": tuple, "states": None,
                "_weights_version": lambda: [0], "_packed_at": None, "_runners": list}


def _fresh_copy(layer, name, go_backwards):
    """An unbuilt copy of `layer` (same settings, initialisers included, no weights), as
    Keras re-creates the wrapped layer from its config."""
    clone = copy.copy(layer)
    clone.__dict__ = copy.deepcopy({k: v for k, v in layer.__dict__.items()
                                    if k not in _BUILT_STATE})
    for key, unbuilt in _BUILT_STATE.items():
        if key in layer.__dict__:
            clone.__dict__[key] = unbuilt() if callable(unbuilt) else unbuilt
    clone.name = name
    clone.go_backwards = go_backwards
    clone.built = False
    return clone


def _recurrent_layers():
    """'SimpleRNN, LSTM, GRU or RNN': the registered recurrent layer classes, for messages."""
    names = [name for name, cls in registered().items() if issubclass(cls, _WRAPPABLE)]
    return ", ".join(names[:-1]) + " or " + names[-1]


@register
class Bidirectional(Layer):
    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        if not isinstance(layer, _WRAPPABLE):
            raise TypeError(f"layer: expected a fastrnn {_recurrent_layers()} instance, got "
                            f"{type(layer).__name__}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {MERGE_MODES}, got {merge_mode!r}")
        super().__init__(**kwargs)
        self.layer = layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.forward_layer = _fresh_copy(layer, "forward_" + layer.name, layer.go_backwards)
        if backward_layer is None:
            self.backward_layer = _fresh_copy(layer, "backward_" + layer.name,
                                              not layer.go_backwards)
        else:
            if not isinstance(backward_layer, _WRAPPABLE):
                raise TypeError(f"backward_layer: expected a {_recurrent_layers()} instance, got "
                                f"{type(backward_layer).__name__}")
            self.backward_layer = backward_layer
        for sub in (self.forward_layer, self.backward_layer):
            if sub.activity_regularizer is not None:
                raise NotImplementedError(
                    f"{self.name}: an activity_regularizer on the wrapped layer "
                    f"{sub.name!r} is not supported by fastrnn (give Bidirectional its own "
                    "activity_regularizer, which applies to the merged output)")
        if self.forward_layer.stateful != self.backward_layer.stateful:
            raise ValueError(f"{self.name}: forward layer and backward layer should have the "
                             f"same value for stateful, got {self.forward_layer.stateful} and "
                             f"{self.backward_layer.stateful}")
        self.stateful = self.forward_layer.stateful
        self._custom_backward = backward_layer is not None
        self.forward_layer.zero_output_for_mask = layer.return_sequences
        self.backward_layer.zero_output_for_mask = layer.return_sequences
        self._initial_weights = weights
        self._merge_inputs = None

    _call_state = ("_merge_inputs", "initial_state_grads")

    def _spec(self, weight):
        """A weight's regularizer/constraint/trainable flag, from the sublayer that owns it."""
        for sub in (self.forward_layer, self.backward_layer):
            if any(w is weight for w in sub.weights):
                return sub._spec(weight)
        return super()._spec(weight)

    def _twin(self):
        twin = super()._twin()
        twin.forward_layer = self.forward_layer._twin()
        twin.backward_layer = self.backward_layer._twin()
        return twin

    def build(self, input_shape):
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        self.weights = self.forward_layer.weights + self.backward_layer.weights
        self.weight_names = self.forward_layer.weight_names + self.backward_layer.weight_names
        self.built = True
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def set_weights(self, weights):
        super().set_weights(weights)
        for sub in (self.forward_layer, self.backward_layer):
            sub._weights_changed()

    @property
    def quantization_mode(self):
        return getattr(self.forward_layer, "quantization_mode", None)

    def quantize(self, mode=None, type_check=True, config=None):
        """Both directions' layers (Layer.quantize of fastrnn's recurrent layers)."""
        subs = (self.forward_layer, self.backward_layer)
        for sub in subs:   # all checked before either changes
            if not hasattr(sub, "quantize"):
                raise NotImplementedError(f"{self.name}: {type(sub).__name__} layers cannot "
                                          "be quantized")
        for sub in subs:
            sub.quantize(mode, type_check=type_check, config=config)

    @property
    def _n_states(self):
        return self.forward_layer.state_count

    @property
    def states(self):
        fw, bw = self.forward_layer.states, self.backward_layer.states
        return None if fw is None or bw is None else list(fw) + list(bw)

    def reset_state(self, states=None):
        """Reset both directions' states (zeros, or `states`: forward's then backward's)."""
        if not self.stateful:
            raise AttributeError(f"{self.name}: Layer must be stateful.")
        fw = bw = None
        if states is not None:
            states = [states] if isinstance(states, np.ndarray) else list(states)
            if len(states) != 2 * self._n_states:
                raise ValueError(f"{self.name}.reset_state: expected {2 * self._n_states} state "
                                 f"arrays (forward then backward), got {len(states)}")
            fw, bw = states[:self._n_states], states[self._n_states:]
        self.forward_layer.reset_state(fw)
        self.backward_layer.reset_state(bw)

    reset_states = reset_state   # Keras' compatibility alias

    def call(self, inputs, mask=None, training=False, initial_state=None):
        fw_state = bw_state = None
        if initial_state is not None:
            initial_state = list(initial_state)
            if len(initial_state) != 2 * self._n_states:
                raise ValueError(f"{self.name}: initial_state expected {2 * self._n_states} "
                                 f"arrays (forward states then backward states), got "
                                 f"{len(initial_state)}")
            fw_state, bw_state = initial_state[:self._n_states], initial_state[self._n_states:]
        fw_kw = {} if fw_state is None else {"initial_state": fw_state}
        bw_kw = {} if bw_state is None else {"initial_state": bw_state}
        fw = self.forward_layer(inputs, mask=mask, training=training, **fw_kw)
        bw = self.backward_layer(inputs, mask=mask, training=training, **bw_kw)
        fw_states = bw_states = []
        if self.return_state:
            fw, fw_states = fw[0], fw[1:]
            bw, bw_states = bw[0], bw[1:]
        if self.return_sequences:
            bw = bw[:, ::-1]
        self._merge_inputs = (fw, bw) if self.merge_mode == "mul" else None
        if self.merge_mode == "concat":
            out = [np.concatenate([fw, bw], axis=-1)]
        elif self.merge_mode == "sum":
            out = [fw + bw]
        elif self.merge_mode == "ave":
            out = [(fw + bw) * fw.dtype.type(0.5)]
        elif self.merge_mode == "mul":
            out = [fw * bw]
        else:
            out = [fw, np.ascontiguousarray(bw)]
        if self.return_state:
            return out + list(fw_states) + list(bw_states)
        return out[0] if self.merge_mode is not None else out

    def backward(self, d_outputs):
        n_out = 1 if self.merge_mode is not None else 2
        if self.return_state or self.merge_mode is None:
            d_list = list(d_outputs)
            d_out, d_states = d_list[:n_out], d_list[n_out:]
        else:
            d_out, d_states = [d_outputs], []
        units = self.forward_layer.units
        if self.merge_mode == "concat":
            d_fw, d_bw = d_out[0][..., :units], d_out[0][..., units:]
        elif self.merge_mode == "sum":
            d_fw = d_bw = d_out[0]
        elif self.merge_mode == "ave":
            d_fw = d_bw = d_out[0] * d_out[0].dtype.type(0.5)
        elif self.merge_mode == "mul":
            fw, bw = self._merge_inputs
            d_fw, d_bw = d_out[0] * bw, d_out[0] * fw
        else:
            d_fw, d_bw = d_out
        if self.return_sequences and d_bw is not None:
            d_bw = d_bw[:, ::-1]
        n = self._n_states
        if self.return_state:
            d_states = d_states + [None] * (2 * n - len(d_states))
            d_fw = [d_fw] + d_states[:n]
            d_bw = [d_bw] + d_states[n:]
        dx = self.forward_layer.backward(d_fw)
        dx += self.backward_layer.backward(d_bw)
        self.grads = self.forward_layer.grads + self.backward_layer.grads
        fw_init, bw_init = (self.forward_layer.initial_state_grads,
                            self.backward_layer.initial_state_grads)
        self.initial_state_grads = None if fw_init is None else list(fw_init) + list(bw_init)
        return dx

    def compute_output_shape(self, input_shape):
        single = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            single, states = single[0], single[1:]
        if self.merge_mode == "concat":
            out = [single[:-1] + (2 * single[-1],)]
        elif self.merge_mode is None:
            out = [single, single]
        else:
            out = [single]
        if self.return_state:
            return out + states + states
        return out[0] if self.merge_mode is not None else out

    def compute_mask(self, inputs, mask=None):
        out_mask = mask if self.return_sequences else None
        masks = [out_mask] if self.merge_mode is not None else [out_mask, out_mask]
        if self.return_state:
            return masks + [None] * (2 * self._n_states)
        return masks[0] if self.merge_mode is not None else masks

    def get_config(self):
        cfg = super().get_config()
        cfg.update(merge_mode=self.merge_mode, layer=serialize(self.layer))
        if self._custom_backward:
            cfg["backward_layer"] = serialize(self.backward_layer)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("layer", "backward_layer"):
            if key in config:
                layer = deserialize(config[key])
                if not isinstance(layer, _WRAPPABLE):
                    raise ValueError(f"Bidirectional: {key} must be a {_recurrent_layers()}, "
                                     f"got {type(layer).__name__}")
                config[key] = layer
        return cls(config.pop("layer"), **config)
