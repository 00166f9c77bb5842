"""The /v1 API: one router per resource."""

from fastapi import APIRouter

from tdses.rest.api.routes import (
    events, invitations, metering, registry, rights, services, tokens, transactions, users,
)
from tdses.rest.models.responses import ProblemDetail

PROBLEM = {"model": ProblemDetail, "content": {"application/problem+json": {}}}
PROBLEM_RESPONSES = {
    status: {**PROBLEM, "description": description}
    for status, description in {
        401: "missing, unknown or revoked token",
        403: "not allowed for this caller",
        404: "no such user, service or transaction",
        409: "already exists, insufficient funds, invalid state, or conflict after retries",
        422: "invalid input: nothing was submitted",
        429: "rate limited: see Retry-After",
        503: "no peer (or orderer, or CA) reachable; or the index has not reached X-Min-Block (see Retry-After)",
        504: "the commit was not seen in time: poll the transaction id, or retry with the same Idempotency-Key",
    }.items()
}

api_router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)
for module in (users, invitations, services, rights, registry, metering, tokens, transactions, events):
    api_router.include_router(module.router)
