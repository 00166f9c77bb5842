"""The one retry policy of tdses: when a failed Fabric call may run again, how soon, and with which transaction.

fabric_gateway makes one attempt per call, like the official clients; this module applies their error-handling
guidance (fabric-gateway's docs, fabric-samples' errors.ts) once, for the REST gateway and the importer alike:

- EndorseError with a transient status (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, or ABORTED: the
  endorsers disagreed): endorse a fresh proposal; nothing was submitted, so its transaction ID is not spent.
- A refusal by the chaincode itself: never again, the same arguments get the same answer.
- SubmitError, transient: submit the same transaction again; a duplicate: the orderer has it, await its commit.
- CommitStatusError: ask the status of the same transaction ID again.
- CommitError with MVCC_READ_CONFLICT or PHANTOM_READ_CONFLICT: a new transaction; any other validation code: never.

    policy = RetryPolicy(attempts=5)
    committed = await policy.submit(contract, "BuyCalls", "svc1", "5", network=network)
    result = await policy.evaluate(contract, "QueryService", "svc1")
"""

from __future__ import annotations

import enum
import logging
import random
from asyncio import sleep  # by name: a test makes the backoff instant here alone
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
from fabric_gateway import (
    CommitError,
    CommitStatusError,
    EndorseError,
    FabricError,
    GatewayError,
    SubmitError,
    is_duplicate_transaction,
)
from fabric_protos.peer import transaction_pb2

log = logging.getLogger("tdses.retry")

# A peer or orderer unreachable, slow or overloaded, or endorsers whose results differed (one a block behind).
TRANSIENT_CODES: frozenset[grpc.StatusCode] = frozenset({
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
})
# Another transaction changed what this one read: a new transaction may well succeed.
CONFLICT_CODES: frozenset[int] = frozenset({transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.PHANTOM_READ_CONFLICT})


class Retry(enum.Enum):
    """What may run again after a failure."""

    ENDORSE_AGAIN = "endorsing a fresh proposal"  # nothing was submitted: the transaction ID is not spent
    NEW_TRANSACTION = "with a new transaction"  # the ledger holds the last one as invalid: its ID is spent
    SUBMIT_AGAIN = "submitting the same transaction again"
    STATUS_AGAIN = "asking the same transaction's status again"


def refused_by_chaincode(error: BaseException) -> bool:
    """The chaincode itself answered with an error: the same call gets the same answer."""
    return isinstance(error, GatewayError) and error.chaincode_message is not None


def next_step(error: BaseException) -> Retry | None:
    """What the official clients' guidance allows after `error`; None: report it."""
    if isinstance(error, EndorseError):
        if refused_by_chaincode(error) or is_duplicate_transaction(error):
            return None
        return Retry.ENDORSE_AGAIN if error.code in TRANSIENT_CODES else None
    if isinstance(error, SubmitError):
        if is_duplicate_transaction(error):
            return Retry.STATUS_AGAIN
        return Retry.SUBMIT_AGAIN if error.code in TRANSIENT_CODES else None
    if isinstance(error, CommitStatusError):
        return Retry.STATUS_AGAIN
    if isinstance(error, CommitError):
        return Retry.NEW_TRANSACTION if error.code in CONFLICT_CODES else None
    return None


