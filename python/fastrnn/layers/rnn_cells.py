"""Keras' cells `SimpleRNNCell`, `LSTMCell`, `GRUCell`, `StackedRNNCells`, and the `RNN` layer
that runs them on the fused kernels.

A cell holds Keras' cell arguments and weights (`<cell>/kernel`, `<cell>/recurrent_kernel`,
`<cell>/bias`, Keras' shapes and initialisation). It delegates to a prototype of the matching
layer (SimpleRNN, LSTM, GRU) named like the cell, which owns the weight arrays and checks the
arguments; `cell(x_t, states)` runs one step on it: (output, new states) as Keras returns them.

`RNN(cell)` runs each cell over the whole sequence on a copy of that prototype that shares its
weight arrays (a "runner", with the RNN's go_backwards, stateful, return_sequences and
zero_output_for_mask). A stack of cells runs layer after layer, which is exactly Keras' step by
step stack: each cell's full output sequence feeds the next, and a masked step is skipped by
every cell. The first cell reads the input (backwards with go_backwards); the next ones read
the previous output in its processing order, with the mask in that order too. States come flat,
cell after cell ([output, h1, c1, h2] where Keras nests them per cell: [output, [h1, c1], h2]).

Only these built-in cells run: fastrnn executes its kernels, not Python code per step, so `RNN`
refuses a user-defined cell class.
"""
import copy

import numpy as np

from .. import graph
from .base import Layer, _WeightSpec
from .recurrent import GRU, LSTM, SimpleRNN, _RNN
from .registry import deserialize, register, serialize

# Layer options a cell does not have (its RNN's), with their values on a cell's prototype.
_SEQUENCE_OPTIONS = {"return_sequences": False, "return_state": True, "go_backwards": False,
                     "stateful": False, "zero_output_for_mask": False}


