"""Logs over the whole job. Every fastrnn metric is a running (total, count) pair; each rank
keeps its own, and the logs are computed from their sums over the ranks, so they equal the
logs of one process that saw every sample."""
import copy

import numpy as np


def _check(metric):
    if not (hasattr(metric, "total") and hasattr(metric, "count")):
        raise TypeError(f"data-parallel training: metric {getattr(metric, 'name', metric)!r} "
                        f"({type(metric).__name__}) has no running total/count; only such "
                        "metrics can be summed over the ranks")


def reduced_results(comm, metrics):
    """[(name, result over all ranks)] for `metrics`, each rank's state left as it was."""
    for m in metrics:
        _check(m)
    states = np.array([[m.total, m.count] for m in metrics], np.float64).reshape(-1)
    comm.allreduce(states)
    out = []
    for m, (total, count) in zip(metrics, states.reshape(-1, 2)):
        view = copy.copy(m)
        view.total, view.count = float(total), float(count)
        out.append((m.name, view.result()))
    return out


def snapshot(metrics):
    return {id(m): (m.total, m.count) for m in metrics}


def restore(metrics, saved):
    """Undo every update since `snapshot` (a metric made since then is reset)."""
    for m in metrics:
        if id(m) in saved:
            m.total, m.count = saved[id(m)]
        else:
            m.reset_state()
