"""Endorsed transactions: the prepared Envelope from Gateway.Endorse, signed and submitted for ordering.

    transaction = proposal.endorse()
    commit = transaction.submit()  # then commit.status()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, proposal_response_pb2, transaction_pb2

from .commit import Commit, new_commit_status_request
from .signing import SigningIdentity, sha256

if TYPE_CHECKING:
    from .client import GatewayClient


def invocation_of(envelope: common_pb2.Envelope) -> list[bytes]:
    """The chaincode call an endorsed transaction envelope carries: the function's name, then its arguments."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    for action in transaction.actions:
        action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        proposal_payload = proposal_pb2.ChaincodeProposalPayload.FromString(action_payload.chaincode_proposal_payload)
        invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(proposal_payload.input)
        return list(invocation.chaincode_spec.input.args)
    raise ValueError("the transaction holds no transaction action")


def parse_envelope(envelope: common_pb2.Envelope) -> tuple[str, bytes]:
    """The channel ID and the chaincode result carried by an endorsed transaction envelope."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    channel_id = common_pb2.ChannelHeader.FromString(payload.header.channel_header).channel_id
    transaction = transaction_pb2.Transaction.FromString(payload.data)
    for action in transaction.actions:
        action_payload = transaction_pb2.ChaincodeActionPayload.FromString(action.payload)
        response_payload = proposal_response_pb2.ProposalResponsePayload.FromString(
            action_payload.action.proposal_response_payload
        )
        chaincode_action = proposal_pb2.ChaincodeAction.FromString(response_payload.extension)
        return channel_id, chaincode_action.response.payload
    raise ValueError("the prepared transaction holds no transaction action")


class TransactionCore:
    """An endorsed transaction's bytes, digest and signature; the sync and async Transaction add submit()."""

    def __init__(self, client: Any, signing: SigningIdentity, prepared: gateway_pb2.PreparedTransaction) -> None:
        self._client = client  # the face's GatewayClient
        self._signing = signing
        self._prepared = prepared
        self._channel_id, self._result = parse_envelope(prepared.envelope)

    @property
    def transaction_id(self) -> str:
        return self._prepared.transaction_id

    @property
    def channel_id(self) -> str:
        return self._channel_id

    @property
    def result(self) -> bytes:
        """What the chaincode returned during endorsement."""
        return self._result

    def bytes(self) -> bytes:
        """The serialized gateway.PreparedTransaction (what Gateway.new_transaction() reads back)."""
        return self._prepared.SerializeToString()

    def digest(self) -> bytes:
        """SHA-256 of the envelope payload: what the signer signs."""
        return sha256(self._prepared.envelope.payload)

    @property
    def signature(self) -> bytes:
        return self._prepared.envelope.signature

    def is_signed(self) -> bool:
        return bool(self._prepared.envelope.signature)

    def set_signature(self, signature: bytes) -> None:
        self._prepared.envelope.signature = signature

    def sign(self) -> None:
        if not self.is_signed():
            self.set_signature(self._signing.sign(self.digest()))

    def submit_request(self) -> gateway_pb2.SubmitRequest:
        self.sign()
        return gateway_pb2.SubmitRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel_id,
            prepared_transaction=self._prepared.envelope,
        )

    def commit_status_request(self) -> gateway_pb2.SignedCommitStatusRequest:
        """The (unsigned) request for this transaction's commit status, by the same identity."""
        return new_commit_status_request(self._signing.creator(), self.channel_id, self.transaction_id)


class Transaction(TransactionCore):
    """An endorsed transaction bound to a gateway.

        commit = transaction.submit()
        status = commit.status()
    """

    _client: GatewayClient

    def submit(self, *, timeout: float | None = None) -> Commit:
        """Send the signed transaction to the ordering service; returns a Commit to wait on."""
        request = self.submit_request()
        self._client.submit(request, timeout)
        return Commit(self._client, self._signing, self.commit_status_request())
