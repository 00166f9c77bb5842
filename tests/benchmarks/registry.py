"""Benchmark: the registry index — search and single-service reads through REST, and the index's lag behind the
ledger under a steady purchase load (bounded in count and time; traffic to 127.0.0.1 only).

    .venv/bin/python tests/benchmarks/registry.py [--state-dir DIR] [--limit 1000] [--services 100000]
        [--requests 10000] [--time-limit 20] [--users 64] [--lag-seconds 30] [--plot docs/registry.png]

Without --state-dir it starts the default topology on free ports in a temporary state directory and deletes it at
the end; with --state-dir it uses that running network (and leaves it running). It imports the ProgrammableWeb
data set (the first --limit APIs and their mashups; --limit 0: all of it, about 18 minutes) through the chaincode
and waits until org1's index holds the ledger's newest block.

Importing 100,000 services through the chaincode takes over half an hour on two cores, so the index is grown to
--services another way, and the output says so: org1's index database is copied (SQLite backup), synthetic
services (each a copy of a real API's category and description under a new name, price and QoS) are applied to
the copy through the index's own projection (tdses.index.projection, as blocks would be, checkpoint untouched), and
a second org1 gateway process serves that copy on a free port while following the ledger from the copy's
checkpoint. The synthetic services are in the index only, never on the ledger: searches find them, the chaincode
does not. With --services at or below what the ledger holds, the network's own gateway is measured as it is.

Measured through REST by the Go load generator (tests/benchmarks/loadgen, closed loop), at concurrency 1, 8 and 64
(it shares the cores with the network):
- search, GET /v1/services with a query mix drawn deterministically from the index: keyword, keyword + category,
  category + price, keyword + price + QoS;
- single-service reads, GET /v1/services/{name} of services on the ledger (served by the index);
- the index's lag: blocks behind the ledger (org1 peer0's ledger_blockchain_height − 1 − the gateway's
  tdses_index_block gauge, the gauge read first) sampled every 100 ms during --lag-seconds of purchases.
Then the issue's targets next to the figures, PASS or MISS. Progress on stderr.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

import httpx

from tdses.ecosystem.programmableweb import load, stable_hash
from tdses.ecosystem.progress import Progress
from tdses.ecosystem.running import Importer
from tdses.fabric import gateways
from tdses.index.blocks import ChaincodeTransaction, IndexBlock, StateWrite
from tdses.index.projection import Projection
from tdses.index.store import IndexStore
from tdses.local import processes
from tdses.local.network import Network, clean, init_state

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.benchmarks import loadgen  # noqa: E402
from tests.benchmarks.query_scale import log, run_import, synthetic  # noqa: E402
from tests.benchmarks.rest_latency import percentile  # noqa: E402
from tests.support.ports import free_base_port, free_port  # noqa: E402

CONCURRENCIES = (1, 8, 64)
TARGETS = {"search_p50_ms": 10.0, "read_rps": 2000.0, "lag_blocks": 1}
SYNTHETIC_BATCH = 1000  # services per synthetic block
WORD = re.compile(r"[a-z]{4,}")
# The data's descriptions read "<Title> API — ProgrammableWeb API, listed <date>[, dead since <date>]": the words
# a user would type are the title's and the category's, not this template's.
TEMPLATE_WORDS = frozenset("programmableweb listed dead since mashup".split())


# --- the network and its index ------------------------------------------------------------------------------------

def ledger_block(network: Network) -> int:
    """The newest block on org1's first peer (the one the gateway's follower reads first)."""
    height = processes.metric(network.topology.org("org1").peers[0].ports.operations, "ledger_blockchain_height")
    return -1 if height is None else int(height) - 1


def index_block(port: int) -> int:
    value = processes.metric(port, "tdses_index_block")
    return -1 if value is None else int(value)


def wait_for_index(network: Network, port: int, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        target = ledger_block(network)
        if index_block(port) >= target >= 0:
            return target
        time.sleep(0.5)
    raise RuntimeError(f"the index of the gateway on :{port} did not reach the ledger within {timeout:.0f}s")


def grow_index(source: Path, copy: Path, eco, count: int) -> int:
    """Copy the index database and apply `count` synthetic services to the copy through the projection, in blocks
    of SYNTHETIC_BATCH services numbered as the copy's current block (the checkpoint does not move)."""
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    store = IndexStore(copy)
    try:
        at = store.current_block()
        now = datetime.now(timezone.utc)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        real = [s for s in eco.apis if s.description]
        services = synthetic(eco, count)
        for first in range(0, count, SYNTHETIC_BATCH):
            transactions = []
            for position, s in enumerate(services[first:first + SYNTHETIC_BATCH]):
                model = real[stable_hash("model", s.name) % len(real)]
                s = replace(s, category=model.category, description=model.description,
                            latency_ms=20 + stable_hash("latency", s.name) % 981,
                            availability_bp=9000 + stable_hash("availability", s.name) % 1001)
                value = {**s.spec(), "developer": s.developer, "status": "available", "mashup": False,
                         "requireVouchers": False, "createdAt": stamp, "updatedAt": stamp}
                transactions.append(ChaincodeTransaction(
                    block_number=at, position=position, transaction_id=f"synthetic-{s.name}", timestamp=now,
                    writes=(StateWrite("tdses.service", (s.name,), value),), event_name="ServicePublished",
                    event_payload={"service": s.name, "developer": s.developer, "status": "available"}))
            with store.engine.begin() as db:
                Projection(db).apply_block(IndexBlock(at, tuple(transactions), ()))
            done = min(first + SYNTHETIC_BATCH, count)
            if done % 10_000 == 0 or done == count:
                log(f"synthetic services applied to the copy: {done:,}/{count:,}")
        return at
    finally:
        store.close()


