"""The registry index of each organization's gateway, on a real network: after a randomized workload through the
three gateways it equals the ledger (`tdses index verify`), a rebuild from block 0 equals it, a follower that
fails half-way through a block resumes without gap or duplicate, a write through one organization is in another's
index once that index reaches the write's block, and two followers on one PostgreSQL apply each block once."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import pytest
import yaml

from tdses.cli import main
from tdses.index import projection, schema
from tdses.index.follower import Follower
from tdses.index.store import IndexStore
from tdses.rest.services.indexing import block_reader

pytestmark = pytest.mark.integration

ORGS = ("org1", "org2", "org3")
INDEX_WAIT = 30.0


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, f"{response.request.method} {response.request.url}: " \
                                           f"{response.status_code} {response.text}"
    return response.json()


class Workload:
    """Users of every organization registering services and mashups, buying, using, rewarding, transferring."""

    def __init__(self, gateways, seed: int) -> None:
        self.gateways = gateways
        self.random = random.Random(seed)
        self.tag = secrets.token_hex(3)
        self.tokens: dict[str, tuple[str, str]] = {}  # user -> (org, token)
        self.services: dict[str, str] = {}  # available service -> developer
        self.last_block = 0

    def client(self, user: str):
        org, token = self.tokens[user]
        return self.gateways.client(org, token)

    def write(self, user: str, method: str, path: str, status: int = 200, **body) -> dict:
        with self.client(user) as http:
            response = http.request(method, path, json=body or None)
        answer = ok(response, status)
        self.last_block = max(self.last_block, int(response.headers["X-Block-Number"]))
        return answer

    def run(self) -> None:
        for i in range(6):
            org = ORGS[i % 3]
            name = f"ix{self.tag}u{i}"
            self.tokens[name] = (org, self.gateways.register(org, name, f"user {i} of {org}"))
        users = list(self.tokens)
        categories = ["weather", "maps", "finance"]
        for i, developer in enumerate(users[:4]):
            name = f"ix{self.tag}s{i}"
            self.write(developer, "POST", "/v1/services", 201, name=name, category=categories[i % 3],
                       description=f"{categories[i % 3]} data number {i}", url=f"https://s{i}.example",
                       price=self.random.randint(0, 5), qos={"latencyMs": 100 + i, "availabilityBp": 9900})
            self.write(developer, "POST", f"/v1/services/{name}/publish")
            self.services[name] = developer
        names = list(self.services)
        composer = users[4]
        mashup = f"ix{self.tag}m0"
        self.write(composer, "POST", "/v1/mashups", 201, name=mashup, category="maps", url="https://m.example",
                   price=2, description="a mashup of two", components=names[:2])
        self.write(composer, "POST", f"/v1/services/{mashup}/publish")
        self.services[mashup] = composer
        purchases = []
        for _ in range(12):
            service = self.random.choice(list(self.services))
            buyer = self.random.choice([u for u in users if u != self.services[service]])
            purchases.append((buyer, service, self.random.randint(1, 6)))
        with ThreadPoolExecutor(4) as pool:  # together: blocks of several transactions
            list(pool.map(lambda p: self.write(p[0], "POST", f"/v1/services/{p[1]}/rights", calls=p[2]),
                          purchases))
        for buyer, service, calls in purchases[:4]:
            self.write(self.services[service], "POST", f"/v1/services/{service}/rights/{buyer}/reduce", calls=1)
        for _ in range(3):
            service = self.random.choice(names)
            giver = self.random.choice([u for u in users if u != self.services[service]])
            self.write(giver, "POST", f"/v1/services/{service}/rewards", amount=self.random.randint(1, 9))
        for _ in range(3):
            sender, receiver = self.random.sample(users, 2)
            self.write(sender, "POST", "/v1/transfers", 201, to=receiver, amount=self.random.randint(1, 20))
        self.write(self.services[names[0]], "PATCH", f"/v1/services/{names[0]}", price=7,
                   description="now with radar")
        self.write(self.services[names[1]], "POST", f"/v1/services/{names[1]}/servers", 201, server=users[5])
        self.write(self.services[names[2]], "POST", f"/v1/services/{names[2]}/invalidate")
        self.write(self.services[names[3]], "POST", f"/v1/services/{names[3]}/invalidate")
        self.write(self.services[names[3]], "POST", f"/v1/services/{names[3]}/publish")
        metered, buyer = f"ix{self.tag}v0", users[1]  # calls bought while it requires vouchers
        self.write(users[0], "POST", "/v1/services", 201, name=metered, category="weather", url="https://v.example",
                   price=1, requireVouchers=True)
        self.write(users[0], "POST", f"/v1/services/{metered}/publish")
        self.write(buyer, "POST", f"/v1/services/{metered}/rights", calls=2)
        self.metered = (metered, users[0], buyer)


@pytest.fixture(scope="module")
def workload(gateways):
    w = Workload(gateways, seed=secrets.randbits(32))
    w.run()
    for org in ORGS:
        assert gateways.context(org).index.wait_for_block_from_thread(w.last_block, INDEX_WAIT), org
    return w


def config_file(gateways, org: str, path, **index) -> str:
    values = gateways.settings[org].model_dump(mode="json")
    values["index"].update(index)
    path.write_text(yaml.safe_dump(values))
    path.chmod(0o600)
    return str(path)


def live_store(gateways, org: str) -> IndexStore:
    return gateways.context(org).index.store


def normalized(dump: dict) -> dict:
    """SQLite hands back naive datetimes, PostgreSQL aware ones: compare them in UTC."""
    def value(v):
        return v.astimezone(UTC).replace(tzinfo=None) if hasattr(v, "tzinfo") and v.tzinfo else v
    return {table: [tuple(value(v) for v in row) for row in rows] for table, rows in dump.items()}


def follow(gateways, org: str, store_factory, stop_at: int) -> Follower:
    context = gateways.context(org)
    follower = Follower(store_factory, block_reader(context.settings, context.ledger.admin),
                        context.settings.chaincode, max_delay=1.0)

    async def run() -> None:
        await asyncio.wait_for(follower.run(stop_at=stop_at), 120)
        await follower.reader.close()

    asyncio.run(run())
    return follower


@pytest.mark.parametrize("org", ORGS)
def test_verify_finds_no_difference_between_each_index_and_the_ledger(gateways, workload, org, tmp_path, capsys):
    store = live_store(gateways, org)
    assert len(store.users()) >= 6 and store.service(f"ix{workload.tag}m0")["components"]
    assert main(["index", "verify", "--config", config_file(gateways, org, tmp_path / "gateway.yaml")]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "0 differences" in out.err


def test_verify_reports_a_difference_and_fails(gateways, workload, tmp_path, capsys):
    copy = tmp_path / "copy.db"
    follow(gateways, "org1", lambda: IndexStore(copy), workload.last_block).store.close()
    store = IndexStore(copy)
    service = next(iter(workload.services))
    with store.engine.begin() as db:
        db.execute(schema.services.update().where(schema.services.c.name == service)
                   .values(price=999_999))
    store.close()
    assert main(["index", "verify", "--config", config_file(gateways, "org1", tmp_path / "g.yaml",
                                                           database=str(copy))]) == 1
    assert f"service {service}: price: index 999999" in capsys.readouterr().out


def test_a_rebuild_from_block_zero_equals_the_live_index(gateways, workload, tmp_path):
    rebuilt = tmp_path / "rebuilt.db"
    assert main(["index", "rebuild", "--config", config_file(gateways, "org3", tmp_path / "gateway.yaml",
                                                            database=str(rebuilt))]) == 0
    live = live_store(gateways, "org3")
    store = IndexStore(rebuilt)
    assert store.current_block() == live.current_block() == workload.last_block
    assert store.dump() == live.dump()
    store.close()


def test_a_follower_failing_half_way_through_a_block_resumes_without_gap_or_duplicate(
        gateways, workload, tmp_path, monkeypatch):
    real, failed = projection.Projection.apply_block, []

    def half_then_fail(self, block):
        if len(block.transactions) >= 2 and not failed:
            for tx in block.transactions[: len(block.transactions) // 2]:
                self.apply_transaction(tx)
            failed.append(block.number)
            raise RuntimeError("the follower dies half-way through a block")
        real(self, block)

    monkeypatch.setattr(projection.Projection, "apply_block", half_then_fail)
    follower = follow(gateways, "org2", lambda: IndexStore(tmp_path / "resumed.db"), workload.last_block)
    store = follower.store
    assert failed, "no block of the workload had two transactions"
    live = live_store(gateways, "org2")
    assert store.current_block() == live.current_block() == workload.last_block
    assert store.dump() == live.dump()
    # Every purchase and reduction once: their calls add up to what the ledger's rights say was bought and used.
    bought, used = Counter(), Counter()
    for a in store.activity(kind="purchase", limit=10_000):
        bought[a["service"], a["user"]] += a["calls"]
    for a in store.activity(kind="reduction", limit=10_000):
        used[a["service"], a["user"]] += a["calls"]
    rights = {(r["service"], r["user"]): r for r in live.all_rights()}
    assert bought == Counter({k: r["bought"] for k, r in rights.items()})
    assert +used == +Counter({k: r["used"] for k, r in rights.items()})
    tx_ids = [a["tx_id"] for a in store.activity(kind="purchase", limit=10_000)]
    assert len(tx_ids) == len(set(tx_ids))
    store.close()


def test_a_purchase_through_org2_is_in_org1s_index_once_it_reaches_the_purchase_block(gateways, workload):
    buyer = next(u for u, (org, _) in workload.tokens.items() if org == "org2")
    service = next(s for s, dev in workload.services.items() if dev != buyer and not s.endswith("s2"))
    before = live_store(gateways, "org1").rights(service, buyer)
    with workload.client(buyer) as http:
        response = http.post(f"/v1/services/{service}/rights", json={"calls": 3})
    ok(response)
    block, tx_id = int(response.headers["X-Block-Number"]), response.headers["X-Transaction-Id"]
    assert gateways.context("org1").index.wait_for_block_from_thread(block, INDEX_WAIT)
    rights = live_store(gateways, "org1").rights(service, buyer)
    assert rights["bought"] == (before["bought"] if before else 0) + 3
    assert (rights["block"], rights["tx_id"]) == (block, tx_id)
    assert [a["tx_id"] for a in live_store(gateways, "org1").activity(service=service, kind="purchase", limit=1)] \
        == [tx_id]


def test_a_user_s_rights_from_the_index_say_which_are_used_up_only_by_vouchers(workload):
    metered, developer, buyer = workload.metered
    with workload.client(buyer) as http:
        rights = ok(http.get(f"/v1/users/{buyer}/rights", headers={"X-Min-Block": str(workload.last_block)}))
        on_chain = ok(http.get(f"/v1/services/{metered}/rights/{buyer}"))
    flags = {r["service"]: r["vouchersOnly"] for r in rights["rights"]}
    assert flags[metered] is True and on_chain["vouchersOnly"] is True
    assert not any(flag for service, flag in flags.items() if service != metered)
    with workload.client(developer) as http:
        buyers = ok(http.get(f"/v1/services/{metered}/buyers"))["buyers"]
    assert [(b["user"], b["vouchersOnly"]) for b in buyers] == [(buyer, True)]


def test_two_followers_on_one_postgresql_apply_each_block_once(gateways, workload, postgres):
    url = postgres.create_database(f"index_{secrets.token_hex(4)}")
    stop_at = live_store(gateways, "org1").current_block()

    async def both() -> None:
        followers = []
        for _ in range(2):
            context = gateways.context("org1")
            followers.append(Follower(lambda: IndexStore(url), block_reader(context.settings, context.ledger.admin),
                                      context.settings.chaincode, max_delay=1.0))
        await asyncio.wait_for(asyncio.gather(*(f.run(stop_at=stop_at) for f in followers)), 120)
        for f in followers:
            await f.reader.close()
            f.store.close()

    asyncio.run(both())
    store = IndexStore(url)
    assert store.current_block() == stop_at
    assert normalized(store.dump()) == normalized(live_store(gateways, "org1").dump())
    category = store.service(next(iter(workload.services)))["category"]
    assert store.search(category)
    store.close()
