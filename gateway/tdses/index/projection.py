"""One block onto the index's tables, inside the caller's database transaction.

Rows follow the chaincode's keys (keys.go): a write of tdses.service/<name> upserts that service, a delete of
tdses.server/<service>/<server> deletes that authorization. Facts that have no row of their own (a reward, a
transfer, a status change) come from the transaction's event. Applying the same blocks in the same order always
gives the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete
from sqlalchemy.dialects import postgresql, sqlite

from tdses.index import schema
from tdses.index.blocks import ChaincodeTransaction, IndexBlock, StateWrite


class Projection:
    """Applies a block on one connection; the dialect picks the upsert.

    A block's rows are sent a statement at a time, each with all its rows (one executemany instead of a call per
    row, which cost more than the rows). Per table the statements keep their order: a run of one statement ends
    where another statement on the same table comes, so a delete still follows the upsert before it. Tables are
    independent of each other (no foreign keys), so their runs need no order between them. An upsert run keeps
    one row per key, the last: the same statement sets the same columns, so the last row is what both leave.
    """

    def __init__(self, db: Connection) -> None:
        self.db = db
        self._runs: dict[Table, _Run] = {}

    def apply_block(self, block: IndexBlock) -> None:
        for tx in block.transactions:
            self.apply_transaction(tx)
        for table in list(self._runs):
            self._flush(table)

    def apply_transaction(self, tx: ChaincodeTransaction) -> None:
        """Queue the transaction's rows; apply_block writes them."""
        facts = Facts(self, tx)
        for write in tx.writes:
            handler = WRITES.get(write.object_type)
            if handler is not None:
                handler(self, tx, write, facts)
        if tx.event_name is not None:
            self.insert(schema.events, tx_id=tx.transaction_id, block=tx.block_number, ts=tx.timestamp,
                        name=tx.event_name, payload=json.dumps(tx.event_payload, sort_keys=True))
            for fact in EVENT_FACTS.get(tx.event_name, lambda _: ())(tx.event_payload):
                facts.add(**fact)

    # The statements are built once and executed with parameters: building one per row cost more than running it.

    def insert(self, table: Table, **values: Any) -> None:
        self._queue(table, _insert(table), values)

    def upsert(self, table: Table, key: tuple[str, ...], tx: ChaincodeTransaction, **values: Any) -> None:
        values.update(block=tx.block_number, tx_id=tx.transaction_id, ts=tx.timestamp)
        self._queue(table, _upsert(self.db.dialect.name, table, key, tuple(values)), values,
                    tuple(values[k] for k in key))

    def delete(self, table: Table, **key: Any) -> None:
        self._queue(table, _delete(table, tuple(key)), {f"key_{k}": v for k, v in key.items()})

    def _queue(self, table: Table, statement: Any, row: dict[str, Any], key: tuple | None = None) -> None:
        run = self._runs.get(table)
        if run is not None and run.statement is not statement:
            self._flush(table)
            run = None
        if run is None:
            run = self._runs[table] = _Run(statement)
        run.rows[len(run.rows) if key is None else key] = row

    def _flush(self, table: Table) -> None:
        run = self._runs.pop(table)
        self.db.execute(run.statement, list(run.rows.values()))


class _Run:
    """Rows for one statement, in order; an upsert's by key (a later row replaces an earlier one in its place)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self.rows: dict[Any, dict[str, Any]] = {}


@cache
def _insert(table: Table):
    return table.insert()


@cache
def _upsert(dialect: str, table: Table, key: tuple[str, ...], columns: tuple[str, ...]):
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in columns if c not in key})


@cache
def _delete(table: Table, key: tuple[str, ...]):
    return delete(table).where(*(table.c[k] == bindparam(f"key_{k}") for k in key))


class Facts:
    """A transaction's activity rows, numbered in the order the transaction holds them."""

    def __init__(self, projection: Projection, tx: ChaincodeTransaction) -> None:
        self.projection = projection
        self.tx = tx
        self.seq = 0

    def add(self, kind: str, service: str | None = None, user: str | None = None, counterparty: str | None = None,
            calls: int | None = None, amount: int | None = None, **detail: Any) -> None:
        self.projection.insert(
            schema.activity, tx_id=self.tx.transaction_id, seq=self.seq, block=self.tx.block_number,
            position=self.tx.position, ts=self.tx.timestamp,
            kind=kind, service=service, user=user, counterparty=counterparty, calls=calls, amount=amount,
            detail=json.dumps(detail, sort_keys=True) if detail else None,
        )
        self.seq += 1


def _user(p: Projection, tx: ChaincodeTransaction, w: StateWrite, _: Facts) -> None:
    v = w.value
    p.upsert(schema.users, ("name",), tx, name=w.attributes[0], status=v["status"], msp_id=v["mspId"],
             cert_id=v["certId"], introduction=v.get("introduction", ""),
             available_services=v.get("availableServices", 0), created_at=v["createdAt"], updated_at=v["updatedAt"])


def _service(p: Projection, tx: ChaincodeTransaction, w: StateWrite, _: Facts) -> None:
    v, name = w.value, w.attributes[0]
    qos = v.get("qos") or {}
    p.upsert(schema.services, ("name",), tx, name=name, developer=v["developer"], mashup=bool(v.get("mashup")),
             status=v["status"], category=v.get("category", ""), description=v.get("description", ""),
             url=v.get("url", ""), price=v["price"], latency_ms=qos.get("latencyMs", 0),
             availability_bp=qos.get("availabilityBp", 0), require_vouchers=bool(v.get("requireVouchers")),
             created_at=v["createdAt"], updated_at=v["updatedAt"])
    components = v.get("components") or []
    p.delete(schema.mashup_components, mashup=name)
    for position, component in enumerate(components):
        p.insert(schema.mashup_components, mashup=name, component=component, position=position,
                 block=tx.block_number, tx_id=tx.transaction_id, ts=tx.timestamp)