class _Cell(Layer):
    """A built-in cell: Keras' arguments, its weights, one step at a time."""

    LAYER = None    # the recurrent layer class with the same arguments and kernel
    _call_state = ()

    def __init__(self, units, **kwargs):
        layer_args = {k: kwargs.pop(k) for k in list(kwargs)
                      if k not in ("name", "trainable", "dtype", "activity_regularizer")}
        if kwargs.pop("activity_regularizer", None) is not None:
            raise NotImplementedError(f"{type(self).__name__}: activity_regularizer on a cell is "
                                      "not supported by fastrnn (give it to the RNN layer)")
        for key in _SEQUENCE_OPTIONS:
            if key in layer_args:
                raise TypeError(f"{type(self).__name__}: unexpected keyword argument {key!r} "
                                "(an argument of the RNN layer, not of the cell)")
        super().__init__(**kwargs)
        self._proto = self.LAYER(units, name=self.name, dtype=self.dtype, **layer_args,
                                 **_SEQUENCE_OPTIONS)

    # Keras' cell attributes
    def __getattr__(self, key):
        # the cell's arguments (units, activation, kernel_regularizer, ...) live on the
        # prototype; only reached for attributes the cell itself does not have
        if key != "_proto" and "_proto" in self.__dict__:
            return getattr(self._proto, key)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    @property
    def state_size(self):
        n = self._proto.state_count
        return self.units if n == 1 else [self.units] * n

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        return [np.zeros((batch_size, self.units), self.dtype)
                for _ in range(self._proto.state_count)]

    # weights
    def build(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        if len(shape) != 2:
            raise ValueError(f"{self.name}: a cell's input is [batch, features], got shape "
                             f"{shape}")
        self._proto.build((shape[0], None, shape[1]))
        self.weights = self._proto.weights          # the same list: the same arrays
        self.weight_names = self._proto.weight_names
        self._weight_specs = self._proto._weight_specs
        self.built = True

    @property
    def input_dim(self):
        return self._proto.input_dim

    def set_weights(self, weights):
        self._proto.set_weights(weights)

    def _runner(self, batch, **options):
        """A layer running this cell over sequences with `options`, on the same arrays (and
        the same weights version: a set_weights reaches every runner)."""
        runner = copy.copy(self._proto)
        runner.__dict__.update(options)
        runner.grads = []
        runner._make_kernel()
        runner._make_states((batch, None, self.input_dim))
        return runner

    # one step
    def __call__(self, inputs, states=None, training=False):
        """One step: `cell(x_t [B, D], states)` -> (output [B, units], new states). States as
        Keras: LSTMCell [h, c]; the others h, or [h] when given a list. `training=True` keeps
        what `backward` needs."""
        if graph.is_symbolic([inputs, states]):
            raise TypeError(f"{self.name}: a cell runs on arrays, one step at a time; in a model, "
                            "wrap it in fastrnn.layers.RNN")
        x = np.asarray(inputs)
        if x.ndim != 2:
            raise ValueError(f"{self.name}: inputs expected ndim=2 [batch, features], got "
                             f"shape {x.shape}")
        if not self.built:
            self.build(x.shape)
        listed = isinstance(states, (list, tuple))
        if states is None:
            states = self.get_initial_state(x.shape[0])
        out = self._proto(x[:, None, :], training=training,
                          initial_state=list(states) if listed else [states])
        output, new = out[0], out[1:]
        if len(new) == 1 and not listed:
            return output, new[0]
        return output, list(new)

    def backward(self, d_output, d_states=None):
        """Gradients of the last `cell(..., training=True)` step: returns (d inputs [B, D],
        d states); fills `grads` (Keras' weight order)."""
        if d_states is not None and not isinstance(d_states, (list, tuple)):
            d_states = [d_states]
        d_states = list(d_states or [None] * self._proto.state_count)
        dx = self._proto.backward([d_output] + d_states)
        self.grads = self._proto.grads
        d_prev = list(self._proto.initial_state_grads)
        return dx[:, 0, :], d_prev

    def get_config(self):
        cfg = super().get_config()
        layer_cfg = self._proto.get_config()
        for key in ("name", "trainable", "dtype", "activity_regularizer", *_SEQUENCE_OPTIONS):
            layer_cfg.pop(key, None)
        cfg.update(layer_cfg)
        return cfg


@register
class SimpleRNNCell(_Cell):
    """Keras' SimpleRNNCell: weights kernel [D, units], recurrent_kernel, bias [units]."""

    LAYER = SimpleRNN


@register
class LSTMCell(_Cell):
    """Keras' LSTMCell: gates i, f, c, o; states [h, c]."""

    LAYER = LSTM


@register
class GRUCell(_Cell):
    """Keras' GRUCell: gates z, r, h; reset_after=True by default."""

    LAYER = GRU


def _check_cell(cell, what):
    if not isinstance(cell, _Cell):
        raise TypeError(f"{what}: fastrnn runs only its built-in cells (SimpleRNNCell, LSTMCell, "
                        "GRUCell, or a StackedRNNCells of them) on its fused kernels; got "
                        f"{type(cell).__module__}.{type(cell).__qualname__}, a cell class it "
                        "cannot run (a user-defined Python cell is not supported)")
    return cell


@register
class StackedRNNCells(Layer):
    """Keras' StackedRNNCells: cells on top of each other, one cell's output the next's
    input. Weights: each cell's, in order."""

    _call_state = ()

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        cells = list(cells)
        if not cells:
            raise ValueError(f"{self.name}: cells: expected a non-empty list of cells, got []")
        self.cells = [_check_cell(c, f"{self.name}: cells[{i}]") for i, c in enumerate(cells)]

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return self.cells[-1].output_size

    def get_initial_state(self, batch_size=None):
        return [c.get_initial_state(batch_size) for c in self.cells]

    def build(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        for cell in self.cells:
            if not cell.built:
                cell.build(shape)
            shape = (shape[0], cell.units)
        self.weights = [w for c in self.cells for w in c.weights]
        self.weight_names = [n for c in self.cells for n in c.weight_names]
        self.built = True

    def _spec(self, weight):
        return _owner_spec(self.cells, weight, super()._spec)

    def set_weights(self, weights):
        super().set_weights(weights)
        for cell in self.cells:
            cell._proto._weights_changed()

    def __call__(self, inputs, states=None, training=False):
        """One step of every cell: (output, [each cell's new states]); Keras' structure."""
        if graph.is_symbolic([inputs, states]):
            raise TypeError(f"{self.name}: cells run on arrays, one step at a time; in a model, "
                            "wrap them in fastrnn.layers.RNN")
        x = np.asarray(inputs)
        if not self.built:
            self.build(x.shape)
        if states is None:
            states = self.get_initial_state(x.shape[0])
        states = list(states)
        if len(states) != len(self.cells):
            raise ValueError(f"{self.name}: states expected one entry per cell "
                             f"({len(self.cells)}), got {len(states)}")
        new_states = []
        for cell, s in zip(self.cells, states):
            x, s = cell(x, s, training=training)
            new_states.append(s)
        return x, (new_states[0] if len(new_states) == 1 else new_states)

    def get_config(self):
        cfg = super().get_config()
        cfg["cells"] = [serialize(c) for c in self.cells]
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cells = [deserialize(spec) for spec in config.pop("cells", [])]
        return cls(cells, **config)


def _owner_spec(cells, weight, default):
    """A weight's regularizer/constraint/trainable flag, from the cell that owns it (not
    trainable when that cell is not)."""
    for cell in cells:
        if any(w is weight for w in cell.weights):
            spec = cell._spec(weight)
            return _WeightSpec(spec.regularizer, spec.constraint,
                               spec.trainable and cell.trainable)
    return default(weight)


@register
class RNN(Layer):
    """Keras' RNN layer over built-in cells (a cell, a list of cells or a StackedRNNCells),
    run on the fused kernels; see the module docstring."""

    supports_masking = True
    _call_state = ("initial_state_grads",)

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        if kwargs.pop("time_major", False):
            raise NotImplementedError("RNN: time_major=True is not supported by fastrnn (inputs "
                                      "are [batch, timesteps, features])")
        for key in ("input_dim", "input_length"):    # Keras 2 shape hints
            kwargs.pop(key, None)
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not isinstance(cell, StackedRNNCells):
            _check_cell(cell, "RNN: cell")
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._runners = []
        self.initial_state_grads = None

    @property
    def _cells(self):
        return self.cell.cells if isinstance(self.cell, StackedRNNCells) else [self.cell]

    @property
    def units(self):
        """The output size (the last cell's units)."""
        return self._cells[-1].units

    @property
    def state_count(self):
        return sum(c._proto.state_count for c in self._cells)

    @property
    def states(self):
        if not self._runners or not self.stateful:
            return None
        return [s for r in self._runners for s in r.states]

    # -- weights ---------------------------------------------------------------------------
    def build(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"{self.name}: expected input of rank 3 [batch, timesteps, "
                             f"features] with known features, got shape {shape}")
        batch, dim = shape[0], shape[2]
        if self.stateful and batch is None:
            raise ValueError(f"{self.name}: when using `stateful=True` in a RNN, the batch size "
                             "must be static (e.g. fastrnn.Input(shape, batch_size=...) or "
                             f"batch_shape=...). Found dynamic batch size: sequence.shape={shape}")
        cells = self._cells
        for cell in cells:
            if not cell.built:
                cell.build((batch, dim))
            elif cell.input_dim != dim:
                raise ValueError(f"{self.name}: cell {cell.name!r} was built for {cell.input_dim} "
                                 f"input features, got {dim}")
            dim = cell.units
        if isinstance(self.cell, StackedRNNCells) and not self.cell.built:
            self.cell.build((batch, shape[2]))
        last = len(cells) - 1
        self._runners = [cell._runner(
            batch, stateful=self.stateful, go_backwards=self.go_backwards and i == 0,
            return_sequences=self.return_sequences or i < last,
            zero_output_for_mask=self.zero_output_for_mask and i == last)
            for i, cell in enumerate(cells)]
        prefix = self.name + "/" + (self.cell.name + "/" if isinstance(
            self.cell, StackedRNNCells) else "")
        self.weights = [w for c in cells for w in c.weights]
        self.weight_names = [prefix + n for c in cells for n in c.weight_names]
        self.built = True

    def _spec(self, weight):
        return _owner_spec(self._cells, weight, super()._spec)

    def set_weights(self, weights):
        super().set_weights(weights)
        self._weights_changed()

    def _weights_changed(self):
        for cell in self._cells:
            cell._proto._weights_changed()

    def _twin(self):
        twin = super()._twin()
        twin._runners = [r._twin() for r in self._runners]
        return twin

    # -- states ----------------------------------------------------------------------------
    def reset_state(self, states=None):
        """Zero the states of a stateful RNN, or set them to `states` (flat, cell after
        cell); an RNN that is not stateful has none (nothing to do, as in Keras 3)."""
        if self.states is None:
            return
        parts = self._split(states, "reset_state: states") if states is not None else \
            [None] * len(self._runners)
        for runner, part in zip(self._runners, parts):
            runner.reset_state(part)

    reset_states = reset_state

    def _split(self, states, what):
        """Flat or nested (Keras: one entry per cell) states -> one list per runner."""
        flat = graph.flatten(states)
        if len(flat) != self.state_count:
            raise ValueError(f"{self.name}: {what} expected {self.state_count} arrays (each "
                             f"cell's states in order), got {len(flat)}")
        parts, pos = [], 0
        for runner in self._runners:
            n = runner.state_count
            parts.append(flat[pos:pos + n])
            pos += n
        return parts

    # -- forward and backward --------------------------------------------------------------
    def call(self, inputs, mask=None, training=False, initial_state=None):
        runners = self._runners
        runners[0].go_backwards = self.go_backwards      # (Bidirectional sets these on the
        runners[-1].zero_output_for_mask = self.zero_output_for_mask   # layers it wraps)
        init = None if initial_state is None else self._split(initial_state, "initial_state")
        x, states = inputs, []
        for i, runner in enumerate(runners):
            kw = {} if init is None else {"initial_state": init[i]}
            out = runner(x, mask=mask, training=training, **kw)
            x = out[0]
            states.extend(out[1:])
            if i == 0 and self.go_backwards and mask is not None:
                mask = np.ascontiguousarray(np.asarray(mask)[:, ::-1])   # processing order
        return [x] + states if self.return_state else x

    def backward(self, d_outputs):
        n = self.state_count
        if self.return_state:
            d_out, d_states = d_outputs[0], list(d_outputs[1:])
            d_states += [None] * (n - len(d_states))
        else:
            d_out, d_states = d_outputs, [None] * n
        parts = self._split(d_states, "d_states")
        init_grads = []
        for runner, part in zip(reversed(self._runners), reversed(parts)):
            d_out = runner.backward([d_out] + part)
            init_grads.insert(0, runner.initial_state_grads)
        self.grads = [g for r in self._runners for g in r.grads]
        self.initial_state_grads = None if init_grads[0] is None else \
            [g for part in init_grads for g in part]
        return d_out

    # -- shapes and config -----------------------------------------------------------------
    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)
        batch, steps = shape[0], shape[1]
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if not self.return_state:
            return out
        return [out] + [(batch, c.units) for c in self._cells
                        for _ in range(c._proto.state_count)]

    compute_mask = _RNN.compute_mask    # the same outputs and states as the fused layers

    def get_config(self):
        cfg = super().get_config()
        cfg.update(return_sequences=self.return_sequences, return_state=self.return_state,
                   go_backwards=self.go_backwards, stateful=self.stateful,
                   zero_output_for_mask=self.zero_output_for_mask, cell=serialize(self.cell))
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        cell = deserialize(config.pop("cell"))
        return cls(cell, **config)
