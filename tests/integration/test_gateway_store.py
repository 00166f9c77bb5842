"""The gateway store on SQLite and on a real PostgreSQL server: the same behaviour, migrations, and claims that
hold across the processes sharing one store."""

from __future__ import annotations

import secrets
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import base64

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, text

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from fabric_ca import new_csr, new_key
from fabric_gateway.signing import to_low_s
from tdses.rest.store import ACTIVE, REMOVED, Store, UserRecord
from tdses.rest.store.store import store_url
from tdses.rest.store.tables import metadata

pytestmark = pytest.mark.integration


def sign(key: ec.EllipticCurvePrivateKey, digest_b64: str) -> str:
    der = key.sign(base64.b64decode(digest_b64), ec.ECDSA(Prehashed(hashes.SHA256())))
    return base64.b64encode(to_low_s(der)).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "gateway.db")
    return request.getfixturevalue("postgres").create_database(f"store_{secrets.token_hex(4)}")


def test_users_are_stored_found_by_token_and_forgotten(location):
    store = Store(location)
    store.add_user(UserRecord("alice", "h1", b"CERT", b"SEALED", custodial=True))
    assert store.user("alice").sealed_key == b"SEALED" and store.user_by_token("h1").name == "alice"
    store.set_state("alice", ACTIVE)
    store.set_token("alice", "h2")
    assert store.user_by_token("h1") is None and store.user_by_token("h2").state == ACTIVE
    store.forget_key("alice", "h3")
    alice = store.user("alice")
    assert (alice.sealed_key, alice.state, alice.token_hash) == (None, REMOVED, "h3")
    with pytest.raises(Exception):
        store.add_user(UserRecord("alice", "h4", b"CERT", None, custodial=False))
    store.close()


def test_remembered_tokens_cost_one_read_per_cache_time_and_any_change_to_users_is_seen(location, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr("tdses.rest.store.store.time.monotonic", lambda: clock[0])
    writer, replica = Store(location), Store(location, token_cache_seconds=1.0)
    for i in range(20):
        writer.add_user(UserRecord(f"u{i}", f"h{i}", b"CERT", None, custodial=False, state=ACTIVE))
    statements: list[str] = []

    def lookups() -> list[str]:
        del statements[:]
        return [replica.user_by_token(f"h{i}").name for i in range(20)]

    event.listen(Engine, "before_cursor_execute", record := lambda *args: statements.append(args[2]))
    try:
        assert lookups() == [f"u{i}" for i in range(20)] and len(statements) == 21  # the version, then each token
        assert lookups() == [f"u{i}" for i in range(20)] and statements == []
        clock[0] += 1.5
        assert lookups() == [f"u{i}" for i in range(20)] and len(statements) == 1  # the version alone: unchanged
    finally:
        event.remove(Engine, "before_cursor_execute", record)

    operator = create_engine(store_url(location))  # SQL from outside any gateway: the database raises the version
    with operator.begin() as db:
        db.execute(text("UPDATE users SET state = 'removed' WHERE name = 'u3'"))
        db.execute(text("DELETE FROM users WHERE name = 'u4'"))
    operator.dispose()
    assert replica.user_by_token("h3").state == ACTIVE and replica.user_by_token("h4") is not None  # remembered
    clock[0] += 1.5
    assert replica.user_by_token("h3").state == REMOVED and replica.user_by_token("h4") is None
    assert replica.user_by_token("h5").name == "u5"
    writer.set_token("u5", "h5-new")  # through another store: seen once the cache time has passed
    assert replica.user_by_token("h5").name == "u5"
    clock[0] += 1.5
    assert replica.user_by_token("h5") is None and replica.user_by_token("h5-new").name == "u5"
    writer.close()
    replica.close()


def test_one_claim_wins_among_many_processes_and_a_dead_ones_claim_is_taken_over(location):
    stores = [Store(location) for _ in range(4)]  # four replicas on one store
    with ThreadPoolExecutor(16) as pool:
        claims = list(pool.map(lambda i: stores[i % 4].claim_idempotency_key("alice", "k", "fp", 60), range(16)))
    assert claims.count(None) == 1
    assert {c.status for c in claims if c is not None} == {None}  # the others see it running
    expired = -1.0  # a lease every claim has outlived
    assert stores[1].claim_idempotency_key("alice", "k", "fp", 60, lease=60).status is None  # still running
    assert stores[1].claim_idempotency_key("alice", "k", "other", 60, lease=expired).fingerprint == "fp"
    assert stores[1].claim_idempotency_key("alice", "k", "fp", 60, lease=expired) is None  # its retry takes over
    stores[2].finish_idempotency_key("alice", "k", 200, "[]", b"{}")
    assert stores[3].claim_idempotency_key("alice", "k", "fp", 60, lease=expired).status == 200
    for store in stores:
        store.close()


def test_web_sign_in_state_passwords_sessions_and_one_use_invitations(location):
    stores = [Store(location) for _ in range(4)]  # replicas of one gateway
    store = stores[0]
    store.set_password("alice", "hash-1")
    store.set_password("alice", "hash-2")
    assert stores[1].password_hash("alice") == "hash-2" and store.password_hash("bob") is None
    store.add_session("s1", "alice", "csrf-1", time.time() + 60)
    store.add_session("s2", "alice", "csrf-2", time.time() + 60)
    assert stores[2].session("s1").csrf == "csrf-1"
    store.delete_session("s1")
    assert stores[2].session("s1") is None and stores[2].session("s2").name == "alice"
    store.expire_sessions("alice")
    assert stores[3].session("s2") is None
    store.add_invitation("i1", time.time() + 60)
    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(lambda i: stores[i % 4].use_invitation("i1", f"user{i}"), range(8)))
    assert taken.count("taken") == 1 and taken.count(None) == 7 and not store.invitation_open("i1")
    winner = f"user{taken.index('taken')}"
    assert stores[3].use_invitation("i1", winner) == "held"  # its own sign-up, sent again through a replica
    store.return_invitation("i1")  # that sign-up failed
    assert stores[1].invitation_open("i1")
    store.add_invitation("old", time.time() - 1)
    assert not store.use_invitation("old", "late")
    for replica in stores:
        replica.close()


