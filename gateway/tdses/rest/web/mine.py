"""My services: balance and contribution, my services and mashups (publish, invalidate, edit), adding a service,
composing a mashup with the cost shown before paying."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from tdses.chaincode import Chaincode
from tdses.index.search import ANY_STATUS, ServiceQuery
from tdses.rest.api.deps import ContextDep, off_loop
from tdses.rest.api.routes.services import spec
from tdses.rest.models.fields import NAME_PATTERN, SEARCH_PATTERN
from tdses.rest.models.requests import MashupCreate, ServiceCreate, ServicePatch
from tdses.rest.problems import Problem
from tdses.rest.services.context import Context
from tdses.rest.web.acting import NOTICES, Acting, index_at, integer, service_fields
from tdses.rest.web.render import PageRoute, invalid, page
from tdses.rest.web.sessions import Visitor, VisitorDep, check_form

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ServiceName = Annotated[str, Path(pattern=NAME_PATTERN)]
Block = Annotated[int | None, Query(ge=0)]
Done = Annotated[str | None, Query(max_length=20)]


@router.get("/me")
async def my_services(request: Request, context: ContextDep, visitor: VisitorDep, block: Block = None,
                      done: Done = None) -> Response:
    acting = Acting(context, visitor)
    me = await acting.chaincode.query_user(visitor.name)
    store = await index_at(context, block)
    mine = await off_loop(store.find_services, ServiceQuery(developer=visitor.name, status=ANY_STATUS, limit=100))
    names = [row["name"] for row in mine.items]
    buyers = {name: await off_loop(store.buyers, name) for name in names}
    servers = {name: await off_loop(store.servers, name) for name in names}
    revenue = {name: sum(r["amount"] for r in await off_loop(store.revenue, name, "month")) for name in names}
    return page(request, "me.html", visitor=visitor, me=me, services=mine.items, buyers=buyers, servers=servers,
                revenue=revenue, notice=NOTICES.get(done or ""))


async def change_status(request: Request, context: Context, visitor: Visitor,
                        write: Callable[[Chaincode, str], Awaitable[Any]], name: str, notice: str) -> Response:
    """A button of my services' page: the chaincode's write (Chaincode.publish_service, ...) on one of them."""
    check_form(await request.form(), visitor)
    acting = Acting(context, visitor)
    await write(acting.chaincode, name)
    return acting.done("/me", notice)


@router.post("/services/{name}/publish")
async def publish(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep) -> Response:
    return await change_status(request, context, visitor, Chaincode.publish_service, name, "published")


@router.post("/services/{name}/invalidate")
async def invalidate(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep) -> Response:
    return await change_status(request, context, visitor, Chaincode.invalidate_service, name, "invalidated")


SERVICE_FORM = ("name", "category", "url", "price", "description", "latencyMs", "availabilityBp")


def service_form(request: Request, visitor: Visitor, editing: str | None, values: dict[str, Any],
                 refusal: Problem | None = None) -> Response:
    """The form to add or edit a service; after a refusal of what was typed, with it and the reason."""
    return page(request, "service_form.html", status_code=refusal.status if refusal else 200, visitor=visitor,
                editing=editing, values={key: values.get(key, "") for key in SERVICE_FORM},
                error=refusal.detail if refusal else None)


async def from_service_form(request: Request, visitor: Visitor, editing: str | None, form,
                            write: Callable[[], Awaitable[Any]]) -> Response | None:
    """Run the form's write: None when done; the form again, with what was typed and why not, after a refusal the
    visitor fixes there (what was typed, or a name taken). Any other refusal is raised (its problem page)."""
    try:
        await write()
    except (Problem, ValidationError) as refusal:
        problem = invalid(refusal) if isinstance(refusal, ValidationError) else refusal
        if problem.status not in (409, 422):
            raise
        return service_form(request, visitor, editing, dict(form), problem)
    return None


@router.get("/new/service")
async def new_service_page(request: Request, visitor: VisitorDep) -> Response:
    return service_form(request, visitor, None, {})


@router.post("/new/service")
async def add_service(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    form = await request.form()
    check_form(form, visitor)
    acting = Acting(context, visitor)

    def register() -> Awaitable[Any]:
        body = ServiceCreate.model_validate(service_fields(form, with_name=True))
        return acting.chaincode.register_service(spec(body))

    return await from_service_form(request, visitor, None, form, register) or acting.done("/me", "registered")


async def own_service(acting: Acting, name: str, visitor) -> dict:
    service = await acting.chaincode.query_service(name)
    if service.get("developer") != visitor.name:
        raise Problem(403, "FORBIDDEN", f"only the developer of {name!r} edits it")
    return service


@router.get("/services/{name}/edit")
async def edit_page(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep) -> Response:
    service = await own_service(Acting(context, visitor), name, visitor)
    return service_form(request, visitor, name, {**service, **(service.get("qos") or {})})


@router.post("/services/{name}/edit")
async def edit(request: Request, name: ServiceName, context: ContextDep, visitor: VisitorDep) -> Response:
    form = await request.form()
    check_form(form, visitor)
    acting = Acting(context, visitor)

    def save() -> Awaitable[Any]:
        body = ServicePatch.model_validate(service_fields(form, with_name=False))
        return acting.chaincode.edit_service(name, spec(body))  # the chaincode refuses anyone but the developer

    return await from_service_form(request, visitor, name, form, save) or acting.done(f"/services/{name}", "edited")


@router.get("/new/mashup")
async def new_mashup_page(
        request: Request, context: ContextDep, visitor: VisitorDep,
        q: Annotated[str | None, Query(max_length=200, pattern=SEARCH_PATTERN)] = None) -> Response:
    """The component picker: available services matching q."""
    words = (q or "").strip() or None
    store = await index_at(context, None)
    found = await off_loop(store.find_services, ServiceQuery(words=words, limit=50))
    return page(request, "mashup_form.html", visitor=visitor, q=q or "", candidates=found.items)


def mashup_fields(source) -> dict:
    fields = service_fields(source, with_name=True)
    fields["components"] = [str(c) for c in source.getlist("component")]
    return fields


@router.get("/new/mashup/review")
async def review_mashup(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    """What the mashup costs now: each component's price, paid to its developer, before confirming."""
    fields = mashup_fields(request.query_params)
    MashupCreate.model_validate(fields)
    acting = Acting(context, visitor)
    components = [await acting.chaincode.query_service(name) for name in fields["components"]]
    me = await acting.chaincode.query_user(visitor.name)
    total = sum(int(c["price"]) for c in components)
    return page(request, "mashup_review.html", visitor=visitor, mashup=fields, components=components, total=total,
                balance=me["balance"])


@router.post("/new/mashup")
async def compose(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    form = await request.form()
    check_form(form, visitor)
    fields = mashup_fields(form)
    fields["maxPaid"] = integer(form, "maxPaid")  # what the review page showed
    body = MashupCreate.model_validate(fields)
    acting = Acting(context, visitor)
    await acting.chaincode.create_mashup(spec(body))
    return acting.done("/me", "composed")
