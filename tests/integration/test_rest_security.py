"""Authorization and input validation over HTTP on the real network: no token acts for another user, bad tokens
get 401, and bad input gets a clear 4xx without any transaction reaching the ledger."""

from __future__ import annotations

import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tdses.local import processes
from tdses.metering.voucher import Claim, Voucher, request_digest
from tests.support.gateways import Gateways

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"



@pytest.fixture(scope="module")
def world(gateways):
    """A victim developer with an available service, a buyer of it (org2), and an attacker (org1)."""
    tag = secrets.token_hex(3)
    names = {"victim": f"victim-{tag}", "buyer": f"buyer-{tag}", "attacker": f"attacker-{tag}",
             "service": f"victim-svc-{tag}"}
    tokens = {"victim": gateways.register("org1", names["victim"]), "attacker": gateways.register("org1", names["attacker"]),
              "buyer": gateways.register("org2", names["buyer"])}
    with gateways.client("org1", tokens["victim"]) as victim:
        assert victim.post("/v1/services", json={"name": names["service"], "category": "c",
                                                 "url": "https://v.example", "price": 2}).status_code == 201
        assert victim.post(f"/v1/services/{names['service']}/publish").status_code == 200
    with gateways.client("org2", tokens["buyer"]) as buyer:
        bought = buyer.post(f"/v1/services/{names['service']}/rights", json={"calls": 3})
        assert bought.status_code == 200
    names["block"] = bought.headers["X-Block-Number"]  # reads of the index ask for it (X-Min-Block)
    return names, tokens


def height(network) -> float:
    return processes.metric(network.topology.org("org1").peers[0].ports.operations, "ledger_blockchain_height")


def mutating_operations(names: dict) -> list[tuple[str, str, dict | None]]:
    """Every mutating endpoint, aimed at the victim's user and service."""
    v, s, b = names["victim"], names["service"], names["buyer"]
    return [
        ("POST", "/v1/users", {"name": f"new-{secrets.token_hex(3)}"}),
        ("DELETE", f"/v1/users/{v}", None),
        ("POST", f"/v1/users/{v}/token", None),
        ("PATCH", f"/v1/services/{s}", {"price": 1}),
        ("POST", f"/v1/services/{s}/publish", None),
        ("POST", f"/v1/services/{s}/invalidate", None),
        ("POST", f"/v1/services/{s}/servers", {"server": names["attacker"]}),
        ("DELETE", f"/v1/services/{s}/servers/{names['attacker']}", None),
        ("POST", f"/v1/services/{s}/rights/{b}/reduce", {"calls": 1}),
        ("POST", f"/v1/users/{v}/voucher-key", None),
        ("POST", f"/v1/services/{s}/settlements", {"vouchers": [a_voucher(s, b)]}),
        ("POST", f"/v1/users/{v}/compact", None),
        ("POST", f"/v1/services/{s}/compact", None),
    ]


def a_voucher(service: str, user: str) -> str:
    """A well-formed voucher (signed by a key that is nobody's)."""
    claim = Claim(service, user, 1, request_digest("GET", "/"), int(time.time() * 1000))
    return Voucher.sign(claim, ec.generate_private_key(ec.SECP256R1())).text


def test_no_user_acts_for_another_on_any_mutating_endpoint(gateways, world, network):
    names, tokens = world
    before = height(network)
    with gateways.client("org1", tokens["attacker"]) as attacker:
        for method, path, body in mutating_operations(names) + [("POST", "/v1/invitations", None)]:
            response = attacker.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)
            assert response.headers["content-type"] == PROBLEM
    with gateways.client("org1", tokens["victim"]) as victim:
        service = victim.get(f"/v1/services/{names['service']}", headers={"X-Min-Block": names["block"]}).json()
        assert (service["status"], service["price"]) == ("available", 2)
        assert victim.get("/v1/users/me").json()["status"] == "active"
    assert height(network) == before


