"""Merge layers with Keras 3 semantics (keras/src/layers/merging/): Add, Subtract, Multiply,
Average, Maximum, Minimum, Concatenate, Dot, each with its backward.

Called on a list of arrays. Inputs of different rank get axes of size 1 inserted after the
batch axis (Keras' `_reshape_required` path), then broadcast. Masks: the output mask is the OR
of the input masks when every input has one (Concatenate: OR over the pieces, an input
without a mask counting as all valid; Dot: no mask). Multiply, Maximum and Minimum also use
the masks inside the computation, as Keras does: a masked position of one input does not
take part (Multiply uses 1 there; Maximum/Minimum the other inputs' value), and where all
inputs are masked Multiply outputs 0.
"""
import numpy as np

from .base import Layer
from .registry import register

_F32 = np.float32


def _as_list(inputs, name, n=None):
    if not isinstance(inputs, (list, tuple)):
        raise ValueError(f"{name}: a merge layer should be called on a list of inputs, got "
                         f"{type(inputs).__name__}")
    if n is not None and len(inputs) != n:
        raise ValueError(f"{name}: expected exactly {n} inputs, got {len(inputs)}")
    if len(inputs) < 1:
        raise ValueError(f"{name}: expected at least 1 input, got 0")
    return [np.asarray(x, _F32) if np.asarray(x).dtype != _F32 else np.asarray(x)
            for x in inputs]


def _sum_to_shape(g, shape):
    """Undo broadcasting: sum `g` down to `shape`."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


def _elementwise_shape(name, shapes):
    """Keras' broadcast rule for shapes without the batch axis (None = unknown)."""
    out = None
    for s in shapes:
        s = tuple(s[1:])
        if out is None:
            out = s
            continue
        if len(out) < len(s):
            out, s = s, out
        if not s:
            continue
        head = list(out[:len(out) - len(s)])
        for i, j in zip(out[len(out) - len(s):], s):
            if i is None or j is None:
                head.append(None)
            elif i == 1:
                head.append(j)
            elif j == 1 or i == j:
                head.append(i)
            else:
                raise ValueError(f"{name}: inputs have incompatible shapes {list(shapes)}")
        out = tuple(head)
    batches = {s[0] for s in shapes} - {None}
    if len(batches) > 1:
        raise ValueError(f"{name}: cannot merge tensors with different batch sizes, got shapes "
                         f"{list(shapes)}")
    return (batches.pop() if batches else None,) + out


class _Merge(Layer):
    supports_masking = True
    _call_state = ("_shapes", "_ranks", "_cache")
    n_inputs = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._shapes = self._ranks = self._cache = None

    def build(self, input_shape):
        if not isinstance(input_shape, list) or not input_shape or \
                not isinstance(input_shape[0], (tuple, list)):
            raise ValueError(f"{self.name}: a merge layer should be called on a list of inputs, "
                             f"got input shape {input_shape}")
        if self.n_inputs is not None and len(input_shape) != self.n_inputs:
            raise ValueError(f"{self.name}: expected exactly {self.n_inputs} inputs, got "
                             f"{len(input_shape)}")
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape):
        return _elementwise_shape(self.name, input_shape)

    def _aligned(self, xs):
        """Inputs of lower rank get size-1 axes after the batch axis (Keras)."""
        self._ranks = [x.ndim for x in xs]
        top = max(self._ranks)
        return [x.reshape(x.shape[:1] + (1,) * (top - x.ndim) + x.shape[1:]) for x in xs]

    def call(self, inputs, mask=None, training=False):
        xs = _as_list(inputs, self.name, self.n_inputs)
        self._shapes = [x.shape for x in xs]
        masks = mask if isinstance(mask, (list, tuple)) else [None] * len(xs)
        return self._forward(self._aligned(xs), list(masks))

    def backward(self, d_outputs):
        self.grads = []
        dy = np.asarray(d_outputs, _F32)
        grads = self._backward(dy)
        return [_sum_to_shape(g, (s[0],) + (1,) * (max(self._ranks) - len(s)) + s[1:])
                .reshape(s) for g, s in zip(grads, self._shapes)]

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or any(m is None for m in mask):
            return None
        out = np.asarray(mask[0], bool)
        for m in mask[1:]:
            out = out | np.asarray(m, bool)
        return out


@register
class Add(_Merge):
    def _forward(self, xs, masks):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        self._cache = [x.shape for x in xs]
        return out

    def _backward(self, dy):
        return [_sum_to_shape(dy, s) for s in self._cache]


@register
class Subtract(_Merge):
    n_inputs = 2

    def _forward(self, xs, masks):
        self._cache = [x.shape for x in xs]
        return xs[0] - xs[1]

    def _backward(self, dy):
        return [_sum_to_shape(dy, self._cache[0]), -_sum_to_shape(dy, self._cache[1])]


@register
class Average(_Merge):
    def _forward(self, xs, masks):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        self._cache = [x.shape for x in xs]
        return out / _F32(len(xs))

    def _backward(self, dy):
        d = dy / _F32(len(self._cache))
        return [_sum_to_shape(d, s) for s in self._cache]


