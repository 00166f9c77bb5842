"""Benchmark: chaincode query latency as the registry grows (bounded in count and time).

    .venv/bin/python tests/benchmarks/query_scale.py [--state-dir DIR] [--queries 200] [--first 1000]
        [--extra 68655] [--concurrency 64] [--max-minutes 120]

Without --state-dir it starts the default topology on free ports in a temporary state directory and deletes it
at the end; with --state-dir it uses that running network (and leaves it running). Stages: import the first
`--first` ProgrammableWeb APIs, measure; import the whole ecosystem (~31k), measure; with --extra N register N
synthetic services (names synthetic-000001 …, status created), measure. Each measurement evaluates through one
peer (peer0 of org1), one query at a time, `--queries` of each kind: QueryService by a random name,
QueryServiceByRange page of 20 from a random start, QueryServiceByStatus ("available") page of 20 from a bookmark
in the second half of the list, QueryServiceByUser first page of 20 of a random developer. Prints p50/p99 per kind
and the import throughput of each stage; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from fabric_gateway import Connection, Gateway

from tdses.ecosystem.progress import Progress, Summary, describe_selection
from tdses.ecosystem.running import Importer
from tdses.ecosystem.programmableweb import Ecosystem, Service, load, stable_hash
from tdses.local.network import Network, clean, init_state

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.integration.conftest import channel_peers_of, enroll_member  # noqa: E402
from tests.support.ports import free_base_port  # noqa: E402

KINDS = ["QueryService", "ByRange", "ByStatus", "ByUser"]
PAGE = "20"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def synthetic(eco: Ecosystem, count: int) -> list[Service]:
    """Deterministic services beyond the data: same owners' hash, status created (registered only)."""
    out = []
    for i in range(1, count + 1):
        name = f"synthetic-{i:06d}"
        out.append(Service(key=name, kind="api", name=name, title=name, category="Synthetic",
                           description="synthetic service for the query benchmark",
                           url=f"https://synthetic.example/{i}", price=1 + stable_hash("price", name) % 5,
                           developer=eco.developers[stable_hash("owner", name) % len(eco.developers)],
                           submitted="", dead_since=None))
    return out


class RegisterOnly(Importer):
    """Synthetic services are only registered: one transaction each, they stay `created`."""

    def plan(self):
        phases = super().plan()
        phases[0] = {dev: [s for s in steps if s.action == "RegisterService"] for dev, steps in phases[0].items()}
        self.summary.selected["published"] = 0
        return phases


def run_import(importer: Importer, deadline: float) -> tuple[Summary, bool]:
    """Run an import until it finishes or the benchmark's deadline; returns (summary, finished)."""
    remaining = max(1.0, deadline - time.monotonic())
    try:
        asyncio.run(asyncio.wait_for(importer.run(), remaining))
        return importer.summary, True
    except TimeoutError:
        log("time limit reached: measuring what was imported so far")
        return importer.summary, False


class Reader:
    """A query-only identity enrolled at org1's CA, evaluating through org1's peer0 only."""

    def __init__(self, network: Network) -> None:
        org = network.topology.orgs[0]
        member = enroll_member(network, channel_peers_of(network), org.name, "bench-reader")
        self.gateway = Gateway(Connection(org.peers[0].address, member.tls_ca.read_bytes()), member.identity,
                               member.signer)
        t = network.topology
        self.contract = self.gateway.get_network(t.channel).get_contract(t.chaincode_name)

    def evaluate(self, *args: str) -> dict:
        return json.loads(self.contract.evaluate_transaction(*args))

    def timed(self, *args: str) -> float:
        started = time.perf_counter()
        self.contract.evaluate_transaction(*args)
        return time.perf_counter() - started

    def pages(self, function: str, *args: str):
        bookmark = ""
        while True:
            page = self.evaluate(function, *args, "100", bookmark)
            yield page["records"]
            bookmark = page["bookmark"]
            if not bookmark:
                return

    def close(self) -> None:
        self.gateway.close()


