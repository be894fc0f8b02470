"""The scaling model of data-parallel training (bench/README.md, "Data-parallel training").

One rank per machine (all its cores). A step of global batch B on P machines costs

    t(P) = t_c(B / P) + t_comm(P)          (strong scaling: the seed's B, split)
    t(P) = t_c(B) + t_comm(P)              (weak scaling: B per machine, P x B per update)

with t_c(b) the measured step time of one machine at batch b (mpi_worker.py compute) and,
for a ring over links of bandwidth beta and per-message latency alpha:

    allreduce of n bytes          2 (P - 1) alpha + 2 (P - 1) / P * n / beta
    allgather of m bytes per rank   (P - 1) alpha + (P - 1) * m / beta

t_comm = the gradient's reduction (dense: one allreduce of the weights' floats, the embedding
table included; gather: an allreduce of the other weights plus an allgather of the id
occurrences, (B / P) * T * (4 E + 8) bytes per rank per batch) + one small allreduce per
batch for the logs (latency only, log2(P) alpha: recursive doubling) + the local packing
measured on this machine. No overlap of communication
with compute (see the README for why). Measured times enter as the fastest sample (on a
loaded machine the closest to the uncontended cost). `python bench/mpi_scaling.py RESULT.json`
prints the summary and the full tables.
"""
import json
import math

# Link bandwidth (bit/s) and the latency assumed with it (Ethernet/TCP vs an RDMA fabric).
NETWORKS = {"10 Gbit/s": (10e9, 25e-6), "25 Gbit/s": (25e9, 15e-6), "100 Gbit/s": (100e9, 5e-6)}
MACHINES = (1, 2, 4, 8, 16, 32, 64)
# (label, weak, steps_per_update, ideal compute)
SCALINGS = (("strong, B split, measured t_c(b)", False, 1, False),
            ("strong, B split, ideal compute (upper bound)", False, 1, True),
            ("weak, B per machine", True, 1, False),
            ("weak, B per machine, steps_per_update=4", True, 4, False))


def allreduce_s(nbytes, p, bandwidth, latency):
    if p == 1:
        return 0.0
    return 2 * (p - 1) * latency + 2 * (p - 1) / p * nbytes * 8 / bandwidth


def allgather_s(nbytes_per_rank, p, bandwidth, latency):
    if p == 1:
        return 0.0
    return (p - 1) * latency + (p - 1) * nbytes_per_rank * 8 / bandwidth


def logs_s(p, latency):
    """The logs' allreduce of a few floats: latency only, recursive doubling (what MPI
    libraries use for small messages), log2(P) steps."""
    return math.ceil(math.log2(p)) * latency if p > 1 else 0.0


def comm_s(cfg, comm, p, network, mode, per_rank_samples, batches=1):
    """Seconds of communication per update on `p` machines, each adding `per_rank_samples`
    samples' gradients over `batches` batches (one logs allreduce per batch)."""
    bandwidth, latency = NETWORKS[network]
    if p == 1:
        return 0.0
    logs = batches * logs_s(p, latency)
    local = comm["local_ms"][mode] / 1e3
    if mode == "dense":
        return allreduce_s(4 * comm["dense_floats"], p, bandwidth, latency) + logs + local
    rows = per_rank_samples * cfg["T"] * (4 * cfg["E"] + 8)
    return (allreduce_s(4 * comm["other_floats"], p, bandwidth, latency) +
            allgather_s(rows, p, bandwidth, latency) + logs + local)


def compute_s(compute, batch):
    """Measured one-machine step time at `batch` (the fastest sample: see mpi_worker.py)."""
    return compute[str(batch)]["min"] / 1e3


