"""Operations: liveness, readiness (a peer is reachable) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response

from tdses.rest.api.deps import ContextDep
from tdses.rest.models import responses as out
from tdses.rest.problems import Problem

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=out.Health)
async def healthz() -> dict:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=out.Health, responses={503: {"model": out.ProblemDetail}})
async def readyz(context: ContextDep) -> dict:
    """A peer of the organization is reachable."""
    if not await context.ledger.reachable():
        raise Problem(503, "UNAVAILABLE", "no peer of the organization is reachable", headers={"Retry-After": "5"})
    return {"status": "ready"}


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(context: ContextDep) -> Response:
    """Prometheus exposition."""
    return Response(context.metrics.exposition(), media_type=context.metrics.content_type)
