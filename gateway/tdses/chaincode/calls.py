"""The service chaincode's functions as typed Python calls, over any way of reaching the peers.

    chaincode = Chaincode(invoker)
    rights = await chaincode.buy_calls("weather-api", 5, max_price=3)
    page = await chaincode.services_by_status(ServiceStatus.AVAILABLE, page_size=20)

Each method is named for what it does and sends one contract function (its Fn member, argument order as in
chaincode/contract/*.go); `argument` turns the typed values into the chaincode's string arguments, for all of them.
What a call returns, and which options a write takes, are the Invoker's: the REST gateway's answers a
non-custodial caller's write with a signature request (202), and takes `after_commit=`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from tdses.chaincode.vocabulary import Fn, ServiceStatus

Argument = str | int | Decimal | Mapping[str, Any] | Sequence[Any]


class Invoker(Protocol):
    """How calls reach the chaincode: evaluate reads without a transaction, submit runs one."""

    async def evaluate(self, function: Fn, *args: str) -> Any: ...

    async def submit(self, function: Fn, *args: str, **options: Any) -> Any: ...


def encode(value: Mapping[str, Any] | Sequence[Any]) -> str:
    """Compact JSON, non-ASCII kept as is: what the chaincode parses, and what the gateway has always sent."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def argument(value: Argument) -> str:
    """One chaincode argument: integers in canonical form, decimals without exponent, objects and lists as JSON."""
    if isinstance(value, str):
        return str(value)  # a StrEnum member becomes its value
    if isinstance(value, bool):
        raise TypeError("a chaincode argument cannot be a bool")  # str(True) is no number the chaincode parses
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (Mapping, Sequence)):
        return encode(value)
    raise TypeError(f"no chaincode argument for a {type(value).__name__}")


def peer_cli_call(function: Fn, *args: Argument) -> str:
    """The peer CLI's `-c` for one call (`peer chaincode invoke|query -c …`), its arguments encoded as above."""
    return json.dumps({"Args": [function.value, *map(argument, args)]})