def _expanded(mask, x):
    return None if mask is None else np.broadcast_to(np.asarray(mask, bool)[..., None], x.shape)


@register
class Multiply(_Merge):
    def _forward(self, xs, masks):
        ms = [_expanded(m, x) for m, x in zip(masks, xs)]
        all_masked = all(m is not None for m in ms)
        factors = [x if m is None else np.where(m, x, _F32(1)) for x, m in zip(xs, ms)]
        out = factors[0]
        for f in factors[1:]:
            out = out * f
        keep = None
        if all_masked:
            keep = ms[0]
            for m in ms[1:]:
                keep = keep | m
            out = np.where(keep, out, _F32(0))
        self._cache = (factors, ms, keep)
        return out

    def _backward(self, dy):
        factors, ms, keep = self._cache
        if keep is not None:
            dy = np.where(keep, dy, _F32(0))
        n = len(factors)
        grads = []
        for i in range(n):   # product of the other factors (no division: zeros are fine)
            other = None
            for j in range(n):
                if j != i:
                    other = factors[j] if other is None else other * factors[j]
            g = dy if other is None else dy * other
            if ms[i] is not None:
                g = np.where(ms[i], g, _F32(0))
            grads.append(_sum_to_shape(g, factors[i].shape))
        return grads


class _Extremum(_Merge):
    """Maximum/Minimum: Keras' `_apply_merge_op_and_or_mask`, with TensorFlow's gradient
    routing (ties go to the first operand)."""

    def _forward(self, xs, masks):
        ms = [_expanded(m, x) for m, x in zip(masks, xs)]
        out, out_mask = xs[0], ms[0]
        trace = []
        for x, m in zip(xs[1:], ms[1:]):
            if m is not None:
                x = np.where(m, x, out)
            if out_mask is not None:
                out = np.where(out_mask, out, x)
            first = self._pick_first(out, x)
            trace.append((m, out_mask, first))
            out_mask = (out_mask | m) if (m is not None and out_mask is not None) else None
            out = np.where(first, out, x)
        self._cache = (trace, [x.shape for x in xs])
        return out

    def _backward(self, dy):
        trace, shapes = self._cache
        grads = [None] * len(shapes)
        d_out = dy
        for k in range(len(trace) - 1, -1, -1):
            m, out_mask, first = trace[k]
            d_prev = np.where(first, d_out, _F32(0))   # to the running result
            d_x = d_out - d_prev                        # to input k+1 (after masking)
            if out_mask is not None:   # masked running positions were replaced by x
                d_x = d_x + np.where(out_mask, _F32(0), d_prev)
                d_prev = np.where(out_mask, d_prev, _F32(0))
            if m is not None:          # masked x positions were the running result
                d_prev = d_prev + np.where(m, _F32(0), d_x)
                d_x = np.where(m, d_x, _F32(0))
            grads[k + 1] = _sum_to_shape(d_x, shapes[k + 1])
            d_out = d_prev
        grads[0] = _sum_to_shape(d_out, shapes[0])
        return grads

    def compute_mask(self, inputs, mask=None):
        return super().compute_mask(inputs, mask)


@register
class Maximum(_Extremum):
    @staticmethod
    def _pick_first(a, b):
        return a >= b


@register
class Minimum(_Extremum):
    @staticmethod
    def _pick_first(a, b):
        return a <= b


@register
class Concatenate(_Merge):
    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis: expected an integer, got {axis!r}")
        self.axis = int(axis)

    def compute_output_shape(self, input_shape):
        shapes = [list(s) for s in input_shape]
        ranks = {len(s) for s in shapes}
        err = (f"{self.name}: a Concatenate layer requires inputs with matching shapes except "
               f"for the concatenation axis, got input shapes {[tuple(s) for s in shapes]}")
        if len(ranks) != 1:
            raise ValueError(err)
        rank = ranks.pop()
        axis = self.axis % rank
        if axis == 0:
            raise ValueError(f"{self.name}: cannot concatenate along the batch axis")
        out = list(shapes[0])
        for s in shapes[1:]:
            for i in range(rank):
                if i != axis and None not in (out[i], s[i]) and out[i] != s[i]:
                    raise ValueError(err)
                if i != axis and out[i] is None:
                    out[i] = s[i]
            out[axis] = None if None in (out[axis], s[axis]) else out[axis] + s[axis]
        return tuple(out)

    def call(self, inputs, mask=None, training=False):
        xs = _as_list(inputs, self.name)
        self._shapes = [x.shape for x in xs]
        try:
            return np.concatenate(xs, axis=self.axis)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}; input shapes {self._shapes}") from None

    def backward(self, d_outputs):
        self.grads = []
        dy = np.asarray(d_outputs, _F32)
        axis = self.axis % dy.ndim
        bounds = np.cumsum([s[axis] for s in self._shapes])[:-1]
        return [np.ascontiguousarray(g) for g in np.split(dy, bounds, axis=axis)]

    def compute_mask(self, inputs, mask=None):
        if mask is None or not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        pieces = []
        for x, m in zip(inputs, mask):
            x = np.asarray(x)
            if m is None:
                pieces.append(np.ones(x.shape, bool))
            else:
                m = np.asarray(m, bool)
                pieces.append(np.broadcast_to(m[..., None], x.shape) if m.ndim < x.ndim else m)
        return np.concatenate(pieces, axis=self.axis).any(axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x, axis):
    """Keras `ops.normalize(x, axis, order=2)`: x * min(rsqrt(sum x^2), 1/epsilon)."""
    sq = np.sum(np.square(x), axis=axis, keepdims=True)
    with np.errstate(divide="ignore"):
        inv = _F32(1) / np.sqrt(sq)
    clipped = inv > _F32(1e7)
    inv = np.minimum(inv, _F32(1e7))
    return x * inv, inv, clipped


