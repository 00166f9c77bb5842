"""The catalog (the registry index's search, as GET /v1/services runs it), a service's page, buying calls and
rewarding a developer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from tdses.index.search import BadCursor, ServiceQuery
from tdses.rest.api.deps import ContextDep, off_loop
from tdses.rest.api.routes.services import Sort
from tdses.rest.models.fields import MAX_PRICE, NAME_PATTERN, SEARCH_PATTERN
from tdses.rest.models.requests import Purchase, Reward
from tdses.rest.problems import Problem
from tdses.rest.web.acting import NOTICES, Acting, index_at, integer, paying_once
from tdses.rest.web.render import PageRoute, page
from tdses.rest.web.sessions import VisitorDep, check_form

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN)]
PAGE_SIZE = 20
SORTS = {"": "best match / name", "price": "price, lowest first", "-price": "price, highest first",
         "popularity": "most calls bought", "compositions": "most composed", "newest": "newest"}


def blank_none(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


@router.get("/")
async def catalog(request: Request, context: ContextDep, visitor: VisitorDep,
                  q: Annotated[str | None, Query(max_length=200, pattern=SEARCH_PATTERN)] = None,
                  category: Annotated[str | None, Query(max_length=64, pattern=SEARCH_PATTERN)] = None,
                  min_price: Annotated[str | None, Query(max_length=12)] = None,
                  max_price: Annotated[str | None, Query(max_length=12)] = None,
                  sort: Annotated[str | None, Query(max_length=20)] = None,
                  cursor: Annotated[str | None, Query(max_length=1000)] = None,
                  block: Annotated[int | None, Query(ge=0)] = None) -> Response:
    q, category, sort, cursor = blank_none(q), blank_none(category), blank_none(sort), blank_none(cursor)
    prices = {key: integer({key: value}, key, required=False) for key, value in
              (("min_price", min_price), ("max_price", max_price))}
    if sort is not None and sort not in Sort.__args__:
        raise Problem(422, "INVALID_ARGUMENT", f"unknown sort {sort!r}")
    store = await index_at(context, block)
    query = ServiceQuery(words=q, category=category, min_price=prices["min_price"],
                         max_price=prices["max_price"], sort=sort, limit=PAGE_SIZE, cursor=cursor)
    try:
        query.check()
        found = await off_loop(store.find_services, query)
    except BadCursor as exc:
        raise Problem(422, "INVALID_CURSOR", str(exc)) from None
    except ValueError as exc:
        raise Problem(422, "INVALID_ARGUMENT", str(exc)) from None
    return page(request, "catalog.html", visitor=visitor, services=found.items, next_cursor=found.next,
                q=q or "", category=category or "", min_price=min_price or "", max_price=max_price or "",
                sort=sort or "", sorts=SORTS, max_price_limit=MAX_PRICE)


@router.get("/services/{name}")
async def service_page(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep,
                       done: Annotated[str | None, Query(max_length=200)] = None,
                       block: Annotated[int | None, Query(ge=0)] = None) -> Response:
    acting = Acting(context, visitor)
    service = await acting.chaincode.query_service(name)  # the ledger's own answer: the price one pays
    rights = await acting.chaincode.rights(name, visitor.name)
    store = await index_at(context, block)
    counts = await off_loop(store.service, name) or {}
    found = await context.discovery.structures(store, context.index.current_block)
    live = found.available.__contains__
    related = [r.name for r in found.composed.related(name, 5, live)] + \
        [r.name for r in found.bought.related(name, 5, live)]
    return page(request, "service.html", visitor=visitor, service=service, rights=rights,
                notice=NOTICES.get(done or ""), calls_bought=int(counts.get("calls_bought") or 0), compositions=int(counts.get("compositions") or 0),
                related=list(dict.fromkeys(related)), gateway=str(request.base_url).rstrip("/"))


@router.get("/services/{name}/buy")
async def confirm_purchase(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep,
                           calls: Annotated[str, Query(max_length=12)] = "1") -> Response:
    """The cost, before anything is paid."""
    count = integer({"calls": calls}, "calls")
    Purchase(calls=count)  # the API's limits
    acting = Acting(context, visitor)
    service = await acting.chaincode.query_service(name)
    me = await acting.chaincode.query_user(visitor.name)
    cost = count * int(service["price"])
    return page(request, "buy.html", visitor=visitor, service=service, calls=count, cost=cost,
                balance=me["balance"], after=me["balance"] - cost)


@router.post("/services/{name}/buy")
async def buy(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep) -> Response:
    form = await request.form()
    check_form(form, visitor)
    purchase = Purchase(calls=integer(form, "calls"), maxPrice=integer(form, "maxPrice"))
    acting = Acting(context, visitor)
    with paying_once(form, visitor, "buy", name, purchase.calls, purchase.max_price):
        await acting.chaincode.buy_calls(name, purchase.calls, purchase.max_price)
    return acting.done(f"/services/{name}", "bought")


@router.post("/services/{name}/reward")
async def reward(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep) -> Response:
    form = await request.form()
    check_form(form, visitor)
    gift = Reward(amount=integer(form, "amount"))
    acting = Acting(context, visitor)
    with paying_once(form, visitor, "reward", name, gift.amount):
        await acting.chaincode.reward_service(name, gift.amount)
    return acting.done(f"/services/{name}", "rewarded")
