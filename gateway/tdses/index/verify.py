"""The index against the ledger, through the chaincode's own queries: every service (QueryServiceByRange, paged),
every user the index or the ledger's services name (QueryUser: fields, balance, contribution counters), every
rights row (GetSpecCallTime), every service's usage (GetCallTimesOfService) and every organization account
(BalanceOf).

    differences = await compare(store, contract)        # contract: the chaincode, as the org admin
    for d in differences: print(d)

The comparison is exact when the index holds the block the ledger's answers come from; on a busy ledger,
`recheck` asks again for what differed once the index has caught up, and keeps only what still differs.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fabric_gateway import GatewayError

from tdses.chaincode import Code, Fn
from tdses.index.store import IndexStore

PAGE_SIZE = "100"  # the chaincode's largest page

# index column -> ledger field
SERVICE_FIELDS = {
    "developer": "developer", "mashup": "mashup", "status": "status", "category": "category",
    "description": "description", "url": "url", "price": "price", "require_vouchers": "requireVouchers",
    "created_at": "createdAt", "updated_at": "updatedAt",
}
USER_FIELDS = {"status": "status", "msp_id": "mspId", "cert_id": "certId", "introduction": "introduction",
               "created_at": "createdAt", "updated_at": "updatedAt"}
RIGHTS_FIELDS = {"bought": "bought", "paid": "paid", "used": "used", "remaining": "remaining",
                 "updated_at": "updatedAt", "vouchers_only": "vouchersOnly"}


@dataclass(frozen=True)
class Difference:
    kind: str  # service, user, rights, usage, account
    key: str
    field: str
    index: Any
    ledger: Any

    def __str__(self) -> str:
        return f"{self.kind} {self.key}: {self.field}: index {self.index!r}, ledger {self.ledger!r}"


Query = Callable[..., Awaitable[Any]]


def chaincode_query(contract) -> Query:
    """fn(*args) -> the decoded answer, or None when the chaincode says NOT_FOUND."""

    async def query(function: str, *args: str) -> Any:
        try:
            return json.loads(await contract.evaluate_transaction(function, *args))
        except GatewayError as error:
            if error.chaincode_error_code == Code.NOT_FOUND:
                return None
            raise

    return query


def _fields(kind: str, key: str, index: dict | None, ledger: dict | None, fields: dict[str, str],
            extra: Iterable[tuple[str, Any, Any]] = ()) -> list[Difference]:
    if index is None or ledger is None:
        if index is None and ledger is None:
            return []
        return [Difference(kind, key, "exists", index is not None, ledger is not None)]
    found = [Difference(kind, key, column, index[column], ledger.get(field))
             for column, field in fields.items() if index[column] != ledger.get(field)]
    return found + [Difference(kind, key, name, i, l) for name, i, l in extra if i != l]


async def ledger_services(query: Query) -> dict[str, dict]:
    services, bookmark = {}, ""
    while True:
        page = await query(Fn.QUERY_SERVICE_BY_RANGE, "", "", PAGE_SIZE, bookmark)
        for record in page["records"]:
            services[record["name"]] = record
        bookmark = page["bookmark"]
        if not bookmark:
            return services


def service_differences(name: str, index: dict | None, ledger: dict | None) -> list[Difference]:
    extra = []
    if index is not None and ledger is not None:
        qos = ledger.get("qos") or {}
        extra = [("latency_ms", index["latency_ms"], qos.get("latencyMs", 0)),
                 ("availability_bp", index["availability_bp"], qos.get("availabilityBp", 0)),
                 ("components", index["components"], ledger.get("components") or [])]
    return _fields("service", name, index, ledger, SERVICE_FIELDS, extra)


async def check_service(store: IndexStore, query: Query, name: str) -> list[Difference]:
    return service_differences(name, store.service(name), await query(Fn.QUERY_SERVICE, name))


async def check_user(store: IndexStore, query: Query, name: str) -> list[Difference]:
    index, ledger = store.user(name), await query(Fn.QUERY_USER, name)
    extra = []
    if index is not None and ledger is not None:
        tally, contribution = store.tally("user", name), ledger["contribution"]
        extra = [("balance", tally["balance"], ledger["balance"]),
                 ("available_services", index["available_services"], contribution["availableServices"]),
                 ("buyers", tally["buyers"], contribution["buyers"]),
                 ("composers", tally["composers"], contribution["composers"]),
                 ("calls_bought", tally["calls_bought"], contribution["callsBought"]),
                 ("compositions", tally["compositions"], contribution["compositions"])]
    return _fields("user", name, index, ledger, USER_FIELDS, extra)


async def check_rights(store: IndexStore, query: Query, key: str) -> list[Difference]:
    service, user = key.split("/", 1)
    ledger = await query(Fn.GET_RIGHTS, service, user)
    if ledger is not None:
        ledger = {"vouchersOnly": False, **ledger}  # left out when false
    return _fields("rights", key, store.rights(service, user), ledger, RIGHTS_FIELDS)


async def check_usage(store: IndexStore, query: Query, name: str) -> list[Difference]:
    usage, tally = await query(Fn.GET_SERVICE_USAGE, name), store.tally("service", name)
    if usage is None:
        return []  # the service itself is compared by check_service
    return [Difference("usage", name, field, tally[column], usage[field])
            for column, field in (("calls_bought", "callsBought"), ("calls_used", "callsUsed"),
                                  ("compositions", "compositions"))
            if tally[column] != usage[field]]


async def check_account(store: IndexStore, query: Query, account: str) -> list[Difference]:
    ledger = await query(Fn.BALANCE_OF, account)
    index = store.balance(account)
    return [] if ledger is not None and ledger["balance"] == index else \
        [Difference("account", account, "balance", index, ledger["balance"] if ledger else None)]


CHECKS = {"service": check_service, "user": check_user, "rights": check_rights, "usage": check_usage,
          "account": check_account}


async def compare(store: IndexStore, contract, progress: Callable[[str], None] = lambda _: None
                  ) -> list[Difference]:
    """Every difference between the index and the ledger, in a stable order."""
    query = chaincode_query(contract)
    differences: list[Difference] = []
    ledger = await ledger_services(query)
    indexed = {s["name"]: s for s in _all_services(store)}
    progress(f"{len(ledger)} services on the ledger, {len(indexed)} in the index")
    for name in sorted(set(ledger) | set(indexed)):
        index = store.service(name) if name in indexed else None
        differences += service_differences(name, index, ledger.get(name))
        if name in ledger:
            differences += await check_usage(store, query, name)
    users = sorted({u["name"] for u in _all_users(store)} | {s["developer"] for s in ledger.values()})
    progress(f"{len(users)} users")
    for name in users:
        differences += await check_user(store, query, name)
    rights = store.all_rights()
    progress(f"{len(rights)} rights")
    for row in rights:
        differences += await check_rights(store, query, f"{row['service']}/{row['user']}")
    for msp_id in store.tally_owners("org"):
        differences += await check_account(store, query, f"org:{msp_id}")
    return differences


async def recheck(store: IndexStore, contract, differences: list[Difference]) -> list[Difference]:
    """Ask again about each object that differed (after the index caught up): what still differs."""
    query = chaincode_query(contract)
    still: list[Difference] = []
    for kind, key in dict.fromkeys((d.kind, d.key) for d in differences):
        still += await CHECKS[kind](store, query, key)
    return still


def _all_services(store: IndexStore) -> list[dict]:
    found, after = [], ""
    while page := store.services(after=after, limit=1000):
        found += page
        after = page[-1]["name"]
    return found


def _all_users(store: IndexStore) -> list[dict]:
    found, after = [], ""
    while page := store.users(after=after):
        found += page
        after = page[-1]["name"]
    return found
