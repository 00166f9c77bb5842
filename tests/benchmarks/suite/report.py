"""The suite's report: Markdown tables of the measured points and the issue's figures. Pure: text from results."""

from __future__ import annotations

from tests.benchmarks.suite.plan import CLIENTS, COMPARED, NO_DROP, ORDER, RAMP, ROUNDS, WORKLOADS
from tests.benchmarks.suite.results import Measured, dropped, errors_by_kind, find, ratio, round_ratios


def ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:,.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def rate(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def compared(results: list[Measured], workload: str, client: str, c: int) -> str:
    """The throughput ratio over the official client's, with each round's when measured in rounds."""
    each = round_ratios(results, workload, client, c)
    whole = times(ratio(results, workload, client, c))
    return whole if len(each) < 2 else f"{whole} (rounds {', '.join(times(r) for r in each)})"


def errors(summary: dict | None) -> str:
    if summary is None:
        return "–"
    found = errors_by_kind(summary)
    return ", ".join(f"{kind}: {n}" for kind, n in found.items()) or "0"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def cell(m: Measured | None) -> str:
    """Throughput, then p50 / p99 latency in ms."""
    if m is None:
        return "–"
    s = m.summary
    return f"{rate(s['throughput'])}/s, {ms(s['p50'])} / {ms(s['p99'])} ms"


def comparison(results: list[Measured]) -> str:
    """The three clients at the compared concurrencies, with REST's and Python's throughput over the official
    client's."""
    rows = []
    for workload in ("query", "purchase", "service"):
        for c in COMPARED:
            found = {client: find(results, workload, client, c) for client in CLIENTS}
            if not any(found.values()):
                continue
            rows.append([workload, str(c), cell(found["official"]), cell(found["rest"]), cell(found["python"]),
                         compared(results, workload, "rest", c), compared(results, workload, "python", c),
                         "; ".join(f"{client}: {errors(m.summary)}" for client, m in found.items() if m)])
    return table(["workload", "c", "official Go client", "REST gateway", "Python client", "REST / official",
                  "Python / official", "errors"], rows)


def cpu(results: list[Measured]) -> str:
    """CPU time per successful request: the REST gateway's process, and org1 peer0's (every client goes through
    it)."""
    rows = []
    for m in results:
        if m.summary is None or m.point.purpose == "no-drop":
            continue
        gateway = m.cpu_per_request_ms("gateway") if m.point.client == "rest" else None
        rows.append([m.point.workload, m.point.client, str(m.point.concurrency),
                     "–" if gateway is None else f"{gateway:.2f}",
                     "–" if m.cpu_per_request_ms("peer") is None else f"{m.cpu_per_request_ms('peer'):.2f}"])
    return table(["workload", "client", "c", "REST gateway CPU ms / request", "peer0 CPU ms / request"], rows)


def ramp(results: list[Measured]) -> str:
    """Figures 12–15 as a table: the REST gateway as concurrency grows."""
    rows = []
    for workload in ("query", "purchase"):
        for c in RAMP:
            m = find(results, workload, "rest", c)
            if m is not None:
                s = m.summary
                rows.append([workload, str(c), rate(s["throughput"]), ms(s["p50"]), ms(s["p99"]), errors(s)])
    return table(["REST workload", "c", "per s", "p50 ms", "p99 ms", "errors"], rows)


def gateway_cpu_figure(results: list[Measured], workload: str) -> str:
    """Under load (c > 1): alone, a purchase has a block to itself, and the gateway follows every block (its
    index, the peers' heights) whatever the number of transactions in it."""
    found = {m.point.concurrency: m.cpu_per_request_ms("gateway") for m in results
             if m.point.client == "rest" and m.point.workload == workload and m.summary
             and m.point.purpose != "no-drop" and m.point.concurrency > 1}
    values = {c: v for c, v in found.items() if v is not None}
    if not values:
        return "–"
    return f"{min(values.values()):.2f}–{max(values.values()):.2f} ms (c = {min(values)}–{max(values)})"


def headline(results: list[Measured]) -> str:
    """The issue's 'done when' figures, each with what it was measured on."""
    rows = []
    for c in COMPARED:
        rows.append([f"REST / official, purchases, c={c}", compared(results, "purchase", "rest", c)])
    rows.append([f"REST / official, queries evaluated on the peer, c={COMPARED[-1]}",
                 compared(results, "query", "rest", COMPARED[-1])])
    rows.append(["REST gateway CPU per query (peer-evaluated)", gateway_cpu_figure(results, "query")])
    rows.append(["REST gateway CPU per index-served GET /v1/services/{name}", gateway_cpu_figure(results, "service")])
    rows.append(["REST gateway CPU per purchase", gateway_cpu_figure(results, "purchase")])
    for client in ("rest", "official"):
        single = find(results, "purchase", client, 1)
        rows.append([f"one purchase at c=1, commit latency p50 ({CLIENTS[client]})",
                     "–" if single is None else f"{ms(single.summary['p50'])} ms"])
    for client in ("rest", "official", "python"):
        busy = find(results, "purchase", client, COMPARED[-1])
        rows.append([f"purchases at c={COMPARED[-1]} ({CLIENTS[client]})",
                     "–" if busy is None else f"{rate(busy.summary['throughput'])} tx/s"])
    no_drop = next((m for m in results if m.point.purpose == "no-drop" and m.summary), None)
    if no_drop is not None:
        s = no_drop.summary
        rows.append([f"REST purchases at c={NO_DROP} for {no_drop.point.seconds:.0f} s",
                     f"{s['ok']:,} committed ({rate(s['throughput'])} tx/s, p99 {ms(s['p99'])} ms); errors by type: "
                     f"{errors(s)}; dropped connections: {dropped(s)}"])
    return table(["figure", "measured"], rows)


def render(results: list[Measured], context: dict, extra_sections: list[str] = ()) -> str:
    """The whole report (docs/bench.md)."""
    points = [m for m in results if m.summary]
    skipped = [m for m in results if not m.summary]
    seconds = sorted({m.point.seconds for m in points if m.point.purpose != "no-drop"})
    parts = [
        "# Benchmark suite",
        "",
        f"`{context['command']}` on {context['date']}: {context['machine']}. Network: {context['network']}. "
        f"{len(points)} points of {', '.join(f'{s:.0f}' for s in seconds)} s, closed loop, "
        f"{context['rest_buyers']} REST buyers and {context['client_buyers']} client identities (a worker keeps to "
        f"its own buyers; REST uses as many buyers as the clients have identities, more only where the concurrency "
        f"is higher); total {context['elapsed']:.0f} s.",
        "",
        "Workloads: " + "; ".join(f"**{name}**: {text}" for name, text in WORKLOADS.items()) + ".",
        "",
        "Clients: " + "; ".join(f"**{name}**: {text}" for name, text in CLIENTS.items()) + ". The official and "
        "Python clients talk to org1's peer0; the REST gateway of org1 talks to org1's peers (peer0 first).",
        "",
        "## The issue's figures",
        "",
        headline(results),
        "",
        "## The three clients side by side",
        "",
        f"Each cell: successful requests per second, p50 / p99 latency. Each point ran in {ROUNDS} rounds, the "
        f"clients in mirrored order ({', '.join(ORDER)}, then {', '.join(reversed(ORDER))}), so that a drift in the "
        "machine's speed weighs the same on all three; a cell sums its rounds (latencies: the rounds' percentiles "
        "averaged by requests), and a ratio gives each round's after it.",
        "",
        comparison(results),
        "",
        "## Figures 12–15: concurrency ramp through the REST gateway",
        "",
        ramp(results),
        "",
        "![queries](bench-queries.png)",
        "",
        "![transactions](bench-transactions.png)",
        "",
        "## CPU per request",
        "",
        "CPU time (user + system, /proc/<pid>/stat) of the process during the point over its successful requests; "
        "the REST gateway's only for the REST points (it idles otherwise).",
        "",
        cpu(results),
    ]
    parts += [s for section in extra_sections for s in ("", section)]
    missed = [f"{m.point.label} ({m.skipped})" for m in skipped] + [note for m in points for note in m.notes]
    if missed:
        parts += ["", "Not measured: " + "; ".join(missed) + "."]
    return "\n".join(parts) + "\n"
