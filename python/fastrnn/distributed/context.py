"""Who this process is in a data-parallel job, and how a failing rank ends the job.

`init()` joins the MPI job the process was started in (mpirun/mpiexec/srun, recognised by the
launcher's environment variables, so mpi4py is imported only under a launcher); from then on
`fit`, `evaluate` and `predict` are data-parallel over the job. Without a launcher `init()`
changes nothing: one process, rank 0 of 1.

Failure: MPI ranks wait for each other in every collective call, so a rank that stops
participating would leave the others waiting forever. Hence, after `init()`:
- an uncaught exception in any rank prints the rank and its traceback, then aborts the whole
  job (MPI_Abort; the launcher ends every rank within seconds);
- an exception (or SystemExit/KeyboardInterrupt) leaving a data-parallel fit/evaluate/predict
  aborts the job as well, even if the caller would catch it (see hooks.scoped);
- a rank killed by a signal is noticed by the launcher, which ends the job.
A rank that ends on purpose while the others continue should call `abort()`.
"""
import contextvars
import os
import sys
import traceback

from .._scoped import setting
from .comm import MPIComm, SelfComm

# Set by the launchers of Open MPI, MPICH/Intel MPI (hydra), MVAPICH and PMIx/Slurm.
LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE")

_SELF = SelfComm()
_world = None   # the job's communicator, once init() found one
_sparse_gradients = "auto"
_current = contextvars.ContextVar("fastrnn_distributed_comm", default=None)


def launcher_variable(environ=None):
    """The name of the first launcher variable set in `environ` (os.environ), or None."""
    environ = os.environ if environ is None else environ
    return next((v for v in LAUNCHER_VARIABLES if v in environ), None)


def init(comm=None, sparse_gradients="auto"):
    """Join the MPI job (no-op without a launcher); returns (rank, size).

    `comm`: an mpi4py communicator to train over (default: MPI.COMM_WORLD).
    `sparse_gradients`: how an embedding's gradient travels: "gather" (every rank's id
    occurrences; exact for every optimizer), "dense" (summed into the table, which merges
    repeated ids: exact for SGD without clipping) or "auto" (gather unless dense is exact,
    then the one moving fewer bytes; gradients.py, bench/README.md). Each rank's kernels
    get its share of the machine's cores (`fastrnn.set_num_threads`) unless OMP_NUM_THREADS is
    set. Also installs the abort-on-uncaught-exception hook (module docstring). Call it before
    building models: layers given a dropout `seed` then draw different masks on each rank.
    """
    global _world, _sparse_gradients
    from .gradients import SPARSE_MODES
    if sparse_gradients not in SPARSE_MODES:
        raise ValueError(f"init: sparse_gradients expected one of {SPARSE_MODES}, got "
                         f"{sparse_gradients!r}")
    _sparse_gradients = sparse_gradients
    if comm is None:
        if _world is not None:
            return _world.rank, _world.size
        variable = launcher_variable()
        if variable is None:
            return 0, 1
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise ImportError(
                f"fastrnn.distributed.init: this process was started by an MPI launcher "
                f"({variable} is set) but mpi4py is not installed; install it with "
                "`pip install 'fastrnn[mpi]'` (mpi4py and Open MPI) or `pip install mpi4py` "
                "against the site's MPI") from e
        comm = MPI.COMM_WORLD
    _world = MPIComm(comm)
    from .. import random as frandom
    frandom.set_stream_key(_world.rank)
    if "OMP_NUM_THREADS" not in os.environ:
        from ..threads import set_num_threads
        set_num_threads(_threads_per_rank(_world.local_size))
    _install_excepthook(_world)
    return _world.rank, _world.size


def _threads_per_rank(local_size):
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    if cores < (os.cpu_count() or cores):    # the launcher bound this rank to its cores
        return max(1, cores)
    return max(1, cores // max(1, local_size))


def _install_excepthook(comm):
    previous = sys.excepthook

    def hook(etype, value, tb):
        try:
            sys.stderr.write(f"fastrnn.distributed: rank {comm.rank} of {comm.size} raised an "
                             "uncaught exception; aborting the job\n")
            previous(etype, value, tb)
        finally:
            comm.abort(1)
    sys.excepthook = hook


def sparse_gradients():
    """The embedding-gradient mode chosen at init()."""
    return _sparse_gradients


def communicator():
    """The communicator in effect: `use`/`local` override, else init()'s job, else one process."""
    return _current.get() or _world or _SELF


def use(comm):
    """A `with` block (in this thread) over `comm`; tests use it with a fake communicator."""
    return setting(_current, comm)


def local():
    """A block in which fit/evaluate/predict run on this rank alone, e.g. an evaluation on
    rank 0 only: `with fastrnn.distributed.local(): model.evaluate(x, y)`."""
    return use(_SELF)


def rank():
    return communicator().rank


def size():
    return communicator().size


def is_main():
    """True on rank 0, the rank that prints, writes checkpoints and saves."""
    return communicator().rank == 0


def barrier():
    communicator().barrier()


def abort(code=1, message=None):
    """End the whole job now (every rank) with exit code `code`."""
    comm = communicator()
    if message:
        sys.stderr.write(f"fastrnn.distributed: rank {comm.rank} of {comm.size}: {message}\n")
    comm.abort(code)


def abort_on_failure(comm, where, error):
    """Print which rank failed where and why, then abort the job (hooks.scoped calls it)."""
    sys.stderr.write(f"fastrnn.distributed: rank {comm.rank} of {comm.size} failed in "
                     f"{where}: {type(error).__name__}: {error}; aborting the job\n")
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    comm.abort(1)
