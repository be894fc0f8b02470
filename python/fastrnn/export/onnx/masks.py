"""Keras masks in the exported graph.

ONNX's recurrent operators take `sequence_lens`: each row processes its first n steps, in
either direction. That expresses a Keras mask exactly when every row's valid steps form one
block at a known end of the sequence: padding after the tokens ("post") or before them ("pre",
what `pad_sequences` does by default). Which end the data will use cannot be seen in the
model, so the exporter is told (`mask_padding`); n is the number of valid steps (non-zero ids
for `Embedding(mask_zero=True)`), computed in the graph. The recurrent converters turn "pre"
into "post" by reversing the time axis (recurrent.py).

A row whose mask has another form (a hole in the middle, padding on the other side) cannot be
run exactly: the graph checks every row and the outputs computed from such a row's lengths are
NaN there, never a silently different number. The other uses of a mask (GlobalAveragePooling1D,
the merge layers, Masking) read the bool mask itself and are exact for any mask.
"""
import numpy as np
from onnx import TensorProto

PADDINGS = ("pre", "post")


class Mask:
    """A Keras mask (bool, True = valid step; [batch, time] for a sequence, `ndim` axes in
    all) with the padding side the exporter was told (`graph.mask_padding`)."""

    def __init__(self, graph, name, ndim):
        self.graph, self.name, self.ndim = graph, name, ndim
        self.padding = graph.mask_padding
        self._lengths = self._check = None

    def steps(self):
        """int32 scalar: the number of time steps."""
        return self.graph.dim(self.name, 1)

    def lengths(self):
        """int32 [batch]: valid steps per row. Relying on them relies on the mask having their
        form: every call adds the row check to `graph.bad_rows` (the walker gives it to the
        values computed from them)."""
        g = self.graph
        if self._lengths is None:
            as_int = g.cast(self.name, TensorProto.INT32, hint="mask_int")
            self._lengths = g.reduce("ReduceSum", as_int, [1], hint="sequence_lens")
            self._check = self._rows_of_other_form()
        g.bad_rows.append(self._check)
        return self._lengths

    def _positions(self, from_end):
        """int32 [time]: 0, 1, ... counted from the start, or from the end."""
        g, t = self.graph, self.steps()
        if from_end:
            return g.op("Range", [g.op("Sub", [t, g.const(1, np.int32)]), g.const(-1, np.int32),
                                  g.const(-1, np.int32)], hint="steps_from_end")
        return g.memo(("positions", self.name), lambda: g.op(
            "Range", [g.const(0, np.int32), t, g.const(1, np.int32)], hint="positions"))

    def _rows_of_other_form(self):
        """bool [batch]: rows whose mask is not n valid steps at the assumed end."""
        g = self.graph
        expected = g.op("Less", [self._positions(self.padding == "pre"),
                                 g.unsqueeze(self._lengths, [1])], hint="expected_mask")
        return g.any(g.op("Xor", [self.name, expected]), [1], hint="bad_mask_rows")

    def leading_valid(self):
        """bool [time, batch, 1]: step t is among the row's first n steps (time-major)."""
        g = self.graph
        lengths = self.lengths()
        return g.memo(("leading_valid", self.name), lambda: g.unsqueeze(g.op(
            "Less", [g.unsqueeze(self._positions(False), [1]), g.unsqueeze(lengths, [0])]),
            [2], hint="leading_valid"))

    def full_rows(self):
        """bool [batch, 1]: rows without padding."""
        g = self.graph
        lengths = self.lengths()
        return g.memo(("full_rows", self.name), lambda: g.unsqueeze(
            g.op("Equal", [lengths, self.steps()]), [1], hint="full_rows"))

    def nonempty_rows(self):
        """bool [batch, 1]: rows with at least one valid step."""
        g = self.graph
        lengths = self.lengths()
        return g.memo(("nonempty_rows", self.name), lambda: g.unsqueeze(
            g.op("Greater", [lengths, g.const(0, np.int32)]), [1], hint="nonempty_rows"))


def poison_bad_rows(graph, tensor):
    """`tensor` (batch first) with NaN in the rows one of its checks rejected."""
    if not tensor.checks or tensor.dtype != TensorProto.FLOAT:
        return tensor.name
    g = graph
    bad = g.memo(("bad_rows", tensor.checks), lambda: _any(g, tensor.checks))
    rank = len(tensor.shape)
    if rank > 1:
        bad = g.unsqueeze(bad, list(range(1, rank)))
    return g.op("Where", [bad, g.const(np.nan), tensor.name], hint="checked_output")


def _any(g, flags):
    out = flags[0]
    for flag in flags[1:]:
        out = g.op("Or", [out, flag])
    return out
