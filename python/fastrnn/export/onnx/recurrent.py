"""SimpleRNN, LSTM, GRU and Bidirectional on ONNX's own RNN, LSTM and GRU operators.

Keras, for a layer with go_backwards g and a mask of n valid steps per row: the steps are
processed in order (reversed when g), states are carried over masked steps, the output at a
masked step is the previous output (zeros before the first valid step), or zeros with
zero_output_for_mask; the sequence output is in processing order and the last output is the
output at the last processing step. ONNX: each row processes its first n steps, forwards or
("reverse") backwards, outputs zeros beyond n, and Y_h is the state after the last processed
step.

Mapping: the operator reads X' = X, or X reversed in time when the padding is "pre" (flip), so
that the valid steps always come first. If g == flip, Keras processes X' in order: the ONNX
forward direction; its sequence is Y, with the trailing masked steps set to Y_h (the carried
output) unless zero_output_for_mask, and the last output is Y_h (zeros with
zero_output_for_mask when the row is padded). Otherwise Keras processes X' backwards: the
reverse direction; its sequence is Y reversed in time (the masked steps come first in Keras'
order, zeros in both), and the last output is Y_h. A Bidirectional's two layers read the same
X' in opposite directions: one operator with direction="bidirectional".

Initial states (`initial_state=` tensors) are the operators' initial_h and initial_c. Keras
carries them over masked steps and a row without valid steps returns them as its states (its
output is zeros); ONNX returns zeros for such a row, so its states are taken from the initial
ones there.

Weights: ONNX's W [dirs, G*H, D], R [dirs, G*H, H] and B [dirs, 2*G*H] (input then recurrent
bias) with the gates in ONNX order (LSTM i,o,f,c from Keras' i,f,c,o; GRU z,r,h as Keras).
GRU reset_after=True is linear_before_reset=1 with Keras' two bias rows; reset_after=False is
linear_before_reset=0 with the bias as the input bias.
"""
from dataclasses import dataclass

import numpy as np

from ...layers import GRU, LSTM, Bidirectional, SimpleRNN
from .. import ExportError
from . import activations
from .graph import Tensor
from .registry import converter, float32_weights, single_input

_OPERATORS = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_KERAS_GATES_IN_ONNX_ORDER = {"simple_rnn": [0], "lstm": [0, 3, 1, 2], "gru": [0, 1, 2]}


def _onnx_weights(layer):
    """(W [G*H, D], R [G*H, H], B [2*G*H]) of one Keras layer."""
    weights = float32_weights(layer)
    h = layer.units

    def onnx_order(m):
        return np.concatenate([m[..., g * h:(g + 1) * h]
                               for g in _KERAS_GATES_IN_ONNX_ORDER[layer.cell]], axis=-1)

    gh = layer.gates * h
    bias = np.zeros(2 * gh, np.float32)
    if layer.use_bias:
        keras_bias = weights[2]
        if keras_bias.ndim == 2:    # GRU reset_after: input bias row, recurrent bias row
            bias = np.concatenate([onnx_order(keras_bias[0]), onnx_order(keras_bias[1])])
        else:
            bias[:gh] = onnx_order(keras_bias)
    return onnx_order(weights[0]).T, onnx_order(weights[1]).T, bias


def _activation_names(layer):
    if layer.cell == "simple_rnn":
        return [layer.activation]
    if layer.cell == "gru":
        return [layer.recurrent_activation, layer.activation]
    return [layer.recurrent_activation, layer.activation, layer.activation]


def _one_operator(a, b):
    """Whether two layers fit one bidirectional operator (same cell, size and GRU variant)."""
    return (type(a) is type(b) and a.units == b.units
            and getattr(a, "reset_after", None) == getattr(b, "reset_after", None))


@dataclass
class _Result:
    """One Keras layer's results, only those it returns: `seq` = (time-major [T, B, H] name,
    reversed in time?) or None, `last` [B, H] or None, `states` (empty unless return_state)."""
    seq: tuple
    last: str
    states: list


