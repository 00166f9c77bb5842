"""The default topology really runs: runtime identities transact, every peer agrees, restarts keep the
ledger, and the network tolerates a stopped orderer or peer."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from tdses.fabric.toolchain import binaries
from tdses.local import channel, processes
from tdses.local.admin import Admin

pytestmark = pytest.mark.integration


def heights(network) -> dict[str, int]:
    admin = Admin(network.topology, network.state, binaries())
    return {p.short_name: channel.height(admin, p) for p in network.topology.peers}


def wait_same_height(network, timeout: float = 30.0) -> dict[str, int]:
    """Block heights of all peers once they agree (gossip and delivery need a moment)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = heights(network)
        if len(set(seen.values())) == 1 or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def register(member, peer, name=None):
    with member.gateway(peer) as gw:
        contract = gw.get_network(member_channel(peer)).get_contract("tdses")
        return json.loads(contract.submit_transaction("RegisterUser", name or member.name, "integration test"))


def member_channel(_peer) -> str:
    return "tdses"


def query_user(member, peer, name):
    with member.gateway(peer) as gw:
        contract = gw.get_network("tdses").get_contract("tdses")
        return json.loads(contract.evaluate_transaction("QueryUser", name))


def test_default_topology_has_three_orgs_of_two_peers_and_three_orderers(network):
    rows = network.status()
    kinds = [r["kind"] for r in rows]
    assert kinds.count("peer") == 6 and kinds.count("orderer") == 3 and kinds.count("ca") == 4
    assert all(r["healthy"] for r in rows), [r for r in rows if not r["healthy"]]


def test_runtime_identity_submits_through_org1_and_reads_back_through_org3(network, enroll):
    alice = enroll("org1", "alice")
    org1_gateway_peer = network.topology.org("org1").peers[0]
    user = register(alice, org1_gateway_peer)
    assert user["name"] == alice.name and user["mspId"] == "Org1MSP"

    reader = enroll("org3", "reader")
    org3_peer = network.topology.org("org3").peers[1]
    seen = query_user(reader, org3_peer, alice.name)
    assert seen["name"] == alice.name and seen["mspId"] == "Org1MSP"

    assert len(set(wait_same_height(network).values())) == 1


def test_down_then_up_keeps_the_ledger(network, enroll):
    bob = enroll("org2", "bob")
    register(bob, network.topology.org("org2").peers[0])
    before = wait_same_height(network)

    assert network.down(quiet=True) == len(network.topology.nodes)
    assert all(r["pid"] is None for r in network.status())
    network.up(out=io.StringIO())

    assert wait_same_height(network) == before
    reader = enroll("org1", "reader")
    assert query_user(reader, network.topology.org("org1").peers[1], bob.name)["name"] == bob.name


def leader(network):
    for o in network.topology.orderers:
        if processes.metric(o.ports.operations, "consensus_etcdraft_is_leader") == 1.0:
            return o
    return None


def test_transactions_commit_with_one_orderer_stopped(network, enroll):
    """Stop the raft leader (the harder case): the other two elect a new one and keep ordering."""
    network.wait_raft_leader()
    orderer = leader(network)
    assert orderer is not None
    assert processes.stop(network.state.pid_file(orderer))
    try:
        network.wait_raft_leader()
        assert leader(network) not in (None, orderer)
        carol = enroll("org3", "carol")
        user = register(carol, network.topology.org("org3").peers[0])
        assert user["name"] == carol.name
    finally:
        network.up(out=io.StringIO())


def test_org1_still_endorses_with_one_peer_stopped(network, enroll):
    org1 = network.topology.org("org1")
    assert processes.stop(network.state.pid_file(org1.peers[0]))
    try:
        dave = enroll("org1", "dave")
        user = register(dave, org1.peers[1])
        assert user["name"] == dave.name
        reader = enroll("org2", "reader")
        assert query_user(reader, network.topology.org("org2").peers[0], dave.name)["mspId"] == "Org1MSP"
    finally:
        network.up(out=io.StringIO())


def readable(path: Path) -> bool:
    """Whether group or others may read the file; a file the running nodes removed since the walk listed it (a
    ledger compacting its LevelDB) exposes nothing."""
    try:
        return bool(path.stat().st_mode & 0o077)
    except FileNotFoundError:
        return False


def test_what_nodes_keep_at_rest_is_readable_by_their_owner_only(network):
    """CA databases (bcrypt hashes), Idemix keys, ledgers, gateway stores, keys, configuration: files 0600 and
    directories 0700 throughout the state directory."""
    root = network.state.root
    nodes = network.state.node_dir(network.topology.orgs[0].peers[0]).parent
    exposed = [str(p.relative_to(root)) for p in [root, *root.rglob("*")] if not p.is_symlink() and readable(p)]
    assert exposed == []
    checked = {p.name for p in nodes.rglob("*") if p.is_file()}
    assert {"fabric-ca-server.db", "IssuerSecretKey", "gateway.db"} <= checked
