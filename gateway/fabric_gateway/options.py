"""Call timeouts.

    gateway = connect(..., timeouts=Timeouts(endorse=30))

Like the official fabric-gateway clients, this library makes one attempt per call: what to retry, and how, is
the application's decision (fabric-gateway's error-handling guidance says which failures allow it).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Timeouts:
    """Deadlines in seconds per gateway call (the defaults of the fabric-samples applications).

        Timeouts(evaluate=5, endorse=15, submit=5, commit_status=60)
    """

    evaluate: float = 5.0
    endorse: float = 15.0
    submit: float = 5.0
    commit_status: float = 60.0