def start_gateway(network: Network, database: Path, workdir: Path) -> tuple[int, Path]:
    """A second org1 gateway process on a free port: the network's configuration, this index database."""
    node = network.topology.org("org1").gateway
    port = free_port()
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", str(Path(__file__).resolve().parents[2] / "gateway")),
           "TDSES_GATEWAY_LISTEN": f"127.0.0.1:{port}", "TDSES_GATEWAY_INDEX__DATABASE": str(database)}
    pid_file = workdir / "gateway.pid"
    processes.start(gateways.command(network.state, node), env, workdir / "gateway.log", pid_file,
                    cwd=network.state.node_dir(node))
    processes.wait_until(lambda: processes.healthz(port), "benchmark gateway", 120, pid_file, workdir / "gateway.log")
    return port, pid_file


# --- the workload --------------------------------------------------------------------------------------------------

def query_mix(database: Path, count: int, seed: int) -> list[dict[str, str]]:
    """Search parameters drawn deterministically from the index: words (of the titles and categories) and
    categories as frequent as in the index."""
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT category, description FROM index_services WHERE status = 'available' "
                          "ORDER BY name").fetchall()
    categories = [c for c, _ in rows if c]
    words = [w for c, d in rows for w in WORD.findall(f"{c} {d}".lower()) if w not in TEMPLATE_WORDS]
    rng = random.Random(seed)
    mix = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            mix.append({"q": rng.choice(words)})
        elif kind == 1:
            mix.append({"q": rng.choice(words), "category": rng.choice(categories)})
        elif kind == 2:
            mix.append({"category": rng.choice(categories), "max_price": str(rng.choice((2, 5, 10, 20)))})
        else:
            mix.append({"q": rng.choice(words), "max_price": str(rng.choice((5, 10, 20))),
                        "max_latency_ms": str(rng.choice((200, 500, 800))),
                        "min_availability_bp": str(rng.choice((9500, 9800)))})
    return mix


