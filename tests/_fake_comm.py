"""A job of N ranks as N threads of one process, for testing fastrnn.distributed without MPI.

`run_ranks(size, fn)` calls `fn(rank)` in `size` threads, each inside
`fastrnn.distributed.context.use(FakeComm)`, and returns the results in rank order (or
raises the first rank's exception). The collectives are exact: sums are taken in rank order
with the same result on every rank. A rank that aborts (or raises) breaks the barrier, so the
others fail instead of waiting forever.
"""
import threading

import numpy as np

from fastrnn.distributed import context


class FakeAbort(RuntimeError):
    pass


class FakeWorld:
    def __init__(self, size, timeout=120):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=timeout)
        self.slots = [None] * size
        self.calls = []    # (rank, collective, dtype, size) in call order, for counting


class FakeComm:
    def __init__(self, world, rank):
        self.world = world
        self.rank = rank
        self.size = world.size
        self.local_size = world.size

    def _exchange(self, name, value):
        w = self.world
        w.calls.append((self.rank, name, getattr(value, "dtype", None),
                        getattr(value, "size", None)))
        w.slots[self.rank] = value
        w.barrier.wait()
        values = list(w.slots)
        w.barrier.wait()
        return values

    def allreduce(self, buf):
        values = self._exchange("allreduce", np.array(buf, copy=True))
        total = values[0].copy()
        for v in values[1:]:
            total += v
        buf[...] = total
        return buf

    def allgatherv(self, send, counts):
        values = self._exchange("allgatherv", np.array(send, copy=True))
        got = [len(v) for v in values]
        if got != [int(c) for c in counts]:
            raise AssertionError(f"allgatherv: counts {list(counts)} but ranks sent {got}")
        return np.concatenate(values)

    def bcast(self, buf):
        values = self._exchange("bcast", np.array(buf, copy=True))
        buf[...] = values[0]
        return buf

    def bcast_bytes(self, data):
        return self._exchange("bcast_bytes", bytes(data))[0]

    def allgather_ints(self, values):
        rows = self._exchange("allgather_ints", np.asarray(values, np.int64).reshape(-1))
        return np.stack(rows)

    def barrier(self):
        self._exchange("barrier", None)

    def abort(self, code=1):
        self.world.barrier.abort()
        raise FakeAbort(f"rank {self.rank} aborted the job (code {code})")


def run_ranks(size, fn, world=None):
    """[fn(0), ..., fn(size - 1)], each rank in its own thread over a FakeWorld."""
    world = world or FakeWorld(size)
    results, errors = [None] * size, [None] * size

    def main(rank):
        try:
            with context.use(FakeComm(world, rank)):
                results[rank] = fn(rank)
        except BaseException as e:   # noqa: BLE001 - reported below
            errors[rank] = e
            world.barrier.abort()

    threads = [threading.Thread(target=main, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    def echo(e):   # a rank's failure caused by another rank's abort
        return isinstance(e, threading.BrokenBarrierError) or \
            isinstance(e.__context__, threading.BrokenBarrierError)
    first = next((e for e in errors if e is not None and not echo(e)), None) or \
        next((e for e in errors if e), None)
    if first is not None:
        raise first
    return results
