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
occurrences, (B / P) * T * (4 E + 8) bytes per rank) + one small allreduce for the logs
(latency only) + the local packing measured on this machine. No overlap of communication
with compute (see the README for why). Measured times enter as the fastest sample (on a
loaded machine the closest to the uncontended cost). `python bench/mpi_scaling.py RESULT.json` prints the
tables.
"""
import json
import sys

# Link bandwidth (bit/s) and the latency assumed with it (Ethernet/TCP vs an RDMA fabric).
NETWORKS = {"10 Gbit/s": (10e9, 25e-6), "25 Gbit/s": (25e9, 15e-6), "100 Gbit/s": (100e9, 5e-6)}
MACHINES = (1, 2, 4, 8, 16, 32, 64)


def allreduce_s(nbytes, p, bandwidth, latency):
    if p == 1:
        return 0.0
    return 2 * (p - 1) * latency + 2 * (p - 1) / p * nbytes * 8 / bandwidth


def allgather_s(nbytes_per_rank, p, bandwidth, latency):
    if p == 1:
        return 0.0
    return (p - 1) * latency + (p - 1) * nbytes_per_rank * 8 / bandwidth


def comm_s(cfg, comm, p, network, mode, per_rank_batch):
    """Seconds of communication per update on `p` machines."""
    bandwidth, latency = NETWORKS[network]
    if p == 1:
        return 0.0
    logs = allreduce_s(8 * 8, p, bandwidth, latency)
    local = comm["local_ms"][mode] / 1e3
    if mode == "dense":
        return allreduce_s(4 * comm["dense_floats"], p, bandwidth, latency) + logs + local
    rows = per_rank_batch * cfg["T"] * (4 * cfg["E"] + 8)
    return (allreduce_s(4 * comm["other_floats"], p, bandwidth, latency) +
            allgather_s(rows, p, bandwidth, latency) + logs + local)


def compute_s(compute, batch):
    """Measured one-machine step time at `batch` (the fastest sample: see mpi_worker.py)."""
    return compute[str(batch)]["min"] / 1e3


def predict(cfg, compute, comm, network, mode, weak, steps_per_update=1):
    """[(machines, samples/s, efficiency)] for MACHINES."""
    base = compute_s(compute, cfg["B"])
    rows = []
    for p in MACHINES:
        if not weak and cfg["B"] // p < 1:
            break
        b = cfg["B"] if weak else cfg["B"] // p
        k = steps_per_update
        t = k * compute_s(compute, b) + comm_s(cfg, comm, p, network, mode, b)
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
        for weak, k in ((False, 1), (True, 1), (True, 4)):
            label = "strong (B split)" if not weak else \
                f"weak (B per machine{', 4 steps/update' if k > 1 else ''})"
            for network in NETWORKS:
                for mode in ("dense", "gather"):
                    rows = predict(cfg, compute, comm, network, mode, weak, k)
                    cells = [f"{rate:,.0f} ({eff:.0%})" for _, rate, eff in rows]
                    cells += ["-"] * (len(MACHINES) - len(cells))
                    out.append(f"| {label} | {network} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(tables(json.load(f)))
