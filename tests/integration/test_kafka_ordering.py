"""The kafka topology: three ZooKeeper servers, three Kafka 3.9 brokers and three orderers in Kafka mode.

One network for the module. The paper's scenario runs on it; then one node at a time is killed outright
while users buy calls through the network's own REST gateways: every purchase commits while it is down,
each is paid exactly once, and no SToken is lost. Each test starts the killed node again before it ends.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from tdses.fabric import kafka
from tdses.local import processes
from tdses.local.network import Network, init_state
from tests.integration.test_rest_scenario import test_paper_scenario_over_three_gateways as paper_scenario
from tests.support.faults import kill, purchases_through
from tests.support.gateways import Gateways
from tests.support.kafka import partition_state
from tests.support.ports import free_base_port

pytestmark = pytest.mark.integration

BUYERS, PURCHASES, PRICE = 4, 6, 2
ISR_TIMEOUT = 120.0  # a restarted broker fetches what it missed, then the leader takes it back in sync


@pytest.fixture(scope="module")
def kafka_network(tmp_path_factory) -> Network:
    net = init_state(tmp_path_factory.mktemp("kafka-network"), "kafka", free_base_port("kafka"))
    net.up(out=io.StringIO())
    yield net
    net.down(quiet=True)


def channel_topic(network: Network) -> dict:
    return partition_state(network, network.topology.channel)


def test_status_shows_the_ensemble_and_the_brokers_in_sync(kafka_network):
    result = subprocess.run([sys.executable, "-m", "tdses.cli", "network", "status", "--json",
                             "--state-dir", str(kafka_network.state.root)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = {r["node"]: r for r in json.loads(result.stdout)}
    for name in ("zookeeper0.orderer", "zookeeper2.orderer", "kafka0.orderer", "kafka2.orderer", "orderer1.orderer"):
        assert rows[name]["healthy"] and rows[name]["pid"], rows[name]
    modes = sorted(kafka.zookeeper_mode(z.ports.listen) for z in kafka_network.topology.zookeepers)
    assert modes == ["follower", "follower", "leader"]
    # The channel's topic is replicated to every broker, all in sync.
    assert sorted(channel_topic(kafka_network)["isr"]) == [0, 1, 2]


def test_paper_scenario_through_the_gateways(kafka_network, tmp_path_factory):
    started = Gateways(kafka_network, tmp_path_factory.mktemp("gateways")).start()
    try:
        paper_scenario(started)
    finally:
        started.stop()


def purchases_while(network: Network, fault) -> None:
    """BUYERS x PURCHASES purchases through org2's gateway with the fault done a quarter of the way in and not
    repaired."""
    purchases_through(network, fault, prefix="k", buyers=BUYERS, purchases=PURCHASES, price=PRICE)


def test_transactions_commit_with_the_partition_leader_broker_killed_and_it_catches_up(kafka_network):
    leader = kafka_network.topology.brokers[channel_topic(kafka_network)["leader"]]
    purchases_while(kafka_network, lambda: kill(kafka_network, leader))
    assert leader.short_name not in {b.short_name for b in kafka_network.topology.brokers
                                     if processes.running_pid(kafka_network.state.pid_file(b))}

    kafka_network.up(out=io.StringIO())  # starts the broker again, on its own log
    processes.wait_until(lambda: sorted(channel_topic(kafka_network)["isr"]) == [0, 1, 2],
                         f"{leader.short_name} back in sync", ISR_TIMEOUT)
    purchases_while(kafka_network, lambda: None)


def test_transactions_commit_with_the_zookeeper_leader_killed(kafka_network):
    zookeepers = kafka_network.topology.zookeepers
    leader = next(z for z in zookeepers if kafka.zookeeper_mode(z.ports.listen) == "leader")
    purchases_while(kafka_network, lambda: kill(kafka_network, leader))
    assert sorted(kafka.zookeeper_mode(z.ports.listen) or "down" for z in zookeepers) == ["down", "follower",
                                                                                         "leader"]
    kafka_network.up(out=io.StringIO())
    assert all(kafka.zookeeper_serving(z.ports.listen) for z in zookeepers)


def test_the_other_orderers_keep_ordering_with_one_killed(kafka_network):
    orderer = kafka_network.topology.orderers[0]
    purchases_while(kafka_network, lambda: kill(kafka_network, orderer))
    assert processes.running_pid(kafka_network.state.pid_file(orderer)) is None
    kafka_network.up(out=io.StringIO())
    purchases_while(kafka_network, lambda: None)
