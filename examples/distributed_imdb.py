"""Data-parallel training on IMDB with MPI: seed notebook 002's LSTM
(Embedding(10000, 32) -> LSTM(32) -> Dense(1, sigmoid), RMSprop, maxlen 500, batch 128), the
same script on one process or on many.

    pip install ".[mpi]"                                        # mpi4py + Open MPI (mpirun)
    mpirun -n 2 python examples/distributed_imdb.py             # 2 processes, global batch 128
    python examples/distributed_imdb.py                         # 1 process: the same training
    mpirun -n 2 python examples/distributed_imdb.py --resume    # go on from the checkpoint

(As root, Open MPI wants `--allow-run-as-root`; more ranks than cores need `--oversubscribe`;
on a cluster: `mpirun -n 16 --hostfile hosts ...` or the scheduler's `srun`.) Every rank
loads the data and runs this whole script; `fastrnn.distributed.init()` makes fit and evaluate
data-parallel. Rank 0 alone prints and writes the checkpoint (model + optimizer state, after
every epoch). If a rank fails, the job ends; `--resume` continues from the last checkpoint.
"""
import argparse
import importlib.util
import math
import os
import sys

if importlib.util.find_spec("fastrnn") is None:   # from a source checkout
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "python"))

import fastrnn  # noqa: E402
from fastrnn import distributed  # noqa: E402
from fastrnn.datasets import imdb  # noqa: E402
from fastrnn.layers import LSTM, Dense, Embedding  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402
from fastrnn.preprocessing.sequence import pad_sequences  # noqa: E402

VALIDATION_SPLIT = 0.2
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="default 10 (--quick: 1)")
    p.add_argument("--batch-size", type=int, default=128, help="the global batch")
    p.add_argument("--steps-per-update", type=int, default=1,
                   help="batches accumulated per update (fewer allreduces; default 1)")
    p.add_argument("--maxlen", type=int, default=500)
    p.add_argument("--checkpoint", default=os.path.join(OUT, "distributed_imdb.fnrn"))
    p.add_argument("--resume", action="store_true", help="start from --checkpoint")
    p.add_argument("--quick", action="store_true", help="400 reviews, maxlen 50")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args()


def main():
    args = parse()
    rank, size = distributed.init()
    say = print if distributed.is_main() else (lambda *a, **k: None)
    (x, y), (x_test, y_test) = imdb.load_data(num_words=10000)
    if args.quick:
        x, y, x_test, y_test = x[:400], y[:400], x_test[:200], y_test[:200]
        args.maxlen = min(args.maxlen, 50)
    epochs = args.epochs or (1 if args.quick else 10)
    x, x_test = pad_sequences(x, maxlen=args.maxlen), pad_sequences(x_test, maxlen=args.maxlen)

    fastrnn.utils.set_random_seed(args.seed)     # rank 0's seed decides (weights, shuffling)
    initial_epoch = 0
    if args.resume:
        model = fastrnn.load_model(args.checkpoint)   # weights and optimizer state
        train = math.floor(len(x) * (1 - VALIDATION_SPLIT))    # as fit splits
        updates = math.ceil(math.ceil(train / args.batch_size) / args.steps_per_update)
        initial_epoch = model.optimizer.iterations // updates
        say(f"resuming from {args.checkpoint} after epoch {initial_epoch}")
    else:
        model = Sequential([Embedding(10000, 32), LSTM(32), Dense(1, activation="sigmoid")])
        model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    say(f"{size} process(es), {fastrnn.get_num_threads()} thread(s) each; global batch "
        f"{args.batch_size}, {args.batch_size // size}-{-(-args.batch_size // size)} per rank")
    os.makedirs(os.path.dirname(os.path.abspath(args.checkpoint)), exist_ok=True)
    model.fit(x, y, batch_size=args.batch_size, epochs=epochs, initial_epoch=initial_epoch,
              validation_split=VALIDATION_SPLIT, steps_per_update=args.steps_per_update, verbose=2,
              callbacks=[fastrnn.callbacks.ModelCheckpoint(args.checkpoint)])
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    say(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} ({len(y_test)} reviews)")


if __name__ == "__main__":
    main()
