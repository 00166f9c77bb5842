"""The kafka topology: three ZooKeeper servers, three Kafka 3.9 brokers and three orderers in Kafka mode.

One network for the module. The paper's scenario runs on it; then one node at a time is killed outright
while users buy calls through the network's own REST gateways: every purchase commits while it is down,
each is paid exactly once, and no SToken is lost. Each test starts the killed node again before it ends.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import signal
import subprocess
import sys
import threading

import pytest

from tdses.fabric import kafka
from tdses.local import processes
from tdses.local.network import Network, init_state
from tests.integration.test_faults_under_load import admin_client, buy_until_answered, gateway_url, register
from tests.integration.test_rest_scenario import test_paper_scenario_over_three_gateways as paper_scenario
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


def kill(network: Network, node) -> None:
    os.kill(processes.running_pid(network.state.pid_file(node)), signal.SIGKILL)
    processes.wait_until(lambda: processes.running_pid(network.state.pid_file(node)) is None, node.short_name, 15)


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
    repaired: every purchase is answered and paid once, the developer is paid for each, nothing is lost."""
    tag = secrets.token_hex(3)
    developer, service = f"kdev-{tag}", f"ksvc-{tag}"
    dev_token = register(network, "org1", developer)
    with admin_client(network, "org1") as org1:
        org1.headers["Authorization"] = f"Bearer {dev_token}"
        assert org1.post("/v1/services", json={"name": service, "category": "x", "url": "https://k.example",
                                               "price": PRICE}).status_code == 201
        assert org1.post(f"/v1/services/{service}/publish").status_code == 200
        dev_start = org1.get(f"/v1/balances/{developer}").json()["balance"]
    buyers = {f"kbuyer{i}-{tag}": register(network, "org2", f"kbuyer{i}-{tag}") for i in range(BUYERS)}
    with admin_client(network, "org2") as admin:
        start = {name: admin.get(f"/v1/balances/{name}").json()["balance"] for name in buyers}

    answered, failures, a_quarter_in = [], [], threading.Event()

    def buyer(name: str, token: str) -> None:
        try:
            for i in range(PURCHASES):
                answered.append(buy_until_answered(gateway_url(network, "org2"), token, service, f"{name}-{i}"))
                if len(answered) >= BUYERS * PURCHASES // 4:
                    a_quarter_in.set()
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            a_quarter_in.set()

    threads = [threading.Thread(target=buyer, args=item) for item in buyers.items()]
    for thread in threads:
        thread.start()
    assert a_quarter_in.wait(180)
    fault()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(answered) == BUYERS * PURCHASES

    with admin_client(network, "org3") as reader:  # read through another organization
        for name in buyers:
            rights = reader.get(f"/v1/services/{service}/rights/{name}").json()
            assert (rights["bought"], rights["paid"]) == (PURCHASES, PURCHASES * PRICE), name
            assert reader.get(f"/v1/balances/{name}").json()["balance"] == start[name] - PURCHASES * PRICE
        assert reader.get(f"/v1/balances/{developer}").json()["balance"] == dev_start + BUYERS * PURCHASES * PRICE
        token = reader.get("/v1/token").json()
        assert token["circulating"] + token["pool"] == token["cap"]


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
