"""Services and mashups: register, list, read, edit, publish, invalidate, and authorize servers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from tdses.chaincode import Chaincode, ServiceStatus
from tdses.index.search import ANY_STATUS, BadCursor, ServiceQuery
from tdses.rest.api.deps import (
    INDEX_BLOCK_HEADER, CallerDep, ChaincodeDep, ContextDep, MinBlockHeader, MinBlockQuery, OptionalIndexDep,
    UserChaincodeDep, indexed, off_loop, reject_unknown_query,
)
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.api.transact import TRANSACTION_RESPONSES, Transacting
from tdses.rest.models import responses as out
from tdses.rest.models.fields import (
    DEFAULT_PAGE_SIZE, MAX_AVAILABILITY_BP, MAX_LATENCY_MS, MAX_PAGE_SIZE, MAX_PRICE, NAME_PATTERN,
    SEARCH_PATTERN,
)
from tdses.rest.models.requests import MashupCreate, ServiceCreate, ServicePatch, ServerAuthorization
from tdses.rest.problems import Problem
from tdses.rest.services.cards import listing

router = APIRouter(route_class=ApiRoute, tags=["services"])

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


# The ledger's own listing (the chaincode's queries, bookmark-paged, every status unless asked): what a request made
# only of these parameters, with page_size or start/end or developer/status, keeps meaning. Anything else is a search.
LEDGER_PARAMETERS = frozenset({"developer", "status", "start", "end", "page_size", "cursor"})
Sort = Literal["relevance", "price", "-price", "popularity", "compositions", "newest", "name"]


def is_ledger_listing(parameters: set[str], status: str | None) -> bool:
    return (parameters <= LEDGER_PARAMETERS and bool(parameters - {"cursor"}) and status != ANY_STATUS) \
        or "page_size" in parameters


@router.get("/services", response_model=out.ServicePage, dependencies=[Depends(reject_unknown_query)])
async def list_services(
    request: Request,
    chaincode: ChaincodeDep,  # authenticates the caller, before anything waits for the index
    context: ContextDep,
    response: Response,
    q: Annotated[str | None, Query(min_length=1, max_length=200, pattern=SEARCH_PATTERN, description=(
        "words to find in the name, category or description (all of them; stemmed)"))] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=64, pattern=SEARCH_PATTERN)] = None,
    developer: NameQuery = None,
    status: Annotated[ServiceStatus | Literal["any"] | None, Query(description=(
        "default: available (from the index), every status (ledger listing); any: every status"))] = None,
    mashup: bool | None = None,
    min_price: Annotated[int | None, Query(ge=0, le=MAX_PRICE)] = None,
    max_price: Annotated[int | None, Query(ge=0, le=MAX_PRICE)] = None,
    max_latency_ms: Annotated[int | None, Query(ge=0, le=MAX_LATENCY_MS, description="advertised QoS")] = None,
    min_availability_bp: Annotated[int | None, Query(ge=0, le=MAX_AVAILABILITY_BP, description="advertised QoS")] \
        = None,
    sort: Annotated[Sort | None, Query(description=(
        "relevance (only with q; the default with q), price, -price, popularity (calls bought), compositions "
        "(times composed), newest, name (the default without q)"))] = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
    start: NameQuery = None,
    end: NameQuery = None,
    page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE, description="ledger listing: page size")] = None,
    cursor: Annotated[str | None, Query(max_length=1000, description="the previous page's next")] = None,
    x_min_block: MinBlockHeader = None,
    min_block: MinBlockQuery = None,
) -> dict:
    """Search the registry (from the index: keyword, filters, sort, cursor pages; available services unless
    `status`), or list the ledger in name order (developer, status, name range [start, end), page_size)."""
    if start is not None and end is not None and start >= end:
        raise Problem(422, "INVALID_ARGUMENT", "start must come before end")
    parameters = set(request.query_params.keys())
    if is_ledger_listing(parameters, status):
        unread = sorted(parameters - LEDGER_PARAMETERS - {"limit", "min_block"})
        if unread:  # never an unfiltered page for a filtered request
            raise Problem(422, "INVALID_ARGUMENT", f"page_size pages the ledger listing, which does not filter by "
                          f"{', '.join(unread)}: search with limit instead")
        return await ledger_listing(chaincode, developer, status, start, end, page_size or DEFAULT_PAGE_SIZE,
                                    cursor, limit)
    store = await indexed(context, response, x_min_block, min_block)
    query = ServiceQuery(words=q, category=category, developer=developer, status=status or "available",
                         mashup=mashup, min_price=min_price, max_price=max_price, max_latency_ms=max_latency_ms,
                         min_availability_bp=min_availability_bp, start=start, end=end, sort=sort,
                         limit=limit or DEFAULT_PAGE_SIZE, cursor=cursor)
    try:
        query.check()
        page = await off_loop(store.find_services, query)
        components = await off_loop(store.components_of, [r["name"] for r in page.items if r["mashup"]])
    except BadCursor as exc:
        raise Problem(422, "INVALID_CURSOR", str(exc)) from None
    except ValueError as exc:
        raise Problem(422, "INVALID_ARGUMENT", str(exc)) from None
    items = [listing(row, components.get(row["name"], [])) for row in page.items]
    return {"items": items, "next": page.next, "nextCursor": page.next}


async def ledger_listing(chaincode, developer, status, start, end, page_size, cursor, limit) -> dict:
    filters = sum(x is not None for x in (developer, status)) + (start is not None or end is not None)
    if filters > 1:
        raise Problem(422, "INVALID_ARGUMENT", "the ledger listing (page_size) filters by one of: developer, "
                      "status, or a name range; search with limit instead")
    if limit is not None:
        raise Problem(422, "INVALID_ARGUMENT", "page_size pages the ledger listing, limit the search: give one")
    if developer is not None:
        page = await chaincode.services_by_developer(developer, page_size=page_size, bookmark=cursor)
    elif status is not None:
        page = await chaincode.services_by_status(status, page_size=page_size, bookmark=cursor)
    else:
        if cursor is not None and (cursor < (start or "") or (end is not None and cursor >= end)):
            raise Problem(422, "INVALID_ARGUMENT", "cursor is outside the name range")
        page = await chaincode.services_by_range(start, end, page_size=page_size, bookmark=cursor)
    bookmark = page.get("bookmark") or None
    return {"items": page.get("records") or [], "next": bookmark, "nextCursor": bookmark}


@router.get("/services/{name}", response_model=out.ServiceListing, dependencies=[Depends(reject_unknown_query)])
async def get_service(
    name: ServiceName,
    _: CallerDep,  # authenticates the caller, before anything waits for the index
    index: OptionalIndexDep,
    context: ContextDep,
    response: Response,
) -> dict | Response:
    """One service or mashup with its tallies, from the index (X-Index-Block says which block; send a write's
    X-Block-Number as X-Min-Block to read it through any gateway). One the index does not hold yet — or every one,
    on a gateway without an index — is read from the ledger."""
    if index is not None:
        store = await index()
        # Kept: answered here; else read in a worker thread (a database that is slow to answer stalls no one else).
        body = context.cards.kept(store, name) or await off_loop(context.cards.get, store, name)
        if body is not None:
            return Response(body, media_type="application/json",
                            headers={INDEX_BLOCK_HEADER: response.headers[INDEX_BLOCK_HEADER]})
    return await Chaincode(Transacting(context, context.ledger.admin, response.headers)).query_service(name)



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


@router.post("/services/{name}/compact", response_model=out.Compaction, responses=TRANSACTION_RESPONSES)
async def compact_service(name: ServiceName, chaincode: UserChaincodeDep) -> dict:
    """Fold the counters your service's purchases and uses added (but not in the last 10 s), at most 20,000 per
    transaction (`more`: compact again)."""
    return await chaincode.compact_service(name)


@router.post("/services/{name}/servers", status_code=201, response_model=out.ServerGrant,
             responses=TRANSACTION_RESPONSES)
async def authorize_server(name: ServiceName, body: ServerAuthorization, chaincode: UserChaincodeDep) -> dict:
    """Let a user (your service's server) reduce callers' rights on a service of yours."""
    return await chaincode.authorize_server(name, body.server)


@router.get("/services/{name}/servers/{server}", response_model=out.ServerGrant)
async def server_grant(name: ServiceName, server: Annotated[str, Path(pattern=NAME_PATTERN)],
                       chaincode: ChaincodeDep) -> dict:
    """A server's authorization on a service: 404 when it has none (a meter checks its own before serving)."""
    return await chaincode.server_grant(name, server)


@router.delete("/services/{name}/servers/{server}", response_model=out.ServerGrant, responses=TRANSACTION_RESPONSES)
async def revoke_server(name: ServiceName, server: Annotated[str, Path(pattern=NAME_PATTERN)],
                        chaincode: UserChaincodeDep) -> dict:
    """Withdraw a server's authorization."""
    return await chaincode.revoke_server(name, server)
