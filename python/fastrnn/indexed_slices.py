"""A sparse gradient: the rows an embedding looked up and their gradients (tf.IndexedSlices)."""
import numpy as np


class IndexedSlices:
    """Rows `indices` of a `dense_shape` array get `values` (duplicates add)."""

    def __init__(self, indices, values, dense_shape):
        self.indices = indices
        self.values = values
        self.dense_shape = tuple(dense_shape)

    def to_dense(self):
        out = np.zeros(self.dense_shape, self.values.dtype)
        np.add.at(out, self.indices, self.values)
        return out
