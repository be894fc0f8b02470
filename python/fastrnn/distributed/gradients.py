"""Averaging a step's gradients over the ranks: one allreduce of one contiguous buffer.

Each rank adds its gradients scaled by its share of the samples (`add`, several times when
accumulating), then `reduce` sums the buffer over the ranks and returns gradients shaped like
the weights: views into the buffer for dense gradients, an `IndexedSlices` for an embedding.

An embedding's sparse gradient (an `IndexedSlices`: one row per id occurrence) travels in one
of two ways:
- "gather": every rank's (ids, rows) are all-gathered and concatenated in rank order, which
  is the occurrence list one process would have made for the whole batch. The optimizers'
  Keras semantics for sparse gradients (RMSprop/Adam add the square of EACH occurrence,
  clipping sees each occurrence) then hold exactly. A second collective per step.
- "dense": the rows are summed into the table's slot of the dense buffer (allreduced with
  the rest): no second collective, and fewer bytes when a batch holds many id occurrences
  per table row, but repeated ids arrive merged (as a dense embedding gradient would, e.g.
  PyTorch's default), so only updates that depend on the per-row sums alone are unchanged
  (SGD without clipping).
`sparse_kind` chooses per gradient; bench/README.md has the measurements behind "auto".
"""
import zlib

import numpy as np

from ..indexed_slices import IndexedSlices
from .._core import embedding_grad
from ..optimizers import SGD

_F32 = np.float32
SPARSE_MODES = ("auto", "gather", "dense")


def sums_suffice(optimizer):
    """True when the optimizer's update of a sparse gradient depends only on its per-row sums
    (then reducing the embedding table densely changes nothing)."""
    return (isinstance(optimizer, SGD) and not optimizer.clipnorm and
            not optimizer.global_clipnorm and not optimizer.clipvalue)


def sparse_kind(requested, optimizer, shape, occurrences):
    """How one sparse gradient of a `shape` table travels: "gather" or "table" (densely).
    `requested` (SPARSE_MODES) "gather" or "dense" is obeyed. "auto": gather where only it is
    exact (not sums_suffice), else the one that moves fewer bytes per rank on a ring, as the
    measurements found (bench/README.md): the table's allreduce (twice its bytes) or the
    allgather of the global batch's `occurrences` (4 bytes per float plus an 8-byte id)."""
    if requested not in SPARSE_MODES:
        raise ValueError(f"sparse_gradients: expected one of {SPARSE_MODES}, got {requested!r}")
    if requested == "dense":
        return "table"
    if requested == "gather" or not sums_suffice(optimizer):
        return "gather"
    floats = int(np.prod(shape, dtype=np.int64))
    width = floats // shape[0]
    return "gather" if occurrences * (4 * width + 8) < 2 * 4 * floats else "table"


class _Entry:
    """Where one gradient lives: `kind` "dense" (a slice of the buffer), "table" (a sparse
    gradient summed into a slice of the buffer) or "gather" (sparse, all-gathered)."""

    __slots__ = ("kind", "shape", "offset", "size", "per_sample", "ids", "rows")

    def __init__(self, kind, shape, offset):
        self.kind, self.shape, self.offset = kind, tuple(shape), offset
        self.size = int(np.prod(self.shape, dtype=np.int64)) if kind != "gather" else 0
        self.per_sample = None   # gather: id occurrences per sample (same on every rank)
        self.ids, self.rows = [], []


def _joined(chunks, empty):
    if not chunks:
        return empty
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


