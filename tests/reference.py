"""Plain NumPy reference (test oracle) for Keras 3 SimpleRNN / LSTM / GRU / Bidirectional.

Forward passes follow keras.src.layers.rnn.* and the TF backend's `rnn()` loop (generic,
non-cuDNN path); backward passes are hand-written BPTT. All computation happens in the
dtype of `x` (use float64 for tight checks).

Keras semantics reproduced here:
  * A masked step keeps every state unchanged. Its output is the previous step's *output*
    (zero before the first valid step, even with a non-zero initial state), or zero when
    `zero_output_for_mask=True`.
  * Outputs are in processing order (time-reversed when `go_backwards=True`); the
    `return_sequences=False` output is `outputs[:, -1]`.
  * Bidirectional gives the first half of `initial_state` to the forward layer, sets
    `zero_output_for_mask = return_sequences` on both sub-layers, and flips the backward
    layer's sequence output back to input order.
"""

import numpy as np

GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # overflow-free logistic


# name -> (f(a), f'(a)), both functions of the pre-activation a.
_ACTIVATIONS = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "sigmoid": (_sigmoid, lambda a: _sigmoid(a) * (1.0 - _sigmoid(a))),
    # Keras 3: hard_sigmoid(a) = relu6(a + 3) / 6
    "hard_sigmoid": (
        lambda a: np.clip(a / 6.0 + 0.5, 0.0, 1.0),
        lambda a: np.where(np.abs(a) < 3.0, 1.0 / 6.0, 0.0).astype(a.dtype),
    ),
    # Keras 2: hard_sigmoid(a) = clip(0.2 * a + 0.5, 0, 1)
    "keras2_hard_sigmoid": (
        lambda a: np.clip(0.2 * a + 0.5, 0.0, 1.0),
        lambda a: np.where(np.abs(a) < 2.5, 0.2, 0.0).astype(a.dtype),
    ),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(a.dtype)),
    "linear": (lambda a: a, lambda a: np.ones_like(a)),
}


def activation_fn(name):
    """The activation function called `name` (Keras spelling; None means linear)."""
    return _ACTIVATIONS["linear" if name is None else name][0]


def activation_grad(name):
    """Derivative of activation `name` as a function of its input."""
    return _ACTIVATIONS["linear" if name is None else name][1]


def _split_gates(w, G):
    """[I, G*H] -> [G, I, H] (gate blocks are contiguous column ranges)."""
    return w.reshape(w.shape[0], G, -1).transpose(1, 0, 2)


def _merge_gates(wg):
    """Inverse of _split_gates."""
    return wg.transpose(1, 0, 2).reshape(wg.shape[1], -1)


def _gate_masks(m, G, shape, dtype):
    """Dropout mask as [G, *shape]: None -> ones, shared [B, N] -> repeated per gate."""
    if m is None:
        return np.ones((G,) + shape, dtype)
    m = np.asarray(m, dtype)
    return np.broadcast_to(m, (G,) + shape) if m.ndim == 2 else m


def _proj(inp, w):
    """Per-gate projection: [G,B,I] x [G,I,H] -> [G,B,H]."""
    return np.einsum("gbi,gih->gbh", inp, w)


def _proj_backward(inp, w, d, grads, key):
    """Backward of _proj: accumulates dW into grads[key], returns d(inp)."""
    grads[key] += np.einsum("gbi,gbh->gih", inp, d)
    return np.einsum("gbh,gih->gbi", d, w)


class _Params:
    """Weights (split per gate), per-gate dropout masks and options of one RNN run."""

    def __init__(self, cell, kernel, recurrent_kernel, bias, dropout_mask,
                 recurrent_dropout_mask, x_shape, dtype, activation, recurrent_activation,
                 reset_after):
        G, (B, _, D), H = GATES[cell], x_shape, np.shape(recurrent_kernel)[0]
        self.cell, self.reset_after = cell, reset_after
        self.dm = _gate_masks(dropout_mask, G, (B, D), dtype)
        self.rm = _gate_masks(recurrent_dropout_mask, G, (B, H), dtype)
        self.K = _split_gates(np.asarray(kernel, dtype), G)
        self.R = _split_gates(np.asarray(recurrent_kernel, dtype), G)
        self.has_bias = bias is not None
        self.two_biases = cell == "gru" and reset_after
        self.b_in = np.zeros((G, H), dtype)
        self.b_rec = np.zeros((G, H), dtype)  # only GRU reset_after=True has it (else unused)
        if self.two_biases and self.has_bias:
            b = np.asarray(bias, dtype)
            self.b_in, self.b_rec = b[0].reshape(G, H), b[1].reshape(G, H)
        elif self.has_bias:
            self.b_in = np.asarray(bias, dtype).reshape(G, H)
        self.act, self.dact = activation_fn(activation), activation_grad(activation)
        self.ract = activation_fn(recurrent_activation)
        self.dract = activation_grad(recurrent_activation)


