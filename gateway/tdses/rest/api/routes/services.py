"""Services and mashups: register, list, read, edit, publish, invalidate, and authorize servers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from tdses.chaincode import ServiceStatus
from tdses.rest.api.deps import ChaincodeDep, UserChaincodeDep
from tdses.rest.api.transact import TRANSACTION_RESPONSES
from tdses.rest.models import responses as out
from tdses.rest.models.fields import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, NAME_PATTERN
from tdses.rest.models.requests import MashupCreate, ServiceCreate, ServicePatch, ServerAuthorization
from tdses.rest.problems import Problem

router = APIRouter(tags=["services"])

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["weather-api"])]
NameQuery = Annotated[str | None, Query(pattern=NAME_PATTERN)]


def spec(model: ServiceCreate | ServicePatch) -> dict:
    """What the chaincode reads: the fields given (a field left out keeps its chaincode default, or its value)."""
    return model.model_dump(exclude_none=True)


@router.post("/services", status_code=201, response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def register_service(body: ServiceCreate, chaincode: UserChaincodeDep) -> dict:
    """Register a service of yours (status created; publish it to sell calls)."""
    return await chaincode.register_service(spec(body))


@router.post("/mashups", status_code=201, response_model=out.MashupReceipt, responses=TRANSACTION_RESPONSES)
async def create_mashup(body: MashupCreate, chaincode: UserChaincodeDep) -> dict:
    """Compose available services into a mashup of yours; you pay each component's price to its developer."""
    return await chaincode.create_mashup(spec(body))


@router.get("/services", response_model=out.ServicePage)
async def list_services(
    chaincode: ChaincodeDep,
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
    if developer is not None:
        page = await chaincode.services_by_developer(developer, page_size=page_size, bookmark=cursor)
    elif status is not None:
        page = await chaincode.services_by_status(status, page_size=page_size, bookmark=cursor)
    else:
        if cursor is not None and (cursor < (start or "") or (end is not None and cursor >= end)):
            raise Problem(422, "INVALID_ARGUMENT", "cursor is outside the name range")
        page = await chaincode.services_by_range(start, end, page_size=page_size, bookmark=cursor)
    return {"items": page.get("records") or [], "nextCursor": page.get("bookmark") or None}


@router.get("/services/{name}", response_model=out.Service)
async def get_service(name: ServiceName, chaincode: ChaincodeDep) -> dict:
    """One service or mashup."""
    return await chaincode.query_service(name)


@router.patch("/services/{name}", response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def edit_service(name: ServiceName, body: ServicePatch, chaincode: UserChaincodeDep) -> dict:
    """Change the description, category, URL, QoS or price of a service of yours."""
    return await chaincode.edit_service(name, spec(body))


@router.post("/services/{name}/publish", response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def publish_service(name: ServiceName, chaincode: UserChaincodeDep) -> dict:
    """Make a service of yours available."""
    return await chaincode.publish_service(name)


@router.post("/services/{name}/invalidate", response_model=out.Service, responses=TRANSACTION_RESPONSES)
async def invalidate_service(name: ServiceName, chaincode: UserChaincodeDep) -> dict:
    """Withdraw a service of yours (it can be published again)."""
    return await chaincode.invalidate_service(name)


@router.post("/services/{name}/servers", status_code=201, response_model=out.ServerGrant,
             responses=TRANSACTION_RESPONSES)
async def authorize_server(name: ServiceName, body: ServerAuthorization, chaincode: UserChaincodeDep) -> dict:
    """Let a user (your service's server) reduce callers' rights on a service of yours."""
    return await chaincode.authorize_server(name, body.server)


@router.delete("/services/{name}/servers/{server}", response_model=out.ServerGrant, responses=TRANSACTION_RESPONSES)
async def revoke_server(name: ServiceName, server: Annotated[str, Path(pattern=NAME_PATTERN)],
                        chaincode: UserChaincodeDep) -> dict:
    """Withdraw a server's authorization."""
    return await chaincode.revoke_server(name, server)
