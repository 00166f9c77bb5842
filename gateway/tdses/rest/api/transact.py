"""Run a chaincode transaction as the caller: at once for a custodial user, or as a signature request (202) for a
non-custodial one. Routes reach it through the typed calls of tdses.chaincode, over Transacting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders

from tdses.chaincode import Fn
from tdses.rest.headers import BLOCK_HEADER, TRANSACTION_HEADER
from tdses.rest.services.context import Context
from tdses.rest.services.principal import Principal
from tdses.rest.services.signing import SignatureRequired


async def transact(context: Context, principal: Principal, headers: MutableHeaders, function: str, *args: str,
                   after_commit: str | None = None) -> Any:
    """after_commit names what the gateway does once the transaction has committed (OfflineSigning.actions)."""
    if not principal.custodial:
        raise SignatureRequired(context.offline.prepare(principal, function, *args, after_commit=after_commit))
    submitted = await context.ledger.submit(principal, function, *args)
    headers[TRANSACTION_HEADER] = submitted.transaction_id
    headers[BLOCK_HEADER] = str(submitted.block_number)
    if after_commit is not None:
        await context.offline.after_commit(after_commit, principal.name)
    return submitted.result


@dataclass(frozen=True)
class Transacting:
    """The routes' Invoker: reads as the caller (Ledger.evaluate), writes through transact()."""

    context: Context
    principal: Principal
    headers: MutableHeaders  # of the route's response: a write's transaction ID and block

    async def evaluate(self, function: Fn, *args: str) -> Any:
        return await self.context.ledger.evaluate(self.principal, function, *args)

    async def submit(self, function: Fn, *args: str, after_commit: str | None = None) -> Any:
        return await transact(self.context, self.principal, self.headers, function, *args,
                              after_commit=after_commit)


# OpenAPI: what every transaction route may answer besides its result.
TRANSACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "non-custodial caller: sign the digest and POST it to signatureUrl",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignatureRequest"}}}},
}
