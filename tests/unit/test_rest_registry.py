"""The index-served routes without a network: an index filled from the unit blocks of test_index.py, behind the
gateway app. Search filters and cursors, unknown parameters, read-your-writes, visibility, composition."""

from __future__ import annotations

import time

import pytest

from tdses.index.search import encode_cursor
from tdses.index.store import IndexStore
from tdses.rest.api.routes.services import is_ledger_listing
from tdses.rest.problems import Problem
from tdses.index.blocks import index_block
from tests.unit.test_index import CC, apply_all, block, endorser_tx, key, registry_blocks, service
from tests.unit.test_rest_app import client, gateway  # noqa: F401 (the fixture)


class IndexAt:
    """The follower as the routes see it, at a fixed block."""

    def __init__(self, store: IndexStore, block: int) -> None:
        self.store, self.current_block, self.waited = store, block, []

    async def wait_for_block(self, block: int, timeout: float) -> bool:
        self.waited.append((block, timeout))
        return self.current_block >= block

    async def close(self) -> None:
        self.store.close()


@pytest.fixture
def registry(gateway, tmp_path):  # noqa: F811
    application, tokens = gateway
    store = IndexStore(tmp_path / "index.db")
    apply_all(store)
    follower = IndexAt(store, len(registry_blocks()) - 1)
    application.state.context.index = follower
    tokens["admin"] = "admin-token"
    yield application, tokens, follower
    store.close()


async def get(application, token, path, **params):
    async with client(application, token) as http:
        return await http.get(path, params=params)


async def test_a_search_is_filtered_sorted_and_carries_the_index_block(registry):
    application, tokens, follower = registry
    found = await get(application, tokens["alice"], "/v1/services", q="forecasts city")
    assert found.status_code == 200 and found.headers["X-Index-Block"] == str(follower.current_block)
    assert [s["name"] for s in found.json()["items"]] == ["weather-api"]
    assert found.json()["items"][0]["qos"] == {"latencyMs": 120, "availabilityBp": 9990}
    assert [s["name"] for s in (await get(application, tokens["alice"], "/v1/services", status="any",
                                          sort="-price")).json()["items"]] == ["storm-map", "weather-api"]
    assert (await get(application, tokens["alice"], "/v1/services", max_price=2)).json()["items"] == []
    assert (await get(application, tokens["alice"], "/v1/services", category="maps")).json()["items"] == []
    mashups = (await get(application, tokens["alice"], "/v1/services", status="any", mashup="true")).json()
    assert [(s["name"], s["components"]) for s in mashups["items"]] == [("storm-map", ["weather-api"])]


async def test_pages_follow_the_cursor_and_a_foreign_cursor_is_refused(registry):
    application, tokens, _ = registry
    first = (await get(application, tokens["alice"], "/v1/services", status="any", sort="price", limit=1)).json()
    second = (await get(application, tokens["alice"], "/v1/services", status="any", sort="price", limit=1,
                        cursor=first["next"])).json()
    assert [first["items"][0]["name"], second["items"][0]["name"]] == ["storm-map", "weather-api"]  # equal prices
    assert second["next"] is None
    other = await get(application, tokens["alice"], "/v1/services", status="any", sort="name", cursor=first["next"])
    assert other.status_code == 422 and other.json()["code"] == "INVALID_CURSOR"


@pytest.mark.parametrize("sort, values", [
    ("name", [None]), ("name", [True]), ("name", [{"a": 1}]), ("name", [["x"]]),
    ("price", ["3", "x"]),
    ("price", [2**63, "x"]), ("popularity", [1.5, "x"]), ("newest", [7, "x"]), ("relevance", [1e309, "x"]),
    ("relevance", [2**70, "x"]), ("relevance", [10**400, "x"]),
    ("history", [10**29, 0, 0]), ("history", [1, None, 0]), ("history", ["1", 0, 0]),
    ("name", ["a\x00b"]), ("price", [3, "\x00"]),  # PostgreSQL refuses NUL in text
])
async def test_an_altered_cursor_gets_422_whatever_its_values(registry, sort, values):
    application, tokens, _ = registry
    cursor = encode_cursor(sort, values)
    params = {"q": "forecasts"} if sort == "relevance" else {}
    if sort == "history":
        answer = await get(application, tokens["bob"], "/v1/services/weather-api/history", cursor=cursor)
    else:
        answer = await get(application, tokens["alice"], "/v1/services", status="any", sort=sort, cursor=cursor,
                           **params)
    assert answer.status_code == 422 and answer.json()["code"] == "INVALID_CURSOR", answer.text


@pytest.mark.parametrize("parameter", [{"q": "storm\x00"}, {"category": "a\x00b"}, {"q": "tab\there"}])
async def test_search_text_with_control_characters_gets_422(registry, parameter):
    application, tokens, _ = registry
    answer = await get(application, tokens["alice"], "/v1/services", **parameter)
    assert answer.status_code == 422 and answer.json()["code"] == "INVALID_ARGUMENT", answer.text


