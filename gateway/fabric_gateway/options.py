"""Call timeouts and the commit-conflict retry policy.

    gateway = connect(..., timeouts=Timeouts(endorse=30), retry=RetryPolicy(attempts=5))
    RetryPolicy().delays()  # [0.1, 0.2, 0.4] seconds, jittered
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fabric_protos.peer import transaction_pb2

# A conflict means another transaction changed what this one read: a fresh proposal may well succeed.
RETRYABLE_VALIDATION_CODES: frozenset[int] = frozenset(
    {transaction_pb2.MVCC_READ_CONFLICT, transaction_pb2.PHANTOM_READ_CONFLICT}
)


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds per gateway call (the defaults of the fabric-samples applications).

        Timeouts(evaluate=5, endorse=15, submit=5, commit_status=60)
    """

    evaluate: float = 5.0
    endorse: float = 15.0
    submit: float = 5.0
    commit_status: float = 60.0


@dataclass(frozen=True)
class RetryPolicy:
    """How often to re-run a transaction whose commit failed with an MVCC or phantom read conflict.

        RetryPolicy(attempts=3, initial_backoff=0.1, max_backoff=2.0)  # 3 attempts in all
    """

    attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retryable_codes: frozenset[int] = field(default=RETRYABLE_VALIDATION_CODES)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            raise ValueError("backoff must not be negative")

    def is_retryable(self, validation_code: int) -> bool:
        return validation_code in self.retryable_codes

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 = first retry): exponential, capped, jittered."""
        base = min(self.max_backoff, self.initial_backoff * self.multiplier ** (retry - 1))
        jittered = base * (1 + random.uniform(-self.jitter, self.jitter))
        return min(self.max_backoff, max(0.0, jittered))

    def delays(self) -> list[float]:
        return [self.delay(n) for n in range(1, self.attempts)]


NO_RETRY = RetryPolicy(attempts=1)
