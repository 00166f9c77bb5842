"""Faults while users buy calls: whatever fails, every purchase is paid exactly once and no SToken is lost.

The network's own REST gateways run as processes here (as with `make run`), so one can be killed outright.
"""

from __future__ import annotations

import io
import os
import secrets
import signal
import threading
import time

import httpx
import pytest

from tdses.cli import main
from tdses.fabric import gateways
from tdses.index.store import IndexStore
from tdses.local import processes
from tdses.rest.config import load_settings

pytestmark = pytest.mark.integration

BUYERS, PURCHASES, PRICE = 8, 25, 2
RETRY_FOR = 180.0  # seconds a client keeps retrying one purchase
RETRIED = {409, 502, 503, 504}  # 409: the first request with this key is still running


def gateway_url(network, org: str) -> str:
    return f"http://{network.topology.org(org).gateway.address}"


def admin_client(network, org: str) -> httpx.Client:
    token = (network.state.secrets / f"{org}-gateway-admin-token").read_text().strip()
    return httpx.Client(base_url=gateway_url(network, org), headers={"Authorization": f"Bearer {token}"}, timeout=60)


def register(network, org: str, name: str) -> str:
    with admin_client(network, org) as admin:
        response = admin.post("/v1/users", json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["token"]


def buy_until_answered(url: str, token: str, service: str, key: str) -> dict:
    """One purchase, retried with its Idempotency-Key through connection failures and restarts, as a client would."""
    deadline = time.monotonic() + RETRY_FOR
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
                      timeout=60) as http:
        while True:
            try:
                response = http.post(f"/v1/services/{service}/rights", json={"calls": 1})
                if response.status_code == 200:
                    return response.json()
                assert response.status_code in RETRIED, response.text
            except httpx.TransportError:
                pass  # the gateway is down: try again
            assert time.monotonic() < deadline, f"purchase {key} never answered"
            time.sleep(0.2)


def kill(network, node) -> None:
    os.kill(processes.running_pid(network.state.pid_file(node)), signal.SIGKILL)


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
    tag = secrets.token_hex(3)
    developer, service = f"fault-dev-{tag}", f"fault-svc-{tag}"
    dev_token = register(network, "org1", developer)
    with httpx.Client(base_url=gateway_url(network, "org1"), headers={"Authorization": f"Bearer {dev_token}"},
                      timeout=60) as dev:
        assert dev.post("/v1/services", json={"name": service, "category": "x", "url": "https://f.example",
                                              "price": PRICE}).status_code == 201
        assert dev.post(f"/v1/services/{service}/publish").status_code == 200
        dev_start = dev.get(f"/v1/balances/{developer}").json()["balance"]
    buyers = {f"fault-buyer{i}-{tag}": register(network, "org2", f"fault-buyer{i}-{tag}") for i in range(BUYERS)}
    with admin_client(network, "org2") as admin:
        start = {name: admin.get(f"/v1/balances/{name}").json()["balance"] for name in buyers}

    url = gateway_url(network, "org2")
    answered = []
    failures = []
    a_quarter_in = threading.Event()

    def buyer(name: str, token: str) -> None:
        try:
            for i in range(PURCHASES):
                answered.append(buy_until_answered(url, token, service, f"{name}-purchase-{i}"))
                if len(answered) >= BUYERS * PURCHASES // 4:
                    a_quarter_in.set()
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            a_quarter_in.set()

    threads = [threading.Thread(target=buyer, args=item) for item in buyers.items()]
    for thread in threads:
        thread.start()
    assert a_quarter_in.wait(RETRY_FOR)
    fault(network)
    network.up(out=io.StringIO())  # starts whatever is not running, on the same ledgers and stores
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

    # org2's registry index, whose gateway lived through the fault: each purchase exactly once, equal to the ledger.
    config = gateways.config_file(network.state, network.topology.org("org2").gateway)
    assert main(["index", "verify", "--config", str(config)]) == 0
    settings = load_settings(config)
    index = IndexStore(settings.index.location(settings.store))
    purchases = index.activity(service=service, kind="purchase", limit=10 * BUYERS * PURCHASES)
    index.close()
    assert len(purchases) == len({p["tx_id"] for p in purchases}) == BUYERS * PURCHASES
