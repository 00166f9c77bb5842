"""Kafka ordering on Kubernetes: the system channel's artifacts, the brokers' and ZooKeeper servers'
configuration, and what a Kafka orderer adds to its environment.

The settings (Kafka version, replication, broker and ZooKeeper properties, the orderers' protocol version) are
those of the local network: network-config/kafka/kafka.yaml, read by tdses.fabric.kafka; the channel profiles
are tdses.fabric.systemchannel's. Brokers and ZooKeeper servers run the Apache Kafka image of that version.
"""

from __future__ import annotations

from pathlib import Path

from tdses.fabric import kafka, systemchannel
from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import Topology
from tdses.k8s.errors import KubernetesError
from tdses.k8s.layout import CHANNEL
from tdses.k8s.placement import namespace

GENESIS_PROFILE = systemchannel.GENESIS_PROFILE
CHANNEL_PROFILE = systemchannel.CHANNEL_PROFILE
CONSORTIUM = systemchannel.CONSORTIUM
SYSTEM_CHANNEL = systemchannel.SYSTEM_CHANNEL
BROKERS = 3  # replicas of the kafka StatefulSet in k8s/components/kafka/kafka.yaml
ZOOKEEPERS = 3  # replicas of the zookeeper StatefulSet in k8s/components/kafka/zookeeper.yaml
BROKER_PORT = 9092
ZOOKEEPER_PORTS = (2181, 2888, 3888)  # client, quorum, election
ZOOKEEPER_DATA = "/var/lib/zookeeper/data"
BROKER_DATA = "/var/lib/kafka/data/logs"  # a subdirectory: the volume's root may hold lost+found
GENESIS_BLOCK = "genesis.block"
IMAGE = "apache/kafka"  # brokers and ZooKeeper servers alike: the distribution ships both


def image_tag() -> str:
    return kafka.settings().version


def brokers(topology: Topology) -> list[str]:
    """The brokers' stable DNS names: pods kafka-<n> of the headless Service kafka in the orderer namespace."""
    ns = namespace(topology.orderer_org)
    return [f"kafka-{i}.kafka.{ns}.svc.cluster.local:{BROKER_PORT}" for i in range(BROKERS)]


def kafka_configtx(topology: Topology, state: State) -> dict:
    return systemchannel.kafka_configtx(topology, state, brokers(topology))


def system_genesis_block(state: State) -> Path:
    return systemchannel.system_genesis_block(state)


def channel_tx(state: State, channel: str) -> Path:
    return systemchannel.channel_tx(state, channel)


def write_artifacts(topology: Topology, state: State, configtxgen: Path) -> None:
    """The system channel's genesis block and the application channel's creation transaction."""
    try:
        systemchannel.write_artifacts(topology, state, configtxgen, brokers(topology))
    except NetworkError as error:
        raise KubernetesError(str(error)) from None


def config_files() -> dict[str, str]:
    """ConfigMap kafka-config: what every broker and ZooKeeper server shares; each pod adds its own id (and a
    broker its advertised name) from its StatefulSet ordinal."""
    client, quorum, election = ZOOKEEPER_PORTS
    servers = {i + 1: f"zookeeper-{i}.zookeeper:{quorum}:{election}" for i in range(ZOOKEEPERS)}
    broker = {
        "listeners": f"PLAINTEXT://0.0.0.0:{BROKER_PORT}",
        "zookeeper.connect": ",".join(f"zookeeper-{i}.zookeeper:{client}" for i in range(ZOOKEEPERS)),
        "log.dirs": BROKER_DATA,
        **kafka.broker_settings(),
    }
    zookeeper = {"dataDir": ZOOKEEPER_DATA, "clientPort": str(client), "quorumListenOnAllIPs": "true",
                 **kafka.zookeeper_settings(servers)}
    return {"server.properties": kafka.properties_text(broker), "zookeeper.properties": kafka.properties_text(zookeeper)}


def orderer_env() -> dict[str, str]:
    """What a Kafka orderer adds to tdses.fabric.nodes.orderer_env: start from the system channel."""
    return kafka.orderer_env(CHANNEL / GENESIS_BLOCK)
