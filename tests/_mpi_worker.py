"""One scenario of tests/test_distributed_mpi.py, run by every rank of an MPI job:

    mpirun -n 2 python tests/_mpi_worker.py SCENARIO OUT_DIR

Rank 0 writes what the test compares into OUT_DIR (result.json, result.npz). Scenarios:
parity (the issue's cases, accumulation, evaluate/predict, streams), dropout (loss curves),
raise (rank 1 raises), kill (rank 1 is killed after a checkpoint), resume (from it).
"""
import json
import os
import signal
import sys
import time
import zlib

import numpy as np

import fastrnn
from fastrnn import distributed
from fastrnn import random as frandom
from fastrnn.distributed import context

import _mpi_cases as cases

RANK, SIZE = distributed.init()
COMM = context.communicator()


def crc(arrays):
    return zlib.crc32(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays))


def on_all_ranks(value):
    """Every rank's integer `value`, as a list."""
    return COMM.allgather_ints([value])[:, 0].tolist()


class FirstWeightsAndDraw(fastrnn.callbacks.Callback):
    """At train begin: a checksum of the weights and one draw of the global generator (the
    dropout stream during fit)."""

    def on_train_begin(self, logs=None):
        self.crc = crc(self.model.get_weights())
        self.draw = float(frandom.generator().random())


def parity(out):
    result, arrays = {}, {}
    runs = [(k, o, cases.BATCH, 1) for k, o in cases.PARITY_CASES] + \
           [("lstm", o, cases.BATCH // 2, 2) for o in ("sgd", "adam")]
    for kind, opt, batch, k in runs:
        name = f"{kind}-{opt}-k{k}"
        first = FirstWeightsAndDraw()
        m, history = cases.train(kind, opt, RANK, batch_size=batch, steps_per_update=k,
                                 callbacks=[first])
        logs, preds = cases.evaluate_and_predict(m)
        draws = COMM.allgatherv(np.array([first.draw]), [1] * SIZE).tolist()
        result[name] = {"first_crcs": on_all_ranks(first.crc),
                        "last_crcs": on_all_ranks(crc(m.get_weights())),
                        "predict_crcs": on_all_ranks(crc([preds])), "dropout_draws": draws,
                        "history": history, "evaluate": logs}
        arrays.update({f"{name}/w{i}": w for i, w in enumerate(m.get_weights())})
        arrays[f"{name}/predict"] = preds
    one = m.predict(cases.data(1, seed=1)[0], verbose=0)      # fewer rows than ranks
    result["predict_one_crcs"] = on_all_ranks(crc([one]))
    arrays["predict_one"] = one
    m.fit(*cases.data(3 * cases.BATCH), batch_size=cases.BATCH, verbose=2)   # rank 0 prints
    return result, arrays


def dropout(out):
    seeds = [int(s) for s in os.environ["FASTRNN_TEST_SEEDS"].split(",")]
    return {kind: [cases.dropout_run(kind, s, RANK) for s in seeds]
            for kind in ("lstm", "bigru")}, {}


def fail_at(batch, action):
    class Fail(fastrnn.callbacks.Callback):
        def on_train_batch_begin(self, b, logs=None):
            if RANK == 1 and b == batch:
                action()
    return Fail()


def raise_(out):
    def boom():
        raise RuntimeError("rank 1 fails on purpose at batch 3")
    cases.train("lstm", "sgd", RANK, callbacks=[fail_at(3, boom)])
    return {}, {}


def kill(out):
    def die():
        with open(os.path.join(out, "killed_at"), "w") as f:
            f.write(repr(time.time()))
        os.kill(os.getpid(), signal.SIGKILL)
    m = cases.model("lstm", "adam")
    ckpt = fastrnn.callbacks.ModelCheckpoint(os.path.join(out, "ckpt-{epoch}.fnrn"))

    class DieInEpoch(fastrnn.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if RANK == 1 and self.epoch == cases.CHECKPOINT_EPOCHS and batch == 3:
                die()
    m.fit(*cases.data(), batch_size=cases.BATCH, epochs=cases.TOTAL_EPOCHS, shuffle=False,
          verbose=0, callbacks=[ckpt, DieInEpoch()])
    return {}, {}


def resume(out):
    m = fastrnn.load_model(os.path.join(out, f"ckpt-{cases.CHECKPOINT_EPOCHS}.fnrn"))
    iterations = m.optimizer.iterations
    m.fit(*cases.data(), batch_size=cases.BATCH, epochs=cases.TOTAL_EPOCHS,
          initial_epoch=cases.CHECKPOINT_EPOCHS, shuffle=False, verbose=0)
    return ({"iterations_at_resume": on_all_ranks(iterations),
             "iterations": m.optimizer.iterations, "last_crcs": on_all_ranks(crc(m.get_weights()))},
            {f"w{i}": w for i, w in enumerate(m.get_weights())})


def main():
    scenario, out = sys.argv[1], sys.argv[2]
    result, arrays = {"parity": parity, "dropout": dropout, "raise": raise_, "kill": kill,
                      "resume": resume}[scenario](out)
    if RANK == 0:
        result["size"] = SIZE
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump(result, f)
        np.savez(os.path.join(out, "result.npz"), **arrays)


if __name__ == "__main__":
    main()
