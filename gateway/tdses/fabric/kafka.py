"""Kafka ordering's brokers and ZooKeeper servers: their settings, jars, configuration and health.

network-config/kafka/kafka.yaml is the one source of the settings (Kafka version, replication, broker and
ZooKeeper properties, the protocol version the orderers speak); the local network runs the brokers and
servers as plain Java processes from jars Maven resolves by network-config/kafka/pom.xml, cached by version
like the Fabric binaries; the Kubernetes overlay reads the same settings.
"""

from __future__ import annotations

import shutil
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from tdses import buildcache
from tdses.fabric.errors import NetworkError
from tdses.fabric.topology import Node, Topology
from tdses.paths import CACHE_DIR, NETWORK_CONFIG

KAFKA_CONFIG = NETWORK_CONFIG / "kafka"


@dataclass(frozen=True)
class Settings:
    version: str
    scala: str
    protocol: str  # the Kafka protocol version the orderers speak (Kafka.Version)
    replication_factor: int
    min_insync_replicas: int
    broker: dict
    zookeeper: dict
    heap: str


@cache
def settings() -> Settings:
    spec = yaml.safe_load((KAFKA_CONFIG / "kafka.yaml").read_text())
    return Settings(
        version=str(spec["version"]),
        scala=str(spec["scala"]),
        protocol=str(spec["protocol"]),
        replication_factor=int(spec["replication_factor"]),
        min_insync_replicas=int(spec["min_insync_replicas"]),
        broker=dict(spec["broker"]),
        zookeeper=dict(spec["zookeeper"]),
        heap=str(spec["heap"]),
    )


def broker_settings() -> dict[str, str]:
    """Every broker's settings that do not depend on where it runs, as server.properties has them."""
    s = settings()
    return _strings({
        "default.replication.factor": s.replication_factor,
        "offsets.topic.replication.factor": s.replication_factor,
        "transaction.state.log.replication.factor": s.replication_factor,
        "min.insync.replicas": s.min_insync_replicas,
        "transaction.state.log.min.isr": s.min_insync_replicas,
        **s.broker,
    })


def _strings(values: dict) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items()}


# --- the jars ------------------------------------------------------------------------------------------


def jars_dir() -> Path:
    s = settings()
    return CACHE_DIR / f"kafka_{s.scala}-{s.version}" / "libs"


def installed() -> bool:
    return any(jars_dir().glob(f"kafka_{settings().scala}-{settings().version}.jar"))


def install(out=sys.stderr) -> Path:
    """Resolve the broker's and ZooKeeper's jars from Maven Central into the cache unless they are there."""
    libs = jars_dir()
    if installed():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise NetworkError("Maven is not installed: Kafka ordering resolves its jars with mvn (Maven 3, Java 17)")
    buildcache.ensure(libs, installed, lambda staging: _resolve(mvn, libs, staging, out), out)
    return libs


