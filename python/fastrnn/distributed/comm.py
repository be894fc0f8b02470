"""The few collective operations data-parallel training needs, over MPI or over one process.

Every communicator has `rank`, `size`, `local_size` (ranks on this machine) and:
- `allreduce(buf)`: in-place element-wise sum over the ranks (a contiguous float array);
- `allgatherv(send, counts)`: every rank's `send` rows (counts[r] rows from rank r, same row
  shape and dtype everywhere) concatenated in rank order;
- `bcast(buf)`: rank 0's array into `buf` in place; `bcast_bytes(data)`: rank 0's bytes;
- `allgather_ints(values)`: every rank's int vector, as an int64 array [size, len];
- `barrier()`, `abort(code)`.
`SelfComm` is the one-process case; `MPIComm` wraps an mpi4py communicator (imported only when
one is made, so `import fastrnn` never imports mpi4py). Tests substitute a fake with the same
methods (tests/_fake_comm.py).
"""
import os
import sys

import numpy as np


class SelfComm:
    """A job of one process: every collective is the identity."""

    rank = 0
    size = 1
    local_size = 1

    def allreduce(self, buf):
        return buf

    def allgatherv(self, send, counts):
        return send

    def bcast(self, buf):
        return buf

    def bcast_bytes(self, data):
        return data

    def allgather_ints(self, values):
        return np.asarray(values, np.int64).reshape(1, -1)

    def barrier(self):
        pass

    def abort(self, code=1):
        sys.stderr.flush()
        os._exit(code)


class MPIComm:
    """An mpi4py communicator (duplicated, so fastrnn's messages never meet the user's)."""

    def __init__(self, comm):
        from mpi4py import MPI
        self._mpi = MPI
        self._comm = comm.Dup()
        self.rank = self._comm.Get_rank()
        self.size = self._comm.Get_size()
        node = self._comm.Split_type(MPI.COMM_TYPE_SHARED)
        self.local_size = node.Get_size()
        node.Free()

    def allreduce(self, buf):
        self._comm.Allreduce(self._mpi.IN_PLACE, buf, op=self._mpi.SUM)
        return buf

    def allgatherv(self, send, counts):
        send = np.ascontiguousarray(send)
        row = send.shape[1:]
        width = int(np.prod(row, dtype=np.int64))
        counts = np.asarray(counts, np.int64)
        recv = np.empty((int(counts.sum()),) + row, send.dtype)
        # Sent as bytes: MPI only copies them, so ids and floats travel alike.
        nbytes = counts * width * send.dtype.itemsize
        displs = np.concatenate(([0], np.cumsum(nbytes)[:-1]))
        self._comm.Allgatherv([send.reshape(-1).view(np.uint8), self._mpi.BYTE],
                              [recv.reshape(-1).view(np.uint8), (nbytes, displs),
                               self._mpi.BYTE])
        return recv

    def bcast(self, buf):
        self._comm.Bcast(buf, root=0)
        return buf

    def bcast_bytes(self, data):
        size = np.array([len(data) if self.rank == 0 else 0], np.int64)
        self._comm.Bcast(size, root=0)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == 0 else \
            np.empty(int(size[0]), np.uint8)
        self._comm.Bcast(buf, root=0)
        return buf.tobytes()

    def allgather_ints(self, values):
        send = np.ascontiguousarray(values, np.int64).reshape(-1)
        recv = np.empty((self.size, send.size), np.int64)
        self._comm.Allgather(send, recv)
        return recv

    def barrier(self):
        self._comm.Barrier()

    def abort(self, code=1):
        sys.stdout.flush()
        sys.stderr.flush()
        self._mpi.COMM_WORLD.Abort(code)
