"""TimeDistributed (layers/wrappers.py): as fastrnn computes it, the wrapped layer's converter
on the input with time folded into the batch ([batch * steps, ...]), unfolded after.

The wrapped layer sees the mask folded the same way when it still has a step axis (a mask of
[batch, steps, inner steps] from nested sequences); a [batch, steps] mask would become one flag
per row, which no exportable layer uses without failing in fastrnn, so it is not passed. Row
checks the wrapped layer adds (masks.py) are folded back: a row is rejected if one of its steps
is. The output keeps the input's mask, as in fastrnn.
"""
from ...layers import TimeDistributed
from .. import ExportError
from .graph import Tensor
from .masks import Mask
from .registry import convert, converter, single_input


def _fold(g, name, rank):
    """`name` [batch, steps, rest...] reshaped to [batch * steps, rest...]."""
    rows = g.op("Mul", [g.shape(name, 0, 1), g.shape(name, 1, 2)], hint="rows")
    target = g.op("Concat", [rows, g.shape(name, 2, rank)], axis=0) if rank > 2 else rows
    return g.op("Reshape", [name, target], hint="folded")


@converter(TimeDistributed)
def time_distributed(g, layer, inputs):
    x = single_input(layer, inputs)
    rank = len(x.shape)
    if rank < 3:
        raise ExportError(f"layer {layer.name!r}: TimeDistributed needs inputs of rank >= 3, "
                          f"got shape {x.shape}")
    mask = None
    if x.mask is not None and x.mask.ndim >= 3:
        mask = Mask(g, _fold(g, x.mask.name, x.mask.ndim), x.mask.ndim - 1)
    inner = Tensor(_fold(g, x.name, rank), (None,) + x.shape[2:], x.dtype, mask=mask)
    before = len(g.bad_rows)
    outs = convert(g, layer.layer, [inner])
    if len(outs) != 1:
        raise ExportError(f"layer {layer.name!r}: the wrapped layer {layer.layer.name!r} "
                          f"returns {len(outs)} tensors; TimeDistributed takes one")
    checks = list(dict.fromkeys(g.bad_rows[before:]))
    del g.bad_rows[before:]
    steps = g.shape(x.name, 0, 2)
    for flag in checks:     # [batch * steps] -> [batch]: any of the row's steps
        g.bad_rows.append(g.any(g.op("Reshape", [flag, steps]), [1], hint="bad_rows"))
    (y,) = outs
    y_rank = len(y.shape)
    target = g.op("Concat", [steps, g.shape(y.name, 1, y_rank)], axis=0) if y_rank > 1 else steps
    out = g.op("Reshape", [y.name, target], hint=layer.name)
    return [Tensor(out, x.shape[:2] + y.shape[1:], mask=x.mask)]
