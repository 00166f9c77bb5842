"""The report's pictures (matplotlib, the bench extra): per workload family, latency and throughput against
concurrency — the REST ramp as a line, every client's compared points as markers."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.suite.plan import CLIENTS
from tests.benchmarks.suite.results import Measured

STYLE = {"rest": ("tab:blue", "o"), "official": ("tab:green", "s"), "python": ("tab:orange", "^")}
OTHER = {"rest": ("tab:purple", "D"), "official": ("tab:red", "v"), "python": ("tab:brown", "<")}  # 2nd workload


def series(results: list[Measured], workload: str, client: str) -> list[tuple[int, dict]]:
    points = {m.point.concurrency: m.summary for m in results
              if m.summary and m.point.purpose != "no-drop" and (m.point.workload, m.point.client) == (workload, client)}
    return sorted(points.items())


def draw(path: Path, results: list[Measured], workloads: dict[str, str], title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (latency, throughput) = plt.subplots(1, 2, figsize=(12, 4.8))
    for n, (workload, label) in enumerate(workloads.items()):
        for client in CLIENTS:
            points = series(results, workload, client)
            if not points:
                continue
            color, marker = (STYLE if n == 0 else OTHER)[client]
            xs = [c for c, _ in points]
            name = f"{label}: {client}"
            latency.plot(xs, [s["p50"] * 1000 for _, s in points], color=color, marker=marker, label=name)
            latency.plot(xs, [s["p99"] * 1000 for _, s in points], color=color, marker=marker, alpha=0.4,
                         linestyle="--", markersize=4)
            throughput.plot(xs, [s["throughput"] for _, s in points], color=color, marker=marker, label=name)
    for axis, ylabel in ((latency, "latency p50, p99 dashed (ms, log)"), (throughput, "successful requests / s")):
        axis.set_xscale("symlog", linthresh=8)
        axis.minorticks_off()
        ticks = sorted({m.point.concurrency for m in results if m.point.workload in workloads and m.summary
                        and m.point.purpose != "no-drop"})
        axis.set_xticks(ticks, [str(t) for t in ticks])
        axis.set_xlabel("concurrency (requests in flight)")
        axis.set_ylabel(ylabel)
        axis.grid(True, alpha=0.3)
    latency.set_yscale("log")
    throughput.set_ylim(bottom=0)
    latency.legend(fontsize=8, loc="upper left")
    throughput.legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(directory: Path, results: list[Measured], machine: str) -> list[Path]:
    queries = directory / "bench-queries.png"
    draw(queries, results, {"query": "rights (peer)", "service": "service record"},
         f"Queries (figures 12–13): REST ramp, clients compared — {machine}")
    transactions = directory / "bench-transactions.png"
    draw(transactions, results, {"purchase": "purchase until committed"},
         f"Purchases (figures 14–15): REST ramp, clients compared — {machine}")
    return [queries, transactions]
