"""How the gateway runs tdses.chaincode's typed calls as a principal (the chaincode's Invokers).

    user = await Chaincode(Submitting(ledger, principal)).register_user("alice", "weather services")
    request = await Chaincode(Preparing(offline, principal)).register_user("carol", after_commit="activate_user")

The routes use tdses.rest.api.transact.Transacting, which picks one of the two by the caller's custody.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tdses.chaincode import Fn
from tdses.rest.services.ledger import Ledger, Submitted
from tdses.rest.services.principal import Principal
from tdses.rest.services.signing import OfflineSigning, SignatureRequest


@dataclass(frozen=True)
class Submitting:
    """A custodial principal's calls: a write is endorsed, submitted and committed before it returns."""

    ledger: Ledger
    principal: Principal

    async def evaluate(self, function: Fn, *args: str) -> Any:
        return await self.ledger.evaluate(self.principal, function, *args)

    async def submit(self, function: Fn, *args: str) -> Submitted:
        return await self.ledger.submit(self.principal, function, *args)


@dataclass(frozen=True)
class Preparing:
    """A non-custodial principal's calls: a write becomes the proposal it must sign (reads go through the admin)."""

    offline: OfflineSigning
    principal: Principal

    async def evaluate(self, function: Fn, *args: str) -> Any:
        return await self.offline.ledger.evaluate(self.principal, function, *args)

    async def submit(self, function: Fn, *args: str, after_commit: str | None = None) -> SignatureRequest:
        """after_commit names what the gateway does once the transaction has committed (OfflineSigning.actions)."""
        return self.offline.prepare(self.principal, function, *args, after_commit=after_commit)
