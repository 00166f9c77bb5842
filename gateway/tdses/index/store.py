"""The index's database: blocks applied with their checkpoint in one transaction, and the queries.

    store = IndexStore("index.db")                       # or "postgresql+psycopg://gateway@db:5432/org1"
    store.apply(index_block(block, "tdses"))             # False if the block is not the next one (already applied)
    store.service("weather-api"); store.search("weather"); store.balance("alice"); store.activity(user="alice")
"""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, event, func, select, text, update

from tdses.index import schema
from tdses.index.blocks import IndexBlock
from tdses.index.projection import Projection

MIGRATIONS = Path(__file__).parent / "migrations"
ORG_ACCOUNT_PREFIX = "org:"
WRITER = "tdses_index_writer"


def database_url(location: str | os.PathLike[str]) -> str:
    text_ = str(location)
    if "://" in text_:
        return text_
    return "sqlite://" if text_ == ":memory:" else f"sqlite:///{Path(text_).resolve()}"


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    if url != "sqlite://":
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _wal(connection, _record) -> None:
        connection.isolation_level = None  # pysqlite's own BEGIN off: the "begin" event below issues ours
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # A crash may lose the last blocks applied, never split one from its checkpoint: they are read again.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # A writer takes the write lock at once: two never both read, then deadlock upgrading their locks.
        immediate = connection.get_execution_options().get(WRITER, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# Alembic's context is global to the process: the gateways of one process (tests) migrate one after another.
_migrating = threading.Lock()
MIGRATION_LOCK = 0x7D5E5  # a PostgreSQL advisory lock: replicas starting together migrate one after another


def migrate(writer: Engine) -> None:
    """Bring the schema to the newest revision, in one transaction that holds the database's write lock."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migrating, writer.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def fts_query(words: str) -> str:
    """Each word of a user's query as an FTS5 string: no operator or column filter can be smuggled in."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in re.findall(r"\w+", words))


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class IndexStore:
    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.url = database_url(location)
        self.engine = _engine(self.url)
        self.dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(**{WRITER: True})
        migrate(self._writer)

    def close(self) -> None:
        self.engine.dispose()

    # --- applying blocks ----------------------------------------------------------------------

    def next_block(self) -> int:
        with self.engine.connect() as db:
            return db.execute(select(schema.checkpoint.c.next_block)).scalar_one()

    def current_block(self) -> int:
        """The last block applied (-1 when none)."""
        return self.next_block() - 1

    def apply(self, block: IndexBlock) -> bool:
        """Apply the block if it is the next one: its rows and the new checkpoint commit together or not at all.
        False, with nothing written, if it is not (another follower on this database applied it first)."""
        with self._writer.begin() as db:
            moved = db.execute(update(schema.checkpoint)
                               .where(schema.checkpoint.c.id == 1, schema.checkpoint.c.next_block == block.number)
                               .values(next_block=block.number + 1))
            if moved.rowcount != 1:
                db.rollback()
                return False
            Projection(db).apply_block(block)
        return True

    def reset(self) -> None:
        """Empty every table; the next block to apply is 0."""
        with self._writer.begin() as db:
            for table in reversed(schema.DATA_TABLES):
                db.execute(delete(table))
            db.execute(update(schema.checkpoint).values(next_block=0))

    def dump(self) -> dict[str, list[tuple]]:
        """Every table's rows in key order: two indexes of the same blocks dump alike."""
        out = {}
        with self.engine.connect() as db:
            for table in schema.DATA_TABLES:
                keys = [c for c in table.primary_key.columns]
                out[table.name] = [tuple(r) for r in db.execute(select(table).order_by(*keys))]
        return out

    # --- queries ------------------------------------------------------------------------------

    def _all(self, statement) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            return [_row(r) for r in db.execute(statement)]

    def service(self, name: str) -> dict[str, Any] | None:
        s = schema.services
        found = self._all(select(*[c for c in s.c if c.name != "search"]).where(s.c.name == name))
        if not found:
            return None
        found[0]["components"] = self.components(name)
        return found[0]

    def components(self, mashup: str) -> list[str]:
        m = schema.mashup_components.c
        return [r["component"] for r in self._all(select(m.component).where(m.mashup == mashup).order_by(m.position))]

    def services(self, *, developer: str | None = None, status: str | None = None, category: str | None = None,
                 mashup: bool | None = None, after: str = "", limit: int = 100) -> list[dict[str, Any]]:
        """Services in name order, after a name (keyset paging), filtered."""
        s = schema.services
        statement = select(*[c for c in s.c if c.name != "search"]).where(s.c.name > after)
        for column, value in ((s.c.developer, developer), (s.c.status, status), (s.c.category, category),
                              (s.c.mashup, mashup)):
            if value is not None:
                statement = statement.where(column == value)
        return self._all(statement.order_by(s.c.name).limit(limit))

    def search(self, words: str, limit: int = 20) -> list[dict[str, Any]]:
        """Services whose name, category or description hold every word, best match first."""
        if self.dialect == "sqlite":
            query = fts_query(words)
            if not query:
                return []
            statement = text(
                "SELECT s.name, s.developer, s.mashup, s.status, s.category, s.description, s.price "
                "FROM index_services_fts f JOIN index_services s ON s.rowid = f.rowid "
                "WHERE index_services_fts MATCH :q ORDER BY bm25(index_services_fts), s.name LIMIT :limit")
            params = {"q": query, "limit": limit}
        else:
            statement = text(
                "SELECT name, developer, mashup, status, category, description, price FROM index_services "
                "WHERE search @@ plainto_tsquery('english', :q) "
                "ORDER BY ts_rank(search, plainto_tsquery('english', :q)) DESC, name LIMIT :limit")
            params = {"q": words, "limit": limit}
        with self.engine.connect() as db:
            return [_row(r) for r in db.execute(statement, params)]

    def user(self, name: str) -> dict[str, Any] | None:
        found = self._all(select(schema.users).where(schema.users.c.name == name))
        return found[0] if found else None

    def users(self, after: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        u = schema.users
        return self._all(select(u).where(u.c.name > after).order_by(u.c.name).limit(limit))

    def rights(self, service: str, user: str) -> dict[str, Any] | None:
        r = schema.rights
        found = self._all(select(r).where(r.c.service == service, r.c.user == user))
        return found[0] if found else None

    def all_rights(self, *, service: str | None = None, user: str | None = None) -> list[dict[str, Any]]:
        r = schema.rights
        statement = select(r)
        if service is not None:
            statement = statement.where(r.c.service == service)
        if user is not None:
            statement = statement.where(r.c.user == user)
        return self._all(statement.order_by(r.c.service, r.c.user))

    def servers(self, service: str) -> list[str]:
        s = schema.servers.c
        return [r["server"] for r in self._all(select(s.server).where(s.service == service).order_by(s.server))]

    def tally(self, kind: str, owner: str) -> dict[str, int]:
        """A tally folded as the chaincode folds it: the base record plus every delta."""
        t = schema.tallies.c
        fields = ("balance", "buyers", "calls_bought", "calls_used", "composers", "compositions")
        statement = select(*[func.coalesce(func.sum(getattr(t, f)), 0).label(f) for f in fields]) \
            .where(t.kind == kind, t.owner == owner)
        return {k: int(v) for k, v in self._all(statement)[0].items()}

    def tally_owners(self, kind: str) -> list[str]:
        t = schema.tallies.c
        return [r["owner"] for r in self._all(select(t.owner).where(t.kind == kind).distinct().order_by(t.owner))]

    def balance(self, account: str) -> int:
        """A user's ("alice") or an organization's ("org:Org1MSP") balance."""
        if account.startswith(ORG_ACCOUNT_PREFIX):
            return self.tally("org", account.removeprefix(ORG_ACCOUNT_PREFIX))["balance"]
        return self.tally("user", account)["balance"]

    def activity(self, *, service: str | None = None, user: str | None = None, kind: str | None = None,
                 limit: int = 100) -> list[dict[str, Any]]:
        """What happened, newest first; a user's activity includes what others did to it (counterparty)."""
        a = schema.activity
        statement = select(a)
        if service is not None:
            statement = statement.where(a.c.service == service)
        if user is not None:
            statement = statement.where((a.c.user == user) | (a.c.counterparty == user))
        if kind is not None:
            statement = statement.where(a.c.kind == kind)
        rows = self._all(statement.order_by(a.c.block.desc(), a.c.position.desc(), a.c.seq.desc()).limit(limit))
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        return rows
