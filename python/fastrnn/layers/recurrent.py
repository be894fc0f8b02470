"""SimpleRNN, LSTM and GRU layers with Keras 3 names, defaults, weight shapes and semantics,
running on the C++ kernels: each layer builds one `_core.RnnKernel` and binds its weights.

Stateful layers (`stateful=True`, Keras 3's rules): the batch size is fixed by the input shape
at build; each call starts from the states the previous call ended with (unless it is given
`initial_state`) and leaves its final states in `layer.states` ([batch, units] arrays, updated
in place); `reset_state()`/`reset_states()` zero them. Gradients stop at the carried states
(truncated backpropagation through time, as Keras). An inference call on a float32 C-contiguous
array without mask takes a short path (`_stream`): the kernel updates the states in place and
reads its packed copy of the weights, which is dropped whenever the weights may have changed
(set_weights, a training call: see `_weights_changed`).
"""
import numpy as np

from .. import _core, constraints, initializers, ops, quantization, regularizers
from .. import random as frandom
from .base import Layer
from .registry import register

_ACTIVATION_NAMES = {None: "linear", **{name: name for name in ops.ACTIVATIONS}}
# Keras arguments that only say how Keras executes the layer (accepted, not kept).
_IGNORED = ("unroll", "use_cudnn", "implementation", "input_length")
_PENALTIES = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer")
_CONSTRAINTS = ("kernel_constraint", "recurrent_constraint", "bias_constraint")


def _activation(value, arg):
    if value in _ACTIVATION_NAMES:
        return _ACTIVATION_NAMES[value]
    raise ValueError(f"{arg}: expected one of {sorted(k for k in _ACTIVATION_NAMES if k)} or "
                     f"None, got {value!r}")


def _named(kind, value, arg):
    """`kind.get(value)` (a regularizers or constraints lookup), its errors naming `arg`."""
    try:
        return kind.get(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{arg}: {e}") from None


def _rate(value, arg):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
        raise TypeError(f"{arg}: expected a float in [0, 1], got {value!r}")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{arg}: expected a float in [0, 1], got {value!r}")
    return float(value)


def _float_array(value, name, dtype):
    """Numeric array-like -> C-contiguous `dtype` array; rejects non-numeric input clearly."""
    if type(value) is np.ndarray and value.dtype == dtype and value.flags.c_contiguous:
        return value      # the training loop's case: the previous layer's output
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name}: expected a real array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=dtype)