def test_migrations_build_exactly_the_tables_the_queries_use(location):
    Store(location).close()
    url = location if "://" in location else f"sqlite:///{location}"
    with create_engine(url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []


def test_a_store_made_before_migrations_is_adopted_with_its_rows(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # the schema the gateway created before it had migrations
        db.executescript("""
            CREATE TABLE users (name TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, certificate BLOB NOT NULL,
                sealed_key BLOB, custodial INTEGER NOT NULL, state TEXT NOT NULL, created_at REAL NOT NULL);
            CREATE TABLE idempotency (owner TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
                status INTEGER, headers TEXT, body BLOB, created_at REAL NOT NULL, PRIMARY KEY (owner, key));
            INSERT INTO users VALUES ('bob', 'h', x'00', NULL, 0, 'active', 1.0);
        """)
    store = Store(path)
    assert store.user("bob").state == ACTIVE
    store.close()


def test_two_gateway_replicas_on_postgresql_serve_one_user_alternately(network, postgres, tmp_path):
    """Two replicas of org1's gateway share one PostgreSQL store, as behind one Kubernetes Service: whichever
    answers, a user's token works; a purchase retried with its Idempotency-Key on the other replica is answered
    from the first and paid once; a non-custodial user's transactions are prepared by one replica and signed on
    the other."""
    import httpx

    from tdses.rest.main import app
    from tests.support.gateways import GatewayServer, settings_for

    settings = settings_for(network, "org1", tmp_path, store=postgres.create_database(f"gw_{secrets.token_hex(4)}"))
    replicas = [GatewayServer(app(settings)).start() for _ in range(2)]
    turn = iter(range(10**6))

    def call(method: str, path: str, token: str, **kwargs) -> httpx.Response:
        """Round robin, like a Service in front of the replicas."""
        url = replicas[next(turn) % 2].url
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            return http.request(method, path, **kwargs)

    try:
        tag = secrets.token_hex(3)
        admin = settings.admin_token()
        tokens = {}
        for name in (f"dev-{tag}", f"buyer-{tag}"):
            created = call("POST", "/v1/users", admin, json={"name": name})
            assert created.status_code == 201, created.text
            tokens[name] = created.json()["token"]
        dev, buyer = tokens[f"dev-{tag}"], tokens[f"buyer-{tag}"]
        for _ in range(2):
            assert call("GET", "/v1/users/me", buyer).json()["name"] == f"buyer-{tag}"
        assert call("POST", "/v1/services", dev, json={"name": f"svc-{tag}", "category": "x",
                                                       "url": "https://r.example", "price": 3}).status_code == 201
        assert call("POST", f"/v1/services/svc-{tag}/publish", dev).status_code == 200
        start = call("GET", f"/v1/balances/buyer-{tag}", buyer).json()["balance"]

        for i in range(6):
            first = call("POST", f"/v1/services/svc-{tag}/rights", buyer, json={"calls": 1},
                         headers={"Idempotency-Key": f"buy-{i}"})
            retried = call("POST", f"/v1/services/svc-{tag}/rights", buyer, json={"calls": 1},
                           headers={"Idempotency-Key": f"buy-{i}"})
            assert first.status_code == retried.status_code == 200, (first.text, retried.text)
            assert retried.headers.get("idempotent-replayed") == "true" and retried.json() == first.json()
        rights = call("GET", f"/v1/services/svc-{tag}/rights/buyer-{tag}", buyer).json()
        assert (rights["bought"], rights["paid"]) == (6, 18)
        assert call("GET", f"/v1/balances/buyer-{tag}", buyer).json()["balance"] == start - 18

        # Non-custodial: every step lands on the other replica than the one before.
        own, key = f"own-{tag}", new_key()
        created = call("POST", "/v1/users", admin, json={"name": own, "csr": new_csr(own, key).decode()})
        assert created.status_code == 201, created.text
        token = created.json()["token"]

        def complete(request: dict) -> dict:
            endorsed = call("POST", request["signatureUrl"], token, json={"signature": sign(key, request["digest"])})
            assert endorsed.status_code == 202 and endorsed.json()["step"] == "transaction", endorsed.text
            done = call("POST", request["signatureUrl"], token,
                        json={"signature": sign(key, endorsed.json()["digest"])})
            assert done.status_code == 200, done.text
            again = call("POST", request["signatureUrl"], token, json={"signature": sign(key, request["digest"])})
            assert again.status_code == 404  # taken once, by one replica
            return done.json()["result"]

        assert complete(created.json()["signatureRequest"])["name"] == own
        assert call("GET", "/v1/users/me", token).json()["status"] == "active"
        purchase = call("POST", f"/v1/services/svc-{tag}/rights", token, json={"calls": 2})
        assert purchase.status_code == 202
        assert complete(purchase.json())["bought"] == 2
    finally:
        for replica in replicas:
            replica.stop()


def test_a_purchase_whose_commit_was_not_seen_in_time_is_paid_once_when_retried(network, tmp_path):
    """One replica gives up waiting for the commit (504); the client's retry with the same Idempotency-Key, through
    the other replica, runs the request again on the same transaction ID: answered from the ledger, paid once."""
    import httpx

    from tdses.rest.main import app
    from tests.support.gateways import GatewayServer, settings_for

    settings = settings_for(network, "org1", tmp_path)
    impatient = GatewayServer(app(settings.model_copy(update={"commit_timeout": 0.001}))).start()
    patient = GatewayServer(app(settings)).start()
    try:
        tag = secrets.token_hex(3)
        with httpx.Client(base_url=patient.url, timeout=60) as http:
            admin = {"Authorization": f"Bearer {settings.admin_token()}"}
            tokens = {name: http.post("/v1/users", json={"name": name}, headers=admin).json()["token"]
                      for name in (f"dev-{tag}", f"buyer-{tag}")}
            dev = {"Authorization": f"Bearer {tokens[f'dev-{tag}']}"}
            buyer = {"Authorization": f"Bearer {tokens[f'buyer-{tag}']}"}
            assert http.post("/v1/services", headers=dev, json={"name": f"svc-{tag}", "category": "x",
                                                                "url": "https://t.example", "price": 3}).status_code == 201
            assert http.post(f"/v1/services/svc-{tag}/publish", headers=dev).status_code == 200
            start = http.get(f"/v1/balances/buyer-{tag}", headers=buyer).json()["balance"]

        purchase = {"json": {"calls": 1}, "headers": {**buyer, "Idempotency-Key": f"buy-{tag}"}}
        with httpx.Client(base_url=impatient.url, timeout=60) as http:
            timed_out = http.post(f"/v1/services/svc-{tag}/rights", **purchase)
        assert timed_out.status_code == 504 and timed_out.json()["code"] == "COMMIT_TIMEOUT", timed_out.text
        with httpx.Client(base_url=patient.url, timeout=60) as http:
            retried = http.post(f"/v1/services/svc-{tag}/rights", **purchase)
            assert retried.status_code == 200, retried.text
            assert retried.headers["X-Transaction-Id"] == timed_out.json()["transactionId"]
            assert (retried.json()["bought"], retried.json()["paid"]) == (1, 3)
            assert http.post(f"/v1/services/svc-{tag}/rights", **purchase).json() == retried.json()
            assert http.get(f"/v1/balances/buyer-{tag}", headers=buyer).json()["balance"] == start - 3
    finally:
        impatient.stop()
        patient.stop()


def test_the_rate_limit_holds_across_two_replicas_on_one_store(network, postgres, tmp_path):
    """A token's bucket is in the shared store: alternating between the replicas does not double the burst."""
    import httpx

    from tdses.rest.main import app
    from tests.support.gateways import GatewayServer, settings_for

    settings = settings_for(network, "org1", tmp_path, store=postgres.create_database(f"rl_{secrets.token_hex(4)}"),
                            rate_limit_per_second=0.05, rate_limit_burst=4)
    replicas = [GatewayServer(app(settings)).start() for _ in range(2)]
    try:
        admin = {"Authorization": f"Bearer {settings.admin_token()}"}
        statuses = []
        for i in range(6):
            with httpx.Client(base_url=replicas[i % 2].url, headers=admin, timeout=60) as http:
                statuses.append(http.get("/v1/token").status_code)
        assert statuses == [200] * 4 + [429] * 2
    finally:
        for replica in replicas:
            replica.stop()
