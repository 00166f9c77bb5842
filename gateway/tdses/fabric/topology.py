"""The network's shape: organizations, their nodes, and where each node listens.

A topology file (network-config/topology/*.yaml) names organizations and node counts (and optionally the
orderers' batch timeout); everything else
(host names, addresses, ports) is derived here. On loopback a base port alone places a whole network,
so two networks with different base ports run side by side. Another Placement (tdses.k8s.placement) puts
each node elsewhere.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from tdses.fabric.errors import NetworkError
from tdses.paths import NETWORK_CONFIG

DOMAIN = "tdses.test"
LOOPBACK = "127.0.0.1"
# An organization's name is a DNS label in its host names, its Kubernetes namespace (tdses-<name>) and its
# nodes' certificates, whose common names (zookeeper2.<name>.tdses.test) must fit in 64 characters.
ORG_NAME = re.compile(r"[a-z]([a-z0-9-]{0,30}[a-z0-9])?")
MSP_ID = re.compile(r"[A-Za-z][A-Za-z0-9.-]{0,63}")  # no ':' or space: the chaincode's org:<MSP ID> accounts
CHANNEL = re.compile(r"[a-z][a-z0-9.-]{0,48}")  # Fabric's channel names (configtx.ValidateChannelID)
CHAINCODE_NAME = re.compile(r"[A-Za-z0-9]+([-_][A-Za-z0-9]+)*")  # Fabric's chaincode names


@dataclass(frozen=True)
class Ports:
    """The ports of one node; 0 where the node kind has no such port."""

    listen: int
    operations: int
    admin: int = 0  # orderer channel participation API
    chaincode: int = 0  # peer: where chaincode would call back (unused with CCaaS, but bound)
    quorum: int = 0  # ZooKeeper: followers connect to the leader here
    election: int = 0  # ZooKeeper: leader election

    def all(self) -> list[int]:
        return [p for p in (self.listen, self.operations, self.admin, self.chaincode, self.quorum, self.election) if p]


@dataclass(frozen=True)
class Node:
    # "orderer", "peer", "ca", "chaincode", "gateway" (the organization's REST gateway), or with Kafka
    # ordering "zookeeper" and "kafka" (a broker)
    kind: str
    name: str  # e.g. peer0.org1.tdses.test: the MSP identity's host name
    org: "Org"
    ports: Ports
    host: str = LOOPBACK  # how other nodes and clients reach it
    bind: str = LOOPBACK  # the interface it listens on

    @property
    def short_name(self) -> str:
        """peer0.org1, orderer1.orderer, ca.org2, chaincode.org3."""
        return self.name.removesuffix("." + DOMAIN)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.ports.listen}"

    def listen(self, port: int) -> str:
        return f"{self.bind}:{port}"


@dataclass
class Org:
    name: str
    msp_id: str
    is_orderer: bool = False
    nodes: list[Node] = field(default_factory=list)

    @property
    def domain(self) -> str:
        return f"{self.name}.{DOMAIN}"

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    @property
    def peers(self) -> list[Node]:
        return self.of_kind("peer")

    @property
    def orderers(self) -> list[Node]:
        return self.of_kind("orderer")

    @property
    def ca(self) -> Node:
        return self.of_kind("ca")[0]

    @property
    def chaincode(self) -> Node | None:
        found = self.of_kind("chaincode")
        return found[0] if found else None

    @property
    def gateway(self) -> Node | None:
        found = self.of_kind("gateway")
        return found[0] if found else None


ORDERING = ("etcdraft", "kafka")
# How long an orderer holds the first transaction of a block for more to join it (a topology may set
# orderer_org.batch_timeout_ms). A lone purchase waits all of it; under load each block costs every peer a
# validation and a commit. Measured against 500 ms on two networks side by side: one purchase commits in 139 ms
# instead of 540 ms (p50), and 128 buyers buy 112 % as much (91 % on a slower machine; README, "Ordering").
BATCH_TIMEOUT_MS = 100


@dataclass
class Topology:
    name: str
    channel: str
    chaincode_name: str
    chaincode_version: str
    orderer_org: Org
    orgs: list[Org]
    ordering: str = "etcdraft"  # or "kafka": orderers bootstrap a system channel and order through brokers
    batch_timeout_ms: int = BATCH_TIMEOUT_MS

    @property
    def all_orgs(self) -> list[Org]:
        return [self.orderer_org, *self.orgs]

    @property
    def nodes(self) -> list[Node]:
        """Every node in start order: CAs, ZooKeeper servers, brokers, orderers, chaincode servers, peers, REST
        gateways."""
        order = {"ca": 0, "zookeeper": 1, "kafka": 2, "orderer": 3, "chaincode": 4, "peer": 5, "gateway": 6}
        nodes = [n for org in self.all_orgs for n in org.nodes]
        return sorted(nodes, key=lambda n: order[n.kind])

    @property
    def peers(self) -> list[Node]:
        return [p for org in self.orgs for p in org.peers]

    @property
    def orderers(self) -> list[Node]:
        return self.orderer_org.orderers

    @property
    def zookeepers(self) -> list[Node]:
        return self.orderer_org.of_kind("zookeeper")

    @property
    def brokers(self) -> list[Node]:
        return self.orderer_org.of_kind("kafka")

    def node(self, short_name: str) -> Node:
        for n in self.nodes:
            if short_name in (n.short_name, n.name):
                return n
        raise NetworkError(f"no node named {short_name!r}; nodes: {', '.join(n.short_name for n in self.nodes)}")

    def org(self, name: str) -> Org:
        for o in self.all_orgs:
            if o.name == name or o.msp_id == name:
                return o
        raise NetworkError(f"no organization named {name!r}")

    def ports(self) -> list[int]:
        return [p for n in self.nodes for p in n.ports.all()]


TOPOLOGY_DIR = NETWORK_CONFIG / "topology"


def topology_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = TOPOLOGY_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(p.stem for p in TOPOLOGY_DIR.glob("*.yaml")))
    raise NetworkError(f"unknown topology {name_or_path!r}: give a file or one of {known}")


class Placement(Protocol):
    """Where the nodes of a topology run: each node's host, interface and ports."""

    def place(self, kind: str, host_label: str, org: Org) -> Node: ...

    def check(self, topology: Topology) -> None:
        """Raise NetworkError if the topology does not fit."""


