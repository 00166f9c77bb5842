"""The project's benchmark suite, on the running local network (`make run`): the same workloads through the REST
gateway, the project's Python client and the official Go client in one run, the paper's concurrency ramps
(figures 12–15), the c=256 no-drop check, CPU per request; a Markdown report and plots.

    .venv/bin/python -m tests.benchmarks.suite [--state-dir .state/network] [--seconds 30] [--max-minutes 15]
        [--quick] [--caliper-command CMD] [--report docs/bench.md]

Progress on stderr, one line per point. The points are shortened (all by one factor) to fit --max-minutes; once
the time is up the remaining points are skipped and the report says so. Traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from tdses.fabric import gateways
from tdses.local import processes
from tdses.local.network import Network
from tdses.paths import DEFAULT_STATE_DIR
from tests.benchmarks.suite import actors, clients, plan, plots, report
from tests.benchmarks.suite.cpu import cpu_seconds
from tests.benchmarks.suite.results import Measured, combine, errors_by_kind

REPO = Path(__file__).resolve().parents[3]
GROWTH = ("## Table 4: queries as the stored data grows\n\nNot part of this run (registering 100,000 services takes "
          "over half an hour here): `.venv/bin/python tests/benchmarks/query_scale.py --extra 68655` measures "
          "QueryService and the paged queries through one peer from 1,000 to 100,000 services (the README's "
          "Measured table: p50 2.2 ms at 1,000, 2.0 ms at 31,345, 2.3 ms at 100,000 — flat).")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start (shared with other work)"


def measure(point: plan.Point, target: clients.Target, pids: dict[str, int | None]) -> Measured:
    before = {which: cpu_seconds(pid) for which, pid in pids.items()}
    try:
        summary = clients.run(point, target)
    except Exception as error:  # noqa: BLE001 — one point's failure is reported, the suite goes on
        return Measured(point, skipped=f"failed: {error}"[:300])
    after = {which: cpu_seconds(pid) for which, pid in pids.items()}
    used = {w: None if before[w] is None or after[w] is None else after[w] - before[w] for w in pids}
    return Measured(point, summary, gateway_cpu=used["gateway"], peer_cpu=used["peer"])


def caliper(command: str, state_dir: Path) -> str:
    """Caliper, run by its own command with TDSES_STATE_DIR set: its output goes into the report."""
    if not command:
        return ("## Caliper\n\nNot run: npm was not found. With Node.js and npm on the PATH, `make bench` installs "
                "Caliper (`make caliper-tools`) and runs `tests/benchmarks/caliper.py` after the points.")
    done = subprocess.run(shlex.split(command), env={**os.environ, "TDSES_STATE_DIR": str(state_dir)},
                          capture_output=True, text=True, timeout=3600)
    return (f"## Caliper\n\n`{command}` (exit {done.returncode}):\n\n```\n{done.stdout.strip()[-4000:]}\n"
            f"{done.stderr.strip()[-1000:] if done.returncode else ''}```")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.suite", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the running network (make run's)")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per point (before fitting the budget)")
    p.add_argument("--no-drop-seconds", type=float, default=60.0, help=f"the c={plan.NO_DROP} point's seconds")
    p.add_argument("--max-minutes", type=float, default=15.0, help="the whole run's time, at most")
    p.add_argument("--quick", action="store_true", help="5 s points, 15 s at c=256, 5 minutes at most")
    p.add_argument("--rest-buyers", type=int, default=256, help="REST users (≥ the largest concurrency)")
    p.add_argument("--client-buyers", type=int, default=128, help="identities of the official and Python clients")
    p.add_argument("--caliper-command", default="", help="run after the points; its output goes into the report")
    p.add_argument("--report", type=Path, default=REPO / "docs" / "bench.md")
    a = p.parse_args(argv)
    if a.quick:
        a.seconds, a.no_drop_seconds, a.max_minutes = 5.0, 15.0, 5.0
    if not (1 <= a.seconds <= 300 and 1 <= a.no_drop_seconds <= 600 and 1 <= a.max_minutes <= 120
            and 1 <= a.client_buyers <= 1024 and 1 <= a.rest_buyers <= 1024):
        p.error("--seconds 1..300, --no-drop-seconds 1..600, --max-minutes 1..120, buyers 1..1024")

    started = time.monotonic()
    deadline = started + a.max_minutes * 60
    points = plan.fit(plan.build(a.seconds, a.no_drop_seconds), a.max_minutes * 60)
    log(f"{len(points)} points, about {plan.estimate(points) / 60:.1f} min planned "
        f"(points of {min(p.seconds for p in points):.0f}–{max(p.seconds for p in points):.0f} s)")
    network = Network.open(a.state_dir)
    org = network.topology.org("org1")
    url = f"http://127.0.0.1:{org.gateway.ports.listen}"
    context = {"command": " ".join(["python -m tests.benchmarks.suite"] + (sys.argv[1:] if argv is None else argv)),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
               "network": f"{network.topology.name} topology ({len(network.topology.orgs)} orgs) in "
                          f"{a.state_dir}, org1's REST gateway {url}, peer0 {org.peers[0].address}",
               "rest_buyers": a.rest_buyers, "client_buyers": a.client_buyers}
    machine_label = f"{os.cpu_count()} cores, shared"
    measured: list[Measured] = []  # point by point, each round apart
    with tempfile.TemporaryDirectory(prefix="tdses-bench-") as scratch:
        tag = datetime.now().strftime("%H%M%S")
        log(f"setup: developer, service, {a.rest_buyers} REST buyers, {a.client_buyers} client identities")
        cast = actors.load_or_create(network, url, gateways.admin_token_file(network.state, org).read_text().strip(), tag,
                             a.rest_buyers, a.client_buyers, log)
        target = clients.Target(network, url, cast, cast.write_members(Path(scratch) / "members.json"))
        # Fit again what is left of the budget: setup takes minutes the first time, seconds when buyers are reused.
        points = plan.fit(plan.build(a.seconds, a.no_drop_seconds), deadline - time.monotonic() + plan.SETUP_SECONDS)
        log(f"points of {min(p.seconds for p in points):.0f}–{max(p.seconds for p in points):.0f} s to end "
            f"within {a.max_minutes:.0f} min")
        pids = {"gateway": processes.running_pid(network.state.pid_file(org.gateway)),
                "peer": processes.running_pid(network.state.pid_file(org.peers[0]))}
        for i, point in enumerate(points, 1):
            if time.monotonic() + point.seconds + plan.OVERHEAD_SECONDS > deadline:
                measured.append(Measured(point, skipped="time budget spent"))
                log(f"[{i}/{len(points)}] {point.label}: skipped, time budget spent")
                continue
            log(f"[{i}/{len(points)}] {point.label} for {point.seconds:.0f} s ({point.purpose})")
            m = measure(point, target, pids)
            measured.append(m)
            if m.summary:
                s = m.summary
                log(f"    {s['throughput']:8.1f}/s  p50 {s['p50'] * 1000:7.1f} ms  p99 {s['p99'] * 1000:7.1f} ms  "
                    f"errors {errors_by_kind(s) or 0}")
            else:
                log(f"    {m.skipped}")
    results = combine(measured)
    sections = []
    sections.append(GROWTH)
    sections.append(caliper(a.caliper_command, a.state_dir))
    context["elapsed"] = time.monotonic() - started
    a.report.parent.mkdir(parents=True, exist_ok=True)
    a.report.write_text(report.render(results, context, sections))
    # The figures as measured, so that a report or plot can be made again without measuring again.
    a.report.with_suffix(".json").write_text(json.dumps(
        [{**asdict(m.point), "summary": m.summary, "gatewayCpu": m.gateway_cpu, "peerCpu": m.peer_cpu,
          "skipped": m.skipped} for m in measured], indent=1))
    log(f"report written to {a.report}")
    try:
        for path in plots.write(a.report.parent, results, machine_label):
            log(f"plot written to {path}")
    except ImportError:
        log("no plots: matplotlib is missing (pip install -e '.[bench]')")
    print(report.headline(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
