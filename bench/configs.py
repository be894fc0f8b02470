"""Benchmark configurations: the full grid, the quick grid and the one-cell smoke grid.

A configuration is a plain dict (it travels to the workers as JSON):

    name      unique label used in tables and plots
    cell      "lstm" | "gru" | "simple_rnn"
    bidir     wrap the recurrent layer in Bidirectional (merge "concat")
    stack     number of stacked recurrent layers (all but the last return sequences)
    E, H      embedding width and recurrent units
    T, B      timesteps and batch size
    vocab     embedding vocabulary size (10000 throughout)
    modes     what to time: "train" (full training step), "infer" (recurrent layer(s)
              forward only, inference), "latency" (full model forward with batch size 1)
    group     "seed", "bidir", "stacked", "sweep" or "latency" (for the report and plots)
    overhead  also measure fastrnn's Python-side overhead of train_on_batch

run.py adds the run-wide fields `threads`, `warmup`, `repeats` and `min_sample_s`.
"""

VOCAB = 10000
ALL_MODES = ("train", "infer", "latency")


def make(cell, E, H, T, B, bidir=False, stack=1, modes=ALL_MODES, group="seed",
         overhead=False, name=None):
    if name is None:
        prefix = ("bi" if bidir else "") + (f"{stack}x" if stack > 1 else "") + cell
        name = f"{prefix}-E{E}-H{H}-T{T}-B{B}"
    return {"name": name, "cell": cell, "bidir": bool(bidir), "stack": int(stack), "E": E,
            "H": H, "T": T, "B": B, "vocab": VOCAB, "modes": list(modes), "group": group,
            "overhead": bool(overhead)}


def full_grid():
    """The grid of the benchmark issue."""
    grid = [make(c, 32, 32, 500, 128, overhead=True) for c in ("lstm", "gru", "simple_rnn")]
    grid += [make(c, 128, 64, 100, 256, bidir=True, group="bidir") for c in ("lstm", "gru")]
    grid += [make("lstm", 100, 32, 500, 512, stack=2, group="stacked")]
    grid += [make(c, 128, h, 100, 64, group="sweep") for c in ("lstm", "gru")
             for h in (128, 256, 512)]
    grid += [make(c, 128, 256, 100, 1, modes=("latency", "infer"), group="latency")
             for c in ("lstm", "gru")]
    return grid


def quick_grid():
    """A few small-T cells covering every kind of layer; well under two minutes in total."""
    return [
        make("lstm", 32, 32, 50, 128, overhead=True),
        make("gru", 128, 64, 20, 64, bidir=True, group="bidir"),
        make("gru", 128, 128, 20, 64, group="sweep"),
    ]


def smoke_grid():
    """One tiny cell: checks the whole pipeline, not performance."""
    return [make("lstm", 8, 8, 5, 4, overhead=True, name="smoke-lstm")]


def seed_names(grid):
    return [c["name"] for c in grid if c["group"] == "seed"]


def select(grid, patterns):
    """Configurations whose name contains any of `patterns` (all when patterns is empty)."""
    if not patterns:
        return grid
    chosen = [c for c in grid if any(p in c["name"] for p in patterns)]
    if not chosen:
        names = ", ".join(c["name"] for c in grid)
        raise SystemExit(f"--configs {patterns} matched nothing; available: {names}")
    return chosen
