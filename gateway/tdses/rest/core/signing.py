"""Non-custodial transactions: the gateway prepares, the client signs each digest with its own key, the gateway
submits. The key never reaches the gateway.

    request = await offline.prepare(principal, "CallService", "svc1", "5")   # digest of the proposal
    request = await offline.sign(principal, tx_id, proposal_signature)        # digest of the transaction
    outcome = await offline.sign(principal, tx_id, transaction_signature)     # committed: the chaincode result
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from fabric_gateway import CommitError, FabricError, aio
from fabric_gateway.signing import is_low_s

from tdses.rest.core.ledger import Ledger, Submitted, decode
from tdses.rest.core.principal import Principal
from tdses.rest.core.problems import Problem, problem_from_fabric

MAX_PENDING_PER_USER = 32

OnCommit = Callable[[Submitted], Awaitable[None] | None]


@dataclass
class PendingTransaction:
    owner: str
    function: str
    proposal: aio.Proposal
    expires: float
    transaction: aio.Transaction | None = None
    on_commit: OnCommit | None = None

    @property
    def step(self) -> str:
        return "proposal" if self.transaction is None else "transaction"

    def digest(self) -> bytes:
        return self.proposal.digest() if self.transaction is None else self.transaction.digest()


@dataclass(frozen=True)
class SignatureRequest:
    """What the client must sign next: SHA-256 digest, to be signed with ECDSA P-256 (DER, low-S)."""

    transaction_id: str
    step: str
    digest: str  # base64
    expires_in: float

    def body(self) -> dict[str, Any]:
        return {
            "transactionId": self.transaction_id, "step": self.step, "digest": self.digest,
            "algorithm": "ECDSA-P256-SHA256 (sign the digest as is; DER signature with low S)",
            "expiresIn": round(self.expires_in),
            "signatureUrl": f"/v1/transactions/{self.transaction_id}/signature",
        }


class SignatureRequired(Exception):
    """Raised by a route acting for a non-custodial user: the answer is 202 with the digest to sign."""

    def __init__(self, request: SignatureRequest) -> None:
        super().__init__(request.transaction_id)
        self.request = request


@dataclass
class OfflineSigning:
    ledger: Ledger
    ttl: float
    _pending: dict[str, PendingTransaction] = field(default_factory=dict)

    def prepare(self, principal: Principal, function: str, *args: str, on_commit: OnCommit | None = None
                ) -> SignatureRequest:
        self._expire()
        if sum(1 for p in self._pending.values() if p.owner == principal.name) >= MAX_PENDING_PER_USER:
            raise Problem(429, "TOO_MANY_PENDING", "too many transactions await your signature; sign or let "
                          "them expire", headers={"Retry-After": str(int(self.ttl))})
        proposal = self.ledger.contract(principal).new_proposal(function, *args)
        pending = PendingTransaction(principal.name, function, proposal, time.monotonic() + self.ttl,
                                     on_commit=on_commit)
        self._pending[proposal.transaction_id] = pending
        return self._request(proposal.transaction_id, pending)

    async def sign(self, principal: Principal, transaction_id: str, signature: bytes) -> SignatureRequest | Submitted:
        self._expire()
        pending = self._pending.get(transaction_id)
        if pending is None or pending.owner != principal.name:
            raise Problem(404, "NOT_FOUND", f"no transaction {transaction_id} awaits your signature "
                          "(unknown, already submitted or expired)")
        verify(principal, pending.digest(), signature)
        try:
            if pending.transaction is None:
                pending.proposal.set_signature(signature)
                try:
                    pending.transaction = await pending.proposal.endorse()
                except FabricError:
                    del self._pending[transaction_id]
                    raise
                return self._request(transaction_id, pending)
            del self._pending[transaction_id]
            transaction = pending.transaction
            transaction.set_signature(signature)
            await transaction.submit()
            status = await self.ledger.commit_status(transaction_id)
            if not status.successful:
                # A conflict cannot be retried here: a fresh transaction needs fresh signatures.
                raise CommitError(transaction_id, status.code, status.block_number)
            await self.ledger.propagated(status.block_number)
        except FabricError as error:
            raise problem_from_fabric(error) from None
        submitted = Submitted(decode(transaction.result), transaction_id, status.block_number)
        if pending.on_commit is not None:
            outcome = pending.on_commit(submitted)
            if outcome is not None:
                await outcome
        return submitted

    def _request(self, transaction_id: str, pending: PendingTransaction) -> SignatureRequest:
        return SignatureRequest(transaction_id, pending.step, base64.b64encode(pending.digest()).decode(),
                                pending.expires - time.monotonic())

    def _expire(self) -> None:
        now = time.monotonic()
        for tx_id in [t for t, p in self._pending.items() if p.expires < now]:
            del self._pending[tx_id]


def verify(principal: Principal, digest: bytes, signature: bytes) -> None:
    """Check the client's signature before anything reaches a peer, so a wrong one gets a clear 400."""
    public_key = principal.identity.certificate_object().public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise Problem(400, "INVALID_SIGNATURE", "the identity's key is not an ECDSA key")
    try:
        public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        low_s = is_low_s(signature)
    except (InvalidSignature, ValueError):
        raise Problem(400, "INVALID_SIGNATURE", "the signature does not verify with your certificate over the "
                      "digest (sign the SHA-256 digest as given, ECDSA P-256, DER)") from None
    if not low_s:
        raise Problem(400, "INVALID_SIGNATURE", "Fabric requires a low-S signature: use s = n - s when s > n/2")
