"""The Kafka variant's channel configuration: a system channel naming the brokers, and a consortium."""

from __future__ import annotations

from tdses.fabric import configtx
from tdses.k8s import kafka
from test_k8s_support import fake_state, kube_topology


def test_the_genesis_profile_orders_through_the_kafka_brokers_with_the_raft_profiles_batch_settings(tmp_path):
    topology = kube_topology()
    state = fake_state(tmp_path, topology)
    profiles = kafka.kafka_configtx(topology, state)["Profiles"]
    orderer = profiles[kafka.GENESIS_PROFILE]["Orderer"]
    raft = configtx.configtx(topology, state)["Profiles"][configtx.PROFILE]["Orderer"]
    assert orderer["OrdererType"] == "kafka"
    assert "EtcdRaft" not in orderer
    assert orderer["Kafka"]["Brokers"] == [f"kafka-{i}.kafka.tdses-orderer.svc.cluster.local:9092" for i in range(3)]
    assert orderer["BatchSize"] == raft["BatchSize"]
    members = profiles[kafka.GENESIS_PROFILE]["Consortiums"][kafka.CONSORTIUM]["Organizations"]
    assert [m["ID"] for m in members] == ["Org1MSP", "Org2MSP", "Org3MSP"]


def test_the_channel_profile_creates_the_application_channel_in_the_consortium(tmp_path):
    topology = kube_topology()
    state = fake_state(tmp_path, topology)
    channel = kafka.kafka_configtx(topology, state)["Profiles"][kafka.CHANNEL_PROFILE]
    assert channel["Consortium"] == kafka.CONSORTIUM
    assert "Orderer" not in channel
    anchors = [org["AnchorPeers"][0]["Host"] for org in channel["Application"]["Organizations"]]
    assert anchors == [f"peer0.tdses-org{i}.svc.cluster.local" for i in (1, 2, 3)]


def test_kafka_orderers_bootstrap_from_a_file_and_leave_channel_participation_off():
    variables = kafka.orderer_env()
    assert variables["ORDERER_GENERAL_BOOTSTRAPMETHOD"] == "file"
    assert variables["ORDERER_GENERAL_BOOTSTRAPFILE"].endswith("/" + kafka.GENESIS_BLOCK)
    assert variables["ORDERER_CHANNELPARTICIPATION_ENABLED"] == "false"
