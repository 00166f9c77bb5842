"""Kafka ordering's channels: a system channel whose genesis block names the brokers, the application
channel's creation transaction and each organization's anchor peer update.

Fabric 2.5 still runs Kafka-based ordering (deprecated, removed in 3.0). Unlike etcdraft with the channel
participation API, it needs a system channel: orderers start from its genesis block (BootstrapMethod
file), and an organization admin creates the application channel with a creation transaction. Both
profiles are derived from tdses.fabric.configtx, so batch sizes and policies are those of every network.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tdses.fabric import configtx
from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import Org, Topology

GENESIS_PROFILE = "TdsesKafkaGenesis"
CHANNEL_PROFILE = "TdsesKafkaChannel"
CONSORTIUM = "TdsesConsortium"
SYSTEM_CHANNEL = "system-channel"


def kafka_configtx(topology: Topology, state: State, brokers: list[str]) -> dict:
    raft = configtx.configtx(topology, state)["Profiles"][configtx.PROFILE]
    orderer = {key: value for key, value in raft["Orderer"].items() if key != "EtcdRaft"}
    orderer["OrdererType"] = "kafka"
    orderer["Kafka"] = {"Brokers": brokers}
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


def anchor_peers_tx(state: State, org: Org) -> Path:
    return state.channel_dir / f"{org.name}-anchors.tx"


def write_artifacts(topology: Topology, state: State, configtxgen: Path, brokers: list[str]) -> None:
    """The system channel's genesis block, the application channel's creation transaction and the
    organizations' anchor peer updates (a created channel has none: its organizations come from the consortium)."""
    config_dir = state.config / "kafka"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "configtx.yaml").write_text(yaml.safe_dump(kafka_configtx(topology, state, brokers),
                                                             sort_keys=False))
    state.channel_dir.mkdir(parents=True, exist_ok=True)
    _configtxgen(configtxgen, config_dir, "-profile", GENESIS_PROFILE, "-channelID", SYSTEM_CHANNEL,
                 "-outputBlock", str(system_genesis_block(state)))
    _configtxgen(configtxgen, config_dir, "-profile", CHANNEL_PROFILE, "-channelID", topology.channel,
                 "-outputCreateChannelTx", str(channel_tx(state, topology.channel)))
    for org in topology.orgs:
        _configtxgen(configtxgen, config_dir, "-profile", CHANNEL_PROFILE, "-channelID", topology.channel,
                     "-asOrg", org.msp_id, "-outputAnchorPeersUpdate", str(anchor_peers_tx(state, org)))


def _configtxgen(configtxgen: Path, config_dir: Path, *args: str) -> None:
    result = subprocess.run([str(configtxgen), "-configPath", str(config_dir), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise NetworkError(f"configtxgen {' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}")
