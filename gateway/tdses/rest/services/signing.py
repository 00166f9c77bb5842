"""Non-custodial transactions: the gateway prepares, the client signs each digest with its own key, the gateway
submits. The key never reaches the gateway.

    request = offline.prepare(principal, "CallService", "svc1", "5")         # digest of the proposal
    request = await offline.sign(principal, tx_id, proposal_signature)        # digest of the transaction
    outcome = await offline.sign(principal, tx_id, transaction_signature)     # committed: the chaincode result

A prepared transaction stays in the store until its outcome is known: a signature whose answer was lost (a 503, a
504) is posted again, to any replica, and sends the same proposal or transaction again; the peers commit a
transaction ID once. Only the chaincode's refusal, a commit status, or the expiry ends it.
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

from fabric_gateway import CommitError, FabricError
from fabric_gateway.commit import Status
from fabric_gateway.signing import is_low_s

from tdses.rest.problems import Problem, problem_from_fabric
from tdses.rest.services.keyedlocks import KeyedLocks
from tdses.rest.services.ledger import Ledger, Submitted, decode
from tdses.rest.services.principal import Principal
from tdses.rest.store import PendingRecord, Store
from tdses.retry import refused_by_chaincode

MAX_PENDING_PER_USER = 32

# What the gateway does once a transaction has committed, by name, so that any replica can do it: the store keeps
# the name with the pending transaction. Each action takes the user's name.
AfterCommit = Callable[[str], Awaitable[None] | None]


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


def gone(transaction_id: str) -> Problem:
    return Problem(404, "NOT_FOUND", f"no transaction {transaction_id} awaits your signature "
                   "(unknown, already submitted or expired)")


@dataclass
class OfflineSigning:
    """Prepared transactions live in the gateway's store between signatures, so that a signature may be posted to
    any replica of the gateway."""

    ledger: Ledger
    store: Store
    ttl: float
    actions: dict[str, AfterCommit] = field(default_factory=dict)
    # A signature sent twice at once: one endorses or submits, the other then answers as it did (the peers refuse
    # a transaction ID endorsed twice at once).
    steps: KeyedLocks = field(default_factory=KeyedLocks)

    def prepare(self, principal: Principal, function: str, *args: str, after_commit: str | None = None
                ) -> SignatureRequest:
        if after_commit is not None and after_commit not in self.actions:
            raise ValueError(f"no after-commit action {after_commit!r}")
        proposal = self.ledger.contract(principal).new_proposal(function, *args)
        record = PendingRecord(proposal.transaction_id, principal.name, proposal.bytes(), None, after_commit,
                               time.time() + self.ttl)
        if not self.store.add_pending(record, MAX_PENDING_PER_USER):
            raise Problem(429, "TOO_MANY_PENDING", "too many transactions await your signature; sign or let "
                          "them expire", headers={"Retry-After": str(int(self.ttl))})
        return self._request(record, "proposal", proposal.digest())

    async def sign(self, principal: Principal, transaction_id: str, signature: bytes) -> SignatureRequest | Submitted:
        record = self.store.pending(transaction_id)
        if record is None or record.owner != principal.name:
            raise gone(transaction_id)
        gateway = self.ledger.gateway(principal)
        if record.transaction is None or verified(principal, gateway.new_proposal(record.proposal).digest(),
                                                  signature):
            async with self.steps.one_at_a_time(transaction_id):
                return await self._endorse(principal, transaction_id, signature)
        transaction = gateway.new_transaction(record.transaction)
        verify(principal, transaction.digest(), signature)
        async with self.steps.one_at_a_time(transaction_id):
            if self.store.pending(transaction_id) is None:  # the same signature, sent twice at once, is done
                raise gone(transaction_id)
            self.store.keep_pending(transaction_id, time.time() + self.ttl)  # for a resend, or a poll, to finish
            transaction.set_signature(signature)
            try:
                # Kept until its outcome is known: the same signature sent again (after a timeout, to any replica)
                # sends the same transaction again, and the peers commit a transaction ID once.
                await transaction.submit()
                status = await self.ledger.commit_status(transaction_id)
            except FabricError as error:
                raise problem_from_fabric(error) from None
        await self.finish(record, status)
        if not status.successful:
            # A conflict cannot be retried here: a fresh transaction needs fresh signatures.
            raise problem_from_fabric(CommitError(transaction_id, status.code, status.block_number))
        await self.ledger.propagated(status.block_number)
        return Submitted(decode(transaction.result), transaction_id, status.block_number)

    async def finish(self, record: PendingRecord, status: Status) -> None:
        """The transaction's commit status is known: what follows a valid one (once or more: each action may
        run again), and the pending transaction goes."""
        if status.successful and record.after_commit is not None:
            await self.after_commit(record.after_commit, record.owner)
        self.store.take_pending(record.transaction_id)

    async def committed(self, status: Status) -> None:
        """A poll of the commit status found the outcome: finish what a signature's answer did not (it timed
        out, or its gateway stopped)."""
        record = self.store.pending(status.transaction_id)
        if record is not None and record.transaction is not None:
            await self.finish(record, status)

    async def _endorse(self, principal: Principal, transaction_id: str, signature: bytes) -> SignatureRequest:
        """The proposal step: endorse, and keep the transaction to sign; the proposal's signature sent again (its
        answer lost, or sent twice at once, to any replica) answers the same."""
        record = self.store.pending(transaction_id)
        if record is None:
            raise gone(transaction_id)
        gateway = self.ledger.gateway(principal)
        proposal = gateway.new_proposal(record.proposal)
        verify(principal, proposal.digest(), signature)
        if record.transaction is not None:
            return self._request(record, "transaction", gateway.new_transaction(record.transaction).digest())
        proposal.set_signature(signature)
        try:
            transaction = await proposal.endorse()
        except FabricError as error:
            if refused_by_chaincode(error):  # the same proposal gets the same answer: it is done with
                self.store.drop_unendorsed(transaction_id)
            raise problem_from_fabric(error) from None  # otherwise the same signature may be sent again
        if not self.store.endorsed(transaction_id, transaction.bytes()):
            endorsed = self.store.pending(transaction_id)  # by another replica meanwhile: its transaction
            if endorsed is None or endorsed.transaction is None:
                raise gone(transaction_id)
            return self._request(endorsed, "transaction", gateway.new_transaction(endorsed.transaction).digest())
        return self._request(record, "transaction", transaction.digest())

    async def after_commit(self, action: str, user: str) -> None:
        outcome = self.actions[action](user)
        if outcome is not None:
            await outcome

    def _request(self, record: PendingRecord, step: str, digest: bytes) -> SignatureRequest:
        return SignatureRequest(record.transaction_id, step, base64.b64encode(digest).decode(),
                                record.expires_at - time.time())


def verified(principal: Principal, digest: bytes, signature: bytes) -> bool:
    try:
        verify(principal, digest, signature)
    except Problem:
        return False
    return True


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
