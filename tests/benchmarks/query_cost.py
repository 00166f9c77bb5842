"""Benchmark: where a query's CPU goes — the REST gateway's CPU per query beside the floors of its parts.

    .venv/bin/python -m tests.benchmarks.query_cost [--state-dir .state/network] [--seconds 15] [--concurrency 128]

On the running network (`make run`), one after the other, the same query (a user's call-time rights on a service,
GetSpecCallTime, evaluated on org1's peer0) at the same concurrency:

    rest gateway     GET /v1/services/{name}/rights/{user}: the gateway process's CPU per query
    rest healthz     GET /healthz: the gateway's HTTP stack alone (uvicorn, middleware, FastAPI's routing)
    python client    fabric_gateway.aio: build, sign, evaluate (this process's CPU per query)
    bare grpc.aio    Gateway.Evaluate of requests built and signed beforehand: gRPC's own cost (this process)
    build and sign   a proposal built and signed, no network (this process, one at a time)
    official client  the Go client (loadgen fabric; its process's CPU per query)

CPU is user + system time of every thread of the process, divided by the queries answered. The buyers are the
benchmark suite's (kept in the network's state directory). Progress on stderr; the table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

from fabric_gateway.aio import Connection, Gateway
from fabric_protos.gateway import gateway_pb2_grpc
from tdses.fabric import gateways
from tdses.local import processes
from tdses.local.network import Network
from tdses.paths import DEFAULT_STATE_DIR
from tests.benchmarks import loadgen
from tests.benchmarks.suite import actors, clients
from tests.benchmarks.suite.clients import MANY
from tests.benchmarks.suite.cpu import cpu_seconds
from tests.benchmarks.suite.results import errors_by_kind

QUERY = "GetSpecCallTime"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def closed_loop(call, count: int, concurrency: int, seconds: float) -> int:
    """`concurrency` workers, each calling call(i) for its own i in turn until the time is up: the calls answered."""
    answered = 0
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        nonlocal answered
        k = w
        while time.monotonic() < deadline:
            await call(k % count)
            answered += 1
            k += concurrency

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return answered


async def python_client(target: clients.Target, concurrency: int, seconds: float, bare: bool) -> tuple[int, float]:
    network = target.network.topology
    buyers = target.actors.client_buyers
    connection = Connection(target.peer.address, target.tls_ca.read_bytes())
    try:
        contracts = [Gateway.connect(connection, identity=b.identity, signer=b.signer)
                     .get_network(network.channel).get_contract(network.chaincode_name) for b in buyers]
        service = target.actors.service
        if bare:
            requests = [c.new_proposal(QUERY, service, b.name).evaluate_request() for c, b in zip(contracts, buyers)]
            stub = gateway_pb2_grpc.GatewayStub(connection.channel(0))

            async def call(i: int) -> None:
                await stub.Evaluate(requests[i], timeout=30)
        else:
            async def call(i: int) -> None:
                await contracts[i].evaluate_transaction(QUERY, service, buyers[i].name)

        await closed_loop(call, len(buyers), concurrency, 2.0)  # warm: connection, TLS, the peer's caches
        before = own_cpu()
        answered = await closed_loop(call, len(buyers), concurrency, seconds)
        return answered, own_cpu() - before
    finally:
        await connection.close()


def build_and_sign(target: clients.Target, seconds: float) -> tuple[int, float]:
    network = target.network.topology
    buyer = target.actors.client_buyers[0]
    contract = Gateway(Connection(target.peer.address, target.tls_ca.read_bytes()), buyer.identity,
                       buyer.signer).get_network(network.channel).get_contract(network.chaincode_name)
    built = 0
    before = own_cpu()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            contract.new_proposal(QUERY, target.actors.service, buyer.name).evaluate_request()
        built += 100
    return built, own_cpu() - before


def rest(target: clients.Target, gateway_pid: int | None, requests: list[dict], concurrency: int,
         seconds: float) -> tuple[int, float]:
    before = cpu_seconds(gateway_pid)
    summary = loadgen.run(target.url, requests, concurrency, MANY, seconds)
    after = cpu_seconds(gateway_pid)
    if before is None or after is None:
        raise SystemExit("the REST gateway's process is not running")
    if errors_by_kind(summary):
        log(f"    errors: {errors_by_kind(summary)}")
    return summary["ok"], after - before


def official(target: clients.Target, concurrency: int, seconds: float) -> tuple[int, float]:
    network = target.network.topology
    calls = clients.fabric_calls("query", target.actors.service, [b.name for b in target.actors.client_buyers])
    before = children_cpu()
    summary = loadgen.run_fabric(target.peer.address, target.tls_ca, target.members, calls, concurrency, MANY,
                                 seconds, network.channel, network.chaincode_name)
    return summary["ok"], children_cpu() - before


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.benchmarks.query_cost", description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="the running network (make run's)")
    p.add_argument("--seconds", type=float, default=15.0, help="seconds per line")
    p.add_argument("--concurrency", type=int, default=128)
    a = p.parse_args(argv)
    if not (1 <= a.seconds <= 300 and 1 <= a.concurrency <= 1024):
        p.error("--seconds 1..300, --concurrency 1..1024")
    network = Network.open(a.state_dir)
    org = network.topology.org("org1")
    url = f"http://127.0.0.1:{org.gateway.ports.listen}"
    admin_token = gateways.admin_token_file(network.state, org).read_text().strip()
    cast = actors.load_or_create(network, url, admin_token, time.strftime("%H%M%S"), a.concurrency, a.concurrency,
                                 log)
    gateway_pid = processes.running_pid(network.state.pid_file(org.gateway))
    loadgen.build()  # before any child's CPU is counted
    with tempfile.TemporaryDirectory(prefix="tdses-query-cost-") as scratch:
        target = clients.Target(network, url, cast, cast.write_members(Path(scratch) / "members.json"))
        lines = {
            "rest gateway": lambda: rest(target, gateway_pid, clients.rest_requests("query", cast.service,
                                                                                     cast.rest_buyers),
                                         a.concurrency, a.seconds),
            "rest healthz": lambda: rest(target, gateway_pid, [{"method": "GET", "path": "/healthz"}], a.concurrency,
                                         a.seconds),
            "python client": lambda: asyncio.run(python_client(target, a.concurrency, a.seconds, bare=False)),
            "bare grpc.aio": lambda: asyncio.run(python_client(target, a.concurrency, a.seconds, bare=True)),
            "build and sign": lambda: build_and_sign(target, a.seconds),
            "official client": lambda: official(target, a.concurrency, a.seconds),
        }
        rows = []
        for i, (name, run) in enumerate(lines.items(), 1):
            log(f"[{i}/{len(lines)}] {name} for {a.seconds:.0f} s")
            answered, cpu = run()
            rows.append((name, answered / a.seconds, 1e6 * cpu / answered if answered else float("nan")))
    print(f"| c = {a.concurrency}, {a.seconds:.0f} s each | per second | CPU µs per query |")
    print("| --- | --- | --- |")
    for name, rate, micros in rows:
        print(f"| {name} | {rate:,.0f} | {micros:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
