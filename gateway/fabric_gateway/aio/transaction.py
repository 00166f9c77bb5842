"""Async endorsed transaction.

    commit = await transaction.submit()
    await commit.status()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fabric_protos.gateway import gateway_pb2

from ..signing import SigningIdentity
from ..transaction import TransactionCore
from .commit import Commit

if TYPE_CHECKING:
    from .client import GatewayClient


class Transaction(TransactionCore):
    """An endorsed transaction bound to an async gateway."""

    def __init__(
        self,
        client: GatewayClient,
        signing: SigningIdentity,
        prepared: gateway_pb2.PreparedTransaction,
    ) -> None:
        super().__init__(signing, prepared)
        self._client = client

    async def submit(self, *, timeout: float | None = None) -> Commit:
        request = self.submit_request()
        await self._client.submit(request, timeout)
        return Commit(self._client, self._signing, self.commit_status_request())
