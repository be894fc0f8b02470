"""Run real Keras 3 (TF backend) RNN layers on NumPy weights and return NumPy results.

Two entry points, mirroring tests/reference.py argument conventions:

    keras_rnn(cell, x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, *,
              return_sequences=True, activation="tanh", recurrent_activation="sigmoid",
              reset_after=True, go_backwards=False, zero_output_for_mask=False,
              dropout_mask=None, recurrent_dropout_mask=None,
              d_output=None, d_states=None, dtype="float32")
    keras_bidirectional(cell, x, fw_weights, bw_weights, initial_state=None, mask=None, *,
              merge_mode="concat", return_sequences=False, d_output=None, d_states=None,
              dtype="float32", dropout_mask=None, recurrent_dropout_mask=None, **cell_kwargs)
    (cell_kwargs: make_layer options such as activation, reset_after, use_bias is taken
    from fw_weights; fw_weights/bw_weights are (kernel, recurrent_kernel, bias) tuples)

make_layer(cell, units, **options) builds the (unbuilt) Keras layer itself.

Both return a dict:
    "output":  layer output (a [y_fw, y_bw] list for Bidirectional merge_mode=None),
    "states":  list of final states (Keras return_state=True; Bidirectional: fw then bw),
    "grads":   gradients of  sum(output * d_output) + sum(states_i * d_states_i)  (missing
               upstreams count as zero) w.r.t. "x", "kernel", "recurrent_kernel", "bias"
               (None without bias) and "initial_state" (None when no initial_state was given);
               for Bidirectional: "x", "forward" and "backward" (dicts of the weight and
               initial_state grads per direction).

Everything runs on the CPU (even where a GPU is visible: no TF32 matmuls) and LSTM/GRU use
use_cudnn=False, i.e. the generic TF while-loop path with full masking support.

`dropout_mask` / `recurrent_dropout_mask` (pre-scaled, [B,N] shared or [G,B,N] per gate, as in
reference.py; for Bidirectional a (fw, bw) tuple gives different masks per direction, both
required) are injected by setting the cell's cached `_dropout_mask` /
`_recurrent_dropout_mask` right before the call with training=True: DropoutRNNCell only
draws random masks when that cache is None. Per-gate masks, or any recurrent mask on LSTM/GRU,
select Keras implementation=1 (the one Keras uses when recurrent_dropout > 0).
"""

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def make_layer(cell, units, *, use_bias=True, activation="tanh", recurrent_activation="sigmoid",
               reset_after=True, go_backwards=False, zero_output_for_mask=False,
               return_sequences=True, return_state=True, dropout=0.0, recurrent_dropout=0.0,
               implementation=2, dtype="float32"):
    """An unbuilt keras.layers.SimpleRNN / LSTM / GRU with the given options."""
    kw = dict(units=units, use_bias=use_bias, activation=activation, go_backwards=go_backwards,
              zero_output_for_mask=zero_output_for_mask, return_sequences=return_sequences,
              return_state=return_state, dropout=dropout, recurrent_dropout=recurrent_dropout,
              dtype=dtype)
    if cell == "simple_rnn":
        return keras.layers.SimpleRNN(**kw)
    kw.update(recurrent_activation=recurrent_activation, use_cudnn=False,
              implementation=implementation)
    if cell == "lstm":
        return keras.layers.LSTM(**kw)
    return keras.layers.GRU(reset_after=reset_after, **kw)


def _dropout_config(cell, dropout_mask, recurrent_dropout_mask):
    """Layer kwargs (rates, implementation) that make Keras apply injected masks. The rate
    only switches dropout on; the injected (pre-scaled) mask values are what gets used."""
    per_gate = recurrent_dropout_mask is not None or np.ndim(dropout_mask) == 3
    return dict(dropout=0.0 if dropout_mask is None else 0.5,
                recurrent_dropout=0.0 if recurrent_dropout_mask is None else 0.5,
                implementation=1 if per_gate and cell != "simple_rnn" else 2)


def _keras_mask(m, cell, layer, dtype):
    """Convert a reference-format mask to what the Keras cell expects, or None."""
    if m is None:
        return None
    m = np.asarray(m)
    if cell == "simple_rnn":
        return tf.constant(m.reshape(m.shape[-2:]), dtype)
    if layer.cell.implementation == 1:
        m = np.broadcast_to(m, (GATES[cell],) + m.shape[-2:])
        return [tf.constant(g, dtype) for g in m]
    return tf.constant(m, dtype)


def _inject(layer, cell, dropout_mask, recurrent_dropout_mask, dtype):
    layer.cell._dropout_mask = _keras_mask(dropout_mask, cell, layer, dtype)
    layer.cell._recurrent_dropout_mask = _keras_mask(recurrent_dropout_mask, cell, layer, dtype)


def _set_weights(layer, kernel, recurrent_kernel, bias):
    layer.set_weights([w for w in (kernel, recurrent_kernel, bias) if w is not None])


def _upstream_loss(values, upstreams):
    loss = tf.constant(0.0, values[0].dtype)
    for v, u in zip(values, upstreams):
        if u is not None:
            loss += tf.reduce_sum(v * tf.constant(u, v.dtype))
    return loss


def _weight_vars(layer):
    c = layer.cell
    return [c.kernel, c.recurrent_kernel] + ([c.bias] if c.bias is not None else [])


def _weight_grads(grads, has_bias):
    return {"kernel": grads[0], "recurrent_kernel": grads[1],
            "bias": grads[2] if has_bias else None}


