"""Low-level recurrent ops over NumPy arrays, for embedding the C++ kernels.

    res = rnn_forward("lstm", x, kernel, recurrent_kernel, bias, initial_state=[h0, c0])
    grads = rnn_backward(res.cache, d_outputs=dy, d_states=[dh, dc])

Arrays are float32 or float64 (all the same dtype as `x`), C-contiguous, with Keras shapes:
x [B,T,D], kernel [D,G*H], recurrent_kernel [H,G*H], bias [G*H] (GRU reset_after: [2,3H]),
states [B,H], mask bool/uint8 [B,T]. Dropout masks are [B,D]/[B,H] (one mask shared by all
gates) or [G,B,D]/[G,B,H] (one per gate, Keras' order), already scaled by 1/(1-rate).
Anything else raises TypeError/ValueError naming the argument, with expected and actual value.
The GIL is released while the kernels run.

Both functions are thin wrappers over `_core.RnnKernel`, the kernel object a layer creates
once (cell, sizes and options), binds its weights to, and calls with the per-call arrays.
The cells and activations the kernels know come from `_core` (`CELLS`, `ACTIVATIONS`,
`cell_info(name)`).
"""
from typing import NamedTuple

import numpy as np

from . import _core


class CellInfo(NamedTuple):
    """A registered cell, as its C++ traits describe it."""

    name: str
    gates: int                       # G: the weights have G*H columns
    states: int                      # 1 ([h]) or 2 ([h, c])
    uses_recurrent_activation: bool
    uses_reset_after: bool
    bias_rows: tuple                 # bias rows for reset_after False, True

    def bias_shape(self, units, reset_after=True):
        rows = self.bias_rows[bool(reset_after)]
        return (self.gates * units,) if rows == 1 else (rows, self.gates * units)


_CELLS = {c["name"]: CellInfo(**c) for c in _core.cells()}
CELLS = tuple(_CELLS)
ACTIVATIONS = tuple(_core.activations())


def cell_info(name):
    """The CellInfo of the cell called `name` ("simple_rnn", "lstm", "gru", ...)."""
    try:
        return _CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"cell: expected one of {CELLS}, got {name!r}") from None


class RnnCache:
    """Everything `rnn_backward` needs from a training forward (opaque to callers): the kernel
    object, which keeps the forward's inputs and its cache."""

    __slots__ = ("kernel", "_key")

    def __init__(self, kernel, key):
        self.kernel = kernel
        self._key = key


class RnnResult(NamedTuple):
    outputs: np.ndarray   # [B,T,H] in processing order (reversed time with go_backwards),
                          # or [B,H], the last output, when return_sequences=False
    states: list          # [h_n] or [h_n, c_n]
    cache: object         # RnnCache, or None when training=False


def _kernel_sizes(x, recurrent_kernel):
    """(dtype, input_dim, units) of a call: what the kernel object is built for."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x: expected a NumPy array, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"x: expected a 3-D array [batch, timesteps, features], got "
                         f"{x.ndim}-D shape {x.shape}")
    if x.dtype not in (np.float32, np.float64) or not x.dtype.isnative:
        raise TypeError(f"x: expected dtype float32 or float64, got {x.dtype}")
    rk = recurrent_kernel
    if not isinstance(rk, np.ndarray):
        raise TypeError(f"recurrent_kernel: expected a NumPy array, got {type(rk).__name__}")
    if rk.ndim != 2:
        raise ValueError(f"recurrent_kernel: expected a 2-D array [units, gates*units], got "
                         f"{rk.ndim}-D shape {rk.shape}")
    if rk.shape[0] < 1:
        raise ValueError(f"recurrent_kernel: units must be >= 1, got {rk.shape[0]}")
    if x.shape[2] < 1:
        raise ValueError(f"x: the features dimension must be >= 1, got {x.shape[2]}")
    return x.dtype, x.shape[2], rk.shape[0]


def rnn_forward(cell, x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, *,
                activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                go_backwards=False, zero_output_for_mask=False, dropout_mask=None,
                recurrent_dropout_mask=None, training=True, cache_buffer=None,
                return_sequences=True):
    """Run a whole sequence. Returns RnnResult(outputs, states, cache).

    outputs is [B,T,H]; with return_sequences=False only the last output [B,H] is produced
    (the sequence is never written, which saves memory traffic).

    cache_buffer: optionally an earlier result's cache that is no longer needed; its kernel
    object (workspace and cache memory) is reused when cell, sizes, dtype and options match.
    """
    dtype, input_dim, units = _kernel_sizes(x, recurrent_kernel)
    key = (cell, dtype, input_dim, units, activation, recurrent_activation, bias is not None,
           bool(reset_after), bool(go_backwards), bool(zero_output_for_mask))
    if isinstance(cache_buffer, RnnCache) and cache_buffer._key == key:
        kern = cache_buffer.kernel
    else:
        kern = _core.RnnKernel(cell, input_dim, units, activation=activation,
                               recurrent_activation=recurrent_activation,
                               use_bias=bias is not None, reset_after=bool(reset_after),
                               go_backwards=bool(go_backwards),
                               zero_output_for_mask=bool(zero_output_for_mask), dtype=dtype)
    kern.bind_weights(kernel, recurrent_kernel, bias)
    outputs, states = kern.forward(x, initial_state, mask, dropout_mask, recurrent_dropout_mask,
                                   training=bool(training),
                                   return_sequences=bool(return_sequences))
    return RnnResult(outputs, states, RnnCache(kern, key) if training else None)


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
    dx, dk, drk, db, d_init = cache.kernel.backward(
        d_outputs, d_last, d_states, need_dx=bool(need_dx),
        need_d_initial_state=bool(need_d_initial_state))
    return {"x": dx, "kernel": dk, "recurrent_kernel": drk, "bias": db, "initial_state": d_init}


def lstm_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, **kw):
    return rnn_forward("lstm", x, kernel, recurrent_kernel, bias, initial_state, mask, **kw)


def gru_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, **kw):
    return rnn_forward("gru", x, kernel, recurrent_kernel, bias, initial_state, mask, **kw)


def simple_rnn_forward(x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, **kw):
    return rnn_forward("simple_rnn", x, kernel, recurrent_kernel, bias, initial_state, mask, **kw)


def set_num_threads(n):
    from .threads import set_num_threads as _set
    _set(n)
