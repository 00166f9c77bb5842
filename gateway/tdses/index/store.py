"""The index's database: blocks applied with their checkpoint in one transaction, and the queries.

    store = IndexStore("index.db")                       # or "postgresql+psycopg://gateway@db:5432/org1"
    store.apply(index_block(block, "tdses"))             # False if the block is not the next one (already applied)
    store.service("weather-api"); store.search("weather"); store.balance("alice"); store.activity(user="alice")
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Engine, case, create_engine, delete, event, func, literal, literal_column, select, text, update,
)

from tdses import migrating
from tdses.databases import server_engine
from tdses.index import schema
from tdses.index.blocks import IndexBlock
from tdses.index.projection import Projection, services_touched
from tdses.index.search import (
    ANY_STATUS, ServicePage, ServiceQuery, build, decode_cursor, encode_cursor, fts_query, page_of, usage_select,
)
from tdses.sqlitefiles import database_file, write_ahead_logging

log = logging.getLogger("tdses.index")
MIGRATIONS = Path(__file__).parent / "migrations"
ORG_ACCOUNT_PREFIX = "org:"
WRITER = "tdses_index_writer"
# What a service earns its developer: calls bought, rewards, and its price paid by each mashup that composes it.
REVENUE = ("purchase", "reward", "composition")


def database_url(location: str | os.PathLike[str]) -> str:
    text_ = str(location)
    if "://" in text_:
        return text_
    if text_ == ":memory:":  # one connection's: the follower's threads and the event loop would not share it
        raise ValueError("the index needs a file or a database URL, not :memory:")
    return f"sqlite:///{Path(text_).resolve()}"


def _engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        return server_engine(url)
    path = database_file(url)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _wal(connection, _record) -> None:
        connection.isolation_level = None  # pysqlite's own BEGIN off: the "begin" event below issues ours
        write_ahead_logging(connection, path)
        # A crash may lose the last blocks applied, never split one from its checkpoint: they are read again.
        connection.execute("PRAGMA synchronous=NORMAL")

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        # A writer takes the write lock at once: two never both read, then deadlock upgrading their locks.
        immediate = connection.get_execution_options().get(WRITER, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def migrate(writer: Engine) -> None:
    """Bring the schema to the newest revision, in one transaction that holds the database's write lock."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with migrating.exclusive(writer) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class IndexStore:
    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.url = database_url(location)
        self.engine = _engine(self.url)
        self.dialect = self.engine.dialect.name
        self._writer = self.engine.execution_options(**{WRITER: True})
        migrate(self._writer)
        if self.dialect == "postgresql":
            with self.engine.connect() as db:
                as_bytes = db.execute(text("SELECT 'B' < 'a' AND 'a' < 'b'")).scalar_one()  # whatever the provider
            if not as_bytes:
                log.warning("the index's database does not sort text as bytes: names are ordered (sort=name, start, "
                            "end) as the ledger and SQLite order them only with collation C (initdb --locale=C)")
        # What changed when, for caches of services read from here (unchanged_since): a generation per block seen.
        self.generation = 0
        self._changed: dict[str, int] = {}
        self._reset_at = 0

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
            applied = moved.rowcount == 1
            if applied:
                Projection(db).apply_block(block)
            else:
                db.rollback()
        self._note(services_touched(block))  # applied here or by another follower: the rows have changed
        return applied

    def _note(self, services: set[str]) -> None:
        generation = self.generation + 1
        for name in services:
            self._changed[name] = generation
        self.generation = generation  # last: a reader that saw the old generation treats these as changed

    def unchanged_since(self, service: str, generation: int) -> bool:
        """Whether nothing shown of the service changed after `generation` (read before reading the service)."""
        return max(self._changed.get(service, -1), self._reset_at) <= generation

    def reset(self) -> None:
        """Empty every table; the next block to apply is 0."""
        with self._writer.begin() as db:
            # The checkpoint first: on PostgreSQL its row lock waits for a block being applied meanwhile to commit,
            # so that the deletes see its rows, and keeps out the next until this commits (apply re-checks it).
            db.execute(update(schema.checkpoint).values(next_block=0))
            for table in reversed(schema.DATA_TABLES):
                db.execute(delete(table))
        self._reset_at = self.generation + 1
        self.generation += 1

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
        """One service with its row, tallies (calls bought, compositions) and components, or None: one statement,
        two for a mashup."""
        s = schema.services
        usage = usage_select([name]).subquery("usage")
        found = self._all(select(*[c for c in s.c if c.name != "search"],
                                 func.coalesce(usage.c.calls_bought, 0).label("calls_bought"),
                                 func.coalesce(usage.c.compositions, 0).label("compositions"))
                          .select_from(s.outerjoin(usage, usage.c.service == s.c.name)).where(s.c.name == name))
        if not found:
            return None
        found[0]["components"] = self.components(name) if found[0]["mashup"] else []
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
        """Services (of any status) whose name, category or description hold every word, best match first."""
        return self.find_services(ServiceQuery(words=words, status=ANY_STATUS, limit=limit)).items

    def find_services(self, query: ServiceQuery) -> ServicePage:
        """One page of a service search: filters, sort and keyset cursor in one statement (tdses.index.search)."""
        query.check()
        if query.words is not None and self.dialect == "sqlite" and not fts_query(query.words):
            return ServicePage([])  # no word to look for: nothing matches
        statement, labels = build(query, self.dialect)
        page = page_of(query, self._all(statement), labels)
        missing = [row["name"] for row in page.items if "calls_bought" not in row]
        if missing:
            usage = {r["service"]: r for r in self._all(usage_select(missing))}
            for row in page.items:
                if "calls_bought" not in row:
                    found = usage.get(row["name"], {})
                    row["calls_bought"], row["compositions"] = (int(found.get("calls_bought", 0)),
                                                                int(found.get("compositions", 0)))
        return page

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

    # --- for developers, users and analytics ----------------------------------------------------

    def buyers(self, service: str) -> list[dict[str, Any]]:
        """Everyone who bought calls of the service: bought, used, remaining, paid, vouchers only; most paid
        first."""
        r = schema.rights.c
        return self._all(select(r.user, r.bought, r.used, r.remaining, r.paid, r.updated_at, r.vouchers_only,
                                r.block)
                         .where(r.service == service, r.bought > 0).order_by(r.paid.desc(), r.user))

    def history(self, *, service: str | None = None, user: str | None = None, kinds: tuple[str, ...],
                limit: int = 50, cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """Activity of a service or a user (as actor or counterparty), newest first, keyset-paged by its place on
        the ledger (block, transaction's position, fact's number)."""
        a = schema.activity
        statement = select(a).where(a.c.kind.in_(kinds))
        if service is not None:
            statement = statement.where(a.c.service == service)
        if user is not None:
            statement = statement.where((a.c.user == user) | (a.c.counterparty == user))
        if cursor:
            block, position, seq = decode_cursor(cursor, "history")
            statement = statement.where(
                (a.c.block < block) | ((a.c.block == block) & (a.c.position < position))
                | ((a.c.block == block) & (a.c.position == position) & (a.c.seq < seq)))
        rows = self._all(statement.order_by(a.c.block.desc(), a.c.position.desc(), a.c.seq.desc()).limit(limit + 1))
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            next_cursor = encode_cursor("history", [last["block"], last["position"], last["seq"]])
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        return rows, next_cursor

    def facts_of_blocks(self, kinds: tuple[str, ...], after: int, upto: int, limit: int,
                        cursor: tuple[int, int, int] | None = None) -> list[dict[str, Any]]:
        """Activity of the blocks after `after` up to `upto`, oldest first, at most limit rows, from past cursor
        (a row's block, position and seq) when given."""
        a = schema.activity
        # On SQLite a unary + keeps the plan off the kind index: the block index finds the range, in order.
        kind = literal_column("+index_activity.kind", a.c.kind.type) if self.dialect == "sqlite" else a.c.kind
        statement = select(a).where(kind.in_(kinds), a.c.block > after, a.c.block <= upto)
        if cursor is not None:
            block, position, seq = cursor
            statement = statement.where(
                (a.c.block > block) | ((a.c.block == block) & (a.c.position > position))
                | ((a.c.block == block) & (a.c.position == position) & (a.c.seq > seq)))
        rows = self._all(statement.order_by(a.c.block, a.c.position, a.c.seq).limit(limit))
        for row in rows:
            row["detail"] = json.loads(row["detail"]) if row["detail"] else {}
        return rows

    def bucket(self, column, size: str):
        """A timestamp's period as text: hour 2026-11-30T15:00Z, day 2026-11-30, week its Monday, month 2026-11."""
        if self.dialect == "sqlite":
            return {"hour": func.strftime("%Y-%m-%dT%H:00Z", column), "day": func.strftime("%Y-%m-%d", column),
                    "week": func.date(column, "-6 days", "weekday 1"), "month": func.strftime("%Y-%m", column)}[size]
        utc = func.timezone("UTC", column)
        return {"hour": func.to_char(utc, 'YYYY-MM-DD"T"HH24:00"Z"'), "day": func.to_char(utc, "YYYY-MM-DD"),
                "week": func.to_char(func.date_trunc("week", utc), "YYYY-MM-DD"),
                "month": func.to_char(utc, "YYYY-MM")}[size]

    def revenue(self, service: str, bucket: str) -> list[dict[str, Any]]:
        """SToken the service's developer received for it per period: purchases, rewards and compositions."""
        a = schema.activity.c
        period = self.bucket(a.ts, bucket).label("bucket")
        statement = (select(period, func.sum(a.amount).label("amount"),
                            func.sum(case((a.kind == "purchase", a.calls), else_=0)).label("calls"))
                     .where(a.service == service, a.kind.in_(REVENUE))
                     .group_by(period).order_by(period))
        return [{"bucket": r["bucket"], "amount": int(r["amount"] or 0), "calls": int(r["calls"] or 0)}
                for r in self._all(statement)]

    def analytics(self, by: str, bucket: str, metric: str, developer: str | None = None, *,
                  limit: int) -> list[dict[str, Any]]:
        """A metric per period and per service, developer or organization, from the activity rows: calls bought
        (purchases), calls used (reductions and settlements), revenue (REVENUE), compositions (a
        mashup created counts once for each component of another developer, as the chaincode counts) and new
        services (registrations). Oldest period first: at most `limit` rows, of the newest periods."""
        a, s, u, m = schema.activity.c, schema.services, schema.users, schema.mashup_components.c
        if metric == "compositions":
            component = schema.services.alias("component")
            facts = (select(a.ts.label("ts"), m.component.label("service"), literal(1).label("value"))
                     .select_from(schema.activity.join(schema.mashup_components, m.mashup == a.service)
                                  .join(component, component.c.name == m.component))
                     .where(a.kind == "mashup_created", component.c.developer != a.user))
        else:
            kinds, value = {
                "calls_bought": (("purchase",), a.calls),
                "calls_used": (("reduction", "settlement"), a.calls),
                "revenue": (REVENUE, a.amount),
                "new_services": (("service_registered",), literal(1)),
            }[metric]
            facts = select(a.ts.label("ts"), a.service.label("service"),
                           func.coalesce(value, 0).label("value")).where(a.kind.in_(kinds))
        facts = facts.subquery("facts")
        key = {"service": facts.c.service, "developer": s.c.developer, "organization": u.c.msp_id}[by]
        joined = facts.join(s, s.c.name == facts.c.service, isouter=True) \
                      .join(u, u.c.name == s.c.developer, isouter=True)
        period = self.bucket(facts.c.ts, bucket).label("bucket")
        statement = (select(period, key.label("key"), func.sum(facts.c.value).label("value"))
                     .select_from(joined).where(key.is_not(None)))
        if developer is not None:  # only the services of one developer
            statement = statement.where(s.c.developer == developer)
        statement = (statement.group_by(period, key)
                     .order_by(period.desc(), func.sum(facts.c.value).desc(), key).limit(limit))
        rows = [{"bucket": r["bucket"], "key": r["key"], "value": int(r["value"] or 0)} for r in self._all(statement)]
        rows.sort(key=lambda r: r["bucket"])  # stable: a period's rows stay highest value first
        return rows

    def mashup_edges(self) -> list[tuple[str, str]]:
        """(mashup, component) for every mashup."""
        m = schema.mashup_components.c
        return [(r["mashup"], r["component"]) for r in self._all(select(m.mashup, m.component))]

    def purchases(self) -> list[tuple[str, str]]:
        """(user, service) for every user who bought calls of a service."""
        r = schema.rights.c
        return [(row["user"], row["service"]) for row in self._all(select(r.user, r.service).where(r.bought > 0))]

    def service_names(self, status: str = "available") -> set[str]:
        s = schema.services.c
        return {r["name"] for r in self._all(select(s.name).where(s.status == status))}

    def mashups_of(self, developer: str) -> list[str]:
        s = schema.services.c
        return [r["name"] for r in self._all(select(s.name).where(s.developer == developer, s.mashup.is_(True)))]

    def candidates(self, categories: list[str]) -> list[dict[str, Any]]:
        """The available services of the categories, with what composition needs."""
        s = schema.services.c
        return self._all(select(s.name, s.category, s.price, s.latency_ms, s.availability_bp, s.developer)
                         .where(s.status == "available", s.category.in_(categories)).order_by(s.name))

    def components_of(self, mashups: list[str]) -> dict[str, list[str]]:
        """The components of each of the mashups, in their order, in one query."""
        m = schema.mashup_components.c
        found: dict[str, list[str]] = {name: [] for name in mashups}
        if mashups:
            for r in self._all(select(m.mashup, m.component).where(m.mashup.in_(mashups))
                               .order_by(m.mashup, m.position)):
                found[r["mashup"]].append(r["component"])
        return found
