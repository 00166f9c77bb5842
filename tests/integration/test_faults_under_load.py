"""Faults while users buy calls: whatever fails, every purchase is paid exactly once and no SToken is lost.

The network's own REST gateways run as processes here (as with `make run`), so one can be killed outright.
"""

from __future__ import annotations

import io

import pytest

from tdses.cli import main
from tdses.fabric import gateways
from tdses.index.store import IndexStore
from tdses.local import processes
from tdses.rest.config import load_settings
from tests.support.faults import kill, purchases_through

pytestmark = pytest.mark.integration

BUYERS, PURCHASES, PRICE = 8, 25, 2


def raft_leader(network):
    network.wait_raft_leader()
    for orderer in network.topology.orderers:
        if processes.metric(orderer.ports.operations, "consensus_etcdraft_is_leader") == 1.0:
            return orderer
    raise AssertionError("no raft leader")


def kill_the_org2_gateway(network) -> None:
    kill(network, network.topology.org("org2").gateway)  # mid-request: claimed, endorsed, submitted, unanswered


def kill_the_raft_leader(network) -> None:
    kill(network, raft_leader(network))


def kill_one_peer_of_each_organization(network) -> None:
    for org in network.topology.orgs:
        kill(network, org.peers[0])  # the gateways' first peer


def stop_the_whole_network(network) -> None:
    network.down(quiet=True)


@pytest.mark.parametrize("fault", [kill_the_org2_gateway, kill_the_raft_leader, kill_one_peer_of_each_organization,
                                   stop_the_whole_network])
def test_purchases_through_a_fault_are_each_paid_exactly_once(network, fault):
    """8 buyers x 25 purchases through org2's gateway; a quarter of the way in, the fault; then everything is
    started again. Every purchase is answered and paid once; the developer is paid for each; nothing is lost."""

    def fault_then_restart() -> None:
        fault(network)
        network.up(out=io.StringIO())  # starts whatever is not running, on the same ledgers and stores

    sale = purchases_through(network, fault_then_restart, prefix="fault-", buyers=BUYERS, purchases=PURCHASES,
                             price=PRICE)

    # org2's registry index, whose gateway lived through the fault: each purchase exactly once, equal to the ledger.
    config = gateways.config_file(network.state, network.topology.org("org2").gateway)
    assert main(["index", "verify", "--config", str(config)]) == 0
    settings = load_settings(config)
    index = IndexStore(settings.index.location(settings.store))
    purchases = index.activity(service=sale.service, kind="purchase", limit=10 * BUYERS * PURCHASES)
    index.close()
    assert len(purchases) == len({p["tx_id"] for p in purchases}) == BUYERS * PURCHASES