def _rights(p: Projection, tx: ChaincodeTransaction, w: StateWrite, _: Facts) -> None:
    service, user = w.attributes
    if w.value is None:
        p.delete(schema.rights, service=service, user=user)
        return
    v = w.value
    p.upsert(schema.rights, ("service", "user"), tx, service=service, user=user, bought=v["bought"],
             paid=v["paid"], used=v["used"], remaining=v["remaining"], updated_at=v["updatedAt"],
             vouchers_only=bool(v.get("vouchersOnly")))


def _server(p: Projection, tx: ChaincodeTransaction, w: StateWrite, _: Facts) -> None:
    service, server = w.attributes
    if w.value is None:
        p.delete(schema.servers, service=service, server=server)
        return
    p.upsert(schema.servers, ("service", "server"), tx, service=service, server=server,
             authorized_at=w.value["authorizedAt"])


def _tally(p: Projection, tx: ChaincodeTransaction, w: StateWrite, _: Facts) -> None:
    # A base record is (kind, owner); a delta (kind, owner, time, txId, seq), or (kind, owner, txId, seq) as
    # chaincode versions before the time-ordered keys wrote it.
    kind, owner, *delta = w.attributes
    delta_tx, delta_seq = delta[-2:] if delta else ("", "")
    if w.value is None:
        p.delete(schema.tallies, kind=kind, owner=owner, delta_tx=delta_tx, delta_seq=delta_seq)
        return
    v = w.value
    p.upsert(schema.tallies, ("kind", "owner", "delta_tx", "delta_seq"), tx, kind=kind, owner=owner,
             delta_tx=delta_tx, delta_seq=delta_seq, balance=v.get("balance", 0), buyers=v.get("buyers", 0),
             calls_bought=v.get("callsBought", 0), calls_used=v.get("callsUsed", 0),
             composers=v.get("composers", 0), compositions=v.get("compositions", 0))


def _record(kind: str, actor: str, counterparty: str | None = None, **extra: str) -> Callable:
    """Buy, reduce and settle records: written once per transaction under a key ending in its id."""

    def handle(_: Projection, __: ChaincodeTransaction, w: StateWrite, facts: Facts) -> None:
        if w.value is None:
            return
        v = w.value
        facts.add(kind, service=v["service"], user=v[actor], counterparty=v.get(counterparty) if counterparty else None,
                  calls=v.get("calls"), amount=v.get("cost"), **{k: v[f] for k, f in extra.items() if f in v})

    return handle


def services_touched(block: IndexBlock) -> set[str]:
    """The services whose row, components or tallies the block changes."""
    names = set()
    for tx in block.transactions:
        for w in tx.writes:
            if w.object_type == "tdses.service":
                names.add(w.attributes[0])
            elif w.object_type in ("tdses.tally", "tdses.tally~delta") and w.attributes[:1] == ("service",):
                names.add(w.attributes[1])
    return names


WRITES: dict[str, Callable[[Projection, ChaincodeTransaction, StateWrite, Facts], None]] = {
    "tdses.user": _user,
    "tdses.service": _service,
    "tdses.rights": _rights,
    "tdses.server": _server,
    "tdses.tally": _tally,
    "tdses.tally~delta": _tally,
    "tdses.buy": _record("purchase", "buyer", price="price"),
    "tdses.reduce": _record("reduction", "user", "reducer"),
    "tdses.settle": _record("settlement", "user", "settler", used="used"),
}


def _status(kind: str) -> Callable[[dict], list[dict]]:
    return lambda e: [{"kind": kind, "service": e["service"], "user": e["developer"], "status": e["status"]}]


def _mashup_created(e: dict) -> list[dict]:
    """The mashup, and each component's price paid to its developer (its revenue from compositions; events of
    chaincode versions before the payments were listed carry none)."""
    return [{"kind": "mashup_created", "service": e["service"], "user": e["developer"], "amount": e["paid"],
             "components": e["components"]},
            *({"kind": "composition", "service": p["service"], "user": e["developer"], "counterparty": p["developer"],
               "amount": p["amount"]} for p in e.get("payments", ()))]


# An event's activity rows (most events stand for one fact).
EVENT_FACTS: dict[str, Callable[[Any], list[dict]]] = {
    "UserRegistered": lambda e: [{"kind": "user_registered", "user": e["name"], "amount": e["grant"],
                                  "mspId": e["mspId"]}],
    "UserRemoved": lambda e: [{"kind": "user_removed", "user": e["name"], "amount": e["returnedToPool"]}],
    "ServiceRegistered": _status("service_registered"),
    "ServicePublished": _status("service_published"),
    "ServiceInvalidated": _status("service_invalidated"),
    "ServiceEdited": lambda e: [{"kind": "service_edited", "service": e["service"], "changed": e["changed"]}],
    "MashupCreated": _mashup_created,
    "ServiceRewarded": lambda e: [{"kind": "reward", "service": e["service"], "user": e["from"],
                                   "counterparty": e["developer"], "amount": e["amount"]}],
    "Transferred": lambda e: [{"kind": "transfer", "user": e["from"], "counterparty": e["to"],
                               "amount": e["amount"]}],
    "ServerAuthorized": lambda e: [{"kind": "server_authorized", "service": e["service"], "user": e["server"]}],
    "ServerRevoked": lambda e: [{"kind": "server_revoked", "service": e["service"], "user": e["server"]}],
}
