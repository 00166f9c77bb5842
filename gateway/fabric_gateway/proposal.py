"""Transaction proposals: built as Fabric expects, signed, then evaluated or endorsed.

    proposal = contract.new_proposal("ReadService", "svc1")
    proposal.transaction_id, proposal.digest()  # sign the digest elsewhere for offline signing
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2
from google.protobuf import timestamp_pb2

from .signing import SigningIdentity, sha256
from .transaction import Transaction

if TYPE_CHECKING:
    from .client import GatewayClient

NONCE_BYTES = 24

Arg = str | bytes


def as_bytes(value: Arg) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def transaction_id(nonce: bytes, creator: bytes) -> str:
    """Fabric's transaction ID: hex(SHA-256(nonce ‖ serialized creator identity)).

        transaction_id(os.urandom(24), identity.creator())
    """
    return sha256(nonce + creator).hex()


@functools.lru_cache(maxsize=64)
def chaincode_header_extension(chaincode_name: str) -> bytes:
    """The channel header's extension: the same bytes for every proposal to one chaincode."""
    return proposal_pb2.ChaincodeHeaderExtension(
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode_name)
    ).SerializeToString()


def build_proposed_transaction(
    creator: bytes,
    channel_id: str,
    chaincode_name: str,
    transaction_name: str,
    args: Sequence[Arg] = (),
    transient: Mapping[str, Arg] | None = None,
    endorsing_organizations: Sequence[str] = (),
    nonce: bytes | None = None,
) -> gateway_pb2.ProposedTransaction:
    """An unsigned gateway.ProposedTransaction for invoking `transaction_name(*args)` on a chaincode.

        proposed = build_proposed_transaction(identity.creator(), "mychannel", "tdses", "GetBalance", ["alice"])
    """
    if not channel_id or not chaincode_name or not transaction_name:
        raise ValueError("channel, chaincode and transaction names are required")
    nonce = new_nonce() if nonce is None else nonce
    tx_id = transaction_id(nonce, creator)
    now = time.time_ns()
    channel_header = common_pb2.ChannelHeader(
        type=common_pb2.ENDORSER_TRANSACTION,
        timestamp=timestamp_pb2.Timestamp(seconds=now // 1_000_000_000, nanos=now % 1_000_000_000),
        channel_id=channel_id,
        tx_id=tx_id,
        epoch=0,
        extension=chaincode_header_extension(chaincode_name),
    )
    signature_header = common_pb2.SignatureHeader(creator=creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )

    invocation = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode_name),
            input=chaincode_pb2.ChaincodeInput(
                args=[as_bytes(transaction_name), *(as_bytes(a) for a in args)]
            ),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=invocation.SerializeToString(),
        TransientMap={k: as_bytes(v) for k, v in (transient or {}).items()},
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return gateway_pb2.ProposedTransaction(
        transaction_id=tx_id,
        proposal=proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString()),
        endorsing_organizations=list(endorsing_organizations),
    )


def channel_id_of(proposed: gateway_pb2.ProposedTransaction) -> str:
    proposal = proposal_pb2.Proposal.FromString(proposed.proposal.proposal_bytes)
    header = common_pb2.Header.FromString(proposal.header)
    return common_pb2.ChannelHeader.FromString(header.channel_header).channel_id


class ProposalCore:
    """A proposal's bytes, digest and signature; the sync and async Proposal add the calls."""

    def __init__(
        self,
        client: Any,
        signing: SigningIdentity,
        proposed: gateway_pb2.ProposedTransaction,
        channel_id: str | None = None,  # known when built here; read from the proposal when it comes as bytes
    ) -> None:
        self._client = client  # the face's GatewayClient
        self._signing = signing
        self._proposed = proposed
        self._channel_id = channel_id or channel_id_of(proposed)

    @property
    def transaction_id(self) -> str:
        return self._proposed.transaction_id

    @property
    def channel_id(self) -> str:
        return self._channel_id

    @property
    def endorsing_organizations(self) -> list[str]:
        return list(self._proposed.endorsing_organizations)

    def bytes(self) -> bytes:
        """The serialized gateway.ProposedTransaction (what Gateway.new_proposal() reads back)."""
        return self._proposed.SerializeToString()

    def digest(self) -> bytes:
        """SHA-256 of the proposal bytes: what the signer signs."""
        return sha256(self._proposed.proposal.proposal_bytes)

    @property
    def signature(self) -> bytes:
        return self._proposed.proposal.signature

    def is_signed(self) -> bool:
        return bool(self._proposed.proposal.signature)

    def set_signature(self, signature: bytes) -> None:
        self._proposed.proposal.signature = signature

    def sign(self) -> None:
        if not self.is_signed():
            self.set_signature(self._signing.sign(self.digest()))

    def evaluate_request(self) -> gateway_pb2.EvaluateRequest:
        self.sign()
        return gateway_pb2.EvaluateRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel_id,
            proposed_transaction=self._proposed.proposal,
            target_organizations=self._proposed.endorsing_organizations,
        )

    def endorse_request(self) -> gateway_pb2.EndorseRequest:
        self.sign()
        return gateway_pb2.EndorseRequest(
            transaction_id=self.transaction_id,
            channel_id=self.channel_id,
            proposed_transaction=self._proposed.proposal,
            endorsing_organizations=self._proposed.endorsing_organizations,
        )

    def prepared_transaction(
        self, response: gateway_pb2.EndorseResponse
    ) -> gateway_pb2.PreparedTransaction:
        return gateway_pb2.PreparedTransaction(
            transaction_id=self.transaction_id, envelope=response.prepared_transaction
        )


class Proposal(ProposalCore):
    """A proposal bound to a gateway: evaluate it (query) or endorse it (first step of a submit).

        result = contract.new_proposal("GetBalance", "alice").evaluate()
        transaction = contract.new_proposal("Transfer", "alice", "bob", "5").endorse()
    """

    _client: GatewayClient

    def evaluate(self, *, timeout: float | None = None) -> bytes:
        """Run the transaction on a peer without ordering it; returns the chaincode's result."""
        response = self._client.evaluate(self.evaluate_request(), timeout)
        return response.result.payload

    def endorse(self, *, timeout: float | None = None) -> Transaction:
        """Collect endorsements; returns the transaction ready to be signed and submitted."""
        response = self._client.endorse(self.endorse_request(), timeout)
        return Transaction(self._client, self._signing, self.prepared_transaction(response))