def _take(g, t, index, axis, count):
    """Direction `index` of a [.., dirs, ..] operator output, the dirs axis removed."""
    if count == 1:
        return g.squeeze(t, [axis])
    return g.op("Gather", [t, g.const(index, np.int64)], axis=axis)


def _stacked(g, names):
    """[dirs, batch, units] from one [batch, units] state per direction."""
    parts = [g.unsqueeze(n, [0], hint="initial_state") for n in names]
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=0, hint="initial_state")


def _run(g, x, layers, initial):
    """Run Keras recurrent `layers` (one, or a Bidirectional's two) on `x`, from the initial
    states `initial` (per layer: a list of state names, or None): a _Result each."""
    for layer in layers:
        if layer.stateful:   # the graph would start every call from zeros
            raise ExportError(f"layer {layer.name!r}: stateful=True is not exported (an ONNX "
                              "graph carries no state from one run to the next)")
    mask = x.mask
    flip = mask is not None and mask.padding == "pre"
    reverse = [layer.go_backwards != flip for layer in layers]
    if len(layers) == 2 and (not _one_operator(*layers) or reverse[0] == reverse[1]):
        return _run(g, x, layers[:1], initial[:1]) + _run(g, x, layers[1:], initial[1:])
    order = sorted(range(len(layers)), key=lambda i: reverse[i])   # forward direction first
    first = layers[0]
    where = f"layer {first.name!r}"

    def time_major():
        t = g.op("Transpose", [x.name], perm=[1, 0, 2], hint="time_major")
        return g.reverse(t, 0) if flip else t
    x_tm = g.memo(("time_major", x.name, flip), time_major)

    w, r, b = zip(*(_onnx_weights(layers[i]) for i in order))
    inputs = [x_tm, g.weight(np.stack(w), f"{first.name}/W"),
              g.weight(np.stack(r), f"{first.name}/R")]
    if any(layer.use_bias for layer in layers):
        inputs.append(g.weight(np.stack(b), f"{first.name}/B"))
    if mask is not None:
        inputs += [""] * (4 - len(inputs)) + [mask.lengths()]
    lstm = first.cell == "lstm"
    if initial[0] is not None:
        inputs += [""] * (5 - len(inputs)) + [_stacked(g, [initial[i][0] for i in order])]
        if lstm:
            inputs.append(_stacked(g, [initial[i][1] for i in order]))
    attrs = activations.recurrent_attributes(
        [name for i in order for name in _activation_names(layers[i])], where)
    attrs["hidden_size"] = first.units
    attrs["direction"] = ("bidirectional" if len(layers) == 2
                          else "reverse" if reverse[0] else "forward")
    if first.cell == "gru":
        attrs["linear_before_reset"] = int(first.reset_after)
    # a forward-direction sequence carries its last output over the trailing masked steps
    carry = [mask is not None and not reverse[i] and layers[i].return_sequences
             and not layers[i].zero_output_for_mask for i in range(len(layers))]
    want_h = [not layer.return_sequences or layer.return_state or c
              for layer, c in zip(layers, carry)]
    want = [any(layer.return_sequences for layer in layers), any(want_h),
            lstm and any(layer.return_state for layer in layers)]
    outs = g.op(_OPERATORS[first.cell], inputs, outputs=want if lstm else want[:2],
                hint=first.name, **attrs)

    results = [None] * len(layers)
    for k, i in enumerate(order):
        layer = layers[i]
        h = _take(g, outs[1], k, 0, len(layers)) if want_h[i] else None
        states = []
        if layer.return_state:
            states = [h] + ([_take(g, outs[2], k, 0, len(layers))] if lstm else [])
            if mask is not None and initial[i] is not None:
                keep = mask.nonempty_rows()
                states = [g.op("Where", [keep, s, s0], hint="state")
                          for s, s0 in zip(states, initial[i])]
        seq = last = None
        if layer.return_sequences:
            seq = (_take(g, outs[0], k, 1, len(layers)), reverse[i])
            if carry[i]:
                seq = (g.op("Where", [mask.leading_valid(), seq[0], g.unsqueeze(h, [0])],
                            hint="carried_outputs"), False)
        elif mask is not None and not reverse[i] and layer.zero_output_for_mask:
            last = g.op("Where", [mask.full_rows(), h, g.const(0.0)], hint="last_output")
        else:
            last = h
        results[i] = _Result(seq, last, states)
    return results


