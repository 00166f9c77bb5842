"""Purchases while something fails, through a local network's own REST gateways (processes, as with `make run`):
every purchase is answered and paid exactly once, the developer is paid for each, and no SToken is lost.

    sale = purchases_through(network, lambda: kill(network, leader), prefix="k", buyers=4, purchases=6, price=2)
    sale.service, sale.buyers                          # what was sold, to whom
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tdses.local import processes

RETRY_FOR = 180.0  # seconds a client keeps retrying one purchase
RETRIED = {409, 502, 503, 504}  # 409: the first request with this key is still running


def gateway_url(network, org: str) -> str:
    return f"http://{network.topology.org(org).gateway.address}"


def client(network, org: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=gateway_url(network, org), headers={"Authorization": f"Bearer {token}"}, timeout=60)


def admin_client(network, org: str) -> httpx.Client:
    return client(network, org, (network.state.secrets / f"{org}-gateway-admin-token").read_text().strip())


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
    """SIGKILL, then wait until the node is gone."""
    os.kill(processes.running_pid(network.state.pid_file(node)), signal.SIGKILL)
    processes.wait_until(lambda: processes.running_pid(network.state.pid_file(node)) is None, node.short_name, 15)


@dataclass(frozen=True)
class Sale:
    service: str
    buyers: list[str]


def purchases_through(network, fault: Callable[[], None], *, prefix: str, buyers: int, purchases: int,
                      price: int) -> Sale:
    """A developer on org1 publishes a service; `buyers` users of org2 each buy one call `purchases` times through
    org2's gateway, and a quarter of the way in, `fault()`. Checked through org3's gateway once all are answered:
    each buyer's rights and balance, the developer's balance, and the SToken supply."""
    tag = secrets.token_hex(3)
    developer, service = f"{prefix}dev-{tag}", f"{prefix}svc-{tag}"
    with client(network, "org1", register(network, "org1", developer)) as dev:
        assert dev.post("/v1/services", json={"name": service, "category": "x", "url": "https://fault.example",
                                              "price": price}).status_code == 201
        assert dev.post(f"/v1/services/{service}/publish").status_code == 200
        dev_start = dev.get(f"/v1/balances/{developer}").json()["balance"]
    tokens = {f"{prefix}buyer{i}-{tag}": register(network, "org2", f"{prefix}buyer{i}-{tag}") for i in range(buyers)}
    with admin_client(network, "org2") as admin:
        start = {name: admin.get(f"/v1/balances/{name}").json()["balance"] for name in tokens}

    url = gateway_url(network, "org2")
    answered, failures, a_quarter_in = [], [], threading.Event()

    def buyer(name: str, token: str) -> None:
        try:
            for i in range(purchases):
                answered.append(buy_until_answered(url, token, service, f"{name}-purchase-{i}"))
                if len(answered) >= buyers * purchases // 4:
                    a_quarter_in.set()
        except BaseException as error:  # reported by the main thread
            failures.append(error)
            a_quarter_in.set()

    threads = [threading.Thread(target=buyer, args=item) for item in tokens.items()]
    for thread in threads:
        thread.start()
    assert a_quarter_in.wait(RETRY_FOR)
    fault()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(answered) == buyers * purchases

    with admin_client(network, "org3") as reader:  # read through another organization
        for name in tokens:
            rights = reader.get(f"/v1/services/{service}/rights/{name}").json()
            assert (rights["bought"], rights["paid"]) == (purchases, purchases * price), name
            assert reader.get(f"/v1/balances/{name}").json()["balance"] == start[name] - purchases * price
        assert reader.get(f"/v1/balances/{developer}").json()["balance"] == dev_start + buyers * purchases * price
        token = reader.get("/v1/token").json()
        assert token["circulating"] + token["pool"] == token["cap"]
    return Sale(service, list(tokens))
