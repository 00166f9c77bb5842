"""Served from the registry index: a service's buyers, history, revenue and related services; a user's rights,
history and suggestions; compositions; analytics. Each answer carries X-Index-Block; X-Min-Block (or min_block)
asks for read-your-writes. Who sees what: tdses.rest.services.visibility."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from tdses.discovery.composition import Candidate, Constraints, compose
from tdses.discovery.recommend import for_user
from tdses.index.search import BadCursor
from tdses.index.store import IndexStore
from tdses.rest.api.deps import ContextDep, IndexDep, PrincipalDep, off_loop, reject_unknown_query
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.models import responses as out
from tdses.rest.models.fields import ANALYTICS_ROWS, MAX_PAGE_SIZE, NAME_PATTERN
from tdses.rest.models.requests import CompositionRequest
from tdses.rest.problems import Problem
from tdses.rest.services import visibility

router = APIRouter(route_class=ApiRoute, tags=["registry"], dependencies=[Depends(reject_unknown_query)])

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]
UserName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["alice"])]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
Cursor = Annotated[str | None, Query(max_length=200, description="the previous page's next")]

SERVICE_HISTORY = ("purchase", "reduction", "settlement", "reward", "composition")
USER_HISTORY = ("purchase", "mashup_created", "reward", "transfer", "user_registered", "user_removed")


async def service_row(store: IndexStore, name: str) -> dict:
    row = await off_loop(store.service, name)
    if row is None:
        raise Problem(404, "NOT_FOUND", f"the index holds no service {name!r} (send X-Min-Block to wait for a write)")
    return row


def activity_out(row: dict) -> dict:
    ts = row["ts"] if row["ts"].tzinfo else row["ts"].replace(tzinfo=UTC)
    return {"kind": row["kind"], "service": row["service"], "user": row["user"], "counterparty": row["counterparty"],
            "calls": row["calls"], "amount": row["amount"], "detail": row["detail"], "blockNumber": row["block"],
            "transactionId": row["tx_id"], "timestamp": ts.isoformat().replace("+00:00", "Z")}


async def history_page(store: IndexStore, limit: int, cursor: str | None, **where) -> dict:
    try:
        rows, following = await off_loop(store.history, limit=limit, cursor=cursor, **where)
    except BadCursor as exc:
        raise Problem(422, "INVALID_CURSOR", str(exc)) from None
    return {"items": [activity_out(r) for r in rows], "next": following}


# --- for developers ----------------------------------------------------------------------------------------


@router.get("/services/{name}/buyers", response_model=out.Buyers)
async def service_buyers(name: ServiceName, principal: PrincipalDep, store: IndexDep) -> dict:
    """Everyone who bought calls of your service: bought, used, remaining, paid (most paid first)."""
    service = await service_row(store, name)
    visibility.check_service_accounts(principal, name, service["developer"])
    rows = await off_loop(store.buyers, name)
    return {"service": name, "buyers": [{"user": r["user"], "bought": r["bought"], "used": r["used"],
                                         "remaining": r["remaining"], "paid": r["paid"],
                                         "updatedAt": r["updated_at"], "vouchersOnly": r["vouchers_only"]}
                                     for r in rows]}


@router.get("/services/{name}/history", response_model=out.ActivityPage)
async def service_history(name: ServiceName, principal: PrincipalDep, store: IndexDep, limit: Limit = 50,
                          cursor: Cursor = None) -> dict:
    """Purchases, reductions, settlements and rewards of your service, newest first."""
    service = await service_row(store, name)
    visibility.check_service_accounts(principal, name, service["developer"])
    return await history_page(store, limit, cursor, service=name, kinds=SERVICE_HISTORY)


@router.get("/services/{name}/revenue", response_model=out.Revenue)
async def service_revenue(name: ServiceName, principal: PrincipalDep, store: IndexDep,
                          bucket: Literal["day", "week", "month"] = "day") -> dict:
    """SToken your service earned per day, week (from Monday) or month (UTC): purchases, rewards, and its price
    paid by each mashup that composed it."""
    service = await service_row(store, name)
    visibility.check_service_accounts(principal, name, service["developer"])
    rows = await off_loop(store.revenue, name, bucket)
    return {"service": name, "bucket": bucket, "total": sum(r["amount"] for r in rows), "buckets": rows}


# --- for users ---------------------------------------------------------------------------------------------


@router.get("/users/{name}/rights", response_model=out.UserRights)
async def user_rights(name: UserName, principal: PrincipalDep, store: IndexDep) -> dict:
    """Your rights on every service you bought calls of."""
    visibility.check_user(principal, name)
    rows = await off_loop(store.all_rights, user=name)
    return {"user": name, "rights": [{"service": r["service"], "user": r["user"], "bought": r["bought"],
                                      "used": r["used"], "remaining": r["remaining"], "paid": r["paid"],
                                      "updatedAt": r["updated_at"], "vouchersOnly": r["vouchers_only"]}
                                     for r in rows]}


@router.get("/users/{name}/history", response_model=out.ActivityPage)
async def user_history(name: UserName, principal: PrincipalDep, store: IndexDep, limit: Limit = 50,
                       cursor: Cursor = None) -> dict:
    """Your payments (purchases, compositions), rewards given and received, transfers and grant, newest first."""
    visibility.check_user(principal, name)
    return await history_page(store, limit, cursor, user=name, kinds=USER_HISTORY)


# --- discovery ---------------------------------------------------------------------------------------------


def _related(items) -> list[dict]:
    return [{"name": r.name, "together": r.together, "jaccard": float(r.jaccard)} for r in items]


@router.get("/services/{name}/related", response_model=out.RelatedServices)
async def related_services(name: ServiceName, _: PrincipalDep, store: IndexDep, context: ContextDep,
                           limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict:
    """Available services often composed into the same mashups as this one, and bought by the same users."""
    await service_row(store, name)
    found = await context.discovery.structures(store, context.index.current_block)
    live = found.available.__contains__
    composed, bought = await off_loop(lambda: (found.composed.related(name, limit, live),
                                               found.bought.related(name, limit, live)))
    return {"service": name, "composedWith": _related(composed), "boughtWith": _related(bought)}


@router.get("/users/{name}/suggestions", response_model=out.Suggestions)
async def user_suggestions(name: UserName, principal: PrincipalDep, store: IndexDep, context: ContextDep,
                           limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict:
    """Available services you have not bought that go with what you bought and with your mashups' components."""
    visibility.check_user(principal, name)
    found = await context.discovery.structures(store, context.index.current_block)
    own = await off_loop(store.mashups_of, name)
    composed = {c for mashup in own for c in found.composed.members(mashup)}
    items = await off_loop(for_user, name, found.bought, found.composed, composed_by_user=composed, k=limit,
                           available=found.available.__contains__)
    return {"user": name, "items": [{"name": s.name, "score": float(s.score), "together": s.together,
                                     "because": list(s.because)} for s in items]}


