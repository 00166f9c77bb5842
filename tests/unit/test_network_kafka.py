"""The kafka topology on loopback: its ZooKeeper servers, brokers and Kafka-mode orderers, as configured."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from tdses.fabric import kafka, systemchannel
from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import load


@pytest.fixture
def topology():
    return load("kafka", 20000)


def test_the_kafka_topology_adds_three_zookeepers_and_three_brokers_started_before_the_orderers(topology):
    assert topology.ordering == "kafka"
    assert [z.short_name for z in topology.zookeepers] == [f"zookeeper{i}.orderer" for i in range(3)]
    assert [b.short_name for b in topology.brokers] == [f"kafka{i}.orderer" for i in range(3)]
    assert len(topology.orderers) == 3
    kinds = [n.kind for n in topology.nodes]
    assert kinds.index("ca") < kinds.index("zookeeper") < kinds.index("kafka") < kinds.index("orderer")
    ports = topology.ports()
    assert len(ports) == len(set(ports)) == max(ports) - min(ports) + 1
    assert all(z.ports.quorum and z.ports.election for z in topology.zookeepers)


def test_raft_topologies_have_no_kafka_nodes():
    default = load("default", 20000)
    assert default.ordering == "etcdraft" and default.zookeepers == default.brokers == []


def test_an_unknown_ordering_is_refused(tmp_path):
    spec = Path(tmp_path / "t.yaml")
    spec.write_text(load_text("small").replace("channel: tdses", "channel: tdses\nordering: solo"))
    with pytest.raises(NetworkError, match="ordering 'solo'"):
        load(str(spec), 20000)


def load_text(name: str) -> str:
    from tdses.fabric.topology import topology_path

    return topology_path(name).read_text()


def test_brokers_replicate_every_block_to_all_three_and_never_elect_an_unclean_leader(topology, tmp_path):
    ids = set()
    for broker in topology.brokers:
        values = kafka.broker_properties(broker, topology, tmp_path)
        ids.add(values["broker.id"])
        assert values["default.replication.factor"] == "3"
        assert values["min.insync.replicas"] == "2"
        assert values["unclean.leader.election.enable"] == "false"
        assert values["log.retention.ms"] == "-1"
        assert values["zookeeper.connect"] == ",".join(z.address for z in topology.zookeepers)
        assert values["listeners"] == values["advertised.listeners"] == f"PLAINTEXT://{broker.address}"
    assert ids == {"0", "1", "2"}


def test_zookeeper_servers_form_one_ensemble_with_ids_from_one(topology, tmp_path):
    for i, server in enumerate(topology.zookeepers):
        config = kafka.write_config(server, topology, tmp_path / "config", tmp_path / f"data{i}")
        values = dict(line.split("=", 1) for line in config.read_text().splitlines())
        assert (tmp_path / f"data{i}" / "myid").read_text().strip() == str(i + 1)
        assert values["clientPort"] == str(server.ports.listen)
        assert [values[f"server.{n + 1}"] for n in range(3)] == [
            f"127.0.0.1:{z.ports.quorum}:{z.ports.election}" for z in topology.zookeepers]
        assert values["admin.enableServer"] == "false"


def test_a_kafka_orderer_starts_from_the_system_channel_and_speaks_the_configured_protocol(tmp_path):
    env = kafka.orderer_env(tmp_path / "system-genesis.block")
    assert env["ORDERER_GENERAL_BOOTSTRAPMETHOD"] == "file"
    assert env["ORDERER_GENERAL_BOOTSTRAPFILE"] == str(tmp_path / "system-genesis.block")
    assert env["ORDERER_CHANNELPARTICIPATION_ENABLED"] == "false"
    assert env["ORDERER_KAFKA_VERSION"] == kafka.settings().protocol
    assert env["ORDERER_KAFKA_TOPIC_REPLICATIONFACTOR"] == "3"


def test_the_local_system_channel_names_the_loopback_brokers(topology, tmp_path):
    brokers = [b.address for b in topology.brokers]
    profile = systemchannel.kafka_configtx(topology, State(tmp_path), brokers)["Profiles"]
    assert profile[systemchannel.GENESIS_PROFILE]["Orderer"]["Kafka"]["Brokers"] == brokers


def test_jars_are_cached_by_kafka_and_scala_version():
    s = kafka.settings()
    assert kafka.jars_dir().parent.name == f"kafka_{s.scala}-{s.version}"
    assert s.version.startswith("3.9.")  # the last Kafka line with ZooKeeper mode


def serve_once(answer: bytes) -> int:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def run() -> None:
        connection, _ = server.accept()
        with connection, server:
            connection.recv(1024)
            connection.sendall(answer)

    threading.Thread(target=run, daemon=True).start()
    return server.getsockname()[1]


def test_a_broker_is_ready_once_it_answers_api_versions():
    assert kafka.broker_ready(serve_once(struct.pack(">iih", 6, 1, 0)))
    assert not kafka.broker_ready(serve_once(struct.pack(">iih", 6, 1, 35)))  # an error code
    assert not kafka.broker_ready(serve_once(b""))  # port open, nothing answered


def test_a_zookeeper_server_serves_once_it_names_its_mode():
    assert kafka.zookeeper_mode(serve_once(b"Zookeeper version: 3.8.4\nMode: leader\nNode count: 5\n")) == "leader"
    assert kafka.zookeeper_mode(serve_once(b"This ZooKeeper instance is not currently serving requests\n")) is None
