"""Async endorsed transaction.

    commit = await transaction.submit()
    await commit.status()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..transaction import TransactionCore
from .commit import Commit

if TYPE_CHECKING:
    from .client import GatewayClient


class Transaction(TransactionCore):
    """An endorsed transaction bound to an async gateway."""

    _client: GatewayClient

    async def submit(self, *, timeout: float | None = None) -> Commit:
        request = self.submit_request()
        expected = self._client.expect_commit(self.channel_id, self.transaction_id)
        try:
            await self._client.submit(request, timeout)
        except BaseException:
            if expected is not None:
                expected.discard()
            raise
        return Commit(self._client, self._signing, self.commit_status_request(), expected)
