"""A measured point's figures, in the load generator's summary shape (tests/benchmarks/loadgen/summary.go), made by
every client: throughput, latency percentiles, answers by HTTP status, failures by kind. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tests.benchmarks.suite.plan import Point

# Failures that mean the server or the network dropped a connection (loadgen/http.go's failureKind).
DROPPED = ("connection reset", "server closed the connection", "connection refused")


def summarize(latencies_ok: list[float], failures: dict[str, int], seconds: float,
              latencies_failed: list[float] = ()) -> dict:
    """The summary of one closed-loop run of a client without HTTP statuses (the Python client's)."""
    every = sorted([*latencies_ok, *latencies_failed])
    ok = len(latencies_ok)
    return {"requests": len(every), "ok": ok, "seconds": seconds, "throughput": ok / seconds if seconds else 0.0,
            "p50": percentile(every, 50), "p90": percentile(every, 90), "p99": percentile(every, 99),
            "max": every[-1] if every else 0.0, "statuses": {}, "failures": dict(failures)}


def percentile(ordered: list[float], p: int) -> float:
    """Nearest rank of sorted samples, as the load generator computes it."""
    if not ordered:
        return 0.0
    rank = max(1, (p * len(ordered) + 99) // 100)
    return ordered[rank - 1]


def errors_by_kind(summary: dict) -> dict[str, int]:
    """Every answer that is not a success, by kind: HTTP statuses of 300 and more, then transport or Fabric
    failures."""
    errors = {f"HTTP {status}": n for status, n in summary.get("statuses", {}).items() if int(status) >= 300}
    errors.update(summary.get("failures", {}))
    return dict(sorted(errors.items(), key=lambda item: (-item[1], item[0])))


def dropped(summary: dict) -> int:
    return sum(n for kind, n in summary.get("failures", {}).items() if kind in DROPPED)


@dataclass
class Measured:
    """A point as run: its summary, the CPU seconds of the REST gateway and of the peer during it, or why not."""

    point: Point
    summary: dict | None = None
    gateway_cpu: float | None = None
    peer_cpu: float | None = None
    skipped: str = ""
    notes: list[str] = field(default_factory=list)  # what the report says besides the figures (rounds not run)
    rounds: list[float] = field(default_factory=list)  # the throughput of each round, when measured in rounds

    @property
    def ok(self) -> int:
        return self.summary["ok"] if self.summary else 0

    def cpu_per_request_ms(self, which: str) -> float | None:
        cpu = self.gateway_cpu if which == "gateway" else self.peer_cpu
        return None if cpu is None or not self.ok else cpu / self.ok * 1000


def find(results: list[Measured], workload: str, client: str, concurrency: int) -> Measured | None:
    """The measured (not skipped) point of that workload, client and concurrency; the first if several."""
    for m in results:
        p = m.point
        if (p.workload, p.client, p.concurrency) == (workload, client, concurrency) and m.summary:
            return m
    return None


def ratio(results: list[Measured], workload: str, client: str, concurrency: int,
          reference: str = "official") -> float | None:
    """Throughput of `client` over the reference client's at one point, when both were measured."""
    a, b = find(results, workload, client, concurrency), find(results, workload, reference, concurrency)
    if a is None or b is None or not b.summary["throughput"]:
        return None
    return a.summary["throughput"] / b.summary["throughput"]


def combine(results: list[Measured]) -> list[Measured]:
    """The rounds of each compared point as one point, where its first round stood: requests, seconds and CPU
    summed, throughput over the seconds of every round, latency percentiles the rounds' averaged by their requests
    (the load generator keeps no samples), the worst max. A point with no round measured stays skipped."""
    combined: list[Measured] = []
    rounds: dict[tuple, tuple[int, list[Measured]]] = {}  # point -> (where it goes, its rounds)
    for m in results:
        if not m.point.round:
            combined.append(m)
            continue
        key = (m.point.workload, m.point.client, m.point.concurrency)
        if key not in rounds:
            rounds[key] = (len(combined), [])
            combined.append(m)  # replaced below
        rounds[key][1].append(m)
    for at, parts in rounds.values():
        combined[at] = _merge(parts)
    return combined


def _merge(parts: list[Measured]) -> Measured:
    point = replace(parts[0].point, round=0, seconds=sum(m.point.seconds for m in parts))
    done = [m for m in parts if m.summary]
    if not done:
        return Measured(point, skipped=parts[0].skipped)
    summaries = [m.summary for m in done]
    requests = sum(s["requests"] for s in summaries)
    seconds = sum(s["seconds"] for s in summaries)
    summary = {"requests": requests, "ok": sum(s["ok"] for s in summaries), "seconds": seconds,
               "max": max(s["max"] for s in summaries), "statuses": _add(s["statuses"] for s in summaries),
               "failures": _add(s["failures"] for s in summaries)}
    summary["throughput"] = summary["ok"] / seconds if seconds else 0.0
    for p in ("p50", "p90", "p99"):
        summary[p] = sum(s[p] * s["requests"] for s in summaries) / requests if requests else 0.0
    notes = [f"{m.point.label} ({m.skipped})" for m in parts if not m.summary]
    return Measured(point, summary, gateway_cpu=_total(m.gateway_cpu for m in done),
                    peer_cpu=_total(m.peer_cpu for m in done), notes=notes,
                    rounds=[m.summary["throughput"] for m in done])


def _add(counts) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in counts:
        for kind, n in c.items():
            total[kind] = total.get(kind, 0) + n
    return total


def _total(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def round_ratios(results: list[Measured], workload: str, client: str, concurrency: int,
                 reference: str = "official") -> list[float]:
    """ratio() round by round, for points measured in rounds (combined): how much it moved."""
    a, b = find(results, workload, client, concurrency), find(results, workload, reference, concurrency)
    if a is None or b is None or len(a.rounds) != len(b.rounds):
        return []
    return [x / y for x, y in zip(a.rounds, b.rounds) if y]
