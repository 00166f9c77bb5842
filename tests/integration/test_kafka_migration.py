"""`tdses network migrate --to raft` on a kafka network: the ledger, balances and rights survive; new
transactions commit on Raft; the brokers and ZooKeeper servers are no longer run."""

from __future__ import annotations

import io
import json
import secrets
import subprocess
import sys

import pytest

from tdses.local import processes
from tdses.local.network import Network, init_state
from tests.support.faults import admin_client, buy_until_answered, gateway_url, register
from tests.support.ports import free_base_port

pytestmark = pytest.mark.integration

PRICE, BOUGHT = 3, 4


@pytest.fixture(scope="module")
def kafka_network(tmp_path_factory) -> Network:
    net = init_state(tmp_path_factory.mktemp("kafka-migration"), "kafka", free_base_port("kafka"))
    net.up(out=io.StringIO())
    yield net
    net.down(quiet=True)


def accounts(network: Network, service: str, users: list[str]) -> dict:
    """What the ledger says, read through org3's gateway."""
    with admin_client(network, "org3") as reader:
        return {
            "balances": {u: reader.get(f"/v1/balances/{u}").json()["balance"] for u in users},
            "rights": {u: reader.get(f"/v1/services/{service}/rights/{u}").json() for u in users[1:]},
            "token": reader.get("/v1/token").json(),
        }


def buy(network: Network, token: str, service: str, key: str) -> None:
    buy_until_answered(gateway_url(network, "org2"), token, service, key)


def height(network: Network) -> int:
    return int(processes.metric(network.topology.org("org1").peers[0].ports.operations, "ledger_blockchain_height"))


def test_migration_to_raft_keeps_the_ledger_and_orders_new_transactions(kafka_network):
    net = kafka_network
    tag = secrets.token_hex(3)
    developer, service, buyers = f"mdev-{tag}", f"msvc-{tag}", [f"mbuyer{i}-{tag}" for i in range(2)]
    dev_token = register(net, "org1", developer)
    with admin_client(net, "org1") as dev:
        dev.headers["Authorization"] = f"Bearer {dev_token}"
        assert dev.post("/v1/services", json={"name": service, "category": "x", "url": "https://m.example",
                                              "price": PRICE}).status_code == 201
        assert dev.post(f"/v1/services/{service}/publish").status_code == 200
    tokens = {b: register(net, "org2", b) for b in buyers}
    for b, token in tokens.items():
        for i in range(BOUGHT):
            buy(net, token, service, f"{b}-before-{i}")
    before, height_before = accounts(net, service, [developer, *buyers]), height(net)

    result = subprocess.run([sys.executable, "-m", "tdses.cli", "network", "migrate", "--to", "raft",
                             "--state-dir", str(net.state.root)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "migrated to raft" in result.stderr

    # Raft orders both channels; no broker or ZooKeeper server runs any more.
    net.wait_raft_leader()
    net.wait_raft_leader("system-channel")
    for node in [*net.topology.brokers, *net.topology.zookeepers]:
        assert processes.running_pid(net.state.pid_file(node)) is None, node.short_name
    status = subprocess.run([sys.executable, "-m", "tdses.cli", "network", "status", "--json",
                             "--state-dir", str(net.state.root)], capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stdout
    assert {r["kind"] for r in json.loads(status.stdout)} == {"ca", "orderer", "chaincode", "peer", "gateway"}

    # The ledger survived: every balance and right as before, nothing lost.
    after = accounts(net, service, [developer, *buyers])
    assert after == before
    assert height(net) >= height_before
    assert after["token"]["circulating"] + after["token"]["pool"] == after["token"]["cap"]

    # New transactions commit, on Raft.
    for b, token in tokens.items():
        buy(net, token, service, f"{b}-after")
    latest = accounts(net, service, [developer, *buyers])
    for b in buyers:
        assert latest["balances"][b] == before["balances"][b] - PRICE
        assert latest["rights"][b]["bought"] == BOUGHT + 1
    assert latest["balances"][developer] == before["balances"][developer] + len(buyers) * PRICE
    assert latest["token"]["circulating"] + latest["token"]["pool"] == latest["token"]["cap"]

    # A restart resumes on Raft: the orderers alone, no Kafka.
    net.down(quiet=True)
    net.up(out=io.StringIO())
    assert processes.running_pid(net.state.pid_file(net.topology.zookeepers[0])) is None
    buy(net, tokens[buyers[0]], service, f"{buyers[0]}-after-restart")
