"""Store: the queries, on SQLAlchemy Core; the schema is migrated with Alembic when a store opens."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Engine, Float, bindparam, case, create_engine, delete, event, func, inspect, select, text, update,
)
from sqlalchemy.dialects import postgresql, sqlite

from tdses import migrating
from tdses.databases import server_engine
from tdses.rest.store.tables import (
    idempotency, invitations, passwords, pending_transactions, rate_buckets, users, users_version, web_sessions,
)
from tdses.sqlitefiles import database_file, write_ahead_logging

PENDING = "pending"  # enrolled at the CA, not yet registered on chain
ACTIVE = "active"
REMOVED = "removed"

MIGRATIONS = Path(__file__).parent / "migrations"
TOKEN_CACHE_SIZE = 10_000  # users remembered by token at most
# Built once: every request looks its caller up, and building the statement cost more than running it.
USER_BY_NAME = select(users).where(users.c.name == bindparam("key"))
USER_BY_TOKEN = select(users).where(users.c.token_hash == bindparam("key"))
USERS_VERSION = select(users_version.c.version).where(users_version.c.id == 1)


@dataclass(frozen=True)
class UserRecord:
    name: str
    token_hash: str = field(repr=False)
    certificate: bytes
    sealed_key: bytes | None = field(repr=False)
    custodial: bool
    state: str = PENDING
    created_at: float = 0.0


@dataclass(frozen=True)
class PendingRecord:
    transaction_id: str
    owner: str
    proposal: bytes
    transaction: bytes | None
    after_commit: str | None
    expires_at: float


@dataclass(frozen=True)
class WebSession:
    name: str
    csrf: str = field(repr=False)
    expires_at: float


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int | None  # None while the first request is still running
    headers: str
    body: bytes


def store_url(location: str | os.PathLike[str]) -> str:
    """A database URL as given, or a SQLite file's path made into one."""
    text = str(location)
    if "://" in text:
        return text
    if text == ":memory:":  # one connection's: the gateway's threads and the event loop would not share it
        raise ValueError("the gateway's store needs a file or a database URL, not :memory:")
    return f"sqlite:///{Path(text).resolve()}"


def _engine(url: str, synchronous: str = "FULL") -> Engine:
    if not url.startswith("sqlite"):
        return server_engine(url)
    path = database_file(url)  # hashed tokens and encrypted keys
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 15}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _wal(connection, _record) -> None:
        write_ahead_logging(connection, path)
        connection.execute(f"PRAGMA synchronous={synchronous}")

    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision. A store made before migrations existed is adopted as revision 0001
    (its tables are exactly those)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with migrating.exclusive(engine) as connection:
        config.attributes["connection"] = connection
        tables = set(inspect(connection).get_table_names())
        if "users" in tables and "alembic_version" not in tables:
            command.stamp(config, "0001")
        command.upgrade(config, "head")