def predict(cfg, compute, comm, network, mode, weak, steps_per_update=1, ideal=False):
    """[(machines, samples/s, efficiency)] for MACHINES. `ideal`: a batch b costs
    t_c(B) * b / B (compute scales perfectly: an upper bound for strong scaling that needs
    no small-batch measurement)."""
    base = compute_s(compute, cfg["B"])
    rows = []
    for p in MACHINES:
        if not weak and cfg["B"] // p < 1:
            break
        b = cfg["B"] if weak else cfg["B"] // p
        k = steps_per_update
        step = base * b / cfg["B"] if ideal else compute_s(compute, b)
        # accumulating k batches gathers k batches' occurrences in one update
        t = k * step + comm_s(cfg, comm, p, network, mode, k * b, k)
        samples = (p if weak else 1) * k * cfg["B"]
        rate = samples / t
        rows.append((p, rate, rate / (p * k * cfg["B"] / (k * base))))
    return rows


def tables(result):
    """Markdown: per model, network and mode, samples/s and efficiency by machine count."""
    out = []
    for name, entry in result["models"].items():
        cfg, compute, comm = entry["config"], entry["compute"], entry["comm"]
        out.append(f"\n**{name}** (one machine: {compute[str(cfg['B'])]['min']:.1f} ms per step of "
                   f"{cfg['B']}; gradient {4 * comm['dense_floats'] / 1e6:.2f} MB dense, "
                   f"{cfg['B'] * cfg['T'] * (4 * cfg['E'] + 8) / 1e6:.2f} MB of id "
                   "occurrences per global batch)\n")
        out.append("| scaling | network | embedding | " +
                   " | ".join(f"{p}" for p in MACHINES) + " |")
        out.append("|---|---|---|" + "---|" * len(MACHINES))
        for label, weak, k, ideal in SCALINGS:
            for network in NETWORKS:
                for mode in ("dense", "gather"):
                    rows = predict(cfg, compute, comm, network, mode, weak, k, ideal)
                    cells = [f"{rate:,.0f} ({eff:.0%})" for _, rate, eff in rows]
                    cells += ["-"] * (len(MACHINES) - len(cells))
                    out.append(f"| {label} | {network} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def summary(result):
    """Markdown, one row per model and scaling: for each network and embedding mode, the
    largest machine count with efficiency >= 50% and the efficiency at 64 machines."""
    out = ["| model | scaling | " + " | ".join(f"{n} {m}" for n in NETWORKS
                                             for m in ("dense", "gather")) + " |",
           "|---|---|" + "---|" * (2 * len(NETWORKS))]
    for name, entry in result["models"].items():
        cfg, compute, comm = entry["config"], entry["compute"], entry["comm"]
        for label, weak, k, ideal in SCALINGS:
            cells = []
            for network in NETWORKS:
                for mode in ("dense", "gather"):
                    rows = predict(cfg, compute, comm, network, mode, weak, k, ideal)
                    upto = max(p for p, _, eff in rows if eff >= 0.5)
                    last_p, _, last_eff = rows[-1]
                    cells.append(f"{upto} ({last_eff:.0%} at {last_p})")
            out.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def with_reference(result, reference):
    """`result` with each model's full-batch step time replaced by the fastrnn training step
    of a bench/run.py results file (e.g. a quiet machine's), where it has the model."""
    steps = {c["config"]["name"]: c["frameworks"].get("fastrnn", {}).get("modes", {})
             .get("train", {}).get("min_ms") for c in reference["results"]}
    for name, entry in result["models"].items():
        if steps.get(name):
            entry["compute"][str(entry["config"]["B"])]["min"] = steps[name]
    return result


if __name__ == "__main__":
    import argparse
    p = argparse.ArgumentParser(description="Print the scaling model's tables.")
    p.add_argument("result", help="bench/results/mpi-<date>.json")
    p.add_argument("--reference", help="a bench/run.py results JSON: its full-batch step "
                                       "times replace the measured ones")
    args = p.parse_args()
    with open(args.result) as f:
        loaded = json.load(f)
    if args.reference:
        with open(args.reference) as f:
            loaded = with_reference(loaded, json.load(f))
    print(summary(loaded))
    print(tables(loaded))
