"""Async commit status.

    status = await commit.status()
    status.successful

A transaction submitted through a gateway with channel peers learns its commit from the gateway peer's block
stream, when one is open: that costs no call and no signature. Otherwise, and whenever the stream cannot tell, the
gateway peer is asked (CommitStatus).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from fabric_protos.gateway import gateway_pb2

from ..commit import CommitCore, Status
from ..errors import CommitStatusError
from ..signing import SigningIdentity

if TYPE_CHECKING:
    from .blocks import Expected
    from .client import GatewayClient


class Commit(CommitCore):
    """A submitted transaction whose commit can be awaited."""

    _client: GatewayClient

    def __init__(self, client: GatewayClient, signing: SigningIdentity,
                 signed_request: gateway_pb2.SignedCommitStatusRequest, expected: Expected | None = None) -> None:
        super().__init__(client, signing, signed_request)
        self._expected = expected

    async def status(self, *, timeout: float | None = None) -> Status:
        """Wait until the transaction is committed (or the timeout expires: CommitStatusError)."""
        expected, self._expected = self._expected, None
        if expected is not None:
            timeout = timeout or self._client.timeouts.commit_status
            try:
                seen = await expected.status(timeout)
            except TimeoutError:
                raise CommitStatusError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                        f"the gateway peer did not commit it within {timeout:g} s",
                                        transaction_id=self.transaction_id) from None
            if seen is not None:
                return seen
        response = await self._client.commit_status(self.signed_request(), self.transaction_id, timeout)
        return self.to_status(response)
