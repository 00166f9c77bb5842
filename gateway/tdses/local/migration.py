"""`tdses network migrate --to raft`: Fabric's Kafka-to-Raft migration of a kafka network, on its own ledgers.

Each step is a configuration update of /Channel/Orderer/ConsensusType, signed by the orderer organization's
admin, on the system channel first and then the application channel:

1. state STATE_MAINTENANCE (type still kafka): the orderers refuse transactions;
2. type etcdraft with every orderer as a consenter (the options of tdses.fabric.configtx), still in maintenance;
3. the orderers, brokers and ZooKeeper servers stop; the orderers start again, as Raft nodes, and elect leaders;
4. state STATE_NORMAL: the channels order again.

The network's manifest records the new consensus: `up` then runs no broker or ZooKeeper server.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

from tdses.fabric import configtx, systemchannel, toolchain
from tdses.fabric.errors import NetworkError
from tdses.fabric.topology import Node
from tdses.local import processes
from tdses.local.admin import Admin
from tdses.local.network import Network

MAINTENANCE, NORMAL = "STATE_MAINTENANCE", "STATE_NORMAL"
COMMIT_TIMEOUT = 60.0


def migrate_to_raft(network: Network, out=sys.stderr) -> None:
    if not network.kafka_ordering:
        raise NetworkError(f"the network in {network.state.root} orders with {network.topology.ordering}, not kafka")
    if network.consensus == "etcdraft":
        _say(out, "already migrated to raft")
        return
    admin = Admin(network.topology, network.state, toolchain.binaries())
    channels = [systemchannel.SYSTEM_CHANNEL, network.topology.channel]
    work = network.state.config / "migration"
    work.mkdir(parents=True, exist_ok=True)
    metadata = raft_metadata(network)

    for name in channels:
        _say(out, f"{name}: entering maintenance mode")
        set_consensus(admin, work, name, "kafka", None, MAINTENANCE)
    for name in channels:
        _say(out, f"{name}: switching to etcdraft")
        set_consensus(admin, work, name, "etcdraft", metadata, MAINTENANCE)

    _say(out, "restarting the orderers as raft nodes; stopping the brokers and ZooKeeper servers")
    t = network.topology
    for node in [*t.orderers, *t.brokers, *t.zookeepers]:  # orderers first: the brokers keep what they ordered
        processes.stop(network.state.pid_file(node))
    manifest = network.manifest()
    manifest["consensus"] = "etcdraft"
    network.state.write_manifest(manifest)
    network.up(out=out)
    for name in channels:
        network.wait_raft_leader(name)

    for name in channels:
        _say(out, f"{name}: leaving maintenance mode")
        set_consensus(admin, work, name, "etcdraft", metadata, NORMAL)
    _say(out, "migrated to raft")


def raft_metadata(network: Network) -> dict:
    """The channels' etcdraft metadata as configtxlator writes it: every orderer, the options of every network."""
    options = configtx.configtx(network.topology, network.state)["Profiles"][configtx.PROFILE]["Orderer"][
        "EtcdRaft"]["Options"]
    sizes = {"MB": 1024 * 1024, "KB": 1024}
    number, unit = options["SnapshotIntervalSize"].split()
    return {
        "consenters": [_consenter(network, o) for o in network.topology.orderers],
        "options": {
            "tick_interval": options["TickInterval"],
            "election_tick": options["ElectionTick"],
            "heartbeat_tick": options["HeartbeatTick"],
            "max_inflight_blocks": options["MaxInflightBlocks"],
            "snapshot_interval_size": int(number) * sizes[unit],
        },
    }


def _consenter(network: Network, orderer: Node) -> dict:
    cert = base64.b64encode((network.state.node_crypto(orderer) / "tls" / "server.crt").read_bytes()).decode()
    return {"host": orderer.host, "port": orderer.ports.listen, "client_tls_cert": cert, "server_tls_cert": cert}


def set_consensus(admin: Admin, work: Path, channel: str, kind: str, metadata: dict | None, state: str) -> None:
    """Update the channel's ConsensusType unless it already is (kind, state); then wait until every orderer has it."""
    config = fetch_config(admin, work, channel)
    consensus = config["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]
    if (consensus["type"], consensus.get("state", NORMAL)) != (kind, state):
        updated = json.loads(json.dumps(config))
        value = updated["channel_group"]["groups"]["Orderer"]["values"]["ConsensusType"]["value"]
        value.update({"type": kind, "state": state})
        if metadata is not None:
            value["metadata"] = metadata
        envelope = _update_envelope(admin, work, channel, config, updated)
        admin.as_orderer_admin("channel", "update", "-c", channel, "-f", str(envelope), *admin.orderer_tls_args(),
                               timeout=60)
    for orderer in admin.topology.orderers:
        _wait_for(admin, work, channel, orderer, kind, state)


def fetch_config(admin: Admin, work: Path, channel: str, orderer: Node | None = None) -> dict:
    block = work / f"{channel}-config.block"
    admin.as_orderer_admin("channel", "fetch", "config", str(block), "-c", channel, *admin.orderer_tls_args(orderer),
                           timeout=30)
    decoded = json.loads(_configtxlator(admin, "proto_decode", "--input", str(block), "--type", "common.Block"))
    return decoded["data"]["data"][0]["payload"]["data"]["config"]


def _wait_for(admin: Admin, work: Path, channel: str, orderer: Node, kind: str, state: str) -> None:
    deadline = time.monotonic() + COMMIT_TIMEOUT
    while True:
        try:
            value = fetch_config(admin, work, channel, orderer)["channel_group"]["groups"]["Orderer"]["values"][
                "ConsensusType"]["value"]
            if (value["type"], value.get("state", NORMAL)) == (kind, state):
                return
        except NetworkError:
            pass  # a restarted orderer may not serve the channel yet
        if time.monotonic() > deadline:
            raise NetworkError(f"{orderer.short_name} has not committed {channel}'s ConsensusType {kind}/{state}")
        time.sleep(1)


def _update_envelope(admin: Admin, work: Path, channel: str, original: dict, updated: dict) -> Path:
    files = {}
    for name, config in (("original", original), ("updated", updated)):
        (work / f"{name}.json").write_text(json.dumps(config))
        files[name] = work / f"{name}.pb"
        _configtxlator(admin, "proto_encode", "--input", str(work / f"{name}.json"), "--type", "common.Config",
                       "--output", str(files[name]))
    update_pb = work / "update.pb"
    _configtxlator(admin, "compute_update", "--channel_id", channel, "--original", str(files["original"]),
                   "--updated", str(files["updated"]), "--output", str(update_pb))
    update = json.loads(_configtxlator(admin, "proto_decode", "--input", str(update_pb), "--type",
                                       "common.ConfigUpdate"))
    envelope = {"payload": {"header": {"channel_header": {"channel_id": channel, "type": 2}},
                            "data": {"config_update": update}}}
    (work / "envelope.json").write_text(json.dumps(envelope))
    target = work / "envelope.pb"
    _configtxlator(admin, "proto_encode", "--input", str(work / "envelope.json"), "--type", "common.Envelope",
                   "--output", str(target))
    return target


def _configtxlator(admin: Admin, *args: str) -> str:
    result = subprocess.run([str(admin.binaries["configtxlator"]), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise NetworkError(f"configtxlator {args[0]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def _say(out, text: str) -> None:
    print(f"[migrate] {text}", file=out, flush=True)
