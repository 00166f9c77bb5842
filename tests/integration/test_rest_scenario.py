"""The paper's scenario over HTTP, one gateway per organization, every figure read back through another
organization's gateway: developer B (org1) publishes a service, user A (org2) buys 5 calls, B's server reduces 2,
A rewards B, developer C (org3) composes B's service into a mashup and pays B."""

from __future__ import annotations

import json
import math
import secrets

import httpx
import pytest
import yaml

from tdses.paths import NETWORK_CONFIG
from tests.support.gateways import Gateways

pytestmark = pytest.mark.integration

GENESIS = yaml.safe_load((NETWORK_CONFIG / "stoken.yaml").read_text())
PRICE, CALLS, USED, REWARD, MASHUP_PRICE = 3, 5, 2, 7, 11



def grant_for(info: dict) -> int:
    """The registration grant per network-config/stoken.yaml: halved every grantHalvingEvery registrations."""
    grant = GENESIS["initialGrant"] >> (info["registrations"] // GENESIS["grantHalvingEvery"])
    return min(max(grant, 1), info["pool"])


def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def register(gateways, org: str, name: str) -> tuple[str, int]:
    """Register a user; returns its token and the grant it must have received."""
    with gateways.client(org, gateways.admin_token(org)) as admin:
        expected = grant_for(ok(admin.get("/v1/token")))
        created = ok(admin.post("/v1/users", json={"name": name, "introduction": "scenario"}), 201)
    assert created["user"]["balance"] == expected
    return created["token"], expected


def test_paper_scenario_over_three_gateways(gateways):
    tag = secrets.token_hex(3)
    b_name, a_name, c_name, server_name = f"dev-b-{tag}", f"user-a-{tag}", f"dev-c-{tag}", f"server-b-{tag}"
    service, mashup = f"weather-{tag}", f"trip-{tag}"

    b_token, b_balance = register(gateways, "org1", b_name)
    server_token, _ = register(gateways, "org1", server_name)
    a_token, a_balance = register(gateways, "org2", a_name)
    c_token, c_balance = register(gateways, "org3", c_name)

    with gateways.client("org1", b_token) as b:
        ok(b.post("/v1/services", json={"name": service, "category": "weather", "url": "https://weather.example",
                                        "price": PRICE}), 201)
        assert ok(b.post(f"/v1/services/{service}/publish"))["status"] == "available"
        ok(b.post(f"/v1/services/{service}/servers", json={"server": server_name}), 201)

    with gateways.client("org2", a_token) as a:
        rights = ok(a.post(f"/v1/services/{service}/rights", json={"calls": CALLS}))
        assert (rights["bought"], rights["remaining"], rights["paid"]) == (CALLS, CALLS, CALLS * PRICE)

    with gateways.client("org1", server_token) as server:
        rights = ok(server.post(f"/v1/services/{service}/rights/{a_name}/reduce", json={"calls": USED}))
        assert (rights["used"], rights["remaining"]) == (USED, CALLS - USED)

    with gateways.client("org2", a_token) as a:
        receipt = ok(a.post(f"/v1/services/{service}/rewards", json={"amount": REWARD}))
        assert (receipt["developer"], receipt["amount"]) == (b_name, REWARD)

    with gateways.client("org3", c_token) as c:
        receipt = ok(c.post("/v1/mashups", json={"name": mashup, "category": "travel", "url": "https://trip.example",
                                                 "price": MASHUP_PRICE, "components": [service]}), 201)
        assert receipt["paid"] == PRICE and receipt["mashup"]["components"] == [service]

    a_balance -= CALLS * PRICE + REWARD
    b_balance += CALLS * PRICE + REWARD + PRICE
    c_balance -= PRICE

    # Every figure read back through another organization's gateway.
    with gateways.client("org3", c_token) as reader:
        b = ok(reader.get(f"/v1/users/{b_name}"))
        assert b["balance"] == b_balance
        nt, np_, ni = 1, 1, 1  # one available service; one user paid for calls of it; one user composed it
        assert b["contribution"]["availableServices"] == nt
        assert b["contribution"]["buyers"] == np_ and b["contribution"]["composers"] == ni
        assert b["contribution"]["callsBought"] == CALLS and b["contribution"]["compositions"] == 1
        weights = (float(GENESIS["lambda"]), float(GENESIS["gamma"]))
        expected = math.log(nt + 1) + weights[0] * ni / nt + weights[1] * np_ / nt
        assert b["contribution"]["value"] == pytest.approx(expected, abs=1e-6)
        rights = ok(reader.get(f"/v1/services/{service}/rights/{a_name}"))
        assert (rights["bought"], rights["used"], rights["remaining"]) == (CALLS, USED, CALLS - USED)
    with gateways.client("org1", b_token) as reader:
        assert ok(reader.get(f"/v1/balances/{a_name}"))["balance"] == a_balance
        assert ok(reader.get(f"/v1/users/{c_name}"))["balance"] == c_balance
        usage = ok(reader.get(f"/v1/services/{service}/rights"))
        assert (usage["callsBought"], usage["callsUsed"], usage["compositions"]) == (CALLS, USED, 1)
    with gateways.client("org2", a_token) as reader:
        assert ok(reader.get(f"/v1/services/{mashup}"))["developer"] == c_name
        page = ok(reader.get("/v1/services", params={"developer": b_name}))
        assert [s["name"] for s in page["items"]] == [service]
        assert ok(reader.get(f"/v1/balances/{b_name}"))["balance"] == b_balance
        assert reader.post(f"/v1/users/{b_name}/compact").status_code == 403  # only b folds b's credits
        assert reader.post(f"/v1/services/{service}/compact").status_code == 403

    # b folds its credits (a purchase, a reward, a composition) into one record: the figures stay. A compaction
    # folds those older than 10 s only (the chaincode's creditInFlight; Go tests cover which), so how many of the
    # three it folds depends on how long the steps above took.
    with gateways.client("org1", b_token) as b:
        first, second = ok(b.post(f"/v1/users/{b_name}/compact")), ok(b.post(f"/v1/users/{b_name}/compact"))
        assert first["owner"] == b_name and first["more"] is False and second["more"] is False
        assert first["deltas"] + second["deltas"] <= 3
        assert ok(b.post(f"/v1/services/{service}/compact"))["more"] is False
        assert ok(b.get(f"/v1/users/{b_name}"))["balance"] == b_balance
        usage = ok(b.get(f"/v1/services/{service}/rights"))
        assert (usage["callsBought"], usage["callsUsed"], usage["compositions"]) == (CALLS, USED, 1)


def test_services_page_through_with_a_cursor(gateways):
    tag = secrets.token_hex(3)
    token = gateways.register("org1", f"pager-{tag}")
    names = [f"page-{tag}-{i}" for i in range(5)]
    with gateways.client("org1", token) as dev:
        for name in names:
            ok(dev.post("/v1/services", json={"name": name, "category": "c", "url": "https://x.example", "price": 1}),
               201)
    with gateways.client("org2", gateways.admin_token("org2")) as reader:
        seen, cursor = [], None
        while True:
            page = ok(reader.get("/v1/services", params={"developer": f"pager-{tag}", "page_size": 2,
                                                         **({"cursor": cursor} if cursor else {})}))
            assert len(page["items"]) <= 2
            seen += [s["name"] for s in page["items"]]
            cursor = page["nextCursor"]
            if cursor is None:
                break
        assert seen == names
        ranged = ok(reader.get("/v1/services", params={"start": names[1], "end": names[3]}))
        assert [s["name"] for s in ranged["items"]] == names[1:3]


def test_events_stream_and_resume_from_the_last_event_id(gateways):
    tag = secrets.token_hex(3)
    token = gateways.register("org1", f"evt-{tag}")
    with gateways.client("org1", token) as dev:
        for i in range(2):
            ok(dev.post("/v1/services", json={"name": f"evt-{tag}-{i}", "category": "c", "url": "https://x.example",
                                              "price": 1}), 201)
        mine = lambda e: e[0] == "ServiceRegistered" and e[2]["payload"]["developer"] == f"evt-{tag}"  # noqa: E731
        first = read_events(dev, {"start_block": 0}, {}, until=mine)
        assert first[2]["payload"]["service"] == f"evt-{tag}-0"
        resumed = read_events(dev, {}, {"Last-Event-ID": first[1]}, until=mine)
        assert resumed[2]["payload"]["service"] == f"evt-{tag}-1"
        block = first[1].split(":")[0]
        for unknown in (f"{block}:{'0' * 64}", f"{10**12}:{first[1].split(':')[1]}"):
            gone = dev.get("/v1/events", headers={"Last-Event-ID": unknown}, timeout=10)
            assert gone.status_code == 410 and gone.json()["code"] == "UNKNOWN_RESUME_POINT", unknown


def read_events(http: httpx.Client, params: dict, headers: dict, until) -> tuple[str, str, dict]:
    """The first server-sent event that satisfies `until`, as (event name, id, data)."""
    with http.stream("GET", "/v1/events", params=params, headers=headers, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        name = event_id = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                event = (name, event_id, json.loads(line[6:]))
                if until(event):
                    return event
    raise AssertionError("the stream ended before the event came")


def test_a_write_through_one_gateway_is_read_at_once_through_the_others(gateways):
    tag = secrets.token_hex(3)
    token, _ = register(gateways, "org1", f"toggler-{tag}")
    reader_token, _ = register(gateways, "org3", f"reader-{tag}")
    service = f"toggled-{tag}"
    with gateways.client("org1", token) as dev, gateways.client("org3", reader_token) as reader:
        ok(dev.post("/v1/services", json={"name": service, "category": "x", "url": "https://t.example",
                                          "price": 1}), 201)
        last_block = -1
        for round_ in range(20):
            response = dev.post(f"/v1/services/{service}/{'publish' if round_ % 2 == 0 else 'invalidate'}")
            expected = ok(response)["status"]
            block = int(response.headers["X-Block-Number"])
            assert block > last_block
            last_block = block
            read = reader.get(f"/v1/services/{service}", headers={"X-Min-Block": str(block)})
            assert ok(read)["status"] == expected, f"round {round_}"
            assert int(read.headers["X-Index-Block"]) >= block


def test_a_purchase_with_max_price_is_refused_when_the_price_went_up(gateways):
    tag = secrets.token_hex(3)
    dev_token, _ = register(gateways, "org1", f"raiser-{tag}")
    buyer_token, balance = register(gateways, "org2", f"careful-{tag}")
    service = f"pricey-{tag}"
    with gateways.client("org1", dev_token) as dev:
        ok(dev.post("/v1/services", json={"name": service, "category": "x", "url": "https://p.example",
                                          "price": 3}), 201)
        ok(dev.post(f"/v1/services/{service}/publish"))
        ok(dev.patch(f"/v1/services/{service}", json={"price": 500}))
    with gateways.client("org2", buyer_token) as buyer:
        refused = buyer.post(f"/v1/services/{service}/rights", json={"calls": 2, "maxPrice": 3})
        assert refused.status_code == 409 and refused.json()["code"] == "INVALID_STATE", refused.text
        assert "maxPrice 3" in refused.json()["detail"]
        assert ok(buyer.get(f"/v1/balances/{f'careful-{tag}'}"))["balance"] == balance
        assert buyer.post(f"/v1/services/{service}/rights", json={"calls": 1, "maxPrice": -1}).status_code == 422
        bought = ok(buyer.post(f"/v1/services/{service}/rights", json={"calls": 1, "maxPrice": 500}))
        assert bought["paid"] == 500
        mashup = {"name": f"mix-{tag}", "category": "x", "url": "https://m.example", "price": 1,
                  "components": [service], "maxPaid": 3}
        refused = buyer.post("/v1/mashups", json=mashup)
        assert refused.status_code == 409 and "maxPaid 3" in refused.json()["detail"], refused.text
        assert ok(buyer.post("/v1/mashups", json={**mashup, "maxPaid": 500}), 201)["paid"] == 500


def names_in_one_shard(count: int, shards: int) -> list[str]:
    """New user names that the chaincode puts in one grant shard (SHA-256 of the name, first 8 bytes, mod shards)."""
    import hashlib

    def shard(name: str) -> int:
        return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % shards

    tag, names = secrets.token_hex(3), []
    for i in range(100_000):
        if shard(f"rush-{tag}-{i}") == 0:
            names.append(f"rush-{tag}-{i}")
            if len(names) == count:
                return names
    raise AssertionError("no names found")


def test_registrations_that_lost_a_conflict_succeed_when_created_again(network, tmp_path):
    """Registrations of names in one grant shard share its key; with no retry allowed, concurrent ones conflict. The
    name must not be burnt by that: creating it again resumes with the same CA identity and succeeds."""
    from concurrent.futures import ThreadPoolExecutor

    gateways = Gateways(network, tmp_path, orgs=("org1",), conflict_retries=1).start()
    try:
        with gateways.client("org1", gateways.admin_token("org1")) as admin:
            shards = ok(admin.get("/v1/token"))["grantShards"]
        names = names_in_one_shard(8, shards)

        def create(name: str) -> httpx.Response:
            with gateways.client("org1", gateways.admin_token("org1")) as admin:
                return admin.post("/v1/users", json={"name": name})

        with ThreadPoolExecutor(len(names)) as pool:
            first = dict(zip(names, pool.map(create, names)))
        lost = [name for name, response in first.items() if response.status_code != 201]
        assert lost, "no registration conflicted: the test proves nothing"
        assert {first[name].json()["code"] for name in lost} == {"CONFLICT"}
        for name in lost:
            again = create(name)
            assert again.status_code == 201, again.text
            with gateways.client("org1", again.json()["token"]) as user:
                assert ok(user.get("/v1/users/me"))["name"] == name
    finally:
        gateways.stop()


def test_fifty_simultaneous_registrations_through_three_gateways_all_succeed(gateways):
    """The pool is kept in grant shards, so registrations conflict only within a shard and the gateway's own
    retries resolve that: every one succeeds at the first request, each grant is paid once, nothing is lost."""
    from concurrent.futures import ThreadPoolExecutor

    orgs = ["org1", "org2", "org3"]
    with gateways.client("org1", gateways.admin_token("org1")) as admin:
        before = ok(admin.get("/v1/token"))
    names = [f"crowd-{secrets.token_hex(3)}-{i}" for i in range(50)]

    def create(i: int) -> httpx.Response:
        with gateways.client(orgs[i % 3], gateways.admin_token(orgs[i % 3])) as admin:
            return admin.post("/v1/users", json={"name": names[i]})

    with ThreadPoolExecutor(len(names)) as pool:
        created = list(pool.map(create, range(len(names))))
    assert [r.status_code for r in created] == [201] * len(names), [r.text for r in created if r.status_code != 201]
    grants = [r.json()["user"]["balance"] for r in created]
    # Each shard halves its grant after its own share of registrations; nextGrant is the largest shard's. Earlier
    # tests registered users on this network too, so a name may fall in a shard that has halved already.
    possible = {before["nextGrant"] >> halvings for halvings in range(4)}
    with gateways.client("org2", gateways.admin_token("org2")) as reader:
        after = ok(reader.get("/v1/token"))
        for name, grant in zip(names, grants):
            assert ok(reader.get(f"/v1/balances/{name}"))["balance"] == grant
            assert grant in possible and grant > 0, (grant, before["nextGrant"])
    assert after["registrations"] == before["registrations"] + len(names)
    assert before["pool"] - after["pool"] == sum(grants)
    assert after["circulating"] + after["pool"] == after["cap"]