class Store:
    def __init__(self, location: str | os.PathLike[str], token_cache_seconds: float = 0.0) -> None:
        self.url = store_url(location)
        # Who a token is, remembered: every request asks. Any change to a user through this store forgets them
        # all at once; a change made elsewhere (another replica, an operator) raises the users' version, which is
        # read at most once per token_cache_seconds: then too they are all forgotten.
        self._token_cache_seconds = token_cache_seconds
        self._by_token: dict[str, UserRecord] = {}
        self._users_version: int | None = None
        self._users_checked_until = 0.0
        self._engine = _engine(self.url)
        self._postgresql = self._engine.dialect.name == "postgresql"
        self._insert = postgresql.insert if self._postgresql else sqlite.insert
        migrate(self._engine)
        # Every request takes from a rate-limit bucket: those writes need not wait for the disk (a crash may
        # forget the last few, which only refills a bucket early), so they do not fsync.
        self._buckets = self._engine if self._postgresql else _engine(self.url, synchronous="NORMAL")
        self._take_rate = self._take_rate_statement()

    def close(self) -> None:
        self._buckets.dispose()
        self._engine.dispose()

    # --- users ---------------------------------------------------------------------------------

    def add_user(self, user: UserRecord) -> None:
        """Insert a user; raises sqlalchemy.exc.IntegrityError if the name is taken here."""
        self._by_token.clear()
        with self._engine.begin() as db:
            db.execute(users.insert().values(
                name=user.name, token_hash=user.token_hash, certificate=user.certificate,
                sealed_key=user.sealed_key, custodial=user.custodial, state=user.state,
                created_at=user.created_at or time.time()))

    def user(self, name: str) -> UserRecord | None:
        return self._one(USER_BY_NAME, name)

    def user_by_token(self, token_hash: str) -> UserRecord | None:
        if self._token_cache_seconds <= 0:
            return self._one(USER_BY_TOKEN, token_hash)
        self._forget_tokens_if_users_changed()
        cached = self._by_token.get(token_hash)
        if cached is not None:
            return cached
        user = self._one(USER_BY_TOKEN, token_hash)
        # Only an active user is remembered: an unknown token (nobody fills the cache by guessing), or a user
        # another replica is about to activate, is asked for again.
        if user is not None and user.state == ACTIVE:
            if len(self._by_token) >= TOKEN_CACHE_SIZE:
                self._by_token.clear()
            self._by_token[token_hash] = user
        return user

    def _forget_tokens_if_users_changed(self) -> None:
        now = time.monotonic()
        if now < self._users_checked_until:
            return
        with self._engine.connect() as db:
            version = db.execute(USERS_VERSION).scalar_one()
        if version != self._users_version:
            self._by_token.clear()
            self._users_version = version
        self._users_checked_until = now + self._token_cache_seconds

    def set_state(self, name: str, state: str) -> None:
        self._update(name, state=state)

    def set_token(self, name: str, token_hash: str) -> None:
        self._update(name, token_hash=token_hash)

    def forget_key(self, name: str, token_hash: str) -> None:
        """A removed user keeps its row (the name stays taken) but loses its key and its token."""
        self._update(name, sealed_key=None, token_hash=token_hash, state=REMOVED)

    def delete_user(self, name: str) -> None:
        self._by_token.clear()
        with self._engine.begin() as db:
            db.execute(delete(users).where(users.c.name == name))

    def _update(self, name: str, **values) -> None:
        self._by_token.clear()
        with self._engine.begin() as db:
            db.execute(update(users).where(users.c.name == name).values(**values))

    def _one(self, statement, key: str) -> UserRecord | None:
        with self._engine.connect() as db:
            row = db.execute(statement, {"key": key}).first()
        if row is None:
            return None
        return UserRecord(row.name, row.token_hash, bytes(row.certificate),
                          bytes(row.sealed_key) if row.sealed_key is not None else None,
                          bool(row.custodial), row.state, row.created_at)

    # --- idempotency ---------------------------------------------------------------------------

    def claim_idempotency_key(self, owner: str, key: str, fingerprint: str, ttl: float,
                              lease: float | None = None) -> StoredResponse | None:
        """Reserve (owner, key) for a new request; returns the earlier record instead when there is one. Atomic
        across processes: of two replicas claiming one key, one inserts and the other reads its record. A claim
        still unfinished after `lease` seconds belonged to a process that died: the same request takes it over."""
        now = time.time()
        this = (idempotency.c.owner == owner) & (idempotency.c.key == key)
        with self._engine.begin() as db:
            db.execute(delete(idempotency).where(idempotency.c.created_at < now - ttl))
            inserted = db.execute(
                self._insert(idempotency)
                .values(owner=owner, key=key, fingerprint=fingerprint, created_at=now)
                .on_conflict_do_nothing(index_elements=["owner", "key"])
                .returning(idempotency.c.owner)  # a row only if this claim inserted it (rowcount may be -1)
            ).first()
            if inserted is not None:
                return None
            if lease is not None and db.execute(
                update(idempotency)
                .where(this, idempotency.c.status.is_(None), idempotency.c.fingerprint == fingerprint,
                       idempotency.c.created_at < now - lease)
                .values(created_at=now)
            ).rowcount:
                return None
            row = db.execute(select(idempotency).where(this)).one()
        return StoredResponse(row.fingerprint, row.status, row.headers or "", bytes(row.body or b""))

    def finish_idempotency_key(self, owner: str, key: str, status: int, headers: str, body: bytes) -> None:
        with self._engine.begin() as db:
            db.execute(update(idempotency)
                       .where(idempotency.c.owner == owner, idempotency.c.key == key)
                       .values(status=status, headers=headers, body=body))

    def release_unfinished_requests(self) -> int:
        """At start: requests the previous process claimed and never finished (it was killed) may run again. The
        ledger keeps that safe: a request's transactions have IDs derived from its key (tdses.rest.services.ledger).
        Only for a store of one gateway: replicas sharing a store must not release each other's requests."""
        with self._engine.begin() as db:
            return db.execute(delete(idempotency).where(idempotency.c.status.is_(None))).rowcount

    def release_idempotency_key(self, owner: str, key: str) -> None:
        """Forget a reservation whose request may safely run again (it failed before reaching the ledger)."""
        with self._engine.begin() as db:
            db.execute(delete(idempotency).where(idempotency.c.owner == owner, idempotency.c.key == key))

    # --- pending non-custodial transactions -------------------------------------------------------

    def add_pending(self, record: PendingRecord, most_per_owner: int) -> bool:
        """Keep a prepared transaction; False if its owner already has most_per_owner waiting."""
        now = time.time()
        with self._engine.begin() as db:
            db.execute(delete(pending_transactions).where(pending_transactions.c.expires_at < now))
            waiting = db.execute(select(func.count()).select_from(pending_transactions)
                                 .where(pending_transactions.c.owner == record.owner)).scalar_one()
            if waiting >= most_per_owner:
                return False
            db.execute(pending_transactions.insert().values(
                transaction_id=record.transaction_id, owner=record.owner, proposal=record.proposal,
                transaction=record.transaction, after_commit=record.after_commit, expires_at=record.expires_at))
        return True

    def pending(self, transaction_id: str) -> PendingRecord | None:
        with self._engine.connect() as db:
            row = db.execute(select(pending_transactions).where(
                pending_transactions.c.transaction_id == transaction_id,
                pending_transactions.c.expires_at >= time.time())).first()
        return None if row is None else _pending_record(row)

    def endorsed(self, transaction_id: str, transaction: bytes) -> bool:
        """Record the endorsed transaction; False if another request recorded it first."""
        with self._engine.begin() as db:
            return db.execute(update(pending_transactions)
                              .where(pending_transactions.c.transaction_id == transaction_id,
                                     pending_transactions.c.transaction.is_(None))
                              .values(transaction=transaction)).rowcount == 1

    def keep_pending(self, transaction_id: str, until: float) -> None:
        """Keep a pending transaction at least until then (it is being submitted: its outcome is awaited)."""
        with self._engine.begin() as db:
            db.execute(update(pending_transactions)
                       .where(pending_transactions.c.transaction_id == transaction_id,
                              pending_transactions.c.expires_at < until)
                       .values(expires_at=until))

    def drop_unendorsed(self, transaction_id: str) -> None:
        """Remove a pending transaction the chaincode refused, unless another request endorsed it meanwhile."""
        with self._engine.begin() as db:
            db.execute(delete(pending_transactions).where(pending_transactions.c.transaction_id == transaction_id,
                                                          pending_transactions.c.transaction.is_(None)))

    def take_pending(self, transaction_id: str) -> bool:
        """Remove a pending transaction whose outcome is known; False if another request took it first."""
        with self._engine.begin() as db:
            return db.execute(delete(pending_transactions)
                              .where(pending_transactions.c.transaction_id == transaction_id)).rowcount == 1

    # --- rate-limit buckets ---------------------------------------------------------------------------

    def take_rate(self, key: str, rate: float, burst: int, now: float, count: int = 1) -> float:
        """Refill key's bucket to now and take `count` tokens if it holds them: 0.0 when taken, else the seconds
        until they would be (nothing taken). One statement, so replicas sharing the store share the bucket."""
        with self._buckets.begin() as db:
            if self._postgresql:
                db.execute(text("SET LOCAL synchronous_commit = off"))
            row = db.execute(self._take_rate, {"key": key, "rate": float(rate), "burst": float(burst),
                                               "now": float(now), "count": float(count)}).one()
        return 0.0 if row.passed else (count - row.tokens) / rate

    def _take_rate_statement(self):
        """take_rate's statement, built once: it runs on most requests, and building it costs more than running it."""
        b = rate_buckets.c
        rate, burst, now, count = (bindparam(name, type_=Float) for name in ("rate", "burst", "now", "count"))
        grown = b.tokens + (now - b.updated) * rate
        refilled = case((grown > burst, burst), else_=grown)
        return (self._insert(rate_buckets)
                .values(key=bindparam("key"), tokens=burst - count, updated=now, passed=True)
                .on_conflict_do_update(index_elements=["key"], set_={
                    "tokens": case((refilled >= count, refilled - count), else_=refilled),
                    "updated": case((b.updated > now, b.updated), else_=now),  # another replica's clock ahead
                    "passed": refilled >= count,
                })
                .returning(b.tokens, b.passed))

    def peek_rate(self, key: str, rate: float, burst: int, now: float) -> float:
        """Seconds until key's bucket lets a request pass (0.0: now), without taking or writing anything."""
        with self._buckets.connect() as db:
            row = db.execute(select(rate_buckets.c.tokens, rate_buckets.c.updated)
                             .where(rate_buckets.c.key == key)).first()
        tokens = burst if row is None else min(burst, row.tokens + max(0.0, now - row.updated) * rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / rate

    def forget_full_buckets(self, rate: float, burst: int, now: float, namespace: str) -> int:
        """The namespace's buckets that refilled completely (at its rate): the same as none."""
        with self._buckets.begin() as db:
            return db.execute(delete(rate_buckets).where(rate_buckets.c.key.startswith(namespace, autoescape=True),
                                                         rate_buckets.c.updated < now - burst / rate)).rowcount

    # --- web sign-in: passwords, sessions, invitations -------------------------------------------------

    def set_password(self, name: str, password_hash: str) -> None:
        with self._engine.begin() as db:
            db.execute(self._insert(passwords).values(name=name, hash=password_hash)
                       .on_conflict_do_update(index_elements=["name"], set_={"hash": password_hash}))

    def password_hash(self, name: str) -> str | None:
        with self._engine.connect() as db:
            return db.execute(select(passwords.c.hash).where(passwords.c.name == name)).scalar()

    def add_session(self, id_hash: str, name: str, csrf: str, expires_at: float) -> None:
        with self._engine.begin() as db:
            db.execute(delete(web_sessions).where(web_sessions.c.expires_at < time.time()))
            db.execute(web_sessions.insert().values(id_hash=id_hash, name=name, csrf=csrf, expires_at=expires_at))

    def session(self, id_hash: str) -> WebSession | None:
        """A session that has not expired."""
        with self._engine.connect() as db:
            row = db.execute(select(web_sessions).where(web_sessions.c.id_hash == id_hash,
                                                        web_sessions.c.expires_at > time.time())).first()
        return None if row is None else WebSession(row.name, row.csrf, row.expires_at)

    def expire_sessions(self, name: str) -> None:
        """Every session of a user ends now (sign-out everywhere, removal)."""
        with self._engine.begin() as db:
            db.execute(update(web_sessions).where(web_sessions.c.name == name).values(expires_at=0.0))

    def delete_session(self, id_hash: str) -> None:
        with self._engine.begin() as db:
            db.execute(delete(web_sessions).where(web_sessions.c.id_hash == id_hash))

    def add_invitation(self, token_hash: str, expires_at: float) -> None:
        with self._engine.begin() as db:
            db.execute(invitations.insert().values(token_hash=token_hash, created_at=time.time(),
                                                   expires_at=expires_at))

    def invitation_open(self, token_hash: str) -> bool:
        with self._engine.connect() as db:
            return db.execute(select(func.count()).select_from(invitations).where(
                invitations.c.token_hash == token_hash, invitations.c.used_by.is_(None),
                invitations.c.expires_at > time.time())).scalar_one() == 1

    def use_invitation(self, token_hash: str, name: str) -> Literal["taken", "held"] | None:
        """Take an open invitation for name ("taken": one statement, so of sign-ups sent together with one
        invitation, through any replica, one takes it), or find it held by a sign-up of name already ("held");
        None if it is unknown, expired or held for another name."""
        now = time.time()
        with self._engine.begin() as db:
            if db.execute(update(invitations).where(
                    invitations.c.token_hash == token_hash, invitations.c.used_by.is_(None),
                    invitations.c.expires_at > now).values(used_by=name)).rowcount == 1:
                return "taken"
            holder = db.execute(select(invitations.c.used_by).where(
                invitations.c.token_hash == token_hash, invitations.c.expires_at > now)).scalar_one_or_none()
        return "held" if holder == name else None

    def invitation_holder(self, token_hash: str) -> str | None:
        """The name whose sign-up took the invitation, if any."""
        with self._engine.connect() as db:
            return db.execute(select(invitations.c.used_by).where(
                invitations.c.token_hash == token_hash)).scalar_one_or_none()

    def return_invitation(self, token_hash: str) -> None:
        """A sign-up that failed gives its invitation back."""
        with self._engine.begin() as db:
            db.execute(update(invitations).where(invitations.c.token_hash == token_hash).values(used_by=None))


def _pending_record(row) -> PendingRecord:
    return PendingRecord(row.transaction_id, row.owner, bytes(row.proposal),
                         bytes(row.transaction) if row.transaction is not None else None,
                         row.after_commit, row.expires_at)
