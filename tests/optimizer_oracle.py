"""NumPy oracle of fastrnn's optimizer updates: the same float32 operations, in the same order,
as the fused native steps (`_core.sparse_optimizer_step` for an embedding table's sparse
gradient, `_core.dense_optimizer_step` for dense weights), which must equal them bit for bit.

`apply(opt, grads, weights)` runs one step of `opt` like `Optimizer.apply`, with these
formulas instead of the native steps (clipping, weight decay and slots are the optimizer's
own).
"""
import numpy as np

from fastrnn import _core
from fastrnn.optimizers import _Sparse

_F32 = np.float32


def segment_sum(indices, values, num_rows, squares=False, native=False):
    """Unique rows of `indices` (ascending) and the per-row sums of `values` (and of their
    squares). `native`: the extension's single-pass `embedding_grad`; else a stable radix/merge
    argsort and `np.add.reduceat`; both add rows in order of occurrence."""
    idx = np.asarray(indices).reshape(-1)
    vals = np.asarray(values, _F32)
    vals = vals.reshape(idx.shape[0], vals.shape[-1] if vals.ndim else 1)
    if idx.size == 0:
        empty = np.zeros((0, vals.shape[1]), _F32)
        return idx.astype(np.intp), empty, (empty if squares else None)
    if native:
        rows, sums, sq = _core.embedding_grad(idx, vals, num_rows, squares)
        return rows.astype(np.intp, copy=False), sums, sq
    lo, hi = int(idx.min()), int(idx.max())
    key = idx.astype(np.uint16) if lo >= 0 and hi < 65536 else idx
    order = np.argsort(key, kind="stable")   # radix sort for 16-bit keys
    sorted_idx = idx[order]
    starts = np.empty(sorted_idx.shape[0], bool)
    starts[0] = True
    np.not_equal(sorted_idx[1:], sorted_idx[:-1], out=starts[1:])
    starts = np.flatnonzero(starts)
    rows = sorted_idx[starts].astype(np.intp)
    sorted_vals = np.take(vals, order, axis=0)
    sums = np.add.reduceat(sorted_vals, starts, axis=0)
    sq = None
    if squares:
        np.square(sorted_vals, out=sorted_vals)
        sq = np.add.reduceat(sorted_vals, starts, axis=0)
    return rows, sums, sq




def _reduce(g, squares=False):
    """Per-row sums of a prepared sparse gradient (and of the squares of its occurrences, or
    of the sums when Keras has merged the rows)."""
    rows, s, sq = segment_sum(g.indices, g.values, g.shape[0], squares and not g.merged,
                              native=True)
    s = s.reshape((-1,) + g.shape[1:])
    if squares:
        sq = np.square(s) if g.merged else sq.reshape((-1,) + g.shape[1:])
    return rows, s, sq


def _sgd_dense(self, g, w, slots, lr):
    if self.momentum == 0:
        w -= g * lr
        return
    mom = _F32(self.momentum)
    m = slots["momentum"]
    m *= mom
    m -= g * lr
    if self.nesterov:
        w += m * mom - g * lr
    else:
        w += m


def _sgd_sparse(self, g, w, slots, lr):
    rows, gs, _ = _reduce(g)
    if self.momentum == 0:
        w[rows] -= gs * lr
        return
    mom = _F32(self.momentum)
    m = slots["momentum"]
    m *= mom
    m[rows] -= gs * lr
    if self.nesterov:
        t = m * mom
        t[rows] -= gs * lr
        w += t
    else:
        w += m


def _rmsprop_dense(self, g, w, slots, lr):
    rho, c = _F32(self.rho), _F32(1 - self.rho)
    v = slots["velocity"]
    v *= rho
    v += c * np.square(g)
    if self.centered:
        a = slots["average_gradient"]
        a *= rho
        a += c * g
        denom = v - np.square(a) + _F32(self.epsilon)
    else:
        denom = v + _F32(self.epsilon)
    inc = (lr * g) / np.sqrt(denom)
    if self.momentum > 0:
        m = slots["momentum"]
        m *= _F32(self.momentum)
        m += inc
        w -= m
    else:
        w -= inc


def _rmsprop_sparse(self, g, w, slots, lr):
    rows, gs, gsq = _reduce(g, squares=True)
    rho, c = _F32(self.rho), _F32(1 - self.rho)
    v = slots["velocity"]
    v *= rho
    v[rows] += c * gsq
    if self.centered:
        a = slots["average_gradient"]
        a *= rho
        a[rows] += c * gs
        denom = v[rows] - np.square(a[rows]) + _F32(self.epsilon)
    else:
        denom = v[rows] + _F32(self.epsilon)
    inc = (lr * gs) / np.sqrt(denom)
    if self.momentum > 0:
        m = slots["momentum"]
        m *= _F32(self.momentum)
        m[rows] += inc
        w -= m
    else:
        w[rows] -= inc


def _adam_finish(self, w, slots, alpha):
    m, v = slots["momentum"], slots["velocity"]
    if self.amsgrad:
        vh = slots["velocity_hat"]
        np.maximum(vh, v, out=vh)
        v = vh
    w -= (m * alpha) / (np.sqrt(v) + _F32(self.epsilon))


def _adam_dense(self, g, w, slots, lr):
    alpha = self._alpha(lr)
    m, v = slots["momentum"], slots["velocity"]
    m += (g - m) * _F32(1 - self.beta_1)
    v += (np.square(g) - v) * _F32(1 - self.beta_2)
    _adam_finish(self, w, slots, alpha)


def _adam_sparse(self, g, w, slots, lr):
    rows, gs, gsq = _reduce(g, squares=True)
    alpha = self._alpha(lr)
    c1, c2 = _F32(1 - self.beta_1), _F32(1 - self.beta_2)
    m, v = slots["momentum"], slots["velocity"]
    m_rows, v_rows = m[rows], v[rows]
    m -= m * c1          # rows without a gradient: m + (0 - m) * c1
    v -= v * c2
    m[rows] = m_rows + (gs - m_rows) * c1
    v[rows] = v_rows + (gsq - v_rows) * c2
    _adam_finish(self, w, slots, alpha)


_UPDATES = {"SGD": (_sgd_dense, _sgd_sparse), "RMSprop": (_rmsprop_dense, _rmsprop_sparse),
            "Adam": (_adam_dense, _adam_sparse)}


def apply(opt, grads, weights):
    """One step of `opt` on `weights` with the NumPy formulas (the oracle of `opt.apply`)."""
    dense_update, sparse_update = _UPDATES[type(opt).__name__]
    pairs = [(opt._prepare(g, w), w) for g, w in zip(grads, weights) if g is not None]
    if not pairs:
        return
    opt.build([w for _, w in pairs])
    prepared = opt._clip([g for g, _ in pairs])
    lr = opt._lr
    if opt.weight_decay:
        wd = _F32(opt.weight_decay)
        for _, w in pairs:
            w -= w * wd * lr
    for g, (_, w) in zip(prepared, pairs):
        slots = opt._slots[id(w)]
        if isinstance(g, _Sparse):
            sparse_update(opt, g, w, slots, lr)
        else:
            dense_update(opt, g, w, slots, lr)
    opt.iterations += 1