class GradientReducer:
    """Accumulates this rank's scaled gradients and sums them over the ranks."""

    def __init__(self, comm, sparse="auto", optimizer=None):
        self.comm = comm
        self.sparse, self.optimizer = sparse, optimizer
        self._kinds = {}        # (position, table shape) -> how that sparse gradient travels
        self._key = None
        self._entries = None
        self._buf = None
        self._fresh = True      # next add starts a new sum
        self._checked = False

    def _build(self, key):
        entries, offset = [], 0
        for kind, shape in key:
            e = _Entry(kind, shape, offset)
            offset += e.size
            entries.append(e)
        self._key, self._entries = key, entries
        self._buf = np.zeros(offset, _F32)
        self._checked = False

    def _layout_key(self, grads, computed, global_samples):
        """(kind, shape) per gradient; a sparse one's kind is chosen at its first sight from
        the global batch (`global_samples`, the same on every rank) and then kept."""
        key = []
        for i, g in enumerate(grads):
            if not isinstance(g, IndexedSlices):
                key.append(("dense", tuple(np.shape(g))))
                continue
            shape = tuple(g.dense_shape)
            if (i, shape) not in self._kinds:
                occurrences = np.size(g.indices) // max(1, computed) * global_samples
                self._kinds[i, shape] = sparse_kind(self.sparse, self.optimizer, shape,
                                                    occurrences)
            key.append((self._kinds[i, shape], shape))
        return tuple(key)

    def add(self, grads, scale, computed, global_samples):
        """Add `grads` (one per weight, from a batch of `computed` samples) times `scale`.
        `scale` 0 marks a rank that computed a stand-in sample and contributes nothing;
        `global_samples`: the samples of this batch over all ranks."""
        key = self._layout_key(grads, computed, global_samples)
        if key != self._key:
            if not self._fresh:
                raise RuntimeError("data-parallel training: the set of gradients changed in "
                                   "the middle of an accumulation group")
            self._build(key)
        scale = _F32(scale)
        first, self._fresh = self._fresh, False
        for e, g in zip(self._entries, grads):
            if e.kind == "gather":
                self._add_occurrences(e, g, scale, computed, first)
                continue
            view = self._buf[e.offset:e.offset + e.size].reshape(e.shape)
            if scale == 0:    # not g * 0: a stand-in's gradient may hold inf
                if first:
                    view.fill(0)
            elif e.kind == "dense":
                if first:
                    np.multiply(g, scale, out=view)
                else:
                    view += np.asarray(g, _F32) * scale
            else:   # "table": this rank's rows summed per id into the table's slot
                if first:
                    view.fill(0)
                ids = np.asarray(g.indices).reshape(-1)
                if len(ids):
                    vals = np.asarray(g.values, _F32).reshape(len(ids), -1)
                    rows, sums, _ = embedding_grad(ids, vals, e.shape[0], False)
                    view.reshape(e.shape[0], -1)[rows] += sums.reshape(len(rows), -1) * scale

    def _add_occurrences(self, e, g, scale, computed, first):
        ids = np.asarray(g.indices).reshape(-1)
        if first:
            e.ids, e.rows = [], []
        per_sample, rest = divmod(len(ids), computed)
        if rest or (e.per_sample is not None and per_sample != e.per_sample):
            raise RuntimeError(f"data-parallel training: a sparse gradient has {len(ids)} id "
                               f"occurrences for {computed} samples; gathering it needs the "
                               "same number of occurrences per sample in every batch")
        e.per_sample = per_sample
        if scale == 0:
            return
        e.ids.append(ids.astype(np.int64, copy=False))
        e.rows.append(np.asarray(g.values, _F32).reshape(len(ids), -1) * scale)

    def _check_layout(self):
        """Once per layout: every rank must send the same buffer and gather the same things,
        else the collectives would pair up wrongly."""
        text = repr([(e.kind, e.shape, e.per_sample) for e in self._entries])
        crcs = self.comm.allgather_ints([zlib.crc32(text.encode())])[:, 0]
        if (crcs != crcs[0]).any():
            raise RuntimeError("data-parallel training: the ranks' gradients differ in number, "
                               f"shape or kind (this rank {self.comm.rank}: {text}); every rank "
                               "must train the same model")
        self._checked = True

    def reduce(self, samples_per_rank, post_scale=1.0):
        """The summed gradients (times `post_scale`), one per weight. `samples_per_rank`: how
        many samples each rank added since the last reduce (sizes the gathered blocks)."""
        if not self._checked:
            self._check_layout()
        buf = self.comm.allreduce(self._buf)
        post = _F32(post_scale)
        if post != 1:
            buf *= post
        out = []
        for e in self._entries:
            if e.kind != "gather":
                out.append(buf[e.offset:e.offset + e.size].reshape(e.shape))
                continue
            width = int(np.prod(e.shape[1:], dtype=np.int64))
            ids = _joined(e.ids, np.zeros(0, np.int64))
            rows = _joined(e.rows, np.zeros((0, width), _F32))
            counts = [int(s) * e.per_sample for s in samples_per_rank]
            ids = self.comm.allgatherv(ids, counts)
            rows = self.comm.allgatherv(rows, counts)
            if post != 1:
                rows *= post
            out.append(IndexedSlices(ids, rows.reshape((len(ids),) + e.shape[1:]), e.shape))
            e.ids, e.rows = [], []
        self._fresh = True
        return out