@router.post("/compositions", response_model=out.CompositionResult,
             responses={422: {"description": "invalid request, or a constraint no composition meets (violations)"},
                        503: {"description": "too many compositions at once, or one that took too long"}})
async def compose_services(body: CompositionRequest, _: PrincipalDep, store: IndexDep, context: ContextDep) -> dict:
    """The best available services for a workflow (one per category; a list is a stage of parallel categories)
    under cost, latency and availability constraints, and their aggregated QoS; or 422 naming the constraint that
    cannot be met. Exact: only the candidates no other beats (each category's Pareto front) are combined, in a
    worker thread with a time limit."""
    workflow = [step if isinstance(step, str) else list(step) for step in body.workflow]
    categories = [c for step in workflow for c in ([step] if isinstance(step, str) else step)]
    rows = await off_loop(store.candidates, categories)
    candidates = [Candidate(r["name"], r["category"], r["price"], r["latency_ms"], r["availability_bp"],
                            r["developer"]) for r in rows]
    c = body.constraints
    constraints = Constraints(c.maxCost, c.maxLatencyMs, c.minAvailabilityBp)
    plan = await context.discovery.bounded(
        lambda give_up_at: compose(workflow, candidates, constraints, body.objective, give_up_at=give_up_at))
    if not plan.feasible:
        violations = [{"constraint": v.constraint, "message": v.message, "limit": v.limit, "best": v.best,
                       "given": list(v.given), "category": v.category} for v in plan.violations]
        raise Problem(422, "UNSATISFIABLE", "; ".join(v.message for v in plan.violations), violations=violations,
                      constraints=sorted({v.constraint for v in plan.violations}))
    return {"workflow": [list(stage) for stage in plan.workflow], "objective": body.objective,
            "services": [{"name": s.name, "category": s.category, "developer": s.developer, "price": s.price,
                          "latencyMs": s.latency_ms, "availabilityBp": s.availability_bp} for s in plan.services],
            "qos": {"cost": plan.qos.cost, "latencyMs": plan.qos.latency_ms,
                    "availabilityBp": plan.qos.availability_bp},
            "candidates": len(candidates)}


# --- analytics ---------------------------------------------------------------------------------------------


@router.get("/analytics", response_model=out.Analytics)
async def analytics(principal: PrincipalDep, store: IndexDep,
                    by: Literal["service", "developer", "organization"] = "service",
                    bucket: Literal["hour", "day", "month"] = "day",
                    metric: Literal["calls_bought", "calls_used", "revenue", "compositions", "new_services"]
                    = "calls_bought") -> dict:
    """A metric per period (UTC) and per service, developer or organization (the developer's MSP), from the
    index's activity: the admin sees everything, a developer its own services."""
    developer = visibility.analytics_scope(principal, by)
    rows = await off_loop(store.analytics, by, bucket, metric, developer, limit=ANALYTICS_ROWS + 1)
    truncated = len(rows) > ANALYTICS_ROWS
    if truncated:  # the oldest period read may lack some of its rows: all of it goes (unless it is the only one)
        whole = [r for r in rows if r["bucket"] != rows[0]["bucket"]]
        rows = whole or rows[-ANALYTICS_ROWS:]
    return {"by": by, "bucket": bucket, "metric": metric, "rows": rows, "truncated": truncated}
