"""Data-parallel training over MPI (mpi4py): the same script on 1 or N processes.

    import fastrnn
    fastrnn.distributed.init()          # no-op unless started by mpirun/mpiexec/srun
    model.fit(x, y, batch_size=128)     # 128 = the GLOBAL batch, split over the ranks

    mpirun -n 4 python train.py         (pip install "fastrnn[mpi]" installs mpi4py + mpirun)

After `init()`, every rank runs the whole script on the whole data set; fit/evaluate/predict
are collective (every rank calls them, with the same arguments):
- `fit` takes each global batch (the same shuffling on every rank, from rank 0's generator),
  gives each rank a contiguous shard, averages the gradients over the ranks weighted by shard
  size (one allreduce of one buffer per update; see gradients.py for embeddings), and starts
  from rank 0's weights and optimizer state. Dropout masks come from a stream per rank.
  `fit(..., steps_per_update=k)` accumulates k batches per update (also in one process).
- Logs are computed from the metrics' sums over all ranks: every rank sees the logs one
  process would, so callbacks decide alike (EarlyStopping, TerminateOnNaN).
- Only rank 0 prints (progress bar, callback messages) and writes files (`save`,
  `save_weights`, ModelCheckpoint); `with fastrnn.distributed.local():` runs calls on one rank.
- `evaluate` shards its batches like fit; `predict` splits the rows into blocks and returns
  all of them, in order, on every rank.
- A rank that fails ends the job (context.py).
Importing fastrnn never imports mpi4py; only `init()` under a launcher does.
"""
from .context import abort, barrier, init, is_main, local, rank, size

__all__ = ["init", "rank", "size", "is_main", "barrier", "abort", "local"]