def test_money_moves_only_from_the_callers_own_account(gateways, world):
    names, tokens = world
    with gateways.client("org1", tokens["victim"]) as victim:
        victim_before = victim.get("/v1/users/me").json()["balance"]
    with gateways.client("org1", tokens["attacker"]) as attacker:
        attacker_before = attacker.get("/v1/users/me").json()["balance"]
        assert attacker.post("/v1/transfers", json={"to": names["buyer"], "amount": 1}).status_code == 201
        assert attacker.get("/v1/users/me").json()["balance"] == attacker_before - 1
    with gateways.client("org1", tokens["victim"]) as victim:
        assert victim.get("/v1/users/me").json()["balance"] == victim_before


def test_the_admin_token_cannot_act_as_a_user(gateways, world):
    """Except that the org admin may reset a user's lost token (tested with the CLI), which is not acting as it."""
    names, _ = world
    with gateways.client("org1", gateways.admin_token("org1")) as admin:
        for method, path, body in mutating_operations(names)[1:]:
            if path.endswith("/token"):
                continue
            response = admin.request(method, path, json=body)
            assert response.status_code == 403, (method, path, response.text)


def test_missing_wrong_or_revoked_tokens_get_401_on_every_mutating_endpoint(gateways, world):
    names, _ = world
    revoked_name = f"revoked-{secrets.token_hex(3)}"
    revoked = gateways.register("org1", revoked_name)
    with gateways.client("org1", revoked) as user:
        assert user.post(f"/v1/users/{revoked_name}/token").status_code == 200  # the old token dies here
    spec = gateways.client("org1").get("/openapi.json").json()
    mutating = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if m in ("post", "patch", "delete")}
    ours = mutating_operations(names) + [
        ("POST", "/v1/services", {"name": "x1", "category": "c", "url": "https://x.example", "price": 1}),
        ("POST", "/v1/mashups", {"name": "m1", "category": "c", "url": "https://x.example", "price": 1,
                                 "components": [names["service"]]}),
        ("POST", f"/v1/services/{names['service']}/rights", {"calls": 1}),
        ("POST", f"/v1/services/{names['service']}/rewards", {"amount": 1}),
        ("POST", "/v1/transfers", {"to": names["victim"], "amount": 1}),
        ("POST", "/v1/transactions/" + "0" * 64 + "/signature", {"signature": "MEUCIQDabcdefgh"}),
        ("POST", f"/v1/services/{names['service']}/vouchers", {"vouchers": [{"count": 1, "digest": "A" * 43}]}),
        ("POST", "/v1/compositions", {"workflow": ["c"]}),  # not a write, but a POST: authenticated all the same
        ("POST", "/v1/invitations", None),
    ]
    assert len({(m, _template(p, spec)) for m, p, _ in ours}) == len(mutating), "every mutating endpoint is covered"
    for token in (None, "wrong-token", revoked):
        with gateways.client("org1", token) as http:
            for method, path, body in ours:
                response = http.request(method, path, json=body)
                assert response.status_code == 401, (token, method, path, response.text)
                assert response.headers["www-authenticate"].startswith("Bearer")


def _template(path: str, spec: dict) -> str:
    """The OpenAPI path template a concrete path belongs to."""
    parts = path.split("/")
    for template in spec["paths"]:
        t = template.split("/")
        if len(t) == len(parts) and all(a == b or a.startswith("{") for a, b in zip(t, parts)):
            return template
    raise AssertionError(f"no template for {path}")