def measure(reader: Reader, developers: list[str], queries: int, rng: random.Random) -> tuple[int, dict]:
    """(services on chain, {kind: [latencies]}) for the registry as it is now."""
    names, available = [], []
    for records in reader.pages("QueryServiceByRange", "", ""):
        names += [r["name"] for r in records]
        available += [r["name"] for r in records if r["status"] == "available"]
    deep = sorted(available)[len(available) // 2:] or names
    calls = {
        "QueryService": lambda: ("QueryService", rng.choice(names)),
        "ByRange": lambda: ("QueryServiceByRange", rng.choice(names), "", PAGE, ""),
        "ByStatus": lambda: ("QueryServiceByStatus", "available", PAGE, rng.choice(deep)),
        "ByUser": lambda: ("QueryServiceByUser", rng.choice(developers), PAGE, ""),
    }
    for kind in KINDS:  # warm the peer's caches and the channel
        for _ in range(10):
            reader.timed(*calls[kind]())
    latencies = {kind: [reader.timed(*calls[kind]()) for _ in range(queries)] for kind in KINDS}
    return len(names), latencies


def print_results(queries: int, rows: list, imports: list) -> None:
    print(f"query latency through one peer, {queries} queries of each kind, one at a time (ms, p50 / p99)")
    print(f"{'services on chain':>17}  " + "  ".join(f"{k:>16}" for k in KINDS))
    for count, latencies in rows:
        cells = [f"{percentile(latencies[k], 50) * 1000:6.1f} / {percentile(latencies[k], 99) * 1000:6.1f}"
                 for k in KINDS]
        print(f"{count:>17,}  " + "  ".join(f"{c:>16}" for c in cells))
    print("import throughput")
    for label, added, summary, finished in imports:
        print(f"  {label}: {added} services added, {summary.transactions} transactions in {summary.elapsed:.0f} s "
              f"= {summary.rate:.1f} tx/s, {added / summary.elapsed if summary.elapsed else 0:.1f} services/s, "
              f"failed {summary.failed}{'' if finished else ' (stopped at the time limit)'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="a running network to use (default: start one)")
    parser.add_argument("--data", type=Path, default=None, help="the ProgrammableWeb files (default as the CLI)")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind per measurement (≤ 10000)")
    parser.add_argument("--first", type=int, default=1000, help="APIs in the first stage (default 1000)")
    parser.add_argument("--extra", type=int, default=0, help="synthetic services after the ecosystem (≤ 200000)")
    parser.add_argument("--concurrency", type=int, default=64, help="transactions in flight while importing")
    parser.add_argument("--developers", type=int, default=100)
    parser.add_argument("--max-minutes", type=float, default=120, help="stop importing after this long")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not (1 <= args.queries <= 10_000 and 0 <= args.extra <= 200_000 and args.first >= 1):
        parser.error("--queries must be 1..10000, --extra 0..200000, --first ≥ 1")
    deadline = time.monotonic() + args.max_minutes * 60
    rng = random.Random(args.seed)
    eco = load(args.data, args.developers)

    started_here = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="tdses-bench-")) / "network" if started_here else args.state_dir
    rows, imports = [], []
    developers: set[str] = set()  # registered so far: QueryServiceByUser needs an existing user
    try:
        if started_here:
            network = init_state(state_dir, "default", free_base_port("default"))
            log(f"starting the default topology in {state_dir}")
            network.up(out=io.StringIO())
        else:
            network = Network.open(state_dir)
        reader = Reader(network)
        try:
            # The first APIs alone: a slice with mashups jumps from 483 to 1,507 services at the 242nd API.
            stages = [(f"first {args.first} APIs", eco, eco.apis[:args.first], Importer),
                      ("whole ecosystem", eco, eco.select(), Importer)]
            if args.extra:
                extra = synthetic(eco, args.extra)
                stages.append((f"{args.extra} synthetic", replace(eco, apis=eco.apis + extra), extra, RegisterOnly))
            for label, ecosystem, services, kind in stages:
                log(f"import: {label} ({len(services)} services)")
                importer = kind(network, ecosystem, services, args.concurrency, Progress(sys.stderr))
                if kind is Importer and len(services) == len(eco.services):
                    describe_selection(importer.summary, ecosystem, services, None)
                developers.update(importer.developers)
                summary, finished = run_import(importer, deadline)
                print(summary.render(), file=sys.stderr)
                added = sum(summary.tally[(k, "new")] for k in ("services", "mashups"))
                imports.append((label, added, summary, finished))
                log("measuring queries")
                count, latencies = measure(reader, sorted(developers), args.queries, rng)
                rows.append((count, latencies))
                if not finished:
                    break
        finally:
            reader.close()
    finally:
        print_results(args.queries, rows, imports)  # whatever was measured, even after a failure
        if started_here:
            log("stopping and deleting the benchmark network")
            clean(state_dir)
            state_dir.parent.rmdir()


if __name__ == "__main__":
    main()