async def test_unknown_or_meaningless_parameters_get_422(registry):
    application, tokens, _ = registry
    for params in ({"qq": "weather"}, {"maxprice": "3"}, {"q": "x", "colour": "red"}):
        response = await get(application, tokens["alice"], "/v1/services", **params)
        assert response.status_code == 422 and response.json()["code"] == "UNKNOWN_PARAMETER", params
    assert (await get(application, tokens["alice"], "/v1/services", sort="relevance")).status_code == 422
    assert (await get(application, tokens["alice"], "/v1/services", min_price=5, max_price=1)).status_code == 422
    assert (await get(application, tokens["bob"], "/v1/services/weather-api/buyers", x=1)).status_code == 422


def test_only_the_old_parameters_keep_the_ledger_listing():
    assert is_ledger_listing({"developer"}, None) and is_ledger_listing({"status", "cursor"}, "available")
    assert is_ledger_listing({"start", "end"}, None) and is_ledger_listing({"page_size", "q"}, None)
    assert not is_ledger_listing(set(), None) and not is_ledger_listing({"cursor"}, None)
    assert not is_ledger_listing({"developer", "q"}, None) and not is_ledger_listing({"status"}, "any")


async def test_a_block_the_index_has_not_reached_is_a_503_after_waiting(registry, monkeypatch):
    application, tokens, follower = registry
    ledger = application.state.context.ledger

    async def height() -> int:
        return follower.current_block + 3  # the peers hold two blocks the index has not applied yet

    monkeypatch.setattr(ledger, "height", height)
    async with client(application, tokens["alice"]) as http:
        behind = await http.get("/v1/services", headers={"X-Min-Block": str(follower.current_block + 1)})
        reached = await http.get("/v1/services", params={"min_block": follower.current_block})
        beyond = await http.get("/v1/services", params={"min_block": follower.current_block + 3})
    assert beyond.status_code == 422 and beyond.json()["code"] == "UNKNOWN_BLOCK"
    assert behind.status_code == 503 and behind.headers["Retry-After"] and behind.json()["code"] == "INDEX_BEHIND"
    assert behind.headers["content-type"] == "application/problem+json"
    assert follower.waited == [(follower.current_block + 1, 5.0)]
    assert reached.status_code == 200


async def test_buyers_history_and_revenue_are_for_the_developer_and_the_admin(registry):
    application, tokens, _ = registry
    for who in ("bob", "admin"):  # bob developed weather-api
        buyers = await get(application, tokens[who], "/v1/services/weather-api/buyers")
        assert buyers.status_code == 200
        assert buyers.json()["buyers"] == [{"user": "alice", "bought": 5, "used": 2, "remaining": 3, "paid": 15,
                                            "updatedAt": "2025-03-01T12:00:02.25Z", "vouchersOnly": False}]
    history = (await get(application, tokens["bob"], "/v1/services/weather-api/history", limit=2)).json()
    assert [e["kind"] for e in history["items"]] == ["reward", "reduction"] and history["next"]
    rest = (await get(application, tokens["bob"], "/v1/services/weather-api/history", cursor=history["next"])).json()
    assert [e["kind"] for e in rest["items"]] == ["purchase", "composition"] and rest["next"] is None
    revenue = (await get(application, tokens["bob"], "/v1/services/weather-api/revenue", bucket="month")).json()
    # 15 for alice's 5 calls, her reward of 10, and 3 when her storm-map composed weather-api
    assert revenue["total"] == 28 and revenue["buckets"] == [{"bucket": "2025-03", "amount": 28, "calls": 5}]
    for path in ("buyers", "history", "revenue"):
        forbidden = await get(application, tokens["alice"], f"/v1/services/weather-api/{path}")
        assert forbidden.status_code == 403, path


async def test_a_user_sees_only_its_own_rights_and_history(registry):
    application, tokens, _ = registry
    rights = (await get(application, tokens["alice"], "/v1/users/alice/rights")).json()
    assert [(r["service"], r["remaining"]) for r in rights["rights"]] == [("weather-api", 3)]
    history = (await get(application, tokens["alice"], "/v1/users/alice/history")).json()
    assert {"purchase", "reward", "transfer", "mashup_created", "user_registered"} <= \
        {e["kind"] for e in history["items"]}
    assert (await get(application, tokens["admin"], "/v1/users/alice/history")).status_code == 200
    for path in ("rights", "history", "suggestions"):
        assert (await get(application, tokens["bob"], f"/v1/users/alice/{path}")).status_code == 403, path


async def test_composition_proposes_the_best_services_or_names_the_constraint(registry):
    application, tokens, _ = registry
    async with client(application, tokens["alice"]) as http:
        plan = await http.post("/v1/compositions", json={"workflow": ["weather"], "objective": "latency"})
        infeasible = await http.post("/v1/compositions", json={"workflow": ["weather"],
                                                               "constraints": {"maxCost": 1}})
        unknown = await http.post("/v1/compositions", json={"workflow": ["weather"], "budget": 3})
    assert plan.status_code == 200, plan.text
    assert [s["name"] for s in plan.json()["services"]] == ["weather-api"]
    assert plan.json()["qos"] == {"cost": 3, "latencyMs": 120, "availabilityBp": 9990}
    assert infeasible.status_code == 422 and infeasible.json()["constraints"] == ["max_cost"]
    assert infeasible.json()["violations"][0]["best"] == 3
    assert unknown.status_code == 422


