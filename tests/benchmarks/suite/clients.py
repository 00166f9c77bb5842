"""One point's load through each client, closed loop, every client's figures in the load generator's summary shape:

- rest: org1's REST gateway, driven by the Go load generator (loadgen http), one API token per buyer;
- official: the official Go client fabric-gateway 1.7.1 (loadgen fabric), one gRPC connection to org1's peer0;
- python: the project's client (fabric_gateway.aio) in this process, one aio connection to the same peer.

Worker w of c keeps to buyers w, w+c, … (a buyer's purchases would conflict with each other on its balance). Every
client acts as the same number of distinct callers, the clients' identities (a peer's cost per request grows with
the number of callers it sees: its identity caches hold 100); REST takes more buyers only when c needs them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fabric_gateway import CommitError, GatewayError
from fabric_gateway.aio import Connection, Gateway
from tdses.local.network import Network
from tests.benchmarks import loadgen
from tests.benchmarks.suite.actors import Actors
from tests.benchmarks.suite.plan import Point
from tests.benchmarks.suite.results import summarize

MANY = 10_000_000  # requests: the points are bounded by time


def rest_requests(workload: str, service: str, buyers: list[tuple[str, str]]) -> list[dict]:
    """One request per buyer, as loadgen http reads them."""
    paths = {"query": lambda name: f"/v1/services/{service}/rights/{name}",
             "service": lambda name: f"/v1/services/{service}",
             "purchase": lambda name: f"/v1/services/{service}/rights"}
    requests = [{"method": "GET", "path": paths[workload](name), "token": token} for name, token in buyers]
    if workload == "purchase":
        for r in requests:
            r.update(method="POST", body={"calls": 1})
    return requests


def fabric_calls(workload: str, service: str, names: list[str]) -> list[dict]:
    """One call per buyer identity, as loadgen fabric reads them (and the Python client runs them)."""
    def call(i: int, name: str) -> dict:
        if workload == "query":
            return {"identity": i, "function": "GetSpecCallTime", "args": [service, name]}
        if workload == "service":
            return {"identity": i, "function": "QueryService", "args": [service]}
        return {"identity": i, "function": "CallService", "args": [service, "1"], "submit": True}
    return [call(i, name) for i, name in enumerate(names)]


@dataclass
class Target:
    network: Network
    url: str
    actors: Actors
    members: Path  # the client buyers' identities, as loadgen fabric reads them

    @property
    def peer(self):
        return self.network.topology.org("org1").peers[0]

    @property
    def tls_ca(self) -> Path:
        return self.network.state.tls_ca_cert(self.network.topology.org("org1"))


def run(point: Point, target: Target) -> dict:
    a = target.actors
    if point.client == "rest":
        buyers = a.rest_buyers[:max(point.concurrency, len(a.client_buyers))]
        return loadgen.run(target.url, rest_requests(point.workload, a.service, buyers), point.concurrency,
                           MANY, point.seconds)
    t = target.network.topology
    calls = fabric_calls(point.workload, a.service, [b.name for b in a.client_buyers])
    if point.client == "official":
        return loadgen.run_fabric(target.peer.address, target.tls_ca, target.members, calls, point.concurrency, MANY,
                                  point.seconds, t.channel, t.chaincode_name)
    return asyncio.run(run_python(target, calls, point.concurrency, point.seconds))


def python_failure_kind(error: BaseException) -> str:
    """The same names as loadgen fabric's: the step that failed and why."""
    if isinstance(error, CommitError):
        return f"commit: {error.code_name}"
    if isinstance(error, GatewayError):
        step = getattr(error, "step", "evaluate")
        message = error.chaincode_message or ""
        code = message.split(":", 1)[0] if ":" in message and message.split(":", 1)[0].isupper() else ""
        return f"{step}: {error.code.name}" + (f" ({code})" if code else "")
    return f"other: {type(error).__name__}"


async def run_python(target: Target, calls: list[dict], concurrency: int, seconds: float) -> dict:
    t = target.network.topology
    connection = Connection(target.peer.address, target.tls_ca.read_bytes())
    contracts = [Gateway.connect(connection, identity=b.identity, signer=b.signer).get_network(t.channel)
                 .get_contract(t.chaincode_name) for b in target.actors.client_buyers]
    ok: list[float] = []
    failed: list[float] = []
    failures: Counter = Counter()
    deadline = time.monotonic() + seconds

    async def worker(w: int) -> None:
        own = list(range(w, len(calls), concurrency)) or [w % len(calls)]  # as loadgen's requestIndex
        k = 0
        while time.monotonic() < deadline:
            call = calls[own[k % len(own)]]
            k += 1
            contract = contracts[call["identity"]]
            started = time.perf_counter()
            try:
                if call.get("submit"):
                    await contract.submit_transaction(call["function"], *call["args"])
                else:
                    await contract.evaluate_transaction(call["function"], *call["args"])
                ok.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 — every failure is counted by kind, none stops the load
                failed.append(time.perf_counter() - started)
                failures[python_failure_kind(error)] += 1

    started = time.monotonic()
    try:
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    finally:
        await connection.close()
    return summarize(ok, dict(failures), time.monotonic() - started, failed)
