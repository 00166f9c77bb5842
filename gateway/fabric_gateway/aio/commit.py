"""Async commit status.

    status = await commit.status()
    status.successful
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..commit import CommitCore, Status

if TYPE_CHECKING:
    from .client import GatewayClient


class Commit(CommitCore):
    """A submitted transaction whose commit can be awaited."""

    _client: GatewayClient

    async def status(self, *, timeout: float | None = None) -> Status:
        response = await self._client.commit_status(
            self.signed_request(), self.transaction_id, timeout
        )
        return self.to_status(response)