def on_ledger(database: Path) -> list[str]:
    """Available services that came from blocks (not the synthetic ones): the chaincode knows them."""
    with sqlite3.connect(database) as db:
        return [r[0] for r in db.execute("SELECT name FROM index_services WHERE status = 'available' "
                                         "AND tx_id NOT LIKE 'synthetic-%' ORDER BY name")]


def create_users(url: str, admin_token: str, count: int, tag: str) -> list[str]:
    """Buyers created by the org admin, their tokens: the gateway rate-limits each token, so the load is spread
    over them."""
    admin = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {admin_token}"})

    def one(i: int) -> str:
        created = admin.post("/v1/users", json={"name": f"bench-reg-{tag}-{i}"})
        created.raise_for_status()
        return created.json()["token"]

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def measure(label: str, url: str, requests: list[dict], concurrency: int, count: int, seconds: float) -> dict | None:
    """The Go load generator at one concurrency: prints a line, returns the figures (rate-limited answers apart)."""
    s = loadgen.run(url, requests, concurrency, count, seconds)
    limited = s["statuses"].get("429", 0)
    failed = s["requests"] - s["ok"] - limited
    if not s["ok"]:
        print(f"{label}: no request succeeded ({s['statuses']}, {s['failures']})")
        return None
    errors = {**{f"HTTP {k}": v for k, v in s["statuses"].items() if k >= "300"}, **s["failures"]}
    print(f"{label:<9} n={s['ok']:<6} p50={s['p50'] * 1000:7.2f} ms  p99={s['p99'] * 1000:7.2f} ms  "
          f"{s['throughput']:8.1f} req/s  errors: {errors or 'none'}")
    return {"n": s["ok"], "failures": failed, "p50": s["p50"], "p99": s["p99"], "throughput": s["throughput"]}


def measure_lag(network: Network, port: int, tokens: list[str], names: list[str], seconds: float,
                concurrency: int, seed: int) -> tuple[list[int], Counter]:
    """Blocks the index is behind the ledger, sampled every 100 ms while buyers buy one call at a time."""
    buyers = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                           headers={"Authorization": f"Bearer {token}"}) for token in tokens]
    rng = random.Random(seed)
    stop = time.monotonic() + seconds
    outcomes: Counter = Counter()

    def buy(worker: int) -> None:
        i = worker
        while time.monotonic() < stop:
            name = names[rng.randrange(len(names))]
            status = buyers[i % len(buyers)].post(f"/v1/services/{name}/rights", json={"calls": 1}).status_code
            outcomes[status] += 1
            i += concurrency

    workers = [threading.Thread(target=buy, args=(w,), daemon=True) for w in range(concurrency)]
    for w in workers:
        w.start()
    behind = []
    while time.monotonic() < stop:
        indexed = index_block(port)  # first: a block committed between the two reads counts against the index
        behind.append(max(0, ledger_block(network) - indexed))
        time.sleep(0.1)
    for w in workers:
        w.join(65)
    return behind, outcomes


# --- report --------------------------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def print_targets(services: int, search: dict, reads: dict, lag: list[int]) -> None:
    p50 = search[1]["p50"] * 1000 if search.get(1) else float("nan")
    best_reads = max((m["throughput"] for m in reads.values() if m), default=0.0)
    lag_p50, lag_max = (percentile(lag, 50), max(lag)) if lag else (None, None)
    print(f"targets (issue) at {services:,} services in the index")
    print(f"  search p50 ≤ {TARGETS['search_p50_ms']:.0f} ms (concurrency 1): {p50:.1f} ms  "
          f"{verdict(p50 <= TARGETS['search_p50_ms'])}")
    print(f"  single-service reads ≥ {TARGETS['read_rps']:,.0f} req/s (best concurrency): {best_reads:,.0f} req/s  "
          f"{verdict(best_reads >= TARGETS['read_rps'])}")
    if lag:
        print(f"  index lag ≤ {TARGETS['lag_blocks']} block: p50 {lag_p50}, max {lag_max}  "
              f"{verdict(lag_max <= TARGETS['lag_blocks'])}")


