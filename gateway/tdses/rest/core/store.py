"""The gateway's own state in SQLite: its users (token hash, certificate, sealed key) and idempotency records.

    store = Store("gateway.db")
    store.add_user(UserRecord("alice", token_hash, cert_pem, sealed_key, custodial=True))
    store.user_by_token(token_hash)
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PENDING = "pending"  # enrolled at the CA, not yet registered on chain
ACTIVE = "active"
REMOVED = "removed"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    certificate BLOB NOT NULL,
    sealed_key BLOB,
    custodial INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    headers TEXT,
    body BLOB,
    created_at REAL NOT NULL,
    PRIMARY KEY (owner, key)
);
"""


@dataclass(frozen=True)
class UserRecord:
    name: str
    token_hash: str
    certificate: bytes
    sealed_key: bytes | None
    custodial: bool
    state: str = PENDING
    created_at: float = 0.0


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int | None  # None while the first request is still running
    headers: str
    body: bytes


class Store:
    def __init__(self, path: str | Path) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Hashed tokens and encrypted keys: owner-only. SQLite gives the -wal and -shm files the same mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- users ---------------------------------------------------------------------------------

    def add_user(self, user: UserRecord) -> None:
        """Insert a user; raises sqlite3.IntegrityError if the name is taken here."""
        with self._lock:
            self._db.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user.name, user.token_hash, user.certificate, user.sealed_key, int(user.custodial), user.state,
                 user.created_at or time.time()),
            )

    def user(self, name: str) -> UserRecord | None:
        return self._one("SELECT * FROM users WHERE name = ?", (name,))

    def user_by_token(self, token_hash: str) -> UserRecord | None:
        return self._one("SELECT * FROM users WHERE token_hash = ?", (token_hash,))

    def set_state(self, name: str, state: str) -> None:
        with self._lock:
            self._db.execute("UPDATE users SET state = ? WHERE name = ?", (state, name))

    def set_token(self, name: str, token_hash: str) -> None:
        with self._lock:
            self._db.execute("UPDATE users SET token_hash = ? WHERE name = ?", (token_hash, name))

    def forget_key(self, name: str, token_hash: str) -> None:
        """A removed user keeps its row (the name stays taken) but loses its key and its token."""
        with self._lock:
            self._db.execute(
                "UPDATE users SET sealed_key = NULL, token_hash = ?, state = ? WHERE name = ?",
                (token_hash, REMOVED, name),
            )

    def delete_user(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM users WHERE name = ?", (name,))

    def _one(self, sql: str, args: tuple) -> UserRecord | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        if row is None:
            return None
        name, token, cert, sealed, custodial, state, created = row
        return UserRecord(name, token, cert, sealed, bool(custodial), state, created)

    # --- idempotency ---------------------------------------------------------------------------

    def claim_idempotency_key(self, owner: str, key: str, fingerprint: str, ttl: float) -> StoredResponse | None:
        """Reserve (owner, key) for a new request; returns the earlier record instead when there is one."""
        now = time.time()
        with self._lock:
            self._db.execute("DELETE FROM idempotency WHERE created_at < ?", (now - ttl,))
            row = self._db.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency WHERE owner = ? AND key = ?", (owner, key)
            ).fetchone()
            if row is not None:
                return StoredResponse(row[0], row[1], row[2] or "", row[3] or b"")
            self._db.execute(
                "INSERT INTO idempotency (owner, key, fingerprint, created_at) VALUES (?, ?, ?, ?)",
                (owner, key, fingerprint, now),
            )
        return None

    def finish_idempotency_key(self, owner: str, key: str, status: int, headers: str, body: bytes) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE idempotency SET status = ?, headers = ?, body = ? WHERE owner = ? AND key = ?",
                (status, headers, body, owner, key),
            )

    def release_unfinished_requests(self) -> int:
        """At start: requests the previous process claimed and never finished (it was killed) may run again. The
        ledger keeps that safe: a request's transactions have IDs derived from its key (tdses.rest.core.ledger)."""
        with self._lock:
            return self._db.execute("DELETE FROM idempotency WHERE status IS NULL").rowcount

    def release_idempotency_key(self, owner: str, key: str) -> None:
        """Forget a reservation whose request may safely run again (it failed before reaching the ledger)."""
        with self._lock:
            self._db.execute("DELETE FROM idempotency WHERE owner = ? AND key = ?", (owner, key))