def _in_order(g, seq):
    name, reversed_ = seq
    return g.reverse(name, 0) if reversed_ else name


def _batch_major(g, name):
    return g.op("Transpose", [name], perm=[1, 0, 2], hint="batch_major")


def _merge(g, mode, a, b):
    """Keras' Bidirectional merge of two output names (same layout): a list of names."""
    if mode == "concat":
        return [g.op("Concat", [a, b], axis=-1, hint="concat")]
    if mode == "sum":
        return [g.op("Add", [a, b], hint="sum")]
    if mode == "ave":
        return [g.op("Mul", [g.op("Add", [a, b]), g.const(0.5)], hint="ave")]
    if mode == "mul":
        return [g.op("Mul", [a, b], hint="mul")]
    return [a, b]


def _state_tensors(layer, states, batch):
    return [Tensor(s, (batch, layer.units)) for s in states]


def _initial_states(layer, initial_state, count):
    """The names of `initial_state` (a tensor or a list of `count`), or None."""
    if initial_state is None:
        return None
    states = initial_state if isinstance(initial_state, list) else [initial_state]
    if len(states) != count:
        raise ExportError(f"layer {layer.name!r}: initial_state holds {len(states)} tensors, "
                          f"the layer takes {count}")
    return [t.name for t in states]


@converter(SimpleRNN, LSTM, GRU, keywords=("initial_state",))
def recurrent(g, layer, inputs, initial_state=None):
    x = single_input(layer, inputs)
    (res,) = _run(g, x, [layer], [_initial_states(layer, initial_state, layer.state_count)])
    batch, steps = x.shape[0], x.shape[1]
    if layer.return_sequences:
        out = Tensor(_batch_major(g, _in_order(g, res.seq)), (batch, steps, layer.units),
                     mask=x.mask)
    else:
        out = Tensor(res.last, (batch, layer.units))
    return [out] + _state_tensors(layer, res.states, batch)


@converter(Bidirectional, keywords=("initial_state",))
def bidirectional(g, layer, inputs, initial_state=None):
    """`initial_state`: the forward layer's states, then the backward layer's."""
    x = single_input(layer, inputs)
    fw_layer, bw_layer = layer.forward_layer, layer.backward_layer
    n = fw_layer.state_count
    states = _initial_states(layer, initial_state, n + bw_layer.state_count)
    initial = [None, None] if states is None else [states[:n], states[n:]]
    fw, bw = _run(g, x, [fw_layer, bw_layer], initial)
    batch, steps = x.shape[0], x.shape[1]
    mode = layer.merge_mode
    widths = ([fw_layer.units + bw_layer.units] if mode == "concat"
              else [fw_layer.units, bw_layer.units] if mode is None else [fw_layer.units])
    if layer.return_sequences:
        # the backward layer's sequence is flipped back into input order before merging
        a, b = fw.seq, (bw.seq[0], not bw.seq[1])
        if a[1] != b[1]:
            a, b = (_in_order(g, a), False), (_in_order(g, b), False)
        # merging commutes with reversing time: reverse (if at all) once, after merging
        outs = [Tensor(_batch_major(g, _in_order(g, (n, a[1]))), (batch, steps, w), mask=x.mask)
                for n, w in zip(_merge(g, mode, a[0], b[0]), widths)]
    else:
        outs = [Tensor(n, (batch, w)) for n, w in zip(_merge(g, mode, fw.last, bw.last), widths)]
    return (outs + _state_tensors(fw_layer, fw.states, batch)
            + _state_tensors(bw_layer, bw.states, batch))
