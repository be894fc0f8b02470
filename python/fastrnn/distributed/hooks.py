"""The hook the Trainer consults, so that trainer.py never asks how many processes there are.

While fit/evaluate/predict run, `model._distribution` holds a hook:
- `train_batch(idx, step, steps)` / `shard(idx)`: this rank's part of a global batch;
- `all_finite(loss)`: TerminateOnNaN's skip-this-update decision, the same on every rank;
- `reduce_gradients(grads)`: between backward and update, the gradients averaged over the
  ranks (weighted by shard sizes, so they are the global batch's mean), or None while
  accumulating (`steps_per_update`);
- `metric_results(metrics)`: the logs, over all ranks;
- `shuffle_generator()`; `predict_rows`, `predict_batch`, `gather_predictions`;
- `is_main`: whether this rank prints and writes.
`LOCAL` (one process, an update per batch) leaves everything as it was; `DataParallel` does
the rest. `for_fit`/`for_evaluate`/`for_predict` choose one and synchronise the ranks at the
start of the call (rank 0's weights, optimizer state and random state); `scoped` (a decorator
of those Trainer methods) puts the caller's hook back afterwards and turns a failure of a
rank inside a data-parallel call into the end of the job.

A rank whose shard of a batch is empty (a last batch smaller than the number of ranks)
computes a stand-in sample (the batch's first) so that it takes part in every collective, and
contributes nothing: weight 0 for its gradient, its metric updates undone.
"""
import contextlib
import functools
import json

import numpy as np

from .. import random as frandom
from . import context, sharding, sync
from . import metrics as metrics_mod
from .gradients import GradientReducer


class Local:
    """One process, one update per batch: every hook returns what it is given."""

    size = 1
    is_main = True

    def train_batch(self, idx, step, steps):
        return idx

    def shard(self, idx):
        return idx

    def all_finite(self, loss):
        return bool(np.isfinite(loss))

    def reduce_gradients(self, grads):
        return grads

    def metric_results(self, metrics):
        return [(m.name, m.result()) for m in metrics]

    def shuffle_generator(self):
        return frandom.generator()

    def predict_rows(self, n):
        return slice(0, n)

    def predict_batch(self, batch_size):
        return batch_size

    def gather_predictions(self, outs, n):
        return outs

    def close(self):
        pass


LOCAL = Local()