class Chaincode:
    """The contract's functions, one method each. Reads are evaluated, writes submitted through the invoker; a
    write passes its keyword options (e.g. the REST gateway's after_commit=) on to Invoker.submit."""

    def __init__(self, invoker: Invoker) -> None:
        self.invoker = invoker

    async def _read(self, function: Fn, *args: Argument) -> Any:
        return await self.invoker.evaluate(function, *map(argument, args))

    async def _write(self, function: Fn, *args: Argument, **options: Any) -> Any:
        return await self.invoker.submit(function, *map(argument, args), **options)

    # SToken

    async def init(self, config: Mapping[str, Any], **options: Any) -> Any:
        """Set-once genesis: token supply and grants, contribution weights, maintaining organizations. The peers
        endorse it only if its encoding (argument()) is the one whose SHA-256 their chaincode servers were started
        with (tdses.fabric.stoken.init_digest)."""
        return await self._write(Fn.INIT, config, **options)

    async def token_info(self) -> Any:
        return await self._read(Fn.TOKEN_INFO)

    async def balance_of(self, account: str) -> Any:
        """A user ("alice") or a maintaining organization's account ("org:Org1MSP")."""
        return await self._read(Fn.BALANCE_OF, account)

    async def transfer(self, to: str, amount: int, **options: Any) -> Any:
        """From the caller's own account."""
        return await self._write(Fn.TRANSFER, to, amount, **options)

    async def org_transfer(self, to: str, amount: int, **options: Any) -> Any:
        """From the account of the caller's organization (its admin only)."""
        return await self._write(Fn.ORG_TRANSFER, to, amount, **options)

    # Users

    async def register_user(self, name: str, introduction: str = "", **options: Any) -> Any:
        return await self._write(Fn.REGISTER_USER, name, introduction, **options)

    async def remove_user(self, name: str, **options: Any) -> Any:
        return await self._write(Fn.REMOVE_USER, name, **options)

    async def query_user(self, name: str) -> Any:
        return await self._read(Fn.QUERY_USER, name)

    async def who_am_i(self) -> Any:
        """The user the caller's certificate is registered as."""
        return await self._read(Fn.WHO_AM_I)

    async def set_contribution_weights(self, lambda_: Decimal | int, gamma: Decimal | int, **options: Any) -> Any:
        """λ and γ of the contribution (at most 3 decimals), for a maintaining organization's admin."""
        return await self._write(Fn.SET_CONTRIBUTION_WEIGHTS, lambda_, gamma, **options)

    async def compact_account(self, **options: Any) -> Any:
        """Fold the delta records of the caller's account into its base record."""
        return await self._write(Fn.COMPACT_ACCOUNT, **options)

    # Services and mashups

    async def register_service(self, spec: Mapping[str, Any], **options: Any) -> Any:
        return await self._write(Fn.REGISTER_SERVICE, spec, **options)

    async def create_mashup(self, spec: Mapping[str, Any], **options: Any) -> Any:
        """A service spec with its components (and maxPaid): the developer pays each component's price."""
        return await self._write(Fn.CREATE_MASHUP, spec, **options)

    async def edit_service(self, name: str, patch: Mapping[str, Any], **options: Any) -> Any:
        return await self._write(Fn.EDIT_SERVICE, name, patch, **options)

    async def publish_service(self, name: str, **options: Any) -> Any:
        return await self._write(Fn.PUBLISH_SERVICE, name, **options)

    async def invalidate_service(self, name: str, **options: Any) -> Any:
        return await self._write(Fn.INVALIDATE_SERVICE, name, **options)

    async def compact_service(self, name: str, **options: Any) -> Any:
        """Fold the delta records of a service's usage into its base record."""
        return await self._write(Fn.COMPACT_SERVICE, name, **options)

    async def query_service(self, name: str) -> Any:
        return await self._read(Fn.QUERY_SERVICE, name)

    async def services_by_developer(self, developer: str, *, page_size: int, bookmark: str | None = None) -> Any:
        """One page, in name order; the page's bookmark asks for the next."""
        return await self._read(Fn.QUERY_SERVICE_BY_USER, developer, page_size, bookmark or "")

    async def services_by_status(self, status: ServiceStatus, *, page_size: int, bookmark: str | None = None) -> Any:
        return await self._read(Fn.QUERY_SERVICE_BY_STATUS, status, page_size, bookmark or "")

    async def services_by_range(self, start: str | None = None, end: str | None = None, *, page_size: int,
                                bookmark: str | None = None) -> Any:
        """Services with start <= name < end; an end left out is unbounded."""
        return await self._read(Fn.QUERY_SERVICE_BY_RANGE, start or "", end or "", page_size, bookmark or "")

    # Rights: calls bought, used and rewarded

    async def buy_calls(self, service: str, calls: int, max_price: int | None = None, **options: Any) -> Any:
        """Pay price × calls to the developer; with max_price, only if a call costs at most that much now."""
        if max_price is None:
            return await self._write(Fn.BUY_CALLS_AT_ANY_PRICE, service, calls, **options)
        return await self._write(Fn.BUY_CALLS, service, calls, max_price, **options)

    async def reduce_calls(self, service: str, user: str, calls: int, **options: Any) -> Any:
        """Use a user's calls: the service's developer or a server it authorized."""
        return await self._write(Fn.REDUCE_CALLS, service, user, calls, **options)

    async def rights(self, service: str, user: str) -> Any:
        """One user's calls of a service: bought and used."""
        return await self._read(Fn.GET_RIGHTS, service, user)

    async def rights_of_many(self, pairs: Sequence[tuple[str, str]]) -> Any:
        """Several users' rights in one evaluation, in order: {"rights": …} or {"error": "CODE: message"} each."""
        return await self._read(Fn.GET_RIGHTS_OF_MANY, pairs)

    async def service_usage(self, service: str) -> Any:
        """Calls bought and used by all users, and how often the service was composed."""
        return await self._read(Fn.GET_SERVICE_USAGE, service)

    async def authorize_server(self, service: str, server: str, **options: Any) -> Any:
        return await self._write(Fn.AUTHORIZE_SERVER, service, server, **options)

    async def revoke_server(self, service: str, server: str, **options: Any) -> Any:
        return await self._write(Fn.REVOKE_SERVER, service, server, **options)

    async def server_grant(self, service: str, server: str) -> Any:
        """A server's authorization on a service (NOT_FOUND when it has none)."""
        return await self._read(Fn.QUERY_SERVER_GRANT, service, server)

    async def reward_service(self, service: str, amount: int, **options: Any) -> Any:
        return await self._write(Fn.REWARD_SERVICE, service, amount, **options)

    # Metered calls (tdses.metering)

    async def settle_calls(self, service: str, vouchers: Sequence[str], **options: Any) -> Any:
        """Users' vouchers for a service; per user, the highest count that holds is settled."""
        return await self._write(Fn.SETTLE_CALLS, service, vouchers, **options)

    async def update_voucher_key(self, **options: Any) -> Any:
        """Make the caller's current certificate key the key of its vouchers (the three before it stay valid)."""
        return await self._write(Fn.UPDATE_VOUCHER_KEY, **options)

    async def query_voucher_keys(self, user: str) -> Any:
        return await self._read(Fn.QUERY_VOUCHER_KEYS, user)