# ---- single-step cells ----
# Forward: (p, xg = x*dropout [G,B,D], hg = h*recurrent dropout [G,B,H], h, c)
#   -> (h_new, c_new or None, step cache).
# Backward: (p, step cache, dh_new, dc_new, grads) -> (d input projection [G,B,H],
#   d recurrent projection hg@R [G,B,H], extra dh_prev, dc_prev); gate-specific weight
#   grads (GRU candidate gate) are accumulated into grads directly.

def _simple_step(p, xg, hg, h, c):
    pre = _proj(xg, p.K)[0] + _proj(hg, p.R)[0] + p.b_in[0]
    return p.act(pre), None, {"pre": pre}


def _simple_step_backward(p, s, dh, dc, g):
    dpre = (dh * p.dact(s["pre"]))[None]
    return dpre, dpre, 0.0, None


def _lstm_step(p, xg, hg, h, c):
    pre = _proj(xg, p.K) + _proj(hg, p.R) + p.b_in[:, None]
    i, f, o = p.ract(pre[0]), p.ract(pre[1]), p.ract(pre[3])
    cand = p.act(pre[2])
    c_new = f * c + i * cand
    h_new = o * p.act(c_new)
    return h_new, c_new, dict(pre=pre, i=i, f=f, o=o, cand=cand, c=c, c_new=c_new)


def _lstm_step_backward(p, s, dh, dc, g):
    pre = s["pre"]
    dc_tot = dc + dh * s["o"] * p.dact(s["c_new"])
    dpre = np.stack([
        dc_tot * s["cand"] * p.dract(pre[0]),
        dc_tot * s["c"] * p.dract(pre[1]),
        dc_tot * s["i"] * p.dact(pre[2]),
        dh * p.act(s["c_new"]) * p.dract(pre[3]),
    ])
    return dpre, dpre, 0.0, dc_tot * s["f"]


def _gru_step(p, xg, hg, h, c):
    a = _proj(xg, p.K) + p.b_in[:, None]
    u = _proj(hg[:2], p.R[:2]) + p.b_rec[:2, None]
    z, r = p.ract(a[0] + u[0]), p.ract(a[1] + u[1])
    if p.reset_after:  # r scales the recurrent projection (incl. its bias)
        hin = hg[2]
        uh = hin @ p.R[2] + p.b_rec[2]
        pre_h = a[2] + r * uh
    else:  # r scales the previous state before the projection
        hin = r * hg[2]
        uh = hin @ p.R[2]
        pre_h = a[2] + uh
    cand = p.act(pre_h)
    h_new = z * h + (1.0 - z) * cand
    return h_new, None, dict(a=a, u=u, z=z, r=r, hin=hin, uh=uh, pre_h=pre_h, cand=cand, h=h)


def _gru_step_backward(p, s, dh, dc, g):
    z, r = s["z"], s["r"]
    dpre_h = dh * (1.0 - z) * p.dact(s["pre_h"])
    if p.reset_after:
        dr = dpre_h * s["uh"]
        duh = dpre_h * r
    else:
        duh = dpre_h
    g["R"][2] += s["hin"].T @ duh
    g["b_rec"][2] += duh.sum(0)
    dhin = duh @ p.R[2].T
    if p.reset_after:
        dhg2 = dhin
    else:
        dr = dhin * s["hg"][2]
        dhg2 = dhin * r
    dz = dh * (s["h"] - s["cand"]) * p.dract(s["a"][0] + s["u"][0])
    dr = dr * p.dract(s["a"][1] + s["u"][1])
    d_in = np.stack([dz, dr, dpre_h])
    d_rec = np.stack([dz, dr, np.zeros_like(dz)])  # gate 2 handled above
    return d_in, d_rec, dh * z + dhg2 * p.rm[2], None


_STEPS = {
    "simple_rnn": (_simple_step, _simple_step_backward),
    "lstm": (_lstm_step, _lstm_step_backward),
    "gru": (_gru_step, _gru_step_backward),
}