def plot(path: Path, services: int, search: dict, reads: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for label, series, marker in (("search", search, "o"), ("GET /v1/services/{name}", reads, "s")):
        levels = [c for c in CONCURRENCIES if series.get(c)]
        left.plot(levels, [series[c]["p50"] * 1000 for c in levels], marker=marker, label=f"{label} p50")
        left.plot(levels, [series[c]["p99"] * 1000 for c in levels], marker=marker, linestyle="--",
                  label=f"{label} p99")
        right.plot(levels, [series[c]["throughput"] for c in levels], marker=marker, label=label)
    left.axhline(TARGETS["search_p50_ms"], color="grey", linestyle=":", label="target: search p50")
    right.axhline(TARGETS["read_rps"], color="grey", linestyle=":", label="target: reads")
    for axis, title in ((left, "latency (ms)"), (right, "requests/s")):
        axis.set_xscale("log", base=2)
        axis.set_xticks(CONCURRENCIES, [str(c) for c in CONCURRENCIES])
        axis.set_xlabel("concurrency")
        axis.set_title(title)
        axis.legend(fontsize=7)
    left.set_yscale("log")
    fig.suptitle(f"registry index: REST search and reads, {services:,} services, 2 cores")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# --- main ----------------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", type=Path, help="a running network to use (default: start one)")
    parser.add_argument("--data", type=Path, default=None, help="the ProgrammableWeb files (default as the CLI)")
    parser.add_argument("--limit", type=int, default=1000, help="ProgrammableWeb APIs to import (0: all)")
    parser.add_argument("--services", type=int, default=100_000, help="services the index holds when measured")
    parser.add_argument("--requests", type=int, default=10000, help="requests per measurement (at most)")
    parser.add_argument("--time-limit", type=float, default=20.0, help="seconds per measurement (at most)")
    parser.add_argument("--users", type=int, default=64, help="buyers to spread the load over (rate limit)")
    parser.add_argument("--lag-seconds", type=float, default=30.0, help="purchase load while sampling the lag")
    parser.add_argument("--purchase-concurrency", type=int, default=8)
    parser.add_argument("--import-concurrency", type=int, default=16,
                        help="transactions in flight while importing (64 timed out endorsements on 2 busy cores)")
    parser.add_argument("--plot", type=Path, help="write a plot (needs matplotlib: the bench extra)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not (0 <= args.services <= 200_000 and 1 <= args.requests <= 20_000 and args.time_limit <= 120
            and args.lag_seconds <= 300 and 1 <= args.users <= 256):
        parser.error("--services 0..200000, --requests 1..20000, --time-limit ≤ 120, --lag-seconds ≤ 300, "
                     "--users 1..256")

    started_here = args.state_dir is None
    state_dir = Path(tempfile.mkdtemp(prefix="tdses-bench-")) / "network" if started_here else args.state_dir
    workdir = Path(tempfile.mkdtemp(prefix="tdses-bench-registry-"))
    pid_file = None
    search: dict[int, dict | None] = {}
    reads: dict[int, dict | None] = {}
    lag: list[int] = []
    try:
        if started_here:
            network = init_state(state_dir, "default", free_base_port("default"))
            log(f"starting the default topology in {state_dir}")
            network.up(out=io.StringIO())
        else:
            network = Network.open(state_dir)
        eco = load(args.data, 100)
        selected = eco.select(args.limit or None)
        log(f"import: ProgrammableWeb, {len(selected)} services ({'all' if not args.limit else args.limit} APIs)")
        importer = Importer(network, eco, selected, args.import_concurrency, Progress(sys.stderr))
        summary, _ = run_import(importer, time.monotonic() + 3600)
        print(summary.render(), file=sys.stderr)
        if summary.failed:
            raise SystemExit(f"the import failed ({summary.failed} transactions)")

        gateway_node = network.topology.org("org1").gateway
        port = gateway_node.ports.listen
        block = wait_for_index(network, port)
        source = Path(gateways.config(network.topology, network.state, network.topology.org("org1"))["store"])
        source = source.parent / "index.db"
        with sqlite3.connect(source) as db:
            indexed = db.execute("SELECT count(*) FROM index_services").fetchone()[0]
        log(f"org1's index holds {indexed:,} services at block {block}")

        database = source
        if args.services > indexed:
            database = workdir / "index.db"
            extra = args.services - indexed
            log(f"growing a copy of the index by {extra:,} synthetic services (projection API, not the ledger)")
            started = time.monotonic()
            at = grow_index(source, database, eco, extra)
            grown = time.monotonic() - started
            port, pid_file = start_gateway(network, database, workdir)
            mode = (f"index: {indexed:,} services fed by the ledger (block {block}) + {extra:,} synthetic services "
                    f"applied in {grown:.0f} s through tdses.index.projection to a copy of org1's index database, "
                    f"as of block {at}; not on the ledger. Served by a second org1 gateway on :{port} that follows "
                    f"the ledger from the copy's checkpoint.")
        else:
            mode = f"index: {indexed:,} services, all fed by the ledger (block {block}); org1's gateway on :{port}"
        with sqlite3.connect(database) as db:
            services = db.execute("SELECT count(*) FROM index_services").fetchone()[0]
        url = f"http://127.0.0.1:{port}"
        log(mode)

        admin_token = gateways.admin_token_file(network.state, network.topology.org("org1")).read_text().strip()
        buyers = create_users(url, admin_token, args.users, f"{os.getpid()}")
        mix = query_mix(database, args.requests, args.seed)
        names = on_ledger(database)
        read_order = [names[i] for i in random.Random(args.seed).choices(range(len(names)), k=args.requests)]
        searches = [{"path": "/v1/services?" + urlencode(params), "token": buyers[i % args.users]}
                    for i, params in enumerate(mix)]
        single = [{"path": f"/v1/services/{name}", "token": buyers[i % args.users]}
                  for i, name in enumerate(read_order)]
        print(mode)
        print(f"gateway {url}; {services:,} services in the index, {len(names):,} available on the ledger; "
              f"{args.users} buyers; at most {args.requests} requests or {args.time_limit:.0f} s per measurement")
        print("search: GET /v1/services, a mix of q / q+category / category+max_price / q+max_price+QoS "
              "(served by the index)")
        for c in CONCURRENCIES:
            log(f"search at concurrency {c}")
            search[c] = measure(f"search c={c}", url, searches, c, args.requests, args.time_limit)
        print("single-service reads: GET /v1/services/{name} (served by the index)")
        for c in CONCURRENCIES:
            log(f"reads at concurrency {c}")
            reads[c] = measure(f"read c={c}", url, single, c, args.requests, args.time_limit)
        if args.lag_seconds > 0:
            log(f"index lag: {args.lag_seconds:.0f} s of purchases at concurrency {args.purchase_concurrency}")
            lag, outcomes = measure_lag(network, port, buyers, names, args.lag_seconds, args.purchase_concurrency,
                                        args.seed)
            purchased = sum(n for status, n in outcomes.items() if status < 300)
            print(f"index lag under purchases: {len(lag)} samples every 100 ms, blocks behind the ledger p50 "
                  f"{percentile(lag, 50)}, max {max(lag)}; {purchased} purchases committed "
                  f"({purchased / args.lag_seconds:.1f}/s), other answers {dict(sorted(outcomes.items()))}")
        print_targets(services, search, reads, lag)
        if args.plot:
            plot(args.plot, services, search, reads)
            log(f"plot written to {args.plot}")
    finally:
        if pid_file is not None:
            processes.stop(pid_file)
        shutil.rmtree(workdir, ignore_errors=True)
        if started_here:
            log("stopping and deleting the benchmark network")
            clean(state_dir)
            state_dir.parent.rmdir()


if __name__ == "__main__":
    main()
