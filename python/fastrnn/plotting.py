"""`plot_history(history, path)`: training vs validation accuracy and loss, as a PNG."""
import os


def _figure_class():
    """matplotlib's Figure (no pyplot: no global state, no GUI backend needed)."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("fastrnn.plot_history needs matplotlib: pip install fastrnn[plot] "
                          "(or pip install matplotlib)") from None
    return Figure, MaxNLocator


def _series(history, *names):
    for name in names:
        if name in history:
            return name, history[name]
    return None, None


def plot_history(history, path, title=None):
    """Two subplots (accuracy, loss), train vs validation per epoch; saves a PNG to `path`.

    `history` is the History returned by `fit` or its `.history` dict. Returns `path`.
    """
    hist = getattr(history, "history", history)
    if not isinstance(hist, dict) or not hist:
        raise ValueError("plot_history: expected a History or a non-empty dict of lists")
    figure_cls, integer_ticks = _figure_class()
    fig = figure_cls(figsize=(11, 4))
    axes = fig.subplots(1, 2)
    panels = (("Accuracy", ("accuracy", "acc")), ("Loss", ("loss",)))
    for ax, (label, names) in zip(axes, panels):
        key, train = _series(hist, *names)
        _, val = _series(hist, *("val_" + n for n in names))
        if train is None and val is None:
            ax.set_visible(False)
            continue
        if train is not None:
            ax.plot(range(1, len(train) + 1), train, "o-", label=f"Training {label.lower()}")
        if val is not None:
            ax.plot(range(1, len(val) + 1), val, "s--", label=f"Validation {label.lower()}")
        ax.set_title(f"Training and validation {label.lower()}")
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(integer_ticks(integer=True))
        ax.set_ylabel(label)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
    return path
