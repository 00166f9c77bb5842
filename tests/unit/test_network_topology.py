"""The topology places nodes predictably: consecutive loopback ports, or Kubernetes Services."""

import pytest
import yaml

from tdses.fabric.errors import NetworkError
from tdses.fabric.topology import load, topology_path
from tdses.k8s.placement import Kubernetes


def test_default_topology_is_the_papers_table_3():
    t = load("default", 7050)
    assert [o.name for o in t.orgs] == ["org1", "org2", "org3"]
    assert all(len(o.peers) == 2 and o.ca and o.chaincode and o.gateway for o in t.orgs)
    assert len(t.orderers) == 3


def test_ports_are_consecutive_and_distinct_from_the_base():
    t = load("default", 20000)
    ports = t.ports()
    assert len(ports) == len(set(ports))
    assert sorted(ports) == list(range(20000, 20000 + len(ports)))


def test_two_base_ports_place_two_networks_without_overlap():
    a = load("small", 20000)
    b = load("small", 20000 + len(a.ports()))
    assert not set(a.ports()) & set(b.ports())


def test_kubernetes_placement_uses_service_names_and_standard_ports():
    t = load("default", placement=Kubernetes())
    peer = t.node("peer1.org2")
    assert peer.address == "peer1.tdses-org2.svc.cluster.local:7051"
    assert peer.listen(peer.ports.operations) == "0.0.0.0:9443"


def test_unknown_topology_and_node_names_are_clear_errors(tmp_path):
    with pytest.raises(NetworkError, match="unknown topology 'nope'"):
        load("nope", 7050)
    with pytest.raises(NetworkError, match="no node named 'peer9.org1'"):
        load("small", 7050).node("peer9.org1")
    bad = tmp_path / "bad.yaml"
    bad.write_text("channel: x\norgs: []\n")
    with pytest.raises(NetworkError, match="malformed"):
        load(str(bad), 7050)


def test_a_base_port_outside_the_usable_range_is_refused():
    with pytest.raises(NetworkError, match="base port"):
        load("default", 65530)
    with pytest.raises(NetworkError, match="base port"):
        load("default", 80)


def test_an_org_admins_identity_and_signer_come_from_its_msp_directory(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    from fabric_gateway import sha256
    from tdses.fabric.state import State
    from tests.support.pki import certificate, key_pem, verify_signature

    state = State(tmp_path)
    org = load("default", 20000).org("org1")
    with pytest.raises(NetworkError):
        state.admin(org)  # not initialized yet
    key = ec.generate_private_key(ec.SECP256R1())
    msp = state.admin_msp(org)
    (msp / "signcerts").mkdir(parents=True)
    (msp / "keystore").mkdir()
    (msp / "signcerts" / f"Admin@{org.domain}-cert.pem").write_bytes(certificate(f"Admin@{org.domain}", key))
    (msp / "keystore" / "priv_sk").write_bytes(key_pem(key))
    identity, signer = state.admin(org)
    assert identity.msp_id == org.msp_id
    verify_signature(identity.creator(), signer.sign(sha256(b"a proposal")), b"a proposal")


@pytest.mark.parametrize("change, complaint", [
    (lambda s: s["orgs"][0].update(name="Org_One"), "organization name 'Org_One'"),
    (lambda s: s["orgs"][0].update(name="o" * 33), "must be 1-32"),
    (lambda s: s["orgs"][1].update(msp_id=s["orgs"][0]["msp_id"]), "MSP IDs repeat"),
    (lambda s: s["orgs"][0].update(msp_id="Org 1:MSP"), "MSP ID 'Org 1:MSP'"),
    (lambda s: s.update(channel="Tdses Channel"), "channel 'Tdses Channel'"),
    (lambda s: s["chaincode"].update(name="td ses"), "chaincode name 'td ses'"),
])
def test_names_fabric_kubernetes_or_certificates_would_refuse_are_refused_at_once(tmp_path, change, complaint):
    spec = yaml.safe_load(topology_path("default").read_text())
    change(spec)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(NetworkError, match=complaint):
        load(str(path), 20000)
