"""Keys and retries: a non-custodial user whose key never leaves the test client buys calls; a retried POST
with the same Idempotency-Key pays once; with org1's first peer stopped, org1's gateway keeps serving."""

from __future__ import annotations

import base64
import io
import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from fabric_ca import new_csr, new_key
from fabric_gateway.signing import to_low_s
from tdses.local import processes
from tdses.rest.store import PENDING

pytestmark = pytest.mark.integration

PRICE = 4



@pytest.fixture(scope="module")
def service(gateways):
    """An available service of an org1 developer."""
    tag = secrets.token_hex(3)
    token = gateways.register("org1", f"dev-{tag}")
    name = f"svc-{tag}"
    with gateways.client("org1", token) as dev:
        assert dev.post("/v1/services", json={"name": name, "category": "c", "url": "https://s.example",
                                              "price": PRICE}).status_code == 201
        assert dev.post(f"/v1/services/{name}/publish").status_code == 200
    return name


def sign(key: ec.EllipticCurvePrivateKey, digest_b64: str) -> str:
    der = key.sign(base64.b64decode(digest_b64), ec.ECDSA(Prehashed(hashes.SHA256())))
    return base64.b64encode(to_low_s(der)).decode()


def complete(http, key, request: dict) -> dict:
    """Sign the proposal, then the transaction; returns the committed result."""
    assert request["step"] == "proposal"
    endorsed = http.post(request["signatureUrl"], json={"signature": sign(key, request["digest"])})
    assert endorsed.status_code == 202, endorsed.text
    assert endorsed.json()["step"] == "transaction"
    committed = http.post(request["signatureUrl"], json={"signature": sign(key, endorsed.json()["digest"])})
    assert committed.status_code == 200, committed.text
    return committed.json()


def test_a_non_custodial_user_buys_calls_with_a_key_the_gateway_never_sees(gateways, service):
    name = f"own-key-{secrets.token_hex(3)}"
    key = new_key()  # stays in this test
    with gateways.client("org2", gateways.admin_token("org2")) as admin:
        response = admin.post("/v1/users", json={"name": name, "csr": new_csr(name, key).decode()})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["user"]["status"] == "pending" and created["signatureRequest"]["step"] == "proposal"

    with gateways.client("org2", created["token"]) as user:
        registered = complete(user, key, created["signatureRequest"])
        assert registered["result"]["name"] == name
        balance = user.get("/v1/users/me").json()["balance"]

        prepared = user.post(f"/v1/services/{service}/rights", json={"calls": 3})
        assert prepared.status_code == 202, prepared.text
        wrong = user.post(prepared.json()["signatureUrl"], json={"signature": sign(new_key(), prepared.json()["digest"])})
        assert wrong.status_code == 400 and wrong.json()["code"] == "INVALID_SIGNATURE"
        bought = complete(user, key, prepared.json())
        assert (bought["result"]["bought"], bought["result"]["paid"]) == (3, 3 * PRICE)
        assert user.get("/v1/users/me").json()["balance"] == balance - 3 * PRICE

    store = Path(gateways.settings["org2"].store)
    store_db = b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))  # with the write-ahead log
    private_bytes = key.private_numbers().private_value.to_bytes(32, "big")
    assert private_bytes not in store_db


def test_a_non_custodial_creation_resumes_only_with_its_own_key_and_finds_its_committed_registration(
        gateways, service):
    name = f"resumed-{secrets.token_hex(3)}"
    key = new_key()
    with gateways.client("org2", gateways.admin_token("org2")) as admin:
        created = admin.post("/v1/users", json={"name": name, "csr": new_csr(name, key).decode()}).json()
        other_key = admin.post("/v1/users", json={"name": name, "csr": new_csr(name, new_key()).decode()})
        assert other_key.status_code == 409 and "another key" in other_key.json()["detail"]
        with gateways.client("org2", created["token"]) as user:  # the first token still holds
            complete(user, key, created["signatureRequest"])
        # The registration committed, and its activation here was lost (a crash between the two):
        gateways.context("org2").store.set_state(name, PENDING)
        resumed = admin.post("/v1/users", json={"name": name, "csr": new_csr(name, key).decode()})
    assert resumed.status_code == 201 and resumed.json()["user"]["name"] == name, resumed.text
    assert resumed.json()["user"]["status"] == "active" and resumed.json().get("signatureRequest") is None
    with gateways.client("org2", resumed.json()["token"]) as user:
        assert user.get("/v1/users/me").json()["name"] == name


