"""Commit status: whether the peers validated a submitted transaction, and in which block.

    status = commit.status()
    if not status.successful: print(status.code_name)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import transaction_pb2

from .errors import validation_code_name
from .signing import SigningIdentity, sha256

if TYPE_CHECKING:
    from .client import GatewayClient


def new_commit_status_request(
    creator: bytes, channel_id: str, transaction_id: str
) -> gateway_pb2.SignedCommitStatusRequest:
    request = gateway_pb2.CommitStatusRequest(
        transaction_id=transaction_id, channel_id=channel_id, identity=creator
    )
    return gateway_pb2.SignedCommitStatusRequest(request=request.SerializeToString())


@dataclass(frozen=True)
class Status:
    """The outcome of a committed transaction."""

    transaction_id: str
    code: int
    block_number: int

    @property
    def successful(self) -> bool:
        return self.code == transaction_pb2.VALID

    @property
    def code_name(self) -> str:
        return validation_code_name(self.code)


class CommitCore:
    """A commit status request's bytes, digest and signature; the sync and async Commit add status()."""

    def __init__(
        self, client: Any, signing: SigningIdentity, signed_request: gateway_pb2.SignedCommitStatusRequest
    ) -> None:
        self._client = client  # the face's GatewayClient
        self._signing = signing
        self._signed = signed_request
        request = gateway_pb2.CommitStatusRequest.FromString(signed_request.request)
        self._transaction_id = request.transaction_id
        self._channel_id = request.channel_id

    @property
    def transaction_id(self) -> str:
        return self._transaction_id

    @property
    def channel_id(self) -> str:
        return self._channel_id

    def bytes(self) -> bytes:
        """The serialized gateway.SignedCommitStatusRequest (what Gateway.new_commit() reads back)."""
        return self._signed.SerializeToString()

    def digest(self) -> bytes:
        return sha256(self._signed.request)

    @property
    def signature(self) -> bytes:
        return self._signed.signature

    def is_signed(self) -> bool:
        return bool(self._signed.signature)

    def set_signature(self, signature: bytes) -> None:
        self._signed.signature = signature

    def signed_request(self) -> gateway_pb2.SignedCommitStatusRequest:
        if not self.is_signed():
            self.set_signature(self._signing.sign(self.digest()))
        return self._signed

    def to_status(self, response: gateway_pb2.CommitStatusResponse) -> Status:
        return Status(self._transaction_id, response.result, response.block_number)


class Commit(CommitCore):
    """A submitted transaction whose commit can be awaited.

        status = commit.status(timeout=30)
        status.successful, status.block_number
    """

    _client: GatewayClient

    def status(self, *, timeout: float | None = None) -> Status:
        """Wait until the transaction is committed (or the timeout expires: CommitStatusError)."""
        response = self._client.commit_status(self.signed_request(), self.transaction_id, timeout)
        return self.to_status(response)