@dataclass(frozen=True)
class Committed:
    """A valid transaction: what the chaincode returned, its ID and its block."""

    result: bytes
    transaction_id: str
    block_number: int


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts in all (every endorsement, submission or status request counts), the backoff between
    them, and the caller's own rules, if it has any: a reason to endorse again, a reason to stop.

        RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=2.0).delays()  # [0.1, 0.2] seconds, jittered
        RetryPolicy(endorse_again=lambda e: error_code(e) == "NOT_FOUND")  # e.g. an endorser a block behind
        RetryPolicy(give_up=lambda e: isinstance(e, CommitStatusError))  # e.g. the caller polls the status itself
    """

    attempts: int = 3
    transactions: int | None = None  # the most transactions in all (a conflict's rerun is a new one); None: attempts
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2
    endorse_again: Callable[[BaseException], bool] | None = None
    give_up: Callable[[BaseException], bool] | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.transactions is not None and self.transactions < 1:
            raise ValueError("transactions must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff must not be negative")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 = first retry): exponential, capped, jittered."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        jittered = base * (1 + random.uniform(-self.jitter, self.jitter))
        return min(self.max_backoff, max(0.0, jittered))

    def delays(self) -> list[float]:
        return [self.delay(n) for n in range(1, self.attempts)]

    def next_step(self, error: BaseException) -> Retry | None:
        if self.give_up is not None and self.give_up(error):
            return None
        step = next_step(error)
        if step is None and isinstance(error, EndorseError) and self.endorse_again is not None \
                and not is_duplicate_transaction(error) and self.endorse_again(error):
            return Retry.ENDORSE_AGAIN
        return step

    async def evaluate(self, contract: Any, function: str, *args: str) -> bytes:
        """Evaluate, again after a transient failure (nothing is written); a chaincode refusal is raised at once."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await contract.evaluate_transaction(function, *args)
            except GatewayError as error:
                if (attempt == self.attempts or refused_by_chaincode(error)
                        or error.code not in TRANSIENT_CODES):
                    raise
                log.info("%s: %s, evaluating again", function, error.code.name)
            await sleep(self.delay(attempt))
        raise AssertionError("unreachable")

    async def submit(
        self,
        contract: Any,
        function: str,
        *args: str,
        network: Any,
        nonce: Callable[[int], bytes | None] | None = None,
        on_duplicate: Callable[[str], Awaitable[Committed | None]] | None = None,
    ) -> Committed:
        """Endorse, submit and await the commit of `function(*args)` through an aio Contract and its Network,
        following the rules above; raises the last error when they allow nothing more or the attempts ran out.

        nonce(n) fixes the transaction ID of the n-th transaction (n grows only when the ledger holds the last one as
        invalid), so a request run again finds what its earlier run left on the ledger. A duplicate at endorsement
        then means that transaction is there: on_duplicate(transaction_id) returns it as Committed if it was valid,
        or None to go on with the next one.
        """
        number = 1  # which transaction: the next one once the ledger holds this one as invalid
        new_transactions = 1  # this run's own; the spent IDs of earlier runs do not count
        transaction = commit = None
        attempt = 1
        while True:
            try:
                if transaction is None:
                    proposal = contract.new_proposal(function, *args, nonce=nonce(number) if nonce else None)
                    transaction = await proposal.endorse()
                if commit is None:
                    commit = await transaction.submit()
                status = await commit.status()
                if status.successful:
                    return Committed(transaction.result, status.transaction_id, status.block_number)
                raise CommitError(status.transaction_id, status.code, status.block_number)
            except FabricError as error:
                if on_duplicate is not None and isinstance(error, EndorseError) and is_duplicate_transaction(error):
                    done = await on_duplicate(error.transaction_id)
                    if done is not None:
                        return done
                    # An earlier run's transaction, invalid on the ledger: its ID is spent, so the next one runs,
                    # at no cost to this run's attempts (else a request whose run ended in conflicts could never
                    # run again under its idempotency key).
                    number += 1
                    transaction = commit = None
                    continue
                step = self.next_step(error)
                if step is None or attempt == self.attempts or (
                        step is Retry.NEW_TRANSACTION and self.transactions is not None
                        and new_transactions >= self.transactions):
                    raise
                if step in (Retry.ENDORSE_AGAIN, Retry.NEW_TRANSACTION):
                    number += step is Retry.NEW_TRANSACTION
                    new_transactions += step is Retry.NEW_TRANSACTION
                    transaction = commit = None
                elif step is Retry.SUBMIT_AGAIN:
                    commit = None
                elif commit is None:  # the orderer already has it: await its commit all the same
                    commit = network.new_commit(transaction.transaction_id)
                delay = self.delay(attempt)
                log.info("%s %s: %s, %s in %.2fs", function, getattr(error, "transaction_id", ""),
                         getattr(error, "code_name", None) or getattr(getattr(error, "code", None), "name", ""),
                         step.value, delay)
            attempt += 1
            await sleep(delay)