class DataParallel:
    """Data-parallel hook over `comm` (also used with one process for `steps_per_update`)."""

    def __init__(self, comm, model, steps_per_update=1, sparse="auto"):
        self.comm = comm
        self.size = comm.size
        self.is_main = comm.rank == 0
        self.model = model
        self.steps_per_update = steps_per_update
        self._sparse = sparse
        self._reducer = None        # made at the first gradient (its mode needs the optimizer)
        self._counts = None         # every rank's samples in the current batch
        self._computed = 0          # samples this rank computes (1 for a stand-in)
        self._stand_in = None       # metric snapshot while this rank computes a stand-in
        self._group = np.zeros(comm.size, np.int64)   # samples per rank since the last update
        self._update = True
        self._shared = None         # the shuffling generator, the same on every rank
        self._exit = contextlib.ExitStack()

    # -- start and end -------------------------------------------------------------------
    def start_random(self):
        """Shuffle with rank 0's generator state on every rank; draw dropout masks from a
        per-rank stream derived from it. Afterwards (close) every rank's global generator is
        in the state the shuffling left, as one process's would be without dropout."""
        self._shared = sync.shared_generator(self.comm)
        own = sync.rank_generator(self._shared, self.comm.rank)
        self._exit.enter_context(frandom.using(own))

    def close(self):
        self._exit.close()
        if self._shared is not None:
            frandom.generator().bit_generator.state = self._shared.bit_generator.state
            self._shared = None

    def shuffle_generator(self):
        return self._shared if self._shared is not None else frandom.generator()

    # -- batches -------------------------------------------------------------------------
    def shard(self, idx):
        n = sharding.batch_length(idx)
        self._counts = sharding.counts(n, self.size)
        lo, hi = sharding.bounds(n, self.size, self.comm.rank)
        self._stand_in = None
        if hi > lo:
            self._computed = hi - lo
            return sharding.take(idx, lo, hi)
        self._stand_in = metrics_mod.snapshot(self.model.metrics)
        self._computed = 1
        return sharding.take(idx, 0, 1)

    def train_batch(self, idx, step, steps):
        """Groups of `steps_per_update` batches from the start of each epoch; the last group
        of an epoch may be shorter."""
        self._update = (step + 1) % self.steps_per_update == 0 or step + 1 == steps
        return self.shard(idx)

    def all_finite(self, loss):
        bad = 0.0 if self._stand_in is not None or np.isfinite(loss) else 1.0
        return self.comm.allreduce(np.array([bad]))[0] == 0

    # -- gradients -----------------------------------------------------------------------
    def reduce_gradients(self, grads):
        if self._reducer is None:
            self._reducer = GradientReducer(self.comm, self._sparse, self.model.optimizer)
        mine = 0 if self._stand_in is not None else self._counts[self.comm.rank]
        # Without accumulation the scale makes the sum over ranks the batch mean at once;
        # with it, the sum of samples x mean-gradient is divided by the group's samples.
        k, n = self.steps_per_update, sum(self._counts)
        self._reducer.add(grads, mine / n if k == 1 else mine, self._computed, n)
        self._group += self._counts
        if not self._update:
            return None
        group, self._group = self._group, np.zeros(self.size, np.int64)
        return self._reducer.reduce(group, 1.0 if k == 1 else 1.0 / group.sum())

    # -- logs ----------------------------------------------------------------------------
    def metric_results(self, metrics):
        if self._stand_in is not None:
            metrics_mod.restore(metrics, self._stand_in)
            self._stand_in = None
        return metrics_mod.reduced_results(self.comm, metrics)

    # -- predict -------------------------------------------------------------------------
    def predict_rows(self, n):
        """This rank's contiguous block of the rows to predict."""
        return slice(*sharding.bounds(n, self.size, self.comm.rank))

    def predict_batch(self, batch_size):
        """Per-rank batch: the global batch's share."""
        return -(-batch_size // self.size)

    def gather_predictions(self, outs, n):
        """Every rank's block, in order, on every rank (`outs`: this rank's, None if empty)."""
        counts = sharding.counts(n, self.size)
        if min(counts) == 0:   # ranks without rows learn the outputs' shapes from rank 0
            spec = json.dumps([[list(o.shape[1:]), o.dtype.str] for o in outs]) \
                if self.is_main else ""
            spec = json.loads(self.comm.bcast_bytes(spec.encode()).decode())
            if outs is None:
                outs = [np.empty([0] + shape, np.dtype(dtype)) for shape, dtype in spec]
        return [self.comm.allgatherv(o, counts) for o in outs]


# -- choosing and scoping hooks ------------------------------------------------------------
def _start(comm, what, start):
    """Run the start-of-call synchronisation; a failure there ends the job (a rank that
    stopped half-way would leave the others waiting)."""
    try:
        start()
    except BaseException as e:
        if comm.size > 1:
            context.abort_on_failure(comm, what, e)
        raise


def for_fit(model, steps_per_update=1, **facts):
    """The hook of one fit call; `facts` (ints) must be equal on every rank."""
    comm = context.communicator()
    if comm.size == 1 and steps_per_update == 1:
        return LOCAL
    hook = DataParallel(comm, model, steps_per_update, context.sparse_gradients())
    if comm.size > 1:
        def start():
            sync.agree(comm, "fit", steps_per_update=steps_per_update, **facts)
            sync.broadcast_model(comm, model, optimizer=True)
            hook.start_random()
        _start(comm, "fit", start)
    return hook


def _for_inference(model, what, facts):
    comm = context.communicator()
    if comm.size == 1:
        return LOCAL
    hook = DataParallel(comm, model)

    def start():
        sync.agree(comm, what, **facts)
        sync.broadcast_model(comm, model)
    _start(comm, what, start)
    return hook


def for_evaluate(model, **facts):
    return _for_inference(model, "evaluate", facts)


def for_predict(model, **facts):
    return _for_inference(model, "predict", facts)


def scoped(method):
    """Decorator of the Trainer methods that install a hook (see the module docstring)."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        outer = self._distribution
        try:
            return method(self, *args, **kwargs)
        except BaseException as e:
            hook = self._distribution
            if hook is not outer and hook.size > 1:
                context.abort_on_failure(hook.comm, method.__name__, e)
            raise
        finally:
            if self._distribution is not outer:
                self._distribution.close()
                self._distribution = outer
    return call