def rnn_forward(cell, x, kernel, recurrent_kernel, bias=None, initial_state=None, mask=None, *,
                activation="tanh", recurrent_activation="sigmoid", reset_after=True,
                go_backwards=False, zero_output_for_mask=False,
                dropout_mask=None, recurrent_dropout_mask=None):
    """Run a Keras RNN layer. Returns (outputs [B,T,H] in processing order, final states, cache).

    See module docstring for semantics; dropout masks are [B,N] (shared by all gates) or
    [G,B,N] (per gate), pre-scaled, applied like Keras' cell.call does.
    """
    x = np.asarray(x)
    dtype = x.dtype
    B, T, D = x.shape
    H = np.shape(recurrent_kernel)[0]
    p = _Params(cell, kernel, recurrent_kernel, bias, dropout_mask, recurrent_dropout_mask,
                x.shape, dtype, activation, recurrent_activation, reset_after)
    n_states = 2 if cell == "lstm" else 1
    if initial_state is None:
        states = [np.zeros((B, H), dtype) for _ in range(n_states)]
    else:
        states = [np.asarray(s, dtype) for s in initial_state]
    valid = np.ones((B, T), bool) if mask is None else np.asarray(mask, bool)
    order = np.arange(T)[::-1] if go_backwards else np.arange(T)
    valid = valid[:, order]

    step = _STEPS[cell][0]
    h, c = states[0], (states[1] if cell == "lstm" else None)
    prev_out = np.zeros((B, H), dtype)
    outputs, steps = np.zeros((B, T, H), dtype), []
    for k in range(T):
        xg = x[None, :, order[k]] * p.dm
        hg = h[None] * p.rm
        h_new, c_new, sc = step(p, xg, hg, h, c)
        m = valid[:, k:k + 1]
        out = np.where(m, h_new, 0.0 if zero_output_for_mask else prev_out)
        steps.append(dict(sc, xg=xg, hg=hg))
        h = np.where(m, h_new, h)
        if c is not None:
            c = np.where(m, c_new, c)
        outputs[:, k] = prev_out = out
    final = [h] if c is None else [h, c]
    cache = dict(p=p, steps=steps, valid=valid, order=order, shape=(B, T, D, H),
                 zero_output_for_mask=zero_output_for_mask, dtype=dtype)
    return outputs, final, cache


def rnn_backward(cache, d_outputs=None, d_states=None):
    """BPTT through rnn_forward. d_outputs: [B,T,H] (processing order) or None; d_states:
    list like the returned states (entries may be None). Returns dict of gradients."""
    p, steps, valid, dtype = cache["p"], cache["steps"], cache["valid"], cache["dtype"]
    B, T, D, H = cache["shape"]
    step_backward = _STEPS[p.cell][1]
    n_states = 2 if p.cell == "lstm" else 1
    d_states = list(d_states or []) + [None] * n_states
    dh = np.zeros((B, H), dtype) if d_states[0] is None else np.array(d_states[0], dtype)
    dc = None
    if p.cell == "lstm":
        dc = np.zeros((B, H), dtype) if d_states[1] is None else np.array(d_states[1], dtype)
    d_out_seq = np.zeros((B, T, H), dtype) if d_outputs is None else np.asarray(d_outputs, dtype)
    g = {"K": np.zeros_like(p.K), "R": np.zeros_like(p.R),
         "b_in": np.zeros_like(p.b_in), "b_rec": np.zeros_like(p.b_rec)}
    dx = np.zeros((B, T, D), dtype)
    d_prev_out = np.zeros((B, H), dtype)
    for k in reversed(range(T)):
        s, m = steps[k], valid[:, k:k + 1]
        d_out = d_out_seq[:, k] + d_prev_out
        d_prev_out = np.where(m, 0.0, 0.0 if cache["zero_output_for_mask"] else d_out)
        dh_new = np.where(m, dh + d_out, 0.0)
        dc_new = None if dc is None else np.where(m, dc, 0.0)
        d_in, d_rec, dh_extra, dc_prev = step_backward(p, s, dh_new, dc_new, g)
        dxg = _proj_backward(s["xg"], p.K, d_in, g, "K")
        g["b_in"] += d_in.sum(1)
        dhg = _proj_backward(s["hg"], p.R, d_rec, g, "R")
        g["b_rec"] += d_rec.sum(1)
        dx[:, cache["order"][k]] = (dxg * p.dm).sum(0)
        # a masked step passes the state through unchanged
        dh = np.where(m, 0.0, dh) + dh_extra + (dhg * p.rm).sum(0)
        if dc is not None:
            dc = np.where(m, dc_prev, dc)
    if not p.has_bias:
        d_bias = None
    elif p.two_biases:
        d_bias = np.stack([g["b_in"].reshape(-1), g["b_rec"].reshape(-1)])
    else:
        d_bias = g["b_in"].reshape(-1)
    return {"x": dx, "kernel": _merge_gates(g["K"]), "recurrent_kernel": _merge_gates(g["R"]),
            "bias": d_bias, "initial_state": [dh] if dc is None else [dh, dc]}


