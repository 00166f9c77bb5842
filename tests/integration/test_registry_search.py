"""Search, read-your-writes, accounts, composition and recommendations through the gateways' registry index, on
the real network with a slice of ProgrammableWeb imported: every answer equals a direct computation over the
imported data."""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tdses.discovery.composition import Candidate, Constraints, Objective
from tests.support.gateways import Gateways
from tests.unit.test_discovery_composition import brute_force

pytestmark = pytest.mark.integration


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json()


@pytest.fixture(scope="module")
def live(programmableweb_slice):
    """The imported slice's available services (alive in the data)."""
    pw = programmableweb_slice
    assert pw.second.failed == 0, pw.second.render()
    return [s for s in pw.eco.select(pw.limit) if s.alive]


@pytest.fixture(scope="module")
def registry(network, tmp_path_factory, live):
    """Gateways whose reads may wait up to 30 s for their index; a developer on org1 with one service (its block:
    every read below asks for it, so the index holds the whole import)."""
    started = Gateways(network, tmp_path_factory.mktemp("registry"), index={"wait_seconds": 30}).start()
    tag = secrets.token_hex(3)
    developer = f"rs-dev-{tag}"
    token = started.register("org1", developer)
    service = f"rs-svc-{tag}"
    with started.client("org1", token) as http:
        ok(http.post("/v1/services", json={"name": service, "category": f"rs-{tag}", "url": "https://rs.example",
                                           "price": 2, "qos": {"latencyMs": 50, "availabilityBp": 9999}}), 201)
        published = http.post(f"/v1/services/{service}/publish")
        ok(published)
    yield {"gateways": started, "developer": developer, "token": token, "service": service, "tag": tag,
           "block": int(published.headers["X-Block-Number"])}
    started.stop()


def committed(response) -> int:
    """A write's block (X-Block-Number), once it succeeded."""
    ok(response)
    return int(response.headers["X-Block-Number"])