BAD_REQUESTS = [
    # (method, path template, body or raw bytes, expected status)
    ("POST", "/v1/services", b'{"name": "x", ', 400),
    ("POST", "/v1/services", b"[1, 2]", 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": "3"}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": 3.5}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": True}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": -1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": 10**13}, 422),
    ("POST", "/v1/services", b'{"name": "ok-name", "category": "c", "url": "https://x.example", "price": 1e400}', 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": 1, "x": 1}, 422),
    ("POST", "/v1/services", {"name": "bad\u0001name", "category": "c", "url": "https://x.example", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "bad\u0000name", "category": "c", "url": "https://x.example", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "trailing\n", "category": "c", "url": "https://x.example", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "a" * 65, "category": "c", "url": "https://x.example", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c\u0000", "url": "https://x.example", "price": 1}, 422),
    ("POST", "/v1/services", b'{"name": "ok-name", "category": "\\ud800", "url": "https://x.example", "price": 1}',
     422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "ftp://x.example", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://[::1", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example:99999/", "price": 1},
     422),
    ("PATCH", "/v1/services/{service}", {"url": "http://[x"}, 422),
    ("PATCH", "/v1/services/{service}", {"qos": {}}, 422),
    ("POST", "/v1/services/{service}/rights", b'{"calls": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
    ("POST", "/v1/services/{service}/rights", b'{"calls": 1' + b"0" * 5000 + b"}", 400),
    ("GET", "/v1/services?page_size=3&q=weather&min_price=5", None, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://a.example@evil.example/",
                              "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": 1,
                              "description": "invoice\u202Efdp.exe"}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "pay\u200Bments", "url": "https://x.example",
                              "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "pay\u00ADments", "url": "https://x.example",
                              "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": " ", "url": "https://x.example", "price": 1}, 422),
    ("POST", "/v1/services", {"name": "ok-name", "category": "c", "url": "https://x.example", "price": 1,
                              "description": "d" * 200_000}, 413),
    ("PATCH", "/v1/services/{service}", {}, 422),
    ("PATCH", "/v1/services/{service}", {"price": None}, 422),
    ("POST", "/v1/services/{service}/rights", {"calls": 0}, 422),
    ("POST", "/v1/services/{service}/rights", {"calls": -5}, 422),
    ("POST", "/v1/services/{service}/rights", {"calls": 10**7}, 422),
    ("POST", "/v1/services/{service}/rights", {"calls": 10**30}, 422),
    ("POST", "/v1/services/{service}/rights", {"calls": "5"}, 422),
    ("POST", "/v1/services/{service}/rights", {"calls": None}, 422),
    ("POST", "/v1/services/{service}/rights", {}, 422),
    ("POST", "/v1/services/bad%00name/rights", {"calls": 1}, 422),
    ("POST", "/v1/services/bad%01name/rights", {"calls": 1}, 422),
    ("POST", "/v1/services/{service}/rewards", {"amount": 0}, 422),
    ("POST", "/v1/services/{service}/rewards", {"amount": 10**16}, 422),
    ("POST", "/v1/transfers", {"to": "x\u0000y", "amount": 1}, 422),
    ("POST", "/v1/transfers", {"to": "bob", "amount": -1}, 422),
    ("POST", "/v1/mashups", {"name": "m", "category": "c", "url": "https://x.example", "price": 1,
                             "components": []}, 422),
    ("POST", "/v1/mashups", {"name": "m", "category": "c", "url": "https://x.example", "price": 1,
                             "components": ["a", "a"]}, 422),
    ("POST", "/v1/services/{service}/servers", {"server": ""}, 422),
]


@pytest.mark.parametrize("method,path,body,status", BAD_REQUESTS,
                         ids=[f"{i}-{m}-{p}" for i, (m, p, _, _) in enumerate(BAD_REQUESTS)])
def test_bad_input_gets_a_clear_4xx_and_submits_nothing(gateways, world, network, method, path, body, status):
    names, tokens = world
    path = path.format(service=names["service"])
    before = height(network)
    with gateways.client("org1", tokens["victim"]) as http:
        if isinstance(body, bytes):
            response = http.request(method, path, content=body, headers={"Content-Type": "application/json"})
        else:
            response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["detail"] and problem["code"]
    if status == 400:
        assert problem["code"] == "MALFORMED_JSON"
    assert height(network) == before


def test_names_with_control_characters_are_refused_when_creating_users(gateways, network):
    before = height(network)
    with gateways.client("org1", gateways.admin_token("org1")) as admin:
        for name in ("a\u0000b", "a\u0007b", "", "white space", "na\u00efve", "-dash-first"):
            response = admin.post("/v1/users", json={"name": name})
            assert response.status_code == 422, (name, response.text)
        response = admin.post("/v1/users", json={"name": "fine-name", "introduction": "x\u0000"})
        assert response.status_code == 422
    assert height(network) == before


def test_of_concurrent_creations_of_one_name_one_succeeds_and_the_others_hear_the_name_is_taken(
        gateways, network, tmp_path):
    """Through one gateway, creations of one name run one at a time; through two (replicas, each its own store),
    they meet at the CA, which checks a name and then inserts it: all but one fail on its database's unique key
    with a bare 500, which must not reach the client as the CA's failure."""
    from tdses.rest.main import app
    from tests.support.gateways import GatewayServer, settings_for

    name = f"twin-{secrets.token_hex(3)}"
    replica_settings = settings_for(network, "org1", tmp_path / "replica")
    with GatewayServer(app(replica_settings)) as replica:
        targets = [(gateways.url("org1"), gateways.admin_token("org1"))] * 2 + \
                  [(replica.url, replica_settings.admin_token())] * 2

        def create(target: tuple[str, str]) -> httpx.Response:
            url, token = target
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=90) as admin:
                return admin.post("/v1/users", json={"name": name, "introduction": "first come"})

        with ThreadPoolExecutor(len(targets)) as pool:
            answers = list(pool.map(create, targets))
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
        assert all(a.json()["code"] == "ALREADY_EXISTS" for a in answers if a.status_code == 409)
        created, (url, _) = next((a, t) for a, t in zip(answers, targets) if a.status_code == 201)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {created.json()['token']}"}) as user:
            assert user.get("/v1/users/me").json()["name"] == name  # the losers revoked nothing of the winner's


def test_the_rate_limit_answers_429_with_retry_after(network, tmp_path):
    # A bucket that refills once in 100 s: however slow the machine, nothing refills during the test.
    gw = Gateways(network, tmp_path, orgs=("org1",), rate_limit_per_second=0.01, rate_limit_burst=3).start()
    try:
        name = f"limited-{secrets.token_hex(3)}"
        first = gw.register("org1", name)
        with gw.client("org1", first) as http:  # one bucket per user: a rotated token does not refill it
            assert [http.get("/v1/token").status_code for _ in range(2)] == [200, 200]
            rotated = http.post(f"/v1/users/{name}/token")
            assert rotated.status_code == 200
        with gw.client("org1", rotated.json()["token"]) as http:
            assert http.get("/v1/token").status_code == 429
        with gw.client("org1", "some-token") as http:
            statuses = [http.get("/v1/token").status_code for _ in range(5)]
            assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
            limited = http.get("/v1/token")
            assert int(limited.headers["retry-after"]) >= 1
            assert http.get("/healthz").status_code == 200  # probes are not limited
    finally:
        gw.stop()


def test_an_idempotency_key_the_gateway_forgot_cannot_answer_for_another_request(gateways, world):
    """Transaction IDs follow from the user and the key: once the store has forgotten a key (its TTL), the ledger
    still holds the first request's transaction, which must neither answer for another request nor run twice."""
    names, tokens = world
    buyer, service = names["buyer"], names["service"]
    store = gateways.context("org2").store
    key = {"Idempotency-Key": f"forgotten-{secrets.token_hex(4)}"}
    with gateways.client("org2", tokens["buyer"]) as http:
        bought = http.post(f"/v1/services/{service}/rights", json={"calls": 1}, headers=key)
        assert bought.status_code == 200
        balance = http.get(f"/v1/balances/{buyer}").json()["balance"]
        store.release_idempotency_key(buyer, key["Idempotency-Key"])  # as its TTL does
        reward = http.post(f"/v1/services/{service}/rewards", json={"amount": 5}, headers=key)
        assert reward.status_code == 422 and reward.json()["code"] == "IDEMPOTENCY_KEY_REUSED", reward.text
        store.release_idempotency_key(buyer, key["Idempotency-Key"])
        again = http.post(f"/v1/services/{service}/rights", json={"calls": 1}, headers=key)
        assert again.status_code == 200 and again.json() == bought.json()
        assert again.headers["X-Transaction-Id"] == bought.headers["X-Transaction-Id"]
        assert http.get(f"/v1/balances/{buyer}").json()["balance"] == balance  # neither paid again
