"""Rendered Fabric configuration: channel policies, node environments and chaincode packages."""

import io
import json
import tarfile

import pytest

from tdses.fabric import configtx, nodes, packaging
from tdses.fabric.errors import NetworkError
from tdses.fabric.state import State
from tdses.fabric.topology import BATCH_TIMEOUT_MS, TOPOLOGY_DIR, load


def test_channel_has_every_org_with_anchor_peers_and_majority_endorsement(tmp_path):
    t, s = load("default", 7050), State(tmp_path)
    profile = configtx.configtx(t, s)["Profiles"][configtx.PROFILE]
    app = profile["Application"]
    assert [o["ID"] for o in app["Organizations"]] == ["Org1MSP", "Org2MSP", "Org3MSP"]
    assert app["Policies"]["Endorsement"]["Rule"] == "MAJORITY Endorsement"
    assert app["Organizations"][0]["AnchorPeers"] == [{"Host": "127.0.0.1", "Port": t.org("org1").peers[0].ports.listen}]
    assert len(profile["Orderer"]["EtcdRaft"]["Consenters"]) == 3
    assert "Consortiums" not in profile  # no system channel


def test_the_orderers_batch_timeout_comes_from_the_topology(tmp_path):
    default = configtx.configtx(load("default", 7050), State(tmp_path))["Profiles"][configtx.PROFILE]
    assert default["Orderer"]["BatchTimeout"] == f"{BATCH_TIMEOUT_MS}ms"
    spec = (TOPOLOGY_DIR / "default.yaml").read_text().replace("  orderers: 3\n", "  orderers: 3\n  batch_timeout_ms: 500\n")
    slow = tmp_path / "slow.yaml"
    slow.write_text(spec)
    profile = configtx.configtx(load(str(slow), 7050), State(tmp_path))["Profiles"][configtx.PROFILE]
    assert profile["Orderer"]["BatchTimeout"] == "500ms"
    slow.write_text(spec.replace("batch_timeout_ms: 500", "batch_timeout_ms: 0"))
    with pytest.raises(NetworkError, match="batch_timeout_ms 0"):
        load(str(slow), 7050)


def test_node_environments_point_each_node_at_its_own_ports_and_files(tmp_path):
    t, s = load("default", 7050), State(tmp_path)
    peer = t.node("peer1.org1")
    env = nodes.peer_env(peer, t, s)
    assert env["CORE_PEER_ADDRESS"] == peer.address
    assert env["CORE_PEER_GOSSIP_BOOTSTRAP"] == t.node("peer0.org1").address
    assert env["CORE_PEER_LOCALMSPID"] == "Org1MSP"
    assert env["CORE_PEER_MSPCONFIGPATH"].endswith("peers/peer1.org1.tdses.test/msp")
    orderer = nodes.orderer_env(t.orderers[2], t, s)
    assert orderer["ORDERER_ADMIN_LISTENADDRESS"] == f"127.0.0.1:{t.orderers[2].ports.admin}"
    ca = nodes.ca_env(t.org("org2").ca, t, s)
    assert ca["FABRIC_CA_SERVER_CA_NAME"] == "ca-org2"
    assert not any("secret" in k.lower() or "boot" in k.lower() for k in ca)  # the registrar secret is not in env


def test_chaincode_package_is_reproducible_and_names_the_orgs_server(tmp_path):
    t, s = load("small", 7050), State(tmp_path)
    org = t.org("org1")
    tls = s.tls_ca_cert(org)
    tls.parent.mkdir(parents=True)
    tls.write_text("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    path, first = packaging.package(t, s, org)
    _, second = packaging.package(t, s, org)
    assert first == second and first.startswith("tdses_1.0:")
    with tarfile.open(path) as outer:
        assert json.loads(outer.extractfile("metadata.json").read()) == {"type": "ccaas", "label": "tdses_1.0"}
        with tarfile.open(fileobj=io.BytesIO(outer.extractfile("code.tar.gz").read())) as code:
            connection = json.loads(code.extractfile("connection.json").read())
    assert connection["address"] == org.chaincode.address and connection["tls_required"] is True
