"""Kafka ordering: a system channel whose genesis block names the brokers, and the channel's creation transaction.

Fabric 2.5 still runs Kafka-based ordering (deprecated, removed in 3.0). Unlike etcdraft with the channel
participation API, it needs a system channel: orderers start from its genesis block (BootstrapMethod
file), and an organization admin creates the application channel with a creation transaction. Both
profiles are derived from tdses.fabric.configtx, so batch sizes and policies are those the local
network tests.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tdses.fabric import configtx
from tdses.fabric.state import State
from tdses.fabric.topology import Topology
from tdses.k8s.errors import KubernetesError
from tdses.k8s.layout import CHANNEL
from tdses.k8s.placement import namespace

GENESIS_PROFILE = "TdsesKafkaGenesis"
CHANNEL_PROFILE = "TdsesKafkaChannel"
CONSORTIUM = "TdsesConsortium"
SYSTEM_CHANNEL = "system-channel"
BROKERS = 3  # replicas of the kafka StatefulSet in k8s/components/kafka/kafka.yaml
BROKER_PORT = 9092
GENESIS_BLOCK = "genesis.block"


def brokers(topology: Topology) -> list[str]:
    """The brokers' stable DNS names: pods kafka-<n> of the headless Service kafka in the orderer namespace."""
    ns = namespace(topology.orderer_org)
    return [f"kafka-{i}.kafka.{ns}.svc.cluster.local:{BROKER_PORT}" for i in range(BROKERS)]


def kafka_configtx(topology: Topology, state: State) -> dict:
    raft = configtx.configtx(topology, state)["Profiles"][configtx.PROFILE]
    orderer = {key: value for key, value in raft["Orderer"].items() if key != "EtcdRaft"}
    orderer["OrdererType"] = "kafka"
    orderer["Kafka"] = {"Brokers": brokers(topology)}
    channel_policies = {
        "Readers": configtx._implicit("ANY Readers"),
        "Writers": configtx._implicit("ANY Writers"),
        "Admins": configtx._implicit("MAJORITY Admins"),
    }
    return {
        "Profiles": {
            GENESIS_PROFILE: {
                "Policies": channel_policies,
                "Capabilities": raft["Capabilities"],
                "Orderer": orderer,
                "Consortiums": {CONSORTIUM: {"Organizations": [configtx._org(org, state) for org in topology.orgs]}},
            },
            CHANNEL_PROFILE: {
                "Consortium": CONSORTIUM,
                "Policies": channel_policies,
                "Capabilities": raft["Capabilities"],
                "Application": raft["Application"],
            },
        }
    }


def system_genesis_block(state: State) -> Path:
    return state.channel_dir / "system-genesis.block"


def channel_tx(state: State, channel: str) -> Path:
    return state.channel_dir / f"{channel}.tx"


def write_artifacts(topology: Topology, state: State, configtxgen: Path) -> None:
    """The system channel's genesis block and the application channel's creation transaction."""
    config_dir = state.config / "kafka"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configtx.yaml").write_text(yaml.safe_dump(kafka_configtx(topology, state), sort_keys=False))
    state.channel_dir.mkdir(parents=True, exist_ok=True)
    _configtxgen(configtxgen, config_dir, "-profile", GENESIS_PROFILE, "-channelID", SYSTEM_CHANNEL,
                 "-outputBlock", str(system_genesis_block(state)))
    _configtxgen(configtxgen, config_dir, "-profile", CHANNEL_PROFILE, "-channelID", topology.channel,
                 "-outputCreateChannelTx", str(channel_tx(state, topology.channel)))


def _configtxgen(configtxgen: Path, config_dir: Path, *args: str) -> None:
    result = subprocess.run([str(configtxgen), "-configPath", str(config_dir), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise KubernetesError(f"configtxgen {' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}")


def orderer_env() -> dict[str, str]:
    """What a Kafka orderer adds to tdses.fabric.nodes.orderer_env: start from the system channel."""
    return {
        "ORDERER_GENERAL_BOOTSTRAPMETHOD": "file",
        "ORDERER_GENERAL_BOOTSTRAPFILE": str(CHANNEL / GENESIS_BLOCK),
        # Channels come from the system channel here, not from the channel participation API.
        "ORDERER_CHANNELPARTICIPATION_ENABLED": "false",
    }
