"""Async commit status.

    status = await commit.status()
    status.successful
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fabric_protos.gateway import gateway_pb2

from ..commit import CommitCore, Status
from ..signing import SigningIdentity

if TYPE_CHECKING:
    from .client import GatewayClient


class Commit(CommitCore):
    """A submitted transaction whose commit can be awaited."""

    def __init__(
        self,
        client: GatewayClient,
        signing: SigningIdentity,
        signed_request: gateway_pb2.SignedCommitStatusRequest,
    ) -> None:
        super().__init__(signing, signed_request)
        self._client = client

    async def status(self, *, timeout: float | None = None) -> Status:
        response = await self._client.commit_status(
            self.signed_request(), self.transaction_id, timeout
        )
        return self.to_status(response)
