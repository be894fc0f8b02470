"""Keras masks in the exported graph.

ONNX's recurrent operators take `sequence_lens`: each row processes its first n steps, in
either direction. That expresses a Keras mask exactly when every row's valid steps form one
block at a known end of the sequence: padding after the tokens ("post") or before them ("pre",
what `pad_sequences` does by default). Which end the data will use cannot be seen in the
model, so the exporter is told (`mask_padding`); n is the number of valid steps (non-zero ids
for `Embedding(mask_zero=True)`), computed in the graph. The recurrent converters turn "pre"
into "post" by reversing the time axis (recurrent.py).

A row whose mask has another form (a hole in the middle, padding on the other side) cannot be
run exactly: the graph checks every row and the model's outputs for such a row are NaN, never
a silently different number.
"""
import numpy as np
from onnx import TensorProto

PADDINGS = ("pre", "post")


class Mask:
    """A Keras mask [batch, time] (bool, True = valid step) with the padding side assumed."""

    def __init__(self, graph, name, padding):
        if padding not in PADDINGS:
            raise ValueError(f"mask_padding: expected one of {PADDINGS}, got {padding!r}")
        self.graph, self.name, self.padding = graph, name, padding
        self._lengths = None

    def steps(self):
        """int32 scalar: the number of time steps."""
        return self.graph.dim(self.name, 1)

    def lengths(self):
        """int32 [batch]: valid steps per row. The first call also adds the row check."""
        if self._lengths is None:
            g = self.graph
            as_int = g.op("Cast", [self.name], to=TensorProto.INT32, hint="mask_int")
            self._lengths = g.reduce("ReduceSum", as_int, [1], hint="sequence_lens")
            g.bad_rows.append(self._rows_of_other_form())
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
        differs = g.op("Cast", [g.op("Xor", [self.name, expected])], to=TensorProto.INT32)
        return g.op("Cast", [g.reduce("ReduceMax", differs, [1])], to=TensorProto.BOOL,
                    hint="bad_mask_rows")

    def leading_valid(self):
        """bool [time, batch, 1]: step t is among the row's first n steps (time-major)."""
        g = self.graph
        return g.memo(("leading_valid", self.name), lambda: g.unsqueeze(g.op(
            "Less", [g.unsqueeze(self._positions(False), [1]), g.unsqueeze(self.lengths(), [0])]),
            [2], hint="leading_valid"))

    def full_rows(self):
        """bool [batch, 1]: rows without padding."""
        g = self.graph
        return g.memo(("full_rows", self.name), lambda: g.unsqueeze(
            g.op("Equal", [self.lengths(), self.steps()]), [1], hint="full_rows"))


def poison_bad_rows(graph, tensor):
    """`tensor` (float, batch first) with NaN in the rows some mask check rejected."""
    if not graph.bad_rows:
        return tensor.name
    g = graph
    bad = g.memo("bad_rows", lambda: _any(g, g.bad_rows))
    rank = len(tensor.shape)
    if rank > 1:
        bad = g.unsqueeze(bad, list(range(1, rank)))
    return g.op("Where", [bad, g.const(np.nan), tensor.name], hint="checked_output")


def _any(g, flags):
    out = flags[0]
    for flag in flags[1:]:
        out = g.op("Or", [out, flag])
    return out
