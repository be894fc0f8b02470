"""Making the ranks start alike: facts they must agree on, weights, optimizer state, random
streams, all from rank 0."""
import json
import zlib

import numpy as np

from .. import random as frandom

# The bit generators numpy's Generator may use (a broadcast state names one of them).
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def agree(comm, what, **facts):
    """Raise on every rank if the ranks' integer `facts` differ (e.g. each rank loaded a
    different number of samples), naming the first fact that differs and every rank's value."""
    names = sorted(facts)
    table = comm.allgather_ints([int(facts[k]) for k in names])
    for j, name in enumerate(names):
        column = table[:, j]
        if (column != column[0]).any():
            values = ", ".join(f"rank {r}: {int(v)}" for r, v in enumerate(column))
            raise ValueError(f"{what}: the ranks disagree on {name} ({values}); every rank must "
                             "make the same call with the same data")


def _structure_crc(arrays):
    return zlib.crc32(repr([(a.shape, a.dtype.str) for a in arrays]).encode())


def broadcast_arrays(comm, arrays, what):
    """Rank 0's values of `arrays` (same shapes and dtypes on every rank, checked) as fresh
    contiguous arrays."""
    arrays = [np.array(a, order="C") for a in arrays]   # copies; 0-d stays 0-d
    agree(comm, what, arrays=len(arrays), structure=_structure_crc(arrays))
    for a in arrays:
        comm.bcast(a.reshape(-1) if a.ndim == 0 else a)
    return arrays


def broadcast_model(comm, model, optimizer=False):
    """Every rank gets rank 0's weights (and, with `optimizer`, its optimizer state: slots are
    created for every trainable weight first, as the first update would)."""
    weights = broadcast_arrays(comm, model.get_weights(), f"{model.name}: weights")
    if comm.rank != 0:
        model.set_weights(weights)
    opt = model.optimizer if optimizer else None
    if opt is None:
        return
    trainable = model.trainable_weights
    opt.build(trainable)
    state = broadcast_arrays(comm, [np.asarray(a) for a in opt.get_state()],
                             f"{model.name}: optimizer state")
    if comm.rank != 0:
        opt.set_state(trainable, state)


def shared_generator(comm):
    """A generator in the state of rank 0's global generator, on every rank."""
    state = frandom.generator().bit_generator.state
    data = comm.bcast_bytes(json.dumps(state, default=np.ndarray.tolist).encode()
                           if comm.rank == 0 else b"")
    state = json.loads(data.decode())
    name = state.get("bit_generator")
    if name not in _BIT_GENERATORS:
        raise ValueError(f"fastrnn.distributed: unknown bit generator {name!r} from rank 0")
    rng = np.random.Generator(getattr(np.random, name)())
    rng.bit_generator.state = state
    return rng


def rank_generator(shared, rank):
    """Rank `rank`'s own stream, derived from `shared`'s state without drawing from it."""
    ints = []

    def collect(value):
        if isinstance(value, dict):
            for k in sorted(value):
                collect(value[k])
        elif isinstance(value, (list, tuple)):
            for v in value:
                collect(v)
        elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            ints.append(abs(int(value)))
    collect(shared.bit_generator.state)
    return np.random.default_rng(np.random.SeedSequence(ints, spawn_key=(rank,)))