def _resolve(mvn: str, libs: Path, into: Path, out) -> None:
    s = settings()
    print(f"resolving Apache Kafka {s.version} (Scala {s.scala}) from Maven Central into {libs}", file=out, flush=True)
    result = subprocess.run(
        [mvn, "-B", "-q", "-f", str(KAFKA_CONFIG / "pom.xml"), "dependency:copy-dependencies",
         f"-Dkafka.version={s.version}", f"-Dscala.binary={s.scala}", "-DincludeScope=runtime",
         f"-DoutputDirectory={into}"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise NetworkError(f"resolving Kafka {s.version} failed: {(result.stdout + result.stderr).strip()[-3000:]}")


def java() -> str:
    found = shutil.which("java")
    if found is None:
        raise NetworkError("Java is not installed: the Kafka brokers and ZooKeeper servers need Java 17")
    return found


# --- a broker's and a ZooKeeper server's configuration ------------------------------------------------------


def zookeeper_connect(topology: Topology) -> str:
    return ",".join(z.address for z in topology.zookeepers)


def broker_properties(node: Node, topology: Topology, data: Path) -> dict[str, str]:
    return {
        "broker.id": str(topology.brokers.index(node)),
        "listeners": f"PLAINTEXT://{node.listen(node.ports.listen)}",
        "advertised.listeners": f"PLAINTEXT://{node.address}",
        "zookeeper.connect": zookeeper_connect(topology),
        "log.dirs": str(data / "logs"),
        **broker_settings(),
    }


def zookeeper_properties(node: Node, topology: Topology, data: Path) -> dict[str, str]:
    servers = {myid(z, topology): f"{z.host}:{z.ports.quorum}:{z.ports.election}" for z in topology.zookeepers}
    return {
        "dataDir": str(data),
        "clientPort": str(node.ports.listen),
        "clientPortAddress": node.bind,
        "quorumListenOnAllIPs": "false",
        **zookeeper_settings(servers),
    }


def zookeeper_settings(servers: dict[int, str]) -> dict[str, str]:
    """A ZooKeeper server's settings besides its ports and data: the ensemble (myid -> host:quorum:election)."""
    return {
        "admin.enableServer": "false",
        "4lw.commands.whitelist": "srvr",  # what the runner and the probes ask
        **{f"server.{i}": address for i, address in servers.items()},
        **_strings(settings().zookeeper),
    }


def myid(node: Node, topology: Topology) -> int:
    return topology.zookeepers.index(node) + 1


def properties_text(values: dict[str, str]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


# Log to standard output: the runner keeps each process's output as its log.
LOG4J = """log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.zookeeper.server.NIOServerCnxn=WARN
"""

MAIN_CLASS = {"kafka": "kafka.Kafka", "zookeeper": "org.apache.zookeeper.server.quorum.QuorumPeerMain"}


def write_config(node: Node, topology: Topology, config_dir: Path, data: Path) -> Path:
    """Write a broker's server.properties or a ZooKeeper server's configuration (and myid); return its path."""
    config_dir.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    (config_dir / "log4j.properties").write_text(LOG4J)
    if node.kind == "kafka":
        values = broker_properties(node, topology, data)
    else:
        values = zookeeper_properties(node, topology, data)
        (data / "myid").write_text(f"{myid(node, topology)}\n")
    path = config_dir / f"{node.short_name}.properties"
    path.write_text(properties_text(values))
    return path


def command(node: Node, config: Path) -> list[str]:
    heap = settings().heap
    return [
        java(), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{config.parent / 'log4j.properties'}",
        "-cp", f"{jars_dir()}/*", MAIN_CLASS[node.kind], str(config),
    ]


# --- the orderers ------------------------------------------------------------------------------------------


def orderer_env(genesis_block: Path) -> dict[str, str]:
    """What a Kafka orderer adds to tdses.fabric.nodes.orderer_env: start from the system channel and speak
    the brokers' protocol."""
    s = settings()
    return {
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "file",
        "ORDERER_GENERAL_BOOTSTRAPFILE": str(genesis_block),
        # Channels come from the system channel here, not from the channel participation API.
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "false",
        "ORDERER_KAFKA_VERSION": s.protocol,
        "ORDERER_KAFKA_TOPIC_REPLICATIONFACTOR": str(s.replication_factor),
        "FABRIC_LOGGING_SPEC": "info:orderer.consensus.kafka.sarama=warning:comm.grpc.server=warning",
    }


# --- health ------------------------------------------------------------------------------------------------


def broker_ready(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> bool:
    """A broker answers an ApiVersions request once it processes requests (its port opens earlier)."""
    client = b"tdses"
    header = struct.pack(">hhih", 18, 0, 1, len(client)) + client  # ApiVersions v0, correlation id 1
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(header)) + header)
            answer = _read(s, 10)
    except OSError:
        return False
    _, correlation, error = struct.unpack(">iih", answer)
    return correlation == 1 and error == 0


def zookeeper_serving(port: int, host: str = "127.0.0.1") -> bool:
    """A ZooKeeper server serves once it is part of a quorum."""
    return zookeeper_mode(port, host) is not None


def zookeeper_mode(port: int, host: str = "127.0.0.1", timeout: float = 2.0) -> str | None:
    """"leader", "follower" (or "standalone") from `srvr`; None while the server is not in a quorum."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b"srvr")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
    except OSError:
        return None
    for line in answer.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line.removeprefix("Mode: ").strip()
    return None


def _read(s: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = s.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data
