"""Service search over the index: one SQL statement per page, filtered and sorted in the database, keyset-paged.

    query = ServiceQuery(words="weather", category="Weather", max_price=5, sort="price", limit=20)
    page = store.find_services(query)                     # page.items, page.next (an opaque cursor, or None)
    store.find_services(replace(query, cursor=page.next))

A cursor holds the sort key of the page's last service (its sort value and name): the next page starts right after
it, whatever was written meanwhile, with no OFFSET scan. Popularity and compositions are the services' tallies
(calls bought, times composed), folded as the chaincode folds them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Double, Select, and_, cast, column, func, literal_column, or_, select, table

from tdses.index import schema

SORTS = ("relevance", "price", "-price", "popularity", "compositions", "newest", "name")
# What a cursor of each order holds before the service's name: the type of its sort value.
CURSOR_VALUES: dict[str, tuple[type, ...]] = {
    "relevance": (float,), "price": (int,), "-price": (int,), "popularity": (int,), "compositions": (int,),
    "newest": (str,), "name": (), "history": (int, int, int)}
INT64 = 2**63
ANY_STATUS = "any"
MAX_LIMIT = 100
SERVICE_COLUMNS = ("name", "developer", "mashup", "status", "category", "description", "url", "price", "latency_ms",
                   "availability_bp", "require_vouchers", "created_at", "updated_at", "block")


class BadCursor(ValueError):
    """A cursor this query did not hand out (another sort, or altered)."""


@dataclass(frozen=True)
class ServiceQuery:
    words: str | None = None
    category: str | None = None
    developer: str | None = None
    status: str = "available"  # or ANY_STATUS
    mashup: bool | None = None
    min_price: int | None = None
    max_price: int | None = None
    max_latency_ms: int | None = None
    min_availability_bp: int | None = None
    start: str | None = None  # name range [start, end)
    end: str | None = None
    sort: str | None = None  # None: relevance with words, else name
    limit: int = 20
    cursor: str | None = None

    @property
    def order(self) -> str:
        return self.sort or ("relevance" if self.words else "name")

    def check(self) -> None:
        """ValueError for a query that has no meaning (the REST layer turns it into a 422)."""
        if self.order not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}")
        if self.order == "relevance" and not self.words:
            raise ValueError("sort=relevance needs q")
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError("min_price must not exceed max_price")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError("start must come before end")
        if not 1 <= self.limit <= MAX_LIMIT:
            raise ValueError(f"limit must be 1..{MAX_LIMIT}")


@dataclass
class ServicePage:
    items: list[dict[str, Any]]
    next: str | None = None  # the cursor of the next page; None on the last


def fts_query(words: str) -> str:
    """Each word of a user's query as an FTS5 string: no operator or column filter can be smuggled in."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in re.findall(r"\w+", words))