# ---- Bidirectional ----

def _per_direction(v):
    """A (forward, backward) tuple is split; anything else is used for both directions."""
    return v if isinstance(v, tuple) else (v, v)


def bidirectional_forward(cell, x, fw_weights, bw_weights, initial_state=None, mask=None, *,
                          merge_mode="concat", return_sequences=False, return_state=False,
                          **cell_kwargs):
    """keras.layers.Bidirectional(RNN(...)). Returns (result, cache) where result is what
    Keras returns: merged output, or (y_fw, y_bw) for merge_mode=None, followed by
    fw states then bw states when return_state. `dropout_mask` / `recurrent_dropout_mask`
    in cell_kwargs may be a (forward, backward) tuple."""
    fw_state = bw_state = None
    if initial_state is not None:
        half = len(initial_state) // 2
        fw_state, bw_state = initial_state[:half], initial_state[half:]
    dms = _per_direction(cell_kwargs.pop("dropout_mask", None))
    rms = _per_direction(cell_kwargs.pop("recurrent_dropout_mask", None))
    runs = []
    for i, (weights, state) in enumerate([(fw_weights, fw_state), (bw_weights, bw_state)]):
        runs.append(rnn_forward(cell, x, *weights, initial_state=state, mask=mask,
                                go_backwards=i == 1, zero_output_for_mask=return_sequences,
                                dropout_mask=dms[i], recurrent_dropout_mask=rms[i],
                                **cell_kwargs))
    (fw_out, fw_states, fw_cache), (bw_out, bw_states, bw_cache) = runs
    if return_sequences:
        y, y_rev = fw_out, bw_out[:, ::-1]
    else:
        y, y_rev = fw_out[:, -1], bw_out[:, -1]
    if merge_mode == "concat":
        output = (np.concatenate([y, y_rev], axis=-1),)
    elif merge_mode == "sum":
        output = (y + y_rev,)
    elif merge_mode == "ave":
        output = ((y + y_rev) / 2,)
    elif merge_mode == "mul":
        output = (y * y_rev,)
    elif merge_mode is None:
        output = (y, y_rev)
    else:
        raise ValueError(f"bad merge_mode {merge_mode!r}")
    if return_state:
        result = output + tuple(fw_states) + tuple(bw_states)
    else:
        result = output[0] if merge_mode is not None else output
    cache = dict(fw=fw_cache, bw=bw_cache, y=y, y_rev=y_rev, merge_mode=merge_mode,
                 return_sequences=return_sequences, n_states=len(fw_states))
    return result, cache


def bidirectional_backward(cache, d_output, d_states=None):
    """d_output: gradient of the merged output (a (d_fw, d_bw) pair for merge_mode=None);
    d_states: None or list of fw then bw state gradients (entries may be None)."""
    y, y_rev, mode = cache["y"], cache["y_rev"], cache["merge_mode"]
    if mode == "concat":
        H = y.shape[-1]
        dy, dy_rev = d_output[..., :H], d_output[..., H:]
    elif mode == "sum":
        dy, dy_rev = d_output, d_output
    elif mode == "ave":
        dy = dy_rev = d_output / 2
    elif mode == "mul":
        dy, dy_rev = d_output * y_rev, d_output * y
    else:
        dy, dy_rev = d_output
    n = cache["n_states"]
    d_states = list(d_states) if d_states is not None else [None] * (2 * n)
    grads = {}
    for name, c, d, ds in [("forward", cache["fw"], dy, d_states[:n]),
                           ("backward", cache["bw"], dy_rev, d_states[n:])]:
        B, T, _, H = c["shape"]
        if cache["return_sequences"]:
            d_seq = d if name == "forward" else d[:, ::-1]
        else:
            d_seq = np.zeros((B, T, H), c["dtype"])
            d_seq[:, -1] = d
        grads[name] = rnn_backward(c, d_seq, ds)
    grads["x"] = grads["forward"].pop("x") + grads["backward"].pop("x")
    return grads


def numeric_grad(loss, arr, eps=1e-6):
    """Central finite differences of the scalar `loss()` with respect to `arr` (changed in
    place one element at a time and restored)."""
    grad = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + eps
        plus = loss()
        arr[idx] = old - eps
        minus = loss()
        arr[idx] = old
        grad[idx] = (plus - minus) / (2 * eps)
    return grad
