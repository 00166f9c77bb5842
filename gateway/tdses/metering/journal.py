"""The meter's journal: every voucher it accepts, recorded before the request is served, and how far each user's
calls are settled on chain. It outlives crashes: what was accepted and not settled is settled at the next start.

One SQLite file per metered service (WAL: a write reaches the file before the request is served, so a killed
process loses nothing; a replica of the meter needs its own journal). Plain sqlite3 on purpose: it is on every
call's path, where a statement costs tens of microseconds. Calls write through JournalWriter (writer.py).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accepted (
    user TEXT NOT NULL, count INTEGER NOT NULL, voucher TEXT NOT NULL, accepted_at REAL NOT NULL,
    PRIMARY KEY (user, count)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settled (
    user TEXT PRIMARY KEY, count INTEGER NOT NULL, outcome TEXT NOT NULL, settled_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS floors (user TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS refused (
    user TEXT NOT NULL, count INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (user, count)
) WITHOUT ROWID;
"""


# The WAL is copied into the database (with an fsync) every 1,000 pages, SQLite's default, and then reused, so it
# never grows; the commit that triggers it runs in the writer thread (writer.py), off the event loop.


class JournalError(RuntimeError):
    """The journal belongs to another service, or another meter has it open."""


@dataclass(frozen=True)
class Unsettled:
    user: str
    count: int
    voucher: str


class Journal:
    def __init__(self, path: str | os.PathLike, service: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        old_umask = os.umask(0o077)  # the journal holds users' signed vouchers: 0600, WAL files included
        try:
            self._db = sqlite3.connect(self.path, timeout=0, check_same_thread=False, isolation_level=None)
            # One process owns a journal (a second meter on it would accept each replay once more): the
            # exclusive lock tells a second meter at once, and saves two system calls on every call.
            self._db.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('service', ?)", (service,))
            (owner,) = self._db.execute("SELECT value FROM meta WHERE name = 'service'").fetchone()
        except sqlite3.OperationalError as error:
            raise JournalError(f"{self.path} is open in another meter ({error}): each meter needs its own "
                               "journal") from None
        finally:
            os.umask(old_umask)
        if owner != service:
            self._db.close()
            raise JournalError(f"{self.path} is the journal of service {owner!r}, not {service!r}")

    def record(self, user: str, count: int, voucher: str) -> bool:
        """Keep an accepted voucher; False if this user's count was accepted before (a replay)."""
        return self.record_many([(user, count, voucher)])[0]

    def record_many(self, vouchers: list[tuple[str, int, str]]) -> list[bool]:
        """Keep (user, count, voucher)s in one transaction: one write to disk for all of them."""
        now = time.time()
        with self._transaction():
            return [self._db.execute("INSERT OR IGNORE INTO accepted VALUES (?, ?, ?, ?)",
                                     (user, count, voucher, now)).rowcount == 1
                    for user, count, voucher in vouchers]

    def give_back(self, user: str, count: int) -> None:
        """Forget an accepted voucher whose request was not served: its user signs the count again for its next
        call, and that voucher is accepted once more (and then only once)."""
        with self._transaction():
            for table in ("accepted", "refused"):
                self._db.execute(f"DELETE FROM {table} WHERE user = ? AND count = ?", (user, count))

    def unsettled(self) -> list[Unsettled]:
        """Per user, its highest accepted voucher the chain has not refused, if it is above what was settled."""
        with self._lock:
            rows = self._db.execute("""
                SELECT a.user, a.count, a.voucher FROM accepted a
                JOIN (SELECT user, MAX(count) AS top FROM accepted
                      WHERE NOT EXISTS (SELECT 1 FROM refused r WHERE r.user = accepted.user
                                        AND r.count = accepted.count)
                      GROUP BY user) m
                  ON a.user = m.user AND a.count = m.top
                LEFT JOIN settled s ON s.user = a.user
                WHERE s.count IS NULL OR a.count > s.count
                ORDER BY a.user""").fetchall()
        return [Unsettled(*row) for row in rows]

    def refuse(self, user: str, count: int, reason: str) -> None:
        """The chain will never settle this voucher: the user's next highest is settled instead. It stays accepted,
        so a replay of it is still refused."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO refused VALUES (?, ?, ?)", (user, count, reason))

    def mark(self, user: str, count: int, outcome: str) -> None:
        """The user's calls up to count are done with: settled on chain, or refused by it (outcome says which)."""
        with self._lock:
            self._db.execute("""
                INSERT INTO settled VALUES (?, ?, ?, ?)
                ON CONFLICT (user) DO UPDATE SET count = excluded.count, outcome = excluded.outcome,
                    settled_at = excluded.settled_at
                WHERE excluded.count > settled.count""", (user, count, outcome, time.time()))

    def settled(self) -> dict[str, int]:
        """Per user, how far this meter settled its calls."""
        with self._lock:
            return dict(self._db.execute("SELECT user, count FROM settled").fetchall())

    def prune(self, older_than: float) -> int:
        """Forget settled vouchers accepted before older_than; returns how many. A replay of one is stale, but its
        user may sign its count again, with a fresh time: the highest count forgotten becomes the user's floor,
        and a count at or below it is refused (see floors). A call still on its way with such a count is stale
        by now: it was signed before the forgotten voucher was accepted."""
        forgotten = """accepted_at < :older_than AND count <= coalesce(
                           (SELECT count FROM settled WHERE settled.user = accepted.user), 0)"""
        with self._transaction():
            self._db.execute(f"""
                INSERT INTO floors SELECT user, MAX(count) FROM accepted WHERE {forgotten} GROUP BY user
                ON CONFLICT (user) DO UPDATE SET count = max(floors.count, excluded.count)""",
                             {"older_than": older_than})
            return self._db.execute(f"DELETE FROM accepted WHERE {forgotten}", {"older_than": older_than}).rowcount

    def floors(self) -> dict[str, int]:
        """Per user, the highest count whose voucher was forgotten (prune): counts up to it are used."""
        with self._lock:
            return dict(self._db.execute("SELECT user, count FROM floors").fetchall())

    def accepted_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM accepted").fetchone()[0]

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (the statements inside commit together, or none of them)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