class _RNN(Layer):
    """Shared machinery: weights, input checks, dropout masks, states, forward and backward."""

    cell = None   # a name of ops.CELLS
    supports_masking = True
    _call_state = ("_pending", "initial_state_grads")

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0,
                 return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 zero_output_for_mask=False, seed=None, **kwargs):
        if kwargs.pop("time_major", False):
            raise NotImplementedError(f"{type(self).__name__}: time_major=True is not supported "
                                      "by fastrnn (inputs are [batch, timesteps, features])")
        for key in _IGNORED:
            kwargs.pop(key, None)
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = _activation(activation, "activation")
        self.recurrent_activation = _activation(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        given = locals()
        for key in _PENALTIES:
            setattr(self, key, _named(regularizers, given[key], key))
        for key in _CONSTRAINTS:
            setattr(self, key, _named(constraints, given[key], key))
        self.dropout = min(1.0, max(0.0, _rate(dropout, "dropout")))
        self.recurrent_dropout = min(1.0, max(0.0, _rate(recurrent_dropout, "recurrent_dropout")))
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.seed = seed
        self._rng = frandom.spawn(seed) if seed is not None else None
        self.states = None          # stateful: the carried states, created by build
        self._pending = None
        self._kernel = None         # the _core.RnnKernel, created by build
        self._kernel_opts = None    # the options it was built with
        self._bound = ()            # the weight arrays bound to it
        # Bumped whenever the weights may change; shared with twins (same arrays). The
        # kernel's packed copy of the weights is current while _packed_at is _stream_key().
        self._weights_version = [0]
        self._packed_at = None
        self.initial_state_grads = None
        self._quantization_mode = None

    def __getstate__(self):
        """copy/deepcopy: everything but the kernel object (rebuilt) and a pending forward."""
        state = dict(self.__dict__)
        state.update(_kernel=None, _kernel_opts=None, _bound=(), _pending=None, _packed_at=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.built:
            self._make_kernel()

    # -- weights ---------------------------------------------------------------------------
    @property
    def gates(self):
        return ops.cell_info(self.cell).gates

    @property
    def state_count(self):
        return ops.cell_info(self.cell).states

    def _bias_value(self, rng, shape):
        return self.bias_initializer(shape, self.dtype, rng)

    def build(self, input_shape):
        dim = self._check_build_shape(input_shape)
        self.input_dim = dim
        self._make_kernel()
        rng = frandom.generator()
        self.add_weight("kernel", self._kernel.kernel_shape, self.kernel_initializer, rng,
                        self.kernel_regularizer, self.kernel_constraint)
        self.add_weight("recurrent_kernel", self._kernel.recurrent_kernel_shape,
                        self.recurrent_initializer, rng, self.recurrent_regularizer,
                        self.recurrent_constraint)
        if self.use_bias:
            self.add_weight("bias", self._kernel.bias_shape,
                            lambda s, d, r: self._bias_value(r, s), rng, self.bias_regularizer,
                            self.bias_constraint)
        self._make_states(input_shape)
        self.built = True

    def _check_build_shape(self, input_shape):
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        if len(input_shape) != 3:
            raise ValueError(f"{self.name}: expected input of rank 3 [batch, timesteps, features],"
                             f" got shape {tuple(input_shape)}")
        dim = input_shape[-1]
        if dim is None or dim < 1:
            raise ValueError(f"{self.name}: the features dimension must be known and >= 1, "
                             f"got {dim}")
        return int(dim)

    def _make_states(self, input_shape):
        if not self.stateful:
            return
        if isinstance(input_shape, list):
            input_shape = input_shape[0]
        if input_shape[0] is None:
            raise ValueError(f"{self.name}: when using `stateful=True` in a RNN, the batch size "
                             "must be static (e.g. fastrnn.Input(shape, batch_size=...) or "
                             f"batch_shape=...). Found dynamic batch size: sequence.shape="
                             f"{tuple(input_shape)}")
        self.states = [np.zeros((int(input_shape[0]), self.units), self.dtype)
                       for _ in range(self.state_count)]

    def set_weights(self, weights):
        super().set_weights(weights)
        self._weights_changed()

    def _weights_changed(self):
        """The weights may change (set_weights, or a training call an update follows)."""
        self._weights_version[0] += 1

    # -- reduced precision (fastrnn/quantization.py) ---------------------------------------
    @property
    def quantization_mode(self):
        """"int8" or "bfloat16" after quantize, else None (Keras 3's name)."""
        return self._quantization_mode

    def quantize(self, mode=None, type_check=True, config=None):
        """Run inference with the weights in `mode` ("int8", or fastrnn's "bfloat16"); the
        float32 weights are kept. Training the layer afterwards raises."""
        if config is not None:
            raise NotImplementedError("quantize: config is not supported by fastrnn")
        quantization.check_layer(self, mode)
        self._ready_kernel().set_precision(mode)
        self._quantization_mode = mode

    def _fresh_packed(self, kernel):
        """Drops the kernel's packed weights if they may be stale (see _stream_key)."""
        key = self._stream_key()
        if key != self._packed_at:
            kernel.drop_packed_weights()
            self._packed_at = key

    # -- states ----------------------------------------------------------------------------
    def reset_state(self, states=None):
        """Zero the states of a stateful layer, or set them to `states` (a list of
        [batch, units] arrays, tf-keras' `reset_states(states)`); a layer that is not
        stateful has none (nothing to do, as in Keras 3)."""
        if self.states is None:
            return
        if states is None:
            for s in self.states:
                s.fill(0)
            return
        if isinstance(states, np.ndarray):
            states = [states]
        states = list(states)
        if len(states) != len(self.states):
            raise ValueError(f"{self.name}.reset_state: expected {len(self.states)} state "
                             f"array(s), got {len(states)}")
        values = []
        for i, (dst, src) in enumerate(zip(self.states, states)):
            src = _float_array(src, f"{self.name}.reset_state: states[{i}]", self.dtype)
            if src.shape != dst.shape:
                raise ValueError(f"{self.name}.reset_state: states[{i}] expected shape "
                                 f"{dst.shape}, got {src.shape}")
            values.append(src)
        for dst, src in zip(self.states, values):
            np.copyto(dst, src)

    reset_states = reset_state   # Keras' compatibility alias

    # -- forward ---------------------------------------------------------------------------
    def __call__(self, inputs, mask=None, training=False, **kwargs):
        # A stateful layer's inference step, streaming: the short path.
        if (self.states is not None and mask is None and not training and not kwargs
                and type(inputs) is np.ndarray and inputs.dtype == self.dtype
                and inputs.ndim == 3 and inputs.shape[0] == self.states[0].shape[0]
                and inputs.shape[1] and inputs.shape[2] == self.input_dim
                and inputs.flags.c_contiguous):
            return self._stream(inputs)
        return super().__call__(inputs, mask=mask, training=training, **kwargs)

    def _stream_key(self):
        """What the kernel's packed weights were made for: weights version, arrays, options."""
        return (self._weights_version[0], tuple(map(id, self.weights)), self.activation,
                self.recurrent_activation, self.use_bias, getattr(self, "reset_after", True),
                self.go_backwards, self.zero_output_for_mask)

    def _stream(self, x):
        self._fresh_packed(self._ready_kernel())
        self._pending = None
        out = self._kernel.stream(x, self.states, self.return_sequences)
        if self.return_state:
            return [out] + [s.copy() for s in self.states]
        return out

    def _dropout_masks(self, batch, dim):
        """Keras draws one mask per batch, fixed over time; one per gate when Keras does."""
        rng = self._rng or frandom.generator()
        use_in = 0.0 < self.dropout < 1.0
        use_rec = 0.0 < self.recurrent_dropout < 1.0
        per_gate = use_rec and self.gates > 1   # Keras switches to implementation 1
        lead = (self.gates,) if per_gate else ()

        def draw(rate, width):
            keep = rng.random(lead + (batch, width), dtype=np.float32) >= rate
            return keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - rate))

        din = draw(self.dropout, dim) if use_in else None
        drec = draw(self.recurrent_dropout, self.units) if use_rec else None
        return din, drec

    def _check_inputs(self, inputs, mask, initial_state):
        x = _float_array(inputs, f"{self.name}: inputs", self.dtype)
        if x.ndim != 3:
            raise ValueError(f"{self.name}: inputs expected ndim=3 [batch, timesteps, features], "
                             f"got ndim={x.ndim} with shape {x.shape}")
        if x.shape[2] != self.input_dim:
            raise ValueError(f"{self.name}: inputs expected {self.input_dim} features (last axis), "
                             f"got shape {x.shape}")
        if x.shape[1] == 0:
            raise ValueError(f"{self.name}: inputs must have at least one timestep, got shape "
                             f"{x.shape}")
        if self.states is not None and x.shape[0] != self.states[0].shape[0]:
            raise ValueError(f"{self.name}: if an RNN is stateful, the batch size of the input "
                             "sequences must be the same as the batch size of the initial "
                             f"state.\n- Expected batch size: {self.states[0].shape[0]}\n- "
                             f"Received batch size: {x.shape[0]}")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != x.shape[:2]:
                raise ValueError(f"{self.name}: mask expected shape {x.shape[:2]}, got "
                                 f"{mask.shape}")
            mask = np.ascontiguousarray(mask, dtype=bool)
        if initial_state is not None:
            if isinstance(initial_state, np.ndarray):
                initial_state = [initial_state]
            initial_state = list(initial_state)
            if len(initial_state) != self.state_count:
                raise ValueError(f"{self.name}: initial_state expected {self.state_count} "
                                 f"array(s), got {len(initial_state)}")
            checked = []
            for i, s in enumerate(initial_state):
                s = _float_array(s, f"{self.name}: initial_state[{i}]", self.dtype)
                if s.shape != (x.shape[0], self.units):
                    raise ValueError(f"{self.name}: initial_state[{i}] expected shape "
                                     f"{(x.shape[0], self.units)}, got {s.shape}")
                checked.append(s)
            initial_state = checked
        return x, mask, initial_state

    def _kernel_options(self):
        """RnnKernel's keyword options (cells ignore the ones they do not use)."""
        return {"activation": self.activation, "recurrent_activation": self.recurrent_activation,
                "use_bias": self.use_bias, "reset_after": getattr(self, "reset_after", True),
                "go_backwards": self.go_backwards,
                "zero_output_for_mask": self.zero_output_for_mask}

    def _make_kernel(self):
        self._kernel_opts = self._kernel_options()
        self._kernel = _core.RnnKernel(self.cell, self.input_dim, self.units, dtype=self.dtype,
                                       **self._kernel_opts)
        if getattr(self, "_quantization_mode", None):
            self._kernel.set_precision(self._quantization_mode)
        self._bound = ()
        self._packed_at = None

    def _ready_kernel(self):
        """The kernel, rebuilt if an option changed since build (Bidirectional sets
        zero_output_for_mask on the layers it wraps), with the weights bound: again only when
        the list holds new arrays (the optimizer and set_weights update them in place)."""
        if self._kernel_options() != self._kernel_opts:
            self._make_kernel()
        w = self.weights
        if len(w) != len(self._bound) or any(a is not b for a, b in zip(w, self._bound)):
            self._kernel.bind_weights(w[0], w[1], w[2] if self.use_bias else None)
            self._bound = tuple(w)
            self._packed_at = None
        return self._kernel

    def call(self, inputs, mask=None, training=False, initial_state=None):
        x, mask, initial_state = self._check_inputs(inputs, mask, initial_state)
        given = initial_state is not None
        if self.states is not None and not given:
            initial_state = self.states    # carried; no gradient flows into it
        if training and self._quantization_mode:
            quantization.refuse_training(self)
        din, drec = self._dropout_masks(x.shape[0], x.shape[2]) if training else (None, None)
        kernel = self._ready_kernel()
        if self._quantization_mode:   # reads the kernel's packed copy of the weights
            self._fresh_packed(kernel)
        if training:
            self._weights_changed()   # an update follows
        out, states = kernel.forward(x, initial_state, mask, din, drec, training=bool(training),
                                     return_sequences=self.return_sequences)
        if self.states is not None:
            for dst, src in zip(self.states, states):
                np.copyto(dst, src)
        # the kernel keeps this forward for backward (and its dropout masks)
        self._pending = (kernel, given) if training else None
        if self.return_state:
            return [out] + states
        return out

    # -- backward --------------------------------------------------------------------------
    def backward(self, d_outputs):
        if self._pending is None:
            raise RuntimeError(f"{self.name}: backward() needs a preceding call with "
                               "training=True")
        kernel, had_initial = self._pending
        self._weights_changed()
        d_states = None
        if self.return_state:
            d_outputs, d_states = d_outputs[0], list(d_outputs[1:])
            d_states = [None if d is None else np.ascontiguousarray(d, self.dtype) for d in d_states]
        d_seq = d_last = None
        if d_outputs is not None:
            d_outputs = np.ascontiguousarray(d_outputs, self.dtype)
            if self.return_sequences:
                d_seq = d_outputs
            else:
                d_last = d_outputs
        dx, dk, drk, db, d_init = kernel.backward(d_seq, d_last, d_states,
                                                  need_d_initial_state=had_initial)
        self.grads = [dk, drk] + ([db] if self.use_bias else [])
        self.initial_state_grads = d_init if had_initial else None
        return dx

    # -- shapes and config -----------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self.state_count
        return out

    def compute_mask(self, inputs, mask=None):
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out] + [None] * self.state_count
        return out

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                   kernel_initializer=initializers.serialize(self.kernel_initializer),
                   recurrent_initializer=initializers.serialize(self.recurrent_initializer),
                   bias_initializer=initializers.serialize(self.bias_initializer),
                   activity_regularizer=regularizers.serialize(self.activity_regularizer),
                   dropout=self.dropout, recurrent_dropout=self.recurrent_dropout,
                   return_sequences=self.return_sequences, return_state=self.return_state,
                   go_backwards=self.go_backwards, stateful=self.stateful,
                   zero_output_for_mask=self.zero_output_for_mask, seed=self.seed)
        for key in _PENALTIES:
            cfg[key] = regularizers.serialize(getattr(self, key))
        for key in _CONSTRAINTS:
            cfg[key] = constraints.serialize(getattr(self, key))
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("kernel_initializer", "recurrent_initializer", "bias_initializer"):
            if key in config:
                config[key] = initializers.deserialize(config[key])
        return cls(**config)