def encode_cursor(sort: str, values: list[Any]) -> str:
    raw = json.dumps({"s": sort, "k": values}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    """The sort values a cursor of this order holds (CURSOR_VALUES; then the name, except for history)."""
    kinds = CURSOR_VALUES[sort] + (() if sort == "history" else (str,))
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = data["k"]
        if data["s"] != sort or not isinstance(values, list) or len(values) != len(kinds):
            raise BadCursor("the cursor belongs to another sort order")
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BadCursor("the cursor is not one this gateway handed out") from exc
    if not all(_holds(kind, value) for kind, value in zip(kinds, values)):
        raise BadCursor("the cursor is not one this gateway handed out")
    return values


def _holds(kind: type, value: Any) -> bool:
    if kind is str:
        return isinstance(value, str) and "\x00" not in value  # PostgreSQL refuses NUL in text
    in_int64 = type(value) is int and -INT64 <= value < INT64
    if kind is int:
        return in_int64
    return in_int64 or (type(value) is float and math.isfinite(value))


def usage_select(services: list[str] | None = None) -> Select:
    """Calls bought and times composed per service (of the list, or all): the services' tallies, base record plus
    deltas."""
    t = schema.tallies.c
    statement = (select(t.owner.label("service"),
                        # PostgreSQL sums bigints as numeric (Decimal): cast back, for a cursor is JSON
                        cast(func.coalesce(func.sum(t.calls_bought), 0), BigInteger).label("calls_bought"),
                        cast(func.coalesce(func.sum(t.compositions), 0), BigInteger).label("compositions"))
                 .where(t.kind == "service").group_by(t.owner))
    return statement if services is None else statement.where(t.owner.in_(services))


def usage_subquery():
    return usage_select().subquery("usage")


def _after(keys: list[tuple[Any, bool]], values: list[Any]):
    """Rows strictly after `values` in the order of keys ((expression, descending) pairs): a keyset condition."""
    conditions = []
    for i, (expression, descending) in enumerate(keys):
        equal = [keys[j][0] == values[j] for j in range(i)]
        beyond = expression < values[i] if descending else expression > values[i]
        conditions.append(and_(*equal, beyond))
    return or_(*conditions)


def _sqlite_match(statement_from, words: str) -> tuple[Any, Any, Any]:
    """The services joined with SQLite's full-text index, the match of the words, and its bm25 (lower is better)."""
    fts = table("index_services_fts", column("rowid"))
    index = literal_column("index_services_fts")
    return (statement_from.join(fts, fts.c.rowid == literal_column("index_services.rowid")),
            index.op("MATCH")(fts_query(words)), func.bm25(index))


def _rank_now(words: str, name: str, rank: float):
    """SQLite's bm25 weighs each word by the whole index: a service registered between two pages moves every
    rank, and the rank a cursor holds would skip or repeat rows. The next page goes on after the cursor's row as it
    ranks now (with the rank the cursor holds if it no longer matches)."""
    joined, match, bm25 = _sqlite_match(schema.services, words)
    now = select(bm25).select_from(joined).where(match, schema.services.c.name == name).correlate(None)
    return func.coalesce(now.scalar_subquery(), rank)


def build(query: ServiceQuery, dialect: str) -> tuple[Select, list[str]]:
    """The page's statement and the labels of its sort key (the cursor's values), for the dialect."""
    s = schema.services
    columns = [s.c[name] for name in SERVICE_COLUMNS]
    statement_from = s
    popularity = compositions = None
    if query.order in ("popularity", "compositions"):
        # Only these sorts need every service's tallies; the others read the page's own afterwards (usage_of).
        usage = usage_subquery()
        popularity = func.coalesce(usage.c.calls_bought, 0)
        compositions = func.coalesce(usage.c.compositions, 0)
        statement_from = s.outerjoin(usage, usage.c.service == s.c.name)
        columns += [popularity.label("calls_bought"), compositions.label("compositions")]
    rank = None
    if query.words:
        if dialect == "sqlite":
            statement_from, match, rank = _sqlite_match(statement_from, query.words)
        else:
            tsquery = func.plainto_tsquery("english", query.words)
            vector = literal_column("index_services.search")
            match = vector.op("@@")(tsquery)
            # As a double: a real reaches the cursor rounded to its shortest digits, and would never equal itself.
            rank = -cast(func.ts_rank(vector, tsquery), Double)
    keys: list[tuple[Any, bool]] = {
        "relevance": [(rank, False)],
        "price": [(s.c.price, False)],
        "-price": [(s.c.price, True)],
        "popularity": [(popularity, True)],
        "compositions": [(compositions, True)],
        "newest": [(s.c.created_at, True)],
        "name": [],
    }[query.order] + [(s.c.name, False)]
    labels = [f"k{i}" for i in range(len(keys) - 1)]  # the last key is the name, already selected
    statement = select(*columns, *[k.label(label) for (k, _), label in zip(keys[:-1], labels)]) \
        .select_from(statement_from)
    if query.words:
        statement = statement.where(match)
    # With words on SQLite the full-text match must drive the plan: given an index on a filtered column, SQLite
    # would scan it and run the match row by row (seconds at 100k services). A unary + keeps it off such indexes.
    unindexed = bool(query.words) and dialect == "sqlite"
    c = {name: literal_column(f"+{s.name}.{name}", s.c[name].type) if unindexed else s.c[name]
         for name in ("status", "category", "developer", "mashup", "price", "latency_ms", "availability_bp", "name")}
    if query.status != ANY_STATUS:
        statement = statement.where(c["status"] == query.status)
    for name, value in (("category", query.category), ("developer", query.developer), ("mashup", query.mashup)):
        if value is not None:
            statement = statement.where(c[name] == value)
    for name, bound, low in (("price", query.min_price, True), ("price", query.max_price, False),
                             ("latency_ms", query.max_latency_ms, False),
                             ("availability_bp", query.min_availability_bp, True), ("name", query.start, True)):
        if bound is not None:
            statement = statement.where(c[name] >= bound if low else c[name] <= bound)
    if query.end is not None:
        statement = statement.where(c["name"] < query.end)
    if query.cursor:
        values = decode_cursor(query.cursor, query.order)
        if query.order == "relevance" and dialect == "sqlite":
            values[0] = _rank_now(query.words, values[-1], values[0])
        statement = statement.where(_after(keys, values))
    order = [k.desc() if descending else k.asc() for k, descending in keys]
    return statement.order_by(*order).limit(query.limit + 1), labels


def page_of(query: ServiceQuery, rows: list[dict[str, Any]], labels: list[str]) -> ServicePage:
    """The rows of one statement (one more than asked: whether there is a next page) as a page and its cursor."""
    more = len(rows) > query.limit
    rows = rows[:query.limit]
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = encode_cursor(query.order, [last[label] for label in labels] + [last["name"]])
    for row in rows:
        for label in labels:
            row.pop(label, None)
    return ServicePage(rows, next_cursor)