def _l2_normalize_grad(g, y, inv, clipped, axis):
    full = inv * (g - y * np.sum(g * y, axis=axis, keepdims=True))
    return np.where(clipped, g * inv, full)


@register
class Dot(_Merge):
    """Batchwise dot product of two inputs along `axes` (Keras `batch_dot`), optionally of the
    L2-normalized inputs (cosine proximity)."""

    n_inputs = 2
    supports_masking = True

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, (int, np.integer)) for a in axes):
                raise ValueError(f"axes: expected an int or two ints, got {axes!r}")
            axes = [int(a) for a in axes]
        elif isinstance(axes, bool) or not isinstance(axes, (int, np.integer)):
            raise TypeError(f"axes: expected an int or a list of two ints, got {axes!r}")
        else:
            axes = int(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolve_axes(self, r1, r2):
        if isinstance(self.axes, int):
            axes = [self.axes % r1, self.axes % r2] if self.axes < 0 else [self.axes] * 2
        else:
            axes = [a % r for a, r in zip(self.axes, (r1, r2))]
        if 0 in axes:
            raise ValueError(f"{self.name}: cannot take a dot product over the batch axis "
                             f"(axes={self.axes})")
        return axes

    def compute_output_shape(self, input_shape):
        s1, s2 = list(input_shape[0]), list(input_shape[1])
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(f"{self.name}: Dot needs inputs of rank >= 2, got shapes "
                             f"{input_shape[0]} and {input_shape[1]}")
        a1, a2 = self._resolve_axes(len(s1), len(s2))
        if None not in (s1[a1], s2[a2]) and s1[a1] != s2[a2]:
            raise ValueError(f"{self.name}: incompatible input shapes: axis values {s1[a1]} (at "
                             f"axis {a1}) != {s2[a2]} (at axis {a2}). Full input shapes: "
                             f"{tuple(input_shape[0])}, {tuple(input_shape[1])}")
        s1.pop(a1)
        s2.pop(a2)
        s2.pop(0)
        out = s1 + s2
        return tuple(out + [1] if len(out) == 1 else out)

    def _subscripts(self, r1, r2):
        a1, a2 = self._resolve_axes(r1, r2)
        letters = iter("bcdefghijklmnopqrstuvwxyz")
        s1 = ["a"] + [next(letters) for _ in range(r1 - 1)]
        s2 = ["a"] + [next(letters) for _ in range(r2 - 1)]
        s2[a2] = s1[a1]
        out = [c for i, c in enumerate(s1) if i != a1] + \
            [c for i, c in enumerate(s2) if i not in (0, a2)]
        return "".join(s1), "".join(s2), "".join(out), (a1, a2)

    def call(self, inputs, mask=None, training=False):
        x1, x2 = _as_list(inputs, self.name, 2)
        self.compute_output_shape([x1.shape, x2.shape])
        s1, s2, so, (a1, a2) = self._subscripts(x1.ndim, x2.ndim)
        n1 = n2 = None
        if self.normalize:
            x1, *n1 = _l2_normalize(x1, a1)
            x2, *n2 = _l2_normalize(x2, a2)
        out = np.einsum(f"{s1},{s2}->{so}", x1, x2).astype(_F32, copy=False)
        self._cache = (x1, x2, s1, s2, so, n1, n2, (a1, a2), out.ndim == 1)
        return out[:, None] if out.ndim == 1 else out

    def backward(self, d_outputs):
        self.grads = []
        x1, x2, s1, s2, so, n1, n2, (a1, a2), squeezed = self._cache
        dy = np.asarray(d_outputs, _F32)
        if squeezed:
            dy = dy[:, 0]
        g1 = np.einsum(f"{so},{s2}->{s1}", dy, x2).astype(_F32, copy=False)
        g2 = np.einsum(f"{so},{s1}->{s2}", dy, x1).astype(_F32, copy=False)
        if self.normalize:
            g1 = _l2_normalize_grad(g1, x1, *n1, a1)
            g2 = _l2_normalize_grad(g2, x2, *n2, a2)
        return [g1, g2]

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