@register
class SimpleRNN(_RNN):
    """Fully-connected RNN: h_t = activation(x_t W + b + h_{t-1} U)."""

    cell = "simple_rnn"

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)


@register
class LSTM(_RNN):
    """Long short-term memory, Keras gate order i, f, c, o; states [h, c]."""

    cell = "lstm"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias=True, **kwargs):
        super().__init__(units, activation=activation,
                         recurrent_activation=recurrent_activation, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_value(self, rng, shape):
        if not self.unit_forget_bias:
            return super()._bias_value(rng, shape)
        h = self.units
        return np.concatenate([self.bias_initializer((h,), self.dtype, rng),
                               np.ones((h,), self.dtype),
                               self.bias_initializer((2 * h,), self.dtype, rng)])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(recurrent_activation=self.recurrent_activation,
                   unit_forget_bias=self.unit_forget_bias)
        return cfg


@register
class GRU(_RNN):
    """Gated recurrent unit, Keras gate order z, r, h; reset_after=True by default."""

    cell = "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after=True, **kwargs):
        super().__init__(units, activation=activation,
                         recurrent_activation=recurrent_activation, **kwargs)
        self.reset_after = bool(reset_after)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(recurrent_activation=self.recurrent_activation, reset_after=self.reset_after)
        return cfg