def tokens(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def matching(live, words: str, **limits) -> list:
    """The imported services a search must find: every word in name, category or description; the limits."""
    found = []
    for s in live:
        if not set(words.lower().split()) <= tokens(f"{s.name} {s.category} {s.description}"):
            continue
        if ("category" in limits and s.category != limits["category"]
                or s.price > limits.get("max_price", s.price) or s.price < limits.get("min_price", s.price)
                or s.latency_ms > limits.get("max_latency_ms", s.latency_ms)
                or s.availability_bp < limits.get("min_availability_bp", s.availability_bp)):
            continue
        found.append(s)
    return found


def search_all(http, block: int, **params) -> tuple[list[dict], int]:
    """Every page of a search, following the cursor; and the number of pages."""
    items, cursor, pages = [], None, 0
    while True:
        response = http.get("/v1/services", params={**params, **({"cursor": cursor} if cursor else {})},
                            headers={"X-Min-Block": str(block)})
        page = ok(response)
        assert int(response.headers["X-Index-Block"]) >= block
        items += page["items"]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            return items, pages


@pytest.mark.parametrize("params", [
    {"q": "programmableweb", "category": "Music"},
    {"q": "ProgrammableWeb mashup"},
    {"q": "covid"},
    {"q": "programmableweb", "max_price": 3, "max_latency_ms": 500, "min_availability_bp": 9100},
    {"q": "programmableweb", "min_price": 4, "min_availability_bp": 9300},
])
def test_keyword_category_price_and_qos_searches_find_exactly_the_matching_services(registry, live, params):
    limits = {k: v for k, v in params.items() if k != "q"}
    expected = matching(live, params["q"], **limits)
    assert expected  # the search has something to find
    with registry["gateways"].client("org1", registry["token"]) as http:
        found, _ = search_all(http, registry["block"], **params)
    assert sorted(s["name"] for s in found) == sorted(s.name for s in expected)
    by_name = {s.name: s for s in expected}
    for s in found:
        assert (s["price"], s["qos"]["latencyMs"], s["qos"]["availabilityBp"], s["developer"], s["status"]) == \
            (by_name[s["name"]].price, by_name[s["name"]].latency_ms, by_name[s["name"]].availability_bp,
             by_name[s["name"]].developer, "available")


def test_sorted_by_price_pages_follow_the_cursor_in_order(registry, live):
    expected = sorted(matching(live, "programmableweb", max_price=4), key=lambda s: (-s.price, s.name))
    with registry["gateways"].client("org2", registry["gateways"].admin_token("org2")) as http:
        found, pages = search_all(http, registry["block"], q="programmableweb", max_price=4, sort="-price", limit=4)
    assert [s["name"] for s in found] == [s.name for s in expected]
    assert pages == -(-len(expected) // 4)  # full pages, the last one without a next cursor


def test_unknown_parameters_are_refused_not_ignored(registry):
    with registry["gateways"].client("org1", registry["token"]) as http:
        for params in ({"query": "music"}, {"q": "music", "price_max": 3}, {"categroy": "Music"}):
            response = http.get("/v1/services", params=params)
            assert response.status_code == 422 and response.json()["code"] == "UNKNOWN_PARAMETER", params
        assert http.get("/v1/services", params={"sort": "relevance"}).status_code == 422  # relevance needs q


def test_a_service_read_is_served_by_the_index_and_follows_each_write_it_is_asked_for(registry):
    gateways, tag = registry["gateways"], registry["tag"]
    developer_token = gateways.register("org1", f"rs-card-dev-{tag}")
    reader_token = gateways.register("org3", f"rs-card-reader-{tag}")
    service = f"rs-card-{tag}"
    with gateways.client("org1", developer_token) as dev, gateways.client("org3", reader_token) as reader:
        ok(dev.post("/v1/services", json={"name": service, "category": "cards", "url": "https://c.example",
                                          "price": 4}), 201)
        assert ok(reader.get(f"/v1/services/{service}"))["name"] == service  # indexed, or read from the ledger
        assert ok(reader.get(f"/v1/services/{service}"))["callsBought"] in (0, None)
        for round_, (action, status) in enumerate([("publish", "available"), ("invalidate", "invalid"),
                                                   ("publish", "available")]):
            block = committed(dev.post(f"/v1/services/{service}/{action}"))
            read = reader.get(f"/v1/services/{service}", headers={"X-Min-Block": str(block)})
            assert ok(read)["status"] == status, f"round {round_}"
            assert int(read.headers["X-Index-Block"]) >= block
        buyer_token = gateways.register("org2", f"rs-card-buyer-{tag}")
        with gateways.client("org2", buyer_token) as buyer:
            for calls, total in ((3, 3), (2, 5)):
                block = committed(buyer.post(f"/v1/services/{service}/rights", json={"calls": calls}))
                card = ok(reader.get(f"/v1/services/{service}", params={"min_block": block}))
                assert (card["callsBought"], card["price"], card["status"]) == (total, 4, "available")
        block = committed(dev.patch(f"/v1/services/{service}", json={"price": 6}))
        assert ok(reader.get(f"/v1/services/{service}", headers={"X-Min-Block": str(block)}))["price"] == 6
        missing = reader.get(f"/v1/services/rs-nothing-{tag}")
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND", missing.text
        unknown = reader.get(f"/v1/services/{service}", params={"fields": "name"})
        assert unknown.status_code == 422 and unknown.json()["code"] == "UNKNOWN_PARAMETER"
        assert reader.get(f"/v1/services/{service}", headers={"X-Min-Block": "-1"}).status_code == 422
    anonymous = gateways.client("org3", None)
    with anonymous:
        assert anonymous.get(f"/v1/services/{service}").status_code == 401


def test_a_purchase_through_org2_is_in_the_buyers_list_on_org1_with_its_block(registry):
    gateways, service, tag = registry["gateways"], registry["service"], registry["tag"]
    buyer = f"rs-buyer-{tag}"
    buyer_token = gateways.register("org2", buyer)
    with gateways.client("org2", buyer_token) as http:
        bought = http.post(f"/v1/services/{service}/rights", json={"calls": 4})
        ok(bought)
    block = int(bought.headers["X-Block-Number"])
    with gateways.client("org1", registry["token"]) as http:
        buyers = http.get(f"/v1/services/{service}/buyers", headers={"X-Min-Block": str(block)})
        assert int(buyers.headers["X-Index-Block"]) >= block
        assert ok(buyers)["buyers"] == [{"user": buyer, "bought": 4, "used": 0, "remaining": 4, "paid": 8,
                                         "updatedAt": ok(buyers)["buyers"][0]["updatedAt"], "vouchersOnly": False}]
        history = ok(http.get(f"/v1/services/{service}/history", params={"min_block": block}))
        assert [(e["kind"], e["user"], e["calls"], e["amount"]) for e in history["items"]] == \
            [("purchase", buyer, 4, 8)]
        revenue = ok(http.get(f"/v1/services/{service}/revenue", params={"bucket": "month", "min_block": block}))
        assert revenue["total"] == 8
        for sort in ("popularity", "name"):  # the tallies joined for the sort, or read for the page
            listed = ok(http.get("/v1/services", params={"developer": registry["developer"], "sort": sort,
                                                         "min_block": block}))
            assert [(s["name"], s["callsBought"]) for s in listed["items"]][0] == (service, 4), sort
    with gateways.client("org2", buyer_token) as http:
        rights = ok(http.get(f"/v1/users/{buyer}/rights", headers={"X-Min-Block": str(block)}))
        assert [(r["service"], r["remaining"], r["paid"]) for r in rights["rights"]] == [(service, 4, 8)]
        mine = ok(http.get(f"/v1/users/{buyer}/history", headers={"X-Min-Block": str(block)}))
        assert [e["kind"] for e in mine["items"]] == ["purchase", "user_registered"]
    # A block no peer has: no write was answered with it, so the gateway says so at once instead of waiting.
    with gateways.client("org1", registry["token"]) as http:
        beyond = http.get("/v1/services", headers={"X-Min-Block": str(block + 10_000)})
        assert beyond.status_code == 422 and beyond.json()["code"] == "UNKNOWN_BLOCK"


def test_a_mashup_composing_a_service_is_in_its_developers_revenue(registry):
    gateways, tag = registry["gateways"], registry["tag"]
    service, mashup = f"rs-part-{tag}", f"rs-whole-{tag}"
    with gateways.client("org1", registry["token"]) as dev:
        ok(dev.post("/v1/services", json={"name": service, "category": f"part-{tag}", "url": "https://p.example",
                                          "price": 7}), 201)
        ok(dev.post(f"/v1/services/{service}/publish"))
    composer = f"rs-composer-{tag}"
    with gateways.client("org3", gateways.register("org3", composer)) as http:
        created = http.post("/v1/mashups", json={"name": mashup, "category": "whole", "url": "https://w.example",
                                                 "price": 9, "components": [service]})
        assert ok(created, 201)["paid"] == 7
    block = int(created.headers["X-Block-Number"])
    with gateways.client("org1", registry["token"]) as dev:
        revenue = ok(dev.get(f"/v1/services/{service}/revenue", params={"bucket": "day", "min_block": block}))
        assert revenue["total"] == 7 and revenue["buckets"][0]["calls"] == 0
        history = ok(dev.get(f"/v1/services/{service}/history", params={"min_block": block}))
        assert [(e["kind"], e["user"], e["counterparty"], e["amount"]) for e in history["items"]] == \
            [("composition", composer, registry["developer"], 7)]


def test_accounts_are_for_their_developer_user_and_admin_only(registry):
    gateways, service, tag = registry["gateways"], registry["service"], registry["tag"]
    other_token = gateways.register("org1", f"rs-other-{tag}")
    with gateways.client("org1", other_token) as http:
        for path in (f"/v1/services/{service}/buyers", f"/v1/services/{service}/history",
                     f"/v1/services/{service}/revenue", f"/v1/users/{registry['developer']}/rights",
                     f"/v1/users/{registry['developer']}/history", f"/v1/users/{registry['developer']}/suggestions"):
            response = http.get(path, headers={"X-Min-Block": str(registry["block"])})
            assert response.status_code == 403, path
    with gateways.client("org1", gateways.admin_token("org1")) as http:
        assert ok(http.get(f"/v1/services/{service}/buyers", params={"min_block": registry["block"]}))["service"] \
            == service
        assert ok(http.get("/v1/analytics", params={"by": "organization", "metric": "new_services",
                                                    "bucket": "month"}))["rows"]


COMPOSITIONS = [
    (["Music", "Security"], Constraints(max_cost=8, min_availability_bp=8000), Objective.COST),
    ([["Music", "Tools"], "COVID-19"], Constraints(max_cost=14), Objective.LATENCY),
    (["Security", "COVID-19", "Tools"], Constraints(max_latency_ms=2500), Objective.AVAILABILITY),
]


@pytest.mark.parametrize("workflow, constraints, objective", COMPOSITIONS)
def test_a_composition_is_the_brute_force_optimum_over_the_imported_services(registry, live, workflow, constraints,
                                                                           objective):
    candidates = [Candidate(s.name, s.category, s.price, s.latency_ms, s.availability_bp, s.developer) for s in live]
    plan_workflow = [step if isinstance(step, str) else set(step) for step in workflow]
    expected = brute_force(plan_workflow, candidates, constraints, objective)
    assert expected is not None
    body = {"workflow": workflow, "objective": objective.value,
            "constraints": {k: v for k, v in {"maxCost": constraints.max_cost,
                                              "maxLatencyMs": constraints.max_latency_ms,
                                              "minAvailabilityBp": constraints.min_availability_bp}.items()
                            if v is not None}}
    with registry["gateways"].client("org3", registry["gateways"].admin_token("org3")) as http:
        answer = http.post("/v1/compositions", json=body, headers={"X-Min-Block": str(registry["block"])})
    plan = ok(answer)
    assert [s["name"] for s in plan["services"]] == [s.name for s in expected]
    assert plan["qos"]["cost"] == sum(s.price for s in expected)


def test_an_infeasible_composition_names_the_constraint(registry, live):
    cheapest = sum(min(s.price for s in live if s.category == c) for c in ("Music", "Security"))
    with registry["gateways"].client("org1", registry["token"]) as http:
        answer = http.post("/v1/compositions", json={"workflow": ["Music", "Security"],
                                                     "constraints": {"maxCost": cheapest - 1}},
                           headers={"X-Min-Block": str(registry["block"])})
    assert answer.status_code == 422
    assert answer.json()["constraints"] == ["max_cost"]
    assert answer.json()["violations"][0]["best"] == cheapest


def test_related_services_and_suggestions_come_from_what_users_bought_together(registry):
    gateways, tag = registry["gateways"], registry["tag"]
    service, other = f"rs-rel-{tag}", f"rs-rel2-{tag}"
    with gateways.client("org1", registry["token"]) as http:
        for name in (service, other):
            ok(http.post("/v1/services", json={"name": name, "category": f"rel-{tag}", "url": "https://r.example",
                                               "price": 1}), 201)
            ok(http.post(f"/v1/services/{name}/publish"))
    both, one = (gateways.register("org3", f"rs-{who}-{tag}") for who in ("both", "one"))
    block = 0
    for token, bought in ((both, [service, other]), (one, [service])):
        with gateways.client("org3", token) as http:
            for name in bought:
                response = http.post(f"/v1/services/{name}/rights", json={"calls": 1})
                ok(response)
                block = max(block, int(response.headers["X-Block-Number"]))
    with gateways.client("org3", one) as http:
        related = ok(http.get(f"/v1/services/{service}/related", headers={"X-Min-Block": str(block)}))
        assert related["boughtWith"] == [{"name": other, "together": 1, "jaccard": 0.5}]
        assert related["composedWith"] == []
        suggestions = ok(http.get(f"/v1/users/rs-one-{tag}/suggestions", headers={"X-Min-Block": str(block)}))
        assert [(s["name"], s["because"]) for s in suggestions["items"]] == [(other, [service])]


def test_the_cli_searches_and_lists_buyers_through_the_gateway(registry, live, tmp_path, capsys, monkeypatch):
    from tdses.cli import main

    monkeypatch.setenv("TDSES_CONFIG_DIR", str(tmp_path))
    token_file = tmp_path / "token"
    token_file.write_text(registry["token"])
    common = ["--url", registry["gateways"].url("org1"), "--token-file", str(token_file), "--json"]
    assert main(["services", "search", "programmableweb", "--category", "Music", "--sort", "price",
                 "--min-block", str(registry["block"]), *common]) == 0
    found = json.loads(capsys.readouterr().out)
    expected = sorted(matching(live, "programmableweb", category="Music"), key=lambda s: (s.price, s.name))
    assert [s["name"] for s in found["items"]] == [s.name for s in expected]
    assert main(["service", "buyers", registry["service"], "--min-block", str(registry["block"]), *common]) == 0
    assert json.loads(capsys.readouterr().out)["service"] == registry["service"]
    assert main(["compose", "Music", "Security", "--max-cost", "1", *common]) == 1
    assert "UNSATISFIABLE" in capsys.readouterr().err


def test_the_index_queries_answer_alike_on_postgresql_and_sqlite(postgres, tmp_path, caplog):
    """The same blocks in both databases: every search, sort, page, account and analytics query agrees, names
    ordered as bytes (as on the ledger) in both."""
    from dataclasses import replace

    from tdses.index.blocks import index_block
    from tdses.index.search import ServiceQuery
    from tdses.index.store import IndexStore
    from tests.unit.test_index import CC, apply_all, block, endorser_tx, key, registry_blocks, service

    twins = index_block(block(len(registry_blocks()), [endorser_tx(f"tx-{name}", [  # one text: tied ranks
        (key("tdses.service", name), service(name, "bob", description="identical twins"))])
        for name in ("a", "b", "c", "A1", "ab", "B")]), CC)
    stores = [IndexStore(tmp_path / "index.db"),
              IndexStore(postgres.create_database(f"search_{secrets.token_hex(4)}"))]
    try:
        for store in stores:
            apply_all(store)
            assert store.apply(twins)

        def answers(store: IndexStore) -> list:
            found = []
            for query in (ServiceQuery(status="any"), ServiceQuery(words="forecasts", status="any"),
                          ServiceQuery(words="storm maps", status="any", sort="relevance"),
                          ServiceQuery(status="any", sort="-price", limit=1), ServiceQuery(status="any", sort="newest"),
                          ServiceQuery(status="any", sort="popularity", mashup=True),
                          ServiceQuery(status="any", sort="popularity", limit=1),
                          ServiceQuery(status="any", sort="compositions", limit=1),
                          ServiceQuery(max_price=3, max_latency_ms=120, min_availability_bp=9990),
                          ServiceQuery(words="twins", status="any", sort="relevance", limit=1)):
                page = store.find_services(query)
                pages = [[r["name"] for r in page.items]]
                while page.next and len(pages) < 10:  # a cursor that never moves on would repeat its page
                    page = store.find_services(replace(query, cursor=page.next))
                    pages.append([r["name"] for r in page.items])
                found.append(pages)
            found.append(store.buyers("weather-api"))
            found.append([(r["kind"], r["amount"]) for r in store.history(user="alice", kinds=("purchase", "reward",
                                                                                            "transfer"))[0]])
            found.append(store.revenue("weather-api", "week"))
            found += [store.analytics(by, "day", metric, limit=1000) for by in ("service", "developer", "organization")
                      for metric in ("calls_bought", "revenue", "compositions", "new_services")]
            return found

        sqlite, postgresql = (answers(store) for store in stores)
        in_byte_order = ["A1", "B", "a", "ab", "b", "c"]  # a locale would sort a, A1, ab, b, B, c
        assert sqlite[0] == [[*in_byte_order, "storm-map", "weather-api"]]
        assert sqlite[3] == [[name] for name in [*in_byte_order, "storm-map", "weather-api"]]
        assert sorted(sqlite[9]) == [[name] for name in in_byte_order]  # one page each: each once
        assert postgresql == sqlite
        assert "sorts text by" not in caplog.text
    finally:
        for store in stores:
            store.close()
