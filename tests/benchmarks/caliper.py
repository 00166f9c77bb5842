"""Hyperledger Caliper as the yardstick: the service query and the purchase of one call, measured by Caliper 0.6.

    .venv/bin/python tests/benchmarks/caliper.py [--state-dir .state/network] [--seconds 30] [--workers 2]
        [--buyers 32] [--query-load 4] [--purchase-load 16] [--keep]

    figures = caliper.run(Path(".state/network"), seconds=30, workers=2)
    figures["purchase"]["throughput"]  # {"query": {...}, "purchase": {...}}: one dict of figures per round

Against a running network (`make run`'s, or any state directory), in a work directory of its own (0700, deleted at
the end unless --keep):

1. the world: a developer with a published service (price 1) and --buyers buyers spread over the organizations,
   each registered with its organization's fabric-ca-server (a key made here) and on chain (RegisterUser: the
   incentive pool's grant is their SToken);
2. Caliper's network configuration from the network's state: one connection profile per organization (its peers,
   TLS root), the identities (certificate and key files of the buyers, 0600), channel and chaincode;
3. the benchmark (tests/benchmarks/caliper/benchmark.yaml, our workload modules): a query round (QueryService,
   evaluated) and a purchase round (BuyCalls of 1 call, submitted and committed), each at a fixed load for
   --seconds; `caliper launch manager` runs it with --workers local workers, its progress shown as it goes;
4. Caliper's report.html, read into figures per round: successes, failures, send rate, latency (min, avg, max;
   from the proposal to the commit status for a purchase) and throughput, printed and returned.

Caliper itself comes from `make caliper-tools` (npm, cached by version in ~/.cache/tdses, bound to Fabric 2.5);
its pins are read from the Makefile. Caliper's throughput counts failed transactions too; `valid_tps` counts only
the successful ones (the Performance and Scale Working Group's throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODULES = Path(__file__).resolve().parent / "caliper"
BENCHMARK = MODULES / "benchmark.yaml"
ROUNDS = ("query", "purchase")
PRICE = 1  # SToken per call of the benchmark's service: a buyer's grant pays for hundreds of purchases
# Caliper's summary columns (caliper-core's report.js) and the keys we give them.
COLUMNS = {"Name": "name", "Succ": "succ", "Fail": "fail", "Send Rate (TPS)": "send_rate",
           "Max Latency (s)": "max_latency", "Min Latency (s)": "min_latency", "Avg Latency (s)": "avg_latency",
           "Throughput (TPS)": "throughput"}
# What of Caliper's output is progress worth showing: round starts and ends, the periodic counts, trouble.
PROGRESS = re.compile(r"Started round|Finished round|Transaction Info|error|Error|warn|All test results")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class CaliperUnavailable(RuntimeError):
    """Node.js, npm or Caliper itself is missing: the message says what to install."""


class CaliperFailed(RuntimeError):
    """Caliper ran but gave no report (its log's tail is in the message)."""


# --- the installation (Makefile's caliper-tools) ----------------------------------------------------------------

def make_variable(name: str, makefile: Path = ROOT / "Makefile") -> str:
    """A pin the Makefile sets with `NAME := value` (one source of truth for the version)."""
    match = re.search(rf"^{name}\s*:=\s*(\S+)", makefile.read_text(), re.MULTILINE)
    if not match:
        raise CaliperUnavailable(f"{makefile} sets no {name}")
    return match.group(1)


@dataclass(frozen=True)
class Installation:
    directory: Path
    version: str
    sut: str  # what it is bound to, e.g. fabric:2.5

    @classmethod
    def pinned(cls, cache_dir: Path | None = None) -> Installation:
        if cache_dir is None:
            cache_dir = Path(os.environ.get("TDSES_CACHE_DIR") or Path.home() / ".cache" / "tdses")
        version = make_variable("CALIPER_VERSION")
        return cls(cache_dir / f"caliper-{version}", version, make_variable("CALIPER_SUT"))

    @property
    def cli(self) -> Path:
        return self.directory / "node_modules" / ".bin" / "caliper"

    @property
    def marker(self) -> Path:
        """Written by `make caliper-tools` once the install and the bind are complete."""
        return self.directory / f".bound-{self.sut.replace(':', '-')}"

    def check(self) -> None:
        missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
        if missing:
            raise CaliperUnavailable(
                f"Caliper needs Node.js 20 and npm; not on the PATH: {', '.join(missing)}. Install Node.js "
                f"20 (e.g. Debian's nodejs and npm), then run `make caliper-tools`")
        if not self.marker.exists() or not self.cli.exists():
            raise CaliperUnavailable(
                f"Caliper {self.version} bound to {self.sut} is not installed in {self.directory}: "
                f"run `make caliper-tools` (npm, about 3 minutes the first time)")


# --- Caliper's network configuration, from the network's state ---------------------------------------------------

@dataclass(frozen=True)
class Member:
    """An identity Caliper signs as: its organization's MSP ID and the files of its certificate and key."""

    name: str
    msp_id: str
    certificate: Path
    private_key: Path


def connection_profile(topology, state, org) -> dict:
    """A common connection profile for one organization: its peers over TLS (the first is the one Caliper's
    peer-gateway connector talks to; the Fabric Gateway service there endorses on the others' peers)."""
    tls_root = str(state.tls_ca_cert(org))
    return {
        "name": f"{topology.name}-{org.name}",
        "version": "1.0.0",
        "client": {"organization": org.msp_id},
        "organizations": {org.msp_id: {"mspid": org.msp_id, "peers": [p.name for p in org.peers]}},
        "peers": {
            p.name: {
                "url": f"grpcs://{p.address}",
                "tlsCACerts": {"path": tls_root},
                # The certificate names the peer's host name; we dial its loopback address.
                "grpcOptions": {"ssl-target-name-override": p.name},
            }
            for p in org.peers
        },
    }


def network_config(topology, profiles: dict[str, Path], members: list[Member]) -> dict:
    """Caliper's network configuration (version 2.0): the channel and chaincode, and for every organization with a
    member its identities and connection profile."""
    by_msp = {org.msp_id: org for org in topology.orgs}
    unknown = sorted({m.msp_id for m in members} - by_msp.keys())
    if unknown:
        raise ValueError(f"members of organizations the network does not have: {', '.join(unknown)}")
    organizations = []
    for org in topology.orgs:
        mine = [m for m in members if m.msp_id == org.msp_id]
        if not mine:
            continue
        organizations.append({
            "mspid": org.msp_id,
            "identities": {"certificates": [
                {"name": m.name, "clientPrivateKey": {"path": str(m.private_key)},
                 "clientSignedCert": {"path": str(m.certificate)}}
                for m in mine
            ]},
            "connectionProfile": {"path": str(profiles[org.name])},
        })
    if not organizations:
        raise ValueError("no member to sign with")
    return {
        "name": f"tdses-{topology.name}",
        "version": "2.0.0",
        "caliper": {"blockchain": "fabric"},
        "channels": [{"channelName": topology.channel, "contracts": [{"id": topology.chaincode_name}]}],
        "organizations": organizations,
    }


def write_private(path: Path, text: str | bytes) -> Path:
    """A file only its owner may read (created so: never a moment with wider permissions)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps its mode through O_CREAT
    with os.fdopen(fd, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)
    return path


def write_network(topology, state, members: list[Member], workdir: Path) -> Path:
    """The connection profiles and the network configuration in workdir; returns the configuration's path."""
    profiles = {}
    for org in topology.orgs:
        if not state.tls_ca_cert(org).is_file():
            raise FileNotFoundError(f"no TLS root at {state.tls_ca_cert(org)}: is the network initialized?")
        profiles[org.name] = write_private(workdir / f"connection-{org.name}.json",
                                           json.dumps(connection_profile(topology, state, org), indent=2))
    config = network_config(topology, profiles, members)
    return write_private(workdir / "network.yaml", yaml.safe_dump(config, sort_keys=False))


# --- the benchmark ------------------------------------------------------------------------------------------------

def benchmark_config(base: dict, *, channel: str, contract: str, service: str, buyers: list[Member], workers: int,
                     seconds: int, loads: dict[str, int]) -> dict:
    """benchmark.yaml with this run's world and bounds filled in; the workload modules by absolute path."""
    if workers < 1 or seconds < 1:
        raise ValueError("workers and seconds must be at least 1")
    if len(buyers) < workers:
        raise ValueError(f"{len(buyers)} buyers for {workers} workers: each worker needs a buyer of its own")
    config = copy.deepcopy(base)
    config["test"]["workers"] = {"number": workers}
    labels = [r["label"] for r in config["test"]["rounds"]]
    if sorted(labels) != sorted(loads):
        raise ValueError(f"loads for {sorted(loads)}, but the benchmark's rounds are {labels}")
    for round_ in config["test"]["rounds"]:
        load = loads[round_["label"]]
        if load < 1:
            raise ValueError(f"the {round_['label']} round's load must be at least 1")
        round_["txDuration"] = seconds
        round_["rateControl"]["opts"]["transactionLoad"] = load
        workload = round_["workload"]
        workload["module"] = str(MODULES / workload["module"])
        arguments = workload["arguments"]
        arguments.update(channel=channel, contract=contract, service=service,
                         buyers=[{"name": b.name, "mspId": b.msp_id} for b in buyers])
        if "maxPrice" in arguments:
            arguments["maxPrice"] = PRICE
    return config


# --- Caliper's report ---------------------------------------------------------------------------------------------

class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts, with the id of the nearest enclosing element that has one."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str | None, list[list[str]]]] = []
        self._ids: list[str | None] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in ("div", "section", "body"):
            self._ids.append(dict(attrs).get("id"))
        elif tag == "table":
            enclosing = next((i for i in reversed(self._ids) if i), None)
            self.tables.append((enclosing, []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("div", "section", "body") and self._ids:
            self._ids.pop()
        elif tag in ("td", "th") and self._cell is not None:
            if self.tables and self.tables[-1][1]:
                self.tables[-1][1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _number(text: str) -> float | None:
    """Caliper writes '-' (no successful transaction) or 'N/A' where it has no figure."""
    try:
        return float(text)
    except ValueError:
        return None


def parse_report(html: str) -> dict[str, dict]:
    """The summary table of Caliper's report.html: {round label: figures}. Latencies in seconds, rates in
    transactions per second; valid_tps is the throughput of successful transactions alone."""
    parser = _Tables()
    parser.feed(html)
    summary = next((rows for where, rows in parser.tables if where == "benchmarksummary"), None)
    if summary is None:
        raise ValueError("the report has no summary table (id benchmarksummary): did every round fail to start?")
    rows = [r for r in summary if r]
    if not rows or rows[0][:1] != ["Name"]:
        raise ValueError(f"the report's summary table does not start with Caliper's header: {rows[:1]}")
    head = rows[0]
    missing = [c for c in COLUMNS if c not in head]
    if missing:
        raise ValueError(f"the report's summary table lacks {', '.join(missing)}")
    figures: dict[str, dict] = {}
    for row in rows[1:]:
        cells = dict(zip(head, row))
        entry: dict = {}
        for column, key in COLUMNS.items():
            value = cells.get(column, "")
            entry[key] = value if key == "name" else _number(value)
        for key in ("succ", "fail"):
            entry[key] = int(entry[key] or 0)
        done = entry["succ"] + entry["fail"]
        throughput = entry["throughput"]
        entry["valid_tps"] = round(throughput * entry["succ"] / done, 1) if throughput is not None and done else None
        figures[entry.pop("name")] = entry
    return figures


def render(figures: dict[str, dict]) -> str:
    lines = [f"{'round':<9} {'succ':>6} {'fail':>5} {'send TPS':>9} {'TPS':>7} {'valid TPS':>9} "
             f"{'avg s':>7} {'min s':>7} {'max s':>7}"]

    def show(value) -> str:
        return "-" if value is None else f"{value:g}"

    for label, f in figures.items():
        lines.append(f"{label:<9} {f['succ']:>6} {f['fail']:>5} {show(f['send_rate']):>9} {show(f['throughput']):>7} "
                     f"{show(f['valid_tps']):>9} {show(f['avg_latency']):>7} {show(f['min_latency']):>7} "
                     f"{show(f['max_latency']):>7}")
    return "\n".join(lines)


# --- the world: a developer, a published service, buyers with SToken ----------------------------------------------

@dataclass
class World:
    service: str
    developer: Member
    buyers: list[Member]
    balances: dict[str, int]  # each buyer's SToken before the rounds


async def prepare_world(network, workdir: Path, buyers: int, tag: str, say) -> World:
    """Enroll the developer and the buyers with their organizations' CAs (keys written to workdir, 0600), register
    them on chain, register and publish the service; every write is on every peer when this returns."""
    from fabric_ca import AsyncCAClient
    from fabric_gateway import EcdsaSigner, Identity
    from fabric_gateway.aio import ChannelPeers, Connection, Gateway
    from tdses.chaincode import Chaincode
    from tdses.ecosystem.running import TIMEOUTS, Calls
    from tdses.fabric.nodes import ca_name

    topology, state = network.topology, network.state
    orgs = topology.orgs
    wanted = [(f"caliper-{tag}-dev", orgs[0])]
    wanted += [(f"caliper-{tag}-buyer-{i:03d}", orgs[i % len(orgs)]) for i in range(buyers)]
    channel_peers = ChannelPeers(network.channel_peers())
    connections = {org.name: Connection([p.address for p in org.peers], state.tls_ca_cert(org)) for org in orgs}
    members: dict[str, Member] = {}
    chaincodes: dict[str, Chaincode] = {}
    (workdir / "identities").mkdir(mode=0o700, exist_ok=True)
    try:
        say(f"enrolling {len(wanted)} identities with the organizations' CAs ({', '.join(o.name for o in orgs)})")
        for org in orgs:
            mine = [name for name, o in wanted if o is org]
            async with AsyncCAClient(f"https://{org.ca.address}", state.tls_ca_cert(org).read_bytes(),
                                     ca_name=ca_name(org.ca), timeout=30) as ca:
                registrar = await ca.enroll("admin", state.registrar_secret(org).read_text().strip())
                for name in mine:
                    secret = await ca.register(registrar, name, type="client")
                    enrollment = await ca.enroll(name, secret)
                    home = workdir / "identities" / name
                    members[name] = Member(name, org.msp_id, write_private(home / "cert.pem", enrollment.certificate),
                                           write_private(home / "key.pem", enrollment.key_pem()))
                    gateway = Gateway(connections[org.name], Identity(org.msp_id, enrollment.certificate),
                                      EcdsaSigner(enrollment.key), timeouts=TIMEOUTS, channel_peers=channel_peers)
                    contract_network = gateway.get_network(topology.channel)
                    chaincodes[name] = Chaincode(Calls(contract_network,
                                                       contract_network.get_contract(topology.chaincode_name)))

        say(f"registering {len(wanted)} users on chain (RegisterUser: the incentive pool's grant is their SToken)")
        slots = asyncio.Semaphore(8)

        async def register(name: str) -> None:
            async with slots:
                await chaincodes[name].register_user(name, "Caliper benchmark user")

        await asyncio.gather(*(register(name) for name, _ in wanted))
        developer_name = wanted[0][0]
        service = f"caliper-{tag}"
        say(f"{developer_name} registers and publishes {service} (price {PRICE})")
        developer = chaincodes[developer_name]
        await developer.register_service({"name": service, "category": "benchmark", "price": PRICE,
                                          "url": f"https://caliper.example/{tag}",
                                          "description": "the service Caliper queries and buys"})
        await developer.publish_service(service)
        buyer_names = [name for name, _ in wanted[1:]]
        balances = {name: (await developer.balance_of(name))["balance"] for name in buyer_names}
        return World(service, members[developer_name], [members[n] for n in buyer_names], balances)
    finally:
        for connection in connections.values():
            await connection.close()
        await channel_peers.close()


# --- running Caliper ----------------------------------------------------------------------------------------------

def launch(install: Installation, workdir: Path, network_file: Path, benchmark_file: Path, time_limit: float,
           say) -> Path:
    """`caliper launch manager` in workdir, its progress passed on; returns report.html. Stopped (its whole process
    group: the manager and its workers) if it outlives time_limit."""
    log_path = workdir / "caliper.log"
    report = workdir / "report.html"
    command = [str(install.cli), "launch", "manager",
               "--caliper-workspace", str(workdir),
               "--caliper-networkconfig", str(network_file),
               "--caliper-benchconfig", str(benchmark_file),
               "--caliper-report-path", str(report),
               "--caliper-flow-only-test"]
    # The workload modules live in this repository; their require('@hyperledger/caliper-core') resolves here.
    env = {**os.environ, "NODE_PATH": str(install.directory / "node_modules")}
    deadline = time.monotonic() + time_limit
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, start_new_session=True)
        timed_out = False
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                plain = ANSI.sub("", line).rstrip()
                if PROGRESS.search(plain):
                    say("caliper: " + plain.split("\t")[-1].strip())
                if time.monotonic() > deadline:
                    timed_out = True
                    break
            if timed_out:
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=max(5.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    tail = "".join(log_path.read_text().splitlines(keepends=True)[-30:])
    if timed_out:
        raise CaliperFailed(f"Caliper did not finish within {time_limit:.0f} s; its log's tail:\n{tail}")
    if process.returncode != 0 or not report.exists():
        raise CaliperFailed(f"Caliper exited with {process.returncode} and no report; its log's tail:\n{tail}")
    return report


def run(state_dir: Path, seconds: int = 30, workers: int = 2, buyers: int | None = None, query_load: int = 4,
        purchase_load: int = 16, keep: bool = False, say=None) -> dict:
    """Prepare the world on the network in state_dir, run the query and purchase rounds under Caliper (each for
    `seconds`), print the figures and return them: {"query": {...}, "purchase": {...}, "run": {...}}."""
    from tdses.local.network import Network

    if say is None:
        def say(text: str) -> None:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    install = Installation.pinned()
    install.check()
    network = Network.open(Path(state_dir).resolve())  # Caliper resolves relative paths against its workspace
    # Enough buyers that a worker always has one with no purchase in flight (the same buyer's second purchase
    # before the first commits would conflict with it).
    buyers = buyers or max(2 * purchase_load, workers)
    tag = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix="tdses-caliper-"))  # 0700: it holds the buyers' keys
    started = time.monotonic()
    try:
        world = asyncio.run(prepare_world(network, workdir, buyers, tag, say))
        say(f"{len(world.buyers)} buyers ready with {min(world.balances.values())}–{max(world.balances.values())} "
            f"SToken each; world prepared in {time.monotonic() - started:.0f} s")
        network_file = write_network(network.topology, network.state, [world.developer, *world.buyers], workdir)
        config = benchmark_config(
            yaml.safe_load(BENCHMARK.read_text()), channel=network.topology.channel,
            contract=network.topology.chaincode_name, service=world.service, buyers=world.buyers, workers=workers,
            seconds=seconds, loads={"query": query_load, "purchase": purchase_load})
        benchmark_file = write_private(workdir / "benchmark.yaml", yaml.safe_dump(config, sort_keys=False))
        rounds = len(config["test"]["rounds"])
        say(f"caliper {install.version}: {rounds} rounds of {seconds} s, {workers} workers, "
            f"load {query_load} (query) / {purchase_load} (purchase) transactions in flight")
        report = launch(install, workdir, network_file, benchmark_file, time_limit=rounds * seconds * 2 + 180,
                        say=say)
        figures = parse_report(report.read_text())
        failed = [r["label"] for r in config["test"]["rounds"] if r["label"] not in figures]
        if failed:
            raise CaliperFailed(f"Caliper reports no figures for round(s) {', '.join(failed)}: see the errors above "
                                f"(--keep keeps its caliper.log)")
        print(render(figures), flush=True)
        figures["run"] = {"seconds": seconds, "workers": workers, "buyers": len(world.buyers),
                          "query_load": query_load, "purchase_load": purchase_load, "service": world.service,
                          "caliper": install.version, "elapsed": round(time.monotonic() - started, 1),
                          "report": str(report) if keep else None}
        return figures
    finally:
        if keep:
            say(f"kept {workdir} (report.html, caliper.log, configurations; the buyers' keys: delete it when done)")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--state-dir", type=Path, default=Path(os.environ.get("TDSES_STATE_DIR", ".state/network")))
    p.add_argument("--seconds", type=int, default=30, help="duration of each round")
    p.add_argument("--workers", type=int, default=2, help="Caliper's local workers")
    p.add_argument("--buyers", type=int, default=None, help="buyers to spread the load over (default: 2 x the "
                                                            "purchase load)")
    p.add_argument("--query-load", type=int, default=4, help="queries in flight (fixed-load rate control)")
    p.add_argument("--purchase-load", type=int, default=16, help="purchases in flight")
    p.add_argument("--keep", action="store_true", help="keep the work directory (report.html, caliper.log)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON at the end")
    a = p.parse_args(argv)
    from tdses.fabric.errors import NetworkError

    try:
        figures = run(a.state_dir, a.seconds, a.workers, a.buyers, a.query_load, a.purchase_load, a.keep)
    except (CaliperUnavailable, NetworkError) as error:
        print(f"caliper: {error}", file=sys.stderr)
        return 2
    except CaliperFailed as error:
        print(f"caliper: {error}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
