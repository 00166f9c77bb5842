"""A real default-topology network (3 orgs x 2 peers, 3 orderers, a CA per org) for the whole test session.

It starts on free loopback ports in a temporary state directory and is torn down at the end. Tests that
stop nodes start them again (`network.up()` starts only what is not running).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest

from fabric_ca import CAClient
from fabric_gateway import ChannelPeers, EcdsaSigner, Gateway, Identity, connect
from tdses.ecosystem.programmableweb import Ecosystem, data_dir, load
from tdses.ecosystem.progress import Progress, Summary
from tdses.ecosystem.running import import_ecosystem
from tdses.fabric.nodes import ca_name
from tdses.fabric.topology import Node, Org
from tdses.local.network import Network, init_state

from tests.support.ports import free_base_port


@pytest.fixture(scope="session")
def network(tmp_path_factory) -> Network:
    net = init_state(tmp_path_factory.mktemp("network"), "default", free_base_port("default"))
    net.up(out=io.StringIO())
    yield net
    net.down(quiet=True)


def channel_peers_of(network: Network) -> ChannelPeers:
    """Every peer of the channel, so that a member's write is answered once all of them have committed it."""
    return ChannelPeers(network.channel_peers())


@pytest.fixture(scope="session")
def channel_peers(network) -> ChannelPeers:
    peers = channel_peers_of(network)
    yield peers
    peers.close()


@dataclass
class Member:
    """A client identity enrolled at runtime from its organization's fabric-ca-server."""

    org: Org
    name: str
    identity: Identity
    signer: EcdsaSigner
    tls_ca: Path
    channel_peers: ChannelPeers

    def gateway(self, peer: Node) -> Gateway:
        return connect(peer.address, self.tls_ca.read_bytes(), self.identity, self.signer,
                       channel_peers=self.channel_peers)


def ca_client(network: Network, org: Org) -> CAClient:
    return CAClient(
        f"https://{org.ca.address}",
        tls_root_certs=network.state.tls_ca_cert(org).read_bytes(),
        ca_name=ca_name(org.ca),
    )


def enroll_member(network: Network, channel_peers: ChannelPeers, org_name: str, prefix: str = "member") -> Member:
    """Register a new client with org's CA (as its registrar) and enroll it with a key made here."""
    org = network.topology.org(org_name)
    with ca_client(network, org) as ca:
        registrar = ca.enroll("admin", network.state.registrar_secret(org).read_text().strip())
        name = f"{prefix}-{secrets.token_hex(4)}"
        secret = ca.register(registrar, name, type="client")
        enrollment = ca.enroll(name, secret)
    return Member(
        org=org,
        name=name,
        identity=Identity(org.msp_id, enrollment.certificate),
        signer=EcdsaSigner(enrollment.key),
        tls_ca=network.state.tls_ca_cert(org),
        channel_peers=channel_peers,
    )


@pytest.fixture(scope="session")
def enroll(network, channel_peers):
    return lambda org_name, prefix="member": enroll_member(network, channel_peers, org_name, prefix)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server (Debian's packages) for the tests that share a gateway store between replicas."""
    from tests.support.postgres import PostgresServer

    with PostgresServer() as server:
        yield server


@dataclass(frozen=True)
class Slice:
    """The slice of ProgrammableWeb the session imports: what was chosen, and the summaries of its two imports."""

    eco: Ecosystem
    limit: int
    first: Summary  # importing half the slice
    second: Summary  # importing the whole slice, every developer enrolled anew


@pytest.fixture(scope="session")
def programmableweb_slice(network) -> Slice:
    """Six developers (two per organization) and sixty APIs with their mashups, imported once per session by
    whichever test asks first: half, then the whole slice. Tests buy, reward and transfer with users of their own,
    never the slice's developers, whose balances test_ecosystem_import.py checks against the data."""
    eco, limit = load(data_dir(), developers=6), 60
    first = import_ecosystem(network, eco, limit // 2, concurrency=16, progress=Progress(io.StringIO()))
    second = import_ecosystem(network, eco, limit, concurrency=16, progress=Progress(io.StringIO()))
    return Slice(eco, limit, first, second)


@pytest.fixture(scope="module")
def gateways(network, tmp_path_factory):
    """A REST gateway per organization, in-process, with stores of their own for each test module."""
    from tests.support.gateways import Gateways

    # A new index follows the channel from block 0: a read asking for a recent block may wait while it catches up.
    started = Gateways(network, tmp_path_factory.mktemp("gateways"), index={"wait_seconds": 30}).start()
    yield started
    started.stop()