def _on_cpu(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with tf.device("/CPU:0"):
            return fn(*args, **kwargs)

    return wrapper


def _run(layer_fn, x, initial_state, mask, training, dtype, upstream_fn, var_groups):
    """Call layer_fn under a GradientTape; return outputs, states and grads (all numpy)."""
    x_t = tf.constant(x, dtype)
    init_t = None if initial_state is None else [tf.constant(s, dtype) for s in initial_state]
    mask_t = None if mask is None else tf.constant(np.asarray(mask, bool))
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        if init_t is not None:
            tape.watch(init_t)
        result = layer_fn(x_t, initial_state=init_t, mask=mask_t, training=training)
        outputs, states, loss = upstream_fn(result)
    sources = [x_t] + (init_t or []) + [v for group in var_groups for v in group]
    grads = [np.zeros(s.shape, dtype) if g is None else np.asarray(g)
             for s, g in zip(sources, tape.gradient(loss, sources))]
    out = [np.asarray(o) for o in outputs]
    return out, [np.asarray(s) for s in states], grads


@_on_cpu
def keras_rnn(cell, x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, *,
              return_sequences=True, activation="tanh", recurrent_activation="sigmoid",
              reset_after=True, go_backwards=False, zero_output_for_mask=False,
              dropout_mask=None, recurrent_dropout_mask=None, d_output=None, d_states=None,
              dtype="float32"):
    """Keras SimpleRNN/LSTM/GRU forward + gradients; see the module docstring."""
    layer = make_layer(cell, np.shape(recurrent_kernel)[0], use_bias=bias is not None,
                       activation=activation, recurrent_activation=recurrent_activation,
                       reset_after=reset_after, go_backwards=go_backwards,
                       zero_output_for_mask=zero_output_for_mask,
                       return_sequences=return_sequences, dtype=dtype,
                       **_dropout_config(cell, dropout_mask, recurrent_dropout_mask))
    layer.build(np.shape(x))
    _set_weights(layer, kernel, recurrent_kernel, bias)
    training = dropout_mask is not None or recurrent_dropout_mask is not None

    def call(x_t, **kw):
        _inject(layer, cell, dropout_mask, recurrent_dropout_mask, dtype)
        return layer(x_t, **kw)

    def upstream(result):
        output, states = result[0], list(result[1:])
        upstreams = [d_output] + list(d_states or [])
        return [output], states, _upstream_loss([output] + states, upstreams)

    (output,), states, grads = _run(call, x, initial_state, mask, training, dtype, upstream,
                                    [_weight_vars(layer)])
    n_init = 0 if initial_state is None else len(initial_state)
    g = {"x": grads[0], "initial_state": grads[1:1 + n_init] if n_init else None}
    g.update(_weight_grads(grads[1 + n_init:], bias is not None))
    return {"output": output, "states": states, "grads": g}


def _per_direction(v):
    return v if isinstance(v, tuple) else (v, v)


@_on_cpu
def keras_bidirectional(cell, x, fw_weights, bw_weights, initial_state=None, mask=None, *,
                        merge_mode="concat", return_sequences=False, d_output=None,
                        d_states=None, dtype="float32", dropout_mask=None,
                        recurrent_dropout_mask=None, **cell_kwargs):
    """keras.layers.Bidirectional(layer, merge_mode) forward + gradients; see module docstring.
    d_output is a (d_fw, d_bw) pair for merge_mode=None; d_states lists fw then bw states.
    A dropout mask given as a (fw, bw) tuple must have both entries set."""
    dms, rms = _per_direction(dropout_mask), _per_direction(recurrent_dropout_mask)
    layer = make_layer(cell, np.shape(fw_weights[1])[0], use_bias=fw_weights[2] is not None,
                       return_sequences=return_sequences, dtype=dtype,
                       **_dropout_config(cell, dms[0], rms[0]), **cell_kwargs)
    bi = keras.layers.Bidirectional(layer, merge_mode=merge_mode, dtype=dtype)
    bi.build(np.shape(x))
    _set_weights(bi.forward_layer, *fw_weights)
    _set_weights(bi.backward_layer, *bw_weights)
    sub_layers = (bi.forward_layer, bi.backward_layer)

    def call(x_t, **kw):
        for sub, dm, rm in zip(sub_layers, dms, rms):
            _inject(sub, cell, dm, rm, dtype)
        return bi(x_t, **kw)

    n_out = 2 if merge_mode is None else 1

    def upstream(result):
        outputs, states = list(result[:n_out]), list(result[n_out:])
        d_out = list(d_output or (None, None)) if merge_mode is None else [d_output]
        return outputs, states, _upstream_loss(outputs + states, d_out + list(d_states or []))

    training = dropout_mask is not None or recurrent_dropout_mask is not None
    var_groups = [_weight_vars(s) for s in sub_layers]
    outputs, states, grads = _run(call, x, initial_state, mask, training, dtype, upstream,
                                  var_groups)
    n_init = 0 if initial_state is None else len(initial_state)
    half, n_w, weight_grads = n_init // 2, len(var_groups[0]), grads[1 + n_init:]
    g = {"x": grads[0]}
    for i, name in enumerate(("forward", "backward")):
        g[name] = _weight_grads(weight_grads[i * n_w:(i + 1) * n_w], fw_weights[2] is not None)
        g[name]["initial_state"] = grads[1 + i * half:1 + (i + 1) * half] if n_init else None
    return {"output": outputs if merge_mode is None else outputs[0], "states": states, "grads": g}