def test_a_proposal_signature_sent_again_or_twice_at_once_answers_the_same_and_pays_once(gateways, service):
    name = f"twice-{secrets.token_hex(3)}"
    key = new_key()
    with gateways.client("org2", gateways.admin_token("org2")) as admin:
        created = admin.post("/v1/users", json={"name": name, "csr": new_csr(name, key).decode()}).json()
    with gateways.client("org2", created["token"]) as user:
        complete(user, key, created["signatureRequest"])
        balance = user.get("/v1/users/me").json()["balance"]
        prepared = user.post(f"/v1/services/{service}/rights", json={"calls": 1}).json()
        signature = {"signature": sign(key, prepared["digest"])}
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: user.post(prepared["signatureUrl"], json=signature), range(3)))
        again = user.post(prepared["signatureUrl"], json=signature)  # as after an answer lost on the way
        assert [a.status_code for a in answers + [again]] == [202] * 4, [a.text for a in answers + [again]]
        assert len({a.json()["digest"] for a in answers + [again]}) == 1
        forged = user.post(prepared["signatureUrl"], json={"signature": sign(new_key(), prepared["digest"])})
        assert forged.status_code == 400
        committed = user.post(prepared["signatureUrl"], json={"signature": sign(key, again.json()["digest"])})
        assert committed.status_code == 200, committed.text
        assert user.get("/v1/users/me").json()["balance"] == balance - PRICE


def test_a_retried_purchase_with_the_same_idempotency_key_pays_once(gateways, service):
    name = f"retry-{secrets.token_hex(3)}"
    token = gateways.register("org2", name)
    with gateways.client("org2", token) as buyer:
        balance = buyer.get("/v1/users/me").json()["balance"]
        key = {"Idempotency-Key": secrets.token_hex(8)}
        first = buyer.post(f"/v1/services/{service}/rights", json={"calls": 2}, headers=key)
        again = buyer.post(f"/v1/services/{service}/rights", json={"calls": 2}, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["x-transaction-id"] == first.headers["x-transaction-id"]
        other = buyer.post(f"/v1/services/{service}/rights", json={"calls": 3}, headers=key)
        assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
        assert buyer.get("/v1/users/me").json()["balance"] == balance - 2 * PRICE
        assert buyer.get(f"/v1/services/{service}/rights/{name}").json()["bought"] == 2


def test_org1_gateway_serves_reads_and_writes_with_its_first_peer_stopped(gateways, network, service):
    token = gateways.register("org1", f"failover-{secrets.token_hex(3)}")
    peer0 = network.topology.org("org1").peers[0]
    assert processes.stop(network.state.pid_file(peer0))
    try:
        with gateways.client("org1", token) as user:
            assert user.get("/readyz").status_code == 200
            assert user.get(f"/v1/services/{service}").json()["name"] == service
            assert user.get("/v1/users/me").json()["balance"] > 0  # a read of the ledger, from the other peer
            bought = user.post(f"/v1/services/{service}/rights", json={"calls": 1})
            assert bought.status_code == 200, bought.text
            tx = user.get(f"/v1/transactions/{bought.headers['x-transaction-id']}")
            assert tx.status_code == 200 and (tx.json()["status"], tx.json()["valid"]) == ("VALID", True)
    finally:
        network.up(out=io.StringIO())
