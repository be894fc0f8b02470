"""Low-level recurrent ops over NumPy arrays, for embedding the C++ kernels.

    res = rnn_forward("lstm", x, kernel, recurrent_kernel, bias, initial_state=[h0, c0])
    grads = rnn_backward(res.cache, d_outputs=dy, d_states=[dh, dc])

Arrays are float32 or float64 (all the same dtype as `x`), C-contiguous, with Keras shapes:
x [B,T,D], kernel [D,G*H], recurrent_kernel [H,G*H], bias [G*H] (GRU reset_after: [2,3H]),
states [B,H], mask bool/uint8 [B,T]. Dropout masks are [B,D]/[B,H] (one mask shared by all
gates) or [G,B,D]/[G,B,H] (one per gate, Keras' order), already scaled by 1/(1-rate).
Anything else raises TypeError/ValueError naming the argument, with expected and actual value.
The GIL is released while the kernels run.
"""
from typing import NamedTuple

import numpy as np

from . import _core

CELLS = ("simple_rnn", "lstm", "gru")
ACTIVATIONS = ("tanh", "sigmoid", "hard_sigmoid", "relu", "linear")


class RnnCache:
    """Everything `rnn_backward` needs from a training forward (opaque to callers)."""

    __slots__ = ("cell", "x", "kernel", "recurrent_kernel", "bias", "mask", "dropout_mask",
                 "recurrent_dropout_mask", "data", "options")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class RnnResult(NamedTuple):
    outputs: np.ndarray   # [B,T,H] in processing order (reversed time with go_backwards),
                          # or [B,H], the last output, when return_sequences=False
    states: list          # [h_n] or [h_n, c_n]
    cache: object         # RnnCache, or None when training=False


def _check_cell(cell):
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {CELLS}, got {cell!r}")
    return cell


def _split_states(cell, states, name):
    n = 2 if cell == "lstm" else 1
    if states is None:
        return [None, None]
    if isinstance(states, np.ndarray):
        states = [states]
    states = list(states)
    if len(states) != n:
        raise ValueError(f"{name}: expected a list of {n} array(s) for {cell}, got {len(states)}")
    return states + [None] * (2 - n)


def rnn_forward(cell, x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, *,
                activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                go_backwards=False, zero_output_for_mask=False, dropout_mask=None,
                recurrent_dropout_mask=None, training=True, cache_buffer=None,
                return_sequences=True):
    """Run a whole sequence. Returns RnnResult(outputs, states, cache).

    outputs is [B,T,H]; with return_sequences=False only the last output [B,H] is produced
    (the sequence is never written, which saves memory traffic).

    cache_buffer: optionally the `.data` of an earlier cache that is no longer needed; it is
    overwritten instead of allocating a new one when its size fits.
    """
    _check_cell(cell)
    h0, c0 = _split_states(cell, initial_state, "initial_state")
    opts = dict(activation=activation, recurrent_activation=recurrent_activation,
                reset_after=bool(reset_after), go_backwards=bool(go_backwards),
                zero_output_for_mask=bool(zero_output_for_mask))
    out, h_n, c_n, data = _core.rnn_forward(
        cell, x, kernel, recurrent_kernel, bias, h0, c0, mask, dropout_mask,
        recurrent_dropout_mask, training=bool(training), cache_buffer=cache_buffer,
        return_sequences=bool(return_sequences), **opts)
    states = [h_n, c_n] if cell == "lstm" else [h_n]
    cache = None
    if training:
        cache = RnnCache(cell=cell, x=x, kernel=kernel, recurrent_kernel=recurrent_kernel,
                         bias=bias, mask=mask, dropout_mask=dropout_mask,
                         recurrent_dropout_mask=recurrent_dropout_mask, data=data, options=opts)
    return RnnResult(out, states, cache)


def rnn_backward(cache, d_outputs=None, d_states=None, *, d_last=None, need_dx=True,
                 need_d_initial_state=True):
    """Gradients of a forward run with training=True.

    d_outputs: [B,T,H] gradient of the whole outputs sequence (or None); d_last: [B,H] gradient
    of the last output only (what return_sequences=False returns); d_states: like `states`,
    entries may be None. Returns a dict with "x", "kernel", "recurrent_kernel", "bias" (None
    without bias) and "initial_state" (list of [B,H]). Gradients are freshly written arrays.
    """
    if not isinstance(cache, RnnCache):
        raise TypeError("cache: expected the cache returned by rnn_forward(..., training=True), "
                        f"got {type(cache).__name__}")
    c = cache
    dh, dc = _split_states(c.cell, d_states, "d_states")
    dx, dk, drk, db, dh0, dc0 = _core.rnn_backward(
        c.cell, c.x, c.kernel, c.recurrent_kernel, c.bias, c.mask, c.dropout_mask,
        c.recurrent_dropout_mask, c.data, d_outputs, d_last, dh, dc, need_dx=bool(need_dx),
        need_d_initial=bool(need_d_initial_state), **c.options)
    init = [dh0, dc0] if c.cell == "lstm" else [dh0]
    return {"x": dx, "kernel": dk, "recurrent_kernel": drk, "bias": db, "initial_state": init}


def lstm_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, **kw):
    return rnn_forward("lstm", x, kernel, recurrent_kernel, bias, initial_state, mask, **kw)


def gru_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, **kw):
    return rnn_forward("gru", x, kernel, recurrent_kernel, bias, initial_state, mask, **kw)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, **kw):
    return rnn_forward("simple_rnn", x, kernel, recurrent_kernel, bias, initial_state, mask, **kw)


def set_num_threads(n):
    from .threads import set_num_threads as _set
    _set(n)