async def test_a_composition_past_its_time_limit_stops_and_frees_its_slot_at_once():
    from tdses.discovery.composition import TooLong
    from tdses.rest.services.discovery import Discovery

    discovery = Discovery(compose_timeout=0.05, compose_slots=1)

    def until_its_limit(give_up_at: float) -> None:  # as compose does once the clock passes its limit
        assert give_up_at > time.monotonic()
        raise TooLong

    for _ in range(2):  # the second finds the one slot free again: not BUSY
        with pytest.raises(Problem) as answered:
            await discovery.bounded(until_its_limit)
        assert (answered.value.status, answered.value.code) == (503, "COMPOSITION_TIMEOUT")


async def test_analytics_cover_everything_for_the_admin_and_own_services_for_a_developer(registry):
    application, tokens, _ = registry
    every = (await get(application, tokens["admin"], "/v1/analytics", by="organization", metric="revenue")).json()
    assert every["rows"] == [{"bucket": "2025-03-01", "key": "Org1MSP", "value": 28}]  # as bob's revenue above
    mine = (await get(application, tokens["alice"], "/v1/analytics", by="service", metric="calls_bought")).json()
    assert mine["rows"] == []  # alice developed only storm-map, which nobody bought
    assert (await get(application, tokens["alice"], "/v1/analytics", by="organization")).status_code == 403


async def test_analytics_say_when_they_left_periods_out_and_never_show_part_of_one(registry, monkeypatch):
    from tdses.rest.api.routes import registry as routes

    application, tokens, follower = registry
    number = follower.current_block + 1  # one more service the first day (weather-api's), one the next day

    def registered(name: str, day: int) -> bytes:
        return endorser_tx(f"tx-{name}", [(key("tdses.service", name), service(name, "bob"))],
                           ("ServiceRegistered", {"developer": "bob", "service": name, "status": "created"}),
                           seconds=86_400 * day)

    assert follower.store.apply(index_block(block(number, [registered("early-api", 0), registered("later-api", 1)]),
                                            CC))
    follower.current_block = number
    whole = (await get(application, tokens["admin"], "/v1/analytics", by="service", metric="new_services")).json()
    assert [r["key"] for r in whole["rows"]] == ["early-api", "weather-api", "later-api"]
    assert whole["truncated"] is False
    monkeypatch.setattr(routes, "ANALYTICS_ROWS", 2)  # room for the newest day and half of the first
    cut = (await get(application, tokens["admin"], "/v1/analytics", by="service", metric="new_services")).json()
    assert cut["rows"] == whole["rows"][-1:] and cut["truncated"] is True


async def test_a_service_is_read_from_the_index_and_its_kept_answer_follows_the_blocks_that_change_it(registry):
    application, tokens, follower = registry
    first = await get(application, tokens["alice"], "/v1/services/weather-api")
    assert first.status_code == 200 and first.headers["X-Index-Block"] == str(follower.current_block)
    assert (first.json()["status"], first.json()["price"], first.json()["callsBought"]) == ("available", 3, 0)
    mashup = (await get(application, tokens["bob"], "/v1/services/storm-map")).json()
    assert (mashup["components"], mashup["mashup"]) == (["weather-api"], True)
    assert (await get(application, tokens["alice"], "/v1/services/weather-api")).json() == first.json()  # kept

    number = follower.current_block + 1
    follower.store.apply(index_block(block(number, [endorser_tx("tx-raise", [
        (key("tdses.service", "weather-api"), service("weather-api", "bob", status="available", price=7)),
        (key("tdses.tally~delta", "service", "weather-api", "tx-raise", "000001"), {"callsBought": 2}),
    ])]), CC))
    follower.current_block = number
    changed = await get(application, tokens["alice"], "/v1/services/weather-api")
    assert changed.headers["X-Index-Block"] == str(number)
    assert (changed.json()["price"], changed.json()["callsBought"]) == (7, 2)
    assert (await get(application, tokens["bob"], "/v1/services/storm-map")).json() == mashup  # untouched, kept

    follower.store.reset()
    assert (await get(application, tokens["alice"], "/v1/services/weather-api")).status_code != 200  # not kept


async def test_a_service_read_asks_the_ledger_for_what_the_index_does_not_hold(registry):
    application, tokens, _ = registry
    unknown = await get(application, tokens["alice"], "/v1/services/not-indexed")
    assert unknown.status_code == 503  # this gateway's peers do not exist: the ledger was asked
    assert unknown.json()["code"] != "NOT_FOUND"
    assert (await get(application, None, "/v1/services/weather-api")).status_code == 401
    assert (await get(application, tokens["alice"], "/v1/services/weather-api", fields="name")).status_code == 422
