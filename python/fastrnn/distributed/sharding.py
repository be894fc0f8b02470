"""Which samples each rank takes.

Training and evaluation split every GLOBAL batch (what one process would take) into `size`
contiguous shards, rank 0 first, sizes differing by at most one. Concatenating the shards in
rank order gives the batch back, so the gathered sparse gradient of a step lists its
occurrences in the order one process would. Prediction splits the whole array into contiguous
blocks instead, so gathering the blocks in rank order gives the rows in order. The larger
shares go to the lower ranks: rank 0 always has one when there is anything to share.
"""
import numpy as np


def bounds(n, size, rank):
    """[lo, hi) of rank `rank`'s share of `n` items split into `size` contiguous parts."""
    return -(-rank * n // size), -(-(rank + 1) * n // size)


def counts(n, size):
    """Every rank's share of `n` items, in rank order."""
    return [bounds(n, size, r)[1] - bounds(n, size, r)[0] for r in range(size)]


def batch_length(idx):
    """Number of samples in a batch given as a slice (step 1) or an index array."""
    if isinstance(idx, slice):
        return idx.stop - idx.start
    return len(idx)


def take(idx, lo, hi):
    """Items [lo, hi) of a batch given as a slice (step 1) or an index array."""
    if isinstance(idx, slice):
        return slice(idx.start + lo, idx.start + hi)
    return idx[lo:hi]
