"""Async proposal: evaluate or endorse.

    result = await contract.new_proposal("GetBalance", "alice").evaluate()
    transaction = await proposal.endorse()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..proposal import ProposalCore
from .transaction import Transaction

if TYPE_CHECKING:
    from .client import GatewayClient


class Proposal(ProposalCore):
    """A proposal bound to an async gateway."""

    _client: GatewayClient

    async def evaluate(self, *, timeout: float | None = None) -> bytes:
        response = await self._client.evaluate(self.evaluate_request(), timeout)
        return response.result.payload

    async def endorse(self, *, timeout: float | None = None) -> Transaction:
        response = await self._client.endorse(self.endorse_request(), timeout)
        return Transaction(self._client, self._signing, self.prepared_transaction(response))