class Loopback:
    """Every node on 127.0.0.1, on consecutive ports from base_port (in the order of the topology file)."""

    def __init__(self, base_port: int) -> None:
        self.base_port = base_port
        self._next = itertools.count(base_port)

    def _ports(self, kind: str) -> Ports:
        take = self._next.__next__
        if kind == "orderer":
            return Ports(listen=take(), admin=take(), operations=take())
        if kind == "peer":
            return Ports(listen=take(), chaincode=take(), operations=take())
        if kind == "ca":
            return Ports(listen=take(), operations=take())
        if kind == "zookeeper":
            return Ports(listen=take(), quorum=take(), election=take(), operations=0)
        return Ports(listen=take(), operations=0)

    def place(self, kind: str, host_label: str, org: Org) -> Node:
        return Node(kind, f"{host_label}.{org.domain}", org, self._ports(kind))

    def check(self, topology: Topology) -> None:
        if self.base_port < 1024 or max(topology.ports()) > 65535:
            raise NetworkError(f"base port {self.base_port} does not fit: the network needs ports "
                               f"{self.base_port}–{self.base_port + len(topology.ports()) - 1} within 1024–65535")


def load(name_or_path: str, base_port: int = 0, placement: Placement | None = None) -> Topology:
    """Read a topology file; place every node on consecutive loopback ports from base_port, or as placement says."""
    path = topology_path(name_or_path)
    placement = placement or Loopback(base_port)
    try:
        spec = yaml.safe_load(path.read_text())
        topology = _build(path.stem, spec, placement)
    except (KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise NetworkError(f"topology {path} is malformed: {exc}") from exc
    placement.check(topology)
    return topology


def _build(name: str, spec: dict, placement: Placement) -> Topology:
    node = placement.place

    o = spec["orderer_org"]
    orderer_org = Org(name=o["name"], msp_id=o["msp_id"], is_orderer=True)
    count = int(o["orderers"])
    if count < 1:
        raise ValueError("an orderer organization needs at least one orderer")
    for i in range(count):
        orderer_org.nodes.append(node("orderer", f"orderer{i}", orderer_org))
    orderer_org.nodes.append(node("ca", "ca", orderer_org))
    batch_timeout_ms = int(o.get("batch_timeout_ms", BATCH_TIMEOUT_MS))
    if not 1 <= batch_timeout_ms <= 10_000:
        raise ValueError(f"orderer_org.batch_timeout_ms {batch_timeout_ms} is not within 1–10000")
    ordering = spec.get("ordering", "etcdraft")
    if ordering not in ORDERING:
        raise ValueError(f"ordering {ordering!r} is none of {', '.join(ORDERING)}")
    if ordering == "kafka":
        cluster = spec["kafka"]
        for kind, key in (("zookeeper", "zookeepers"), ("kafka", "brokers")):
            if int(cluster[key]) < 1:
                raise ValueError(f"Kafka ordering needs at least one of kafka.{key}")
            for i in range(int(cluster[key])):
                orderer_org.nodes.append(node(kind, f"{kind}{i}", orderer_org))

    orgs = []
    for entry in spec["orgs"]:
        org = Org(name=entry["name"], msp_id=entry["msp_id"])
        peers = int(entry["peers"])
        if peers < 1:
            raise ValueError(f"organization {org.name} needs at least one peer")
        for i in range(peers):
            org.nodes.append(node("peer", f"peer{i}", org))
        org.nodes.append(node("ca", "ca", org))
        org.nodes.append(node("chaincode", "chaincode", org))
        org.nodes.append(node("gateway", "gateway", org))
        orgs.append(org)
    if not orgs:
        raise ValueError("a network needs at least one peer organization")
    names = [org.name for org in [orderer_org, *orgs]]
    if len(set(names)) != len(names):
        raise ValueError(f"organization names repeat: {names}")
    msp_ids = [org.msp_id for org in [orderer_org, *orgs]]
    if len(set(msp_ids)) != len(msp_ids):
        raise ValueError(f"MSP IDs repeat: {msp_ids}")
    for org in [orderer_org, *orgs]:
        if not isinstance(org.name, str) or not ORG_NAME.fullmatch(org.name):
            raise ValueError(f"organization name {org.name!r} must be 1-32 lower-case letters, digits or '-', "
                             "starting with a letter and not ending with '-'")
        if not isinstance(org.msp_id, str) or not MSP_ID.fullmatch(org.msp_id):
            raise ValueError(f"MSP ID {org.msp_id!r} must be 1-64 letters, digits, '.' or '-', starting with a letter")
    if not isinstance(spec["channel"], str) or not CHANNEL.fullmatch(spec["channel"]):
        raise ValueError(f"channel {spec['channel']!r} must be 1-49 lower-case letters, digits, '.' or '-', "
                         "starting with a letter")
    chaincode = spec["chaincode"]["name"]
    if not isinstance(chaincode, str) or not CHAINCODE_NAME.fullmatch(chaincode):
        raise ValueError(f"chaincode name {chaincode!r} must be letters and digits, with single '-' or '_' between")

    return Topology(
        name=name,
        channel=spec["channel"],
        chaincode_name=spec["chaincode"]["name"],
        chaincode_version=str(spec["chaincode"]["version"]),
        orderer_org=orderer_org,
        orgs=orgs,
        ordering=ordering,
        batch_timeout_ms=batch_timeout_ms,
    )
