"""PNG plot of a run: speedup per configuration, and step time against H (log axes).

    python bench/plot.py bench/results/<date>.json     # re-plot a saved run
"""
import json
import sys

from report import NAMES, median_ms

COLORS = {"fastrnn": "tab:green", "tf": "tab:orange", "torch": "tab:red", "onnxrt": "tab:blue"}


def _main_mode(cfg):
    return "train" if "train" in cfg["modes"] else cfg["modes"][0]


def plot(out, path):
    """Write the figure to `path`; returns the path, or None without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = out["results"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5.5))

    # Left: speedup of fastrnn over each peer, main mode of each configuration.
    peers = [p for p in ("tf", "torch", "onnxrt") if p in out["frameworks"]]
    width = 0.8 / max(1, len(peers))
    labels = [f"{r['config']['name']}\n[{_main_mode(r['config'])}]" for r in rows]
    for k, peer in enumerate(peers):
        vals = [r["speedup"][_main_mode(r["config"])].get(f"vs_{peer}") for r in rows]
        pts = [(i + (k - (len(peers) - 1) / 2) * width, v) for i, v in enumerate(vals) if v]
        if pts:
            ax1.bar(*zip(*pts), width, label=f"vs {NAMES[peer]}", color=COLORS[peer])
    ax1.axhline(1.0, color="black", lw=0.8)
    ax1.set_yscale("log")
    ax1.set_xticks(range(len(rows)))
    ax1.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax1.set_ylabel("speedup of fastrnn (peer time / fastrnn time, log)")
    ax1.set_title(f"fastrnn speedup, {out['threads']} thread(s)")
    if ax1.patches:
        ax1.legend()

    # Right: training step time against H for the H sweep (all training cells if none).
    sweep = [r for r in rows if r["config"]["group"] == "sweep"] or \
        [r for r in rows if "train" in r["config"]["modes"]]
    for cell, marker in (("lstm", "o"), ("gru", "s"), ("simple_rnn", "^")):
        cells = sorted((r for r in sweep if r["config"]["cell"] == cell),
                       key=lambda r: r["config"]["H"])
        for fw in out["frameworks"]:
            pts = [(r["config"]["H"], median_ms(r, fw, "train")) for r in cells]
            pts = [p for p in pts if p[1]]
            if pts:
                ax2.plot(*zip(*pts), marker=marker, color=COLORS[fw],
                         ls="-" if cell == "lstm" else "--", label=f"{NAMES[fw]} {cell}")
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("H (units)")
    ax2.set_ylabel("training step, median ms")
    ax2.set_title("step time vs H" + (" (T=100, B=64)" if any(
        r["config"]["group"] == "sweep" for r in rows) else ""))
    if ax2.lines:
        ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        result = json.load(f)
    print(plot(result, sys.argv[1].rsplit(".", 1)[0] + ".png"))
