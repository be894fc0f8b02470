"""The merge layers (layers/merging.py): Add, Subtract, Multiply, Average, Maximum, Minimum,
Concatenate, Dot, with their masks.

Inputs of lower rank get size-1 axes after the batch axis, then ONNX broadcasts as NumPy does.
Masks are bool tensors here, used exactly as fastrnn uses them, whatever their form: the
output mask is the OR of the inputs' masks when every input has one (Concatenate: the OR over
the concatenated pieces' masks, an input without one counting as valid; Dot: none); Multiply,
Maximum and Minimum also leave each input's masked positions out of the result.
"""
import numpy as np

from ...layers import (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply,
                       Subtract)
from .graph import Tensor
from .masks import Mask
from .registry import converter

_EPSILON_INV = 1e7     # Keras' normalize: 1 / sqrt(sum x^2) is clipped at 1 / epsilon


def _broadcast(shapes):
    """The shape record of NumPy broadcasting (None where the size is known only at run)."""
    out = []
    for dims in zip(*shapes):
        sized = {d for d in dims if d != 1}
        if not sized:
            out.append(1)
        elif len(sized) == 1:
            out.append(sized.pop())
        else:
            ints = {d for d in sized if isinstance(d, int)}
            out.append(ints.pop() if len(ints) == 1 else None)
    return tuple(out)


def _aligned(g, inputs):
    """(names, shapes) with size-1 axes inserted after the batch axis up to the top rank."""
    top = max(len(t.shape) for t in inputs)
    names, shapes = [], []
    for t in inputs:
        k = top - len(t.shape)
        names.append(g.unsqueeze(t.name, list(range(1, 1 + k))) if k else t.name)
        shapes.append(t.shape[:1] + (1,) * k + t.shape[1:])
    return names, shapes


def _chain(g, op, names, hint):
    out = names[0]
    for name in names[1:]:
        out = g.op(op, [out, name], hint=hint)
    return out


def _or_mask(g, inputs):
    """The OR of the inputs' masks when every input has one, else None."""
    if any(t.mask is None for t in inputs):
        return None
    if len(inputs) == 1:
        return inputs[0].mask
    return Mask(g, _chain(g, "Or", [t.mask.name for t in inputs], "mask"),
                max(t.mask.ndim for t in inputs))


def _step_masks(g, inputs):
    """Each input's mask with a feature axis (as fastrnn's `mask[..., None]`), or None."""
    return [None if t.mask is None else g.unsqueeze(t.mask.name, [-1], hint="step_mask")
            for t in inputs]


def _elementwise(fn):
    def convert(g, layer, inputs):
        names, shapes = _aligned(g, inputs)
        out = fn(g, layer, names, _step_masks(g, inputs))
        return [Tensor(out, _broadcast(shapes), mask=_or_mask(g, inputs))]
    return convert


@converter(Add)
@_elementwise
def add(g, layer, xs, masks):
    return _chain(g, "Add", xs, layer.name)


@converter(Subtract)
@_elementwise
def subtract(g, layer, xs, masks):
    return g.op("Sub", xs, hint=layer.name)


@converter(Average)
@_elementwise
def average(g, layer, xs, masks):
    return g.op("Div", [_chain(g, "Add", xs, layer.name), g.const(float(len(xs)))],
                hint=layer.name)


@converter(Multiply)
@_elementwise
def multiply(g, layer, xs, masks):
    """A masked position of an input is a factor 1; positions masked in every input are 0."""
    factors = [x if m is None else g.op("Where", [m, x, g.const(1.0)], hint="factor")
               for x, m in zip(xs, masks)]
    out = _chain(g, "Mul", factors, layer.name)
    if all(m is not None for m in masks):
        out = g.op("Where", [_chain(g, "Or", masks, "keep"), out, g.const(0.0)],
                   hint=layer.name)
    return out


def _extremum(op):
    def fold(g, layer, xs, masks):
        """fastrnn's running fold: a masked input position takes the running result, a masked
        running position the input's value; the running mask is the OR while both have one."""
        out, out_mask = xs[0], masks[0]
        for x, m in zip(xs[1:], masks[1:]):
            if m is not None:
                x = g.op("Where", [m, x, out])
            if out_mask is not None:
                out = g.op("Where", [out_mask, out, x])
            out_mask = (g.op("Or", [out_mask, m]) if m is not None and out_mask is not None
                        else None)
            out = g.op(op, [out, x], hint=layer.name)
        return out
    return fold


converter(Maximum)(_elementwise(_extremum("Max")))
converter(Minimum)(_elementwise(_extremum("Min")))


@converter(Concatenate)
def concatenate(g, layer, inputs):
    rank = len(inputs[0].shape)
    axis = layer.axis % rank
    out = g.op("Concat", [t.name for t in inputs], axis=axis, hint=layer.name)
    sizes = [t.shape[axis] for t in inputs]
    shape = _broadcast([t.shape[:axis] + (1,) + t.shape[axis + 1:] for t in inputs])
    total = sum(sizes) if all(isinstance(d, int) for d in sizes) else None
    shape = shape[:axis] + (total,) + shape[axis + 1:]
    mask = None
    if any(t.mask is not None for t in inputs):
        mask = Mask(g, _concatenated_mask(g, inputs, axis), rank - 1)
    return [Tensor(out, shape, mask=mask)]


def _concatenated_mask(g, inputs, axis):
    """Each input's mask broadcast to its shape (all valid without one), concatenated like
    the inputs, then OR over the last axis."""
    pieces = []
    for t in inputs:
        if t.mask is None:
            m = g.op("Expand", [g.const(True, np.bool_), g.shape(t.name)], hint="valid")
        else:
            m = t.mask.name
            if t.mask.ndim < len(t.shape):
                m = g.op("Expand", [g.unsqueeze(m, [-1]), g.shape(t.name)], hint="mask")
        pieces.append(m)
    return g.any(g.op("Concat", pieces, axis=axis, hint="mask"), [-1], hint="mask")


def _l2_normalized(g, x, axis):
    """Keras' `normalize(x, axis)`: x * min(1 / sqrt(sum x^2), 1 / epsilon)."""
    sq = g.reduce("ReduceSum", g.op("Mul", [x, x]), [axis], keepdims=1)
    inv = g.op("Div", [g.const(1.0), g.op("Sqrt", [sq])])
    inv = g.op("Min", [inv, g.const(_EPSILON_INV)])
    return g.op("Mul", [x, inv], hint="normalized")


@converter(Dot)
def dot(g, layer, inputs):
    a, b = inputs
    s1, s2, so, (a1, a2) = layer._subscripts(len(a.shape), len(b.shape))
    x1, x2 = a.name, b.name
    if layer.normalize:
        x1, x2 = _l2_normalized(g, x1, a1), _l2_normalized(g, x2, a2)
    out = g.op("Einsum", [x1, x2], equation=f"{s1},{s2}->{so}", hint=layer.name)
    shape = tuple(d for i, d in enumerate(a.shape) if i != a1) + \
        tuple(d for i, d in enumerate(b.shape) if i not in (0, a2))
    if len(so) == 1:
        out = g.unsqueeze(out, [1], hint=layer.name)
        shape += (1,)
    return [Tensor(out, shape)]
