"""Services and mashups: register, list, read, edit, publish, invalidate, and authorize servers."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from tdses.chaincode import Fn, ServiceStatus
from tdses.rest.api.deps import ContextDep, PrincipalDep, UserDep
from tdses.rest.api.transact import TRANSACTION_RESPONSES, transact
from tdses.rest.models import responses as out
from tdses.rest.models.fields import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, NAME_PATTERN
from tdses.rest.models.requests import MashupCreate, ServiceCreate, ServicePatch, ServerAuthorization
from tdses.rest.problems import Problem

router = APIRouter(tags=["services"])

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]
NameQuery = Annotated[str | None, Query(pattern=NAME_PATTERN)]


def compact(model) -> str:
    return json.dumps(model.model_dump(exclude_none=True), separators=(",", ":"), ensure_ascii=False)


@router.post("/services", status_code=201, response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def register_service(body: ServiceCreate, context: ContextDep, principal: UserDep, response: Response) -> dict:
    """Register a service of yours (status created; publish it to sell calls)."""
    return await transact(context, principal, response, Fn.REGISTER_SERVICE, compact(body))


@router.post("/mashups", status_code=201, response_model=out.MashupReceipt, responses=TRANSACTION_RESPONSES)
async def create_mashup(body: MashupCreate, context: ContextDep, principal: UserDep, response: Response) -> dict:
    """Compose available services into a mashup of yours; you pay each component's price to its developer."""
    return await transact(context, principal, response, Fn.CREATE_MASHUP, compact(body))


@router.get("/services", response_model=out.ServicePage)
async def list_services(
    context: ContextDep,
    principal: PrincipalDep,
    developer: NameQuery = None,
    status: ServiceStatus | None = None,
    start: NameQuery = None,
    end: NameQuery = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: NameQuery = None,
) -> dict:
    """Services in name order, filtered by developer, by status, or by a name range [start, end)."""
    filters = sum(x is not None for x in (developer, status)) + (start is not None or end is not None)
    if filters > 1:
        raise Problem(422, "INVALID_ARGUMENT", "filter by one of: developer, status, or a name range")
    if start is not None and end is not None and start >= end:
        raise Problem(422, "INVALID_ARGUMENT", "start must come before end")
    size, bookmark = str(page_size), cursor or ""
    if developer is not None:
        page = await context.ledger.evaluate(principal, Fn.QUERY_SERVICE_BY_USER, developer, size, bookmark)
    elif status is not None:
        page = await context.ledger.evaluate(principal, Fn.QUERY_SERVICE_BY_STATUS, status, size, bookmark)
    else:
        if cursor is not None and (cursor < (start or "") or (end is not None and cursor >= end)):
            raise Problem(422, "INVALID_ARGUMENT", "cursor is outside the name range")
        page = await context.ledger.evaluate(principal, Fn.QUERY_SERVICE_BY_RANGE, start or "", end or "", size,
                                             bookmark)
    return {"items": page.get("records") or [], "nextCursor": page.get("bookmark") or None}


@router.get("/services/{name}", response_model=out.Service)
async def get_service(name: ServiceName, context: ContextDep, principal: PrincipalDep) -> dict:
    """One service or mashup."""
    return await context.ledger.evaluate(principal, Fn.QUERY_SERVICE, name)


@router.patch("/services/{name}", response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def edit_service(name: ServiceName, body: ServicePatch, context: ContextDep, principal: UserDep,
                       response: Response) -> dict:
    """Change the description, category, URL, QoS or price of a service of yours."""
    return await transact(context, principal, response, Fn.EDIT_SERVICE, name, compact(body))


@router.post("/services/{name}/publish", response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def publish_service(name: ServiceName, context: ContextDep, principal: UserDep, response: Response) -> dict:
    """Make a service of yours available."""
    return await transact(context, principal, response, Fn.PUBLISH_SERVICE, name)


@router.post("/services/{name}/invalidate", response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def invalidate_service(name: ServiceName, context: ContextDep, principal: UserDep, response: Response) -> dict:
    """Withdraw a service of yours (it can be published again)."""
    return await transact(context, principal, response, Fn.INVALIDATE_SERVICE, name)


@router.post("/services/{name}/servers", status_code=201, response_model=out.ServerGrant,
             responses=TRANSACTION_RESPONSES)
async def authorize_server(name: ServiceName, body: ServerAuthorization, context: ContextDep, principal: UserDep,
                           response: Response) -> dict:
    """Let a user (your service's server) reduce callers' rights on a service of yours."""
    return await transact(context, principal, response, Fn.AUTHORIZE_SERVER, name, body.server)


@router.delete("/services/{name}/servers/{server}", response_model=out.ServerGrant, responses=TRANSACTION_RESPONSES)
async def revoke_server(name: ServiceName, server: Annotated[str, Path(pattern=NAME_PATTERN)], context: ContextDep,
                        principal: UserDep, response: Response) -> dict:
    """Withdraw a server's authorization."""
    return await transact(context, principal, response, Fn.REVOKE_SERVER, name, server)
