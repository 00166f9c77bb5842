"""The hottest routes, served in front of FastAPI's middleware and per-request machinery.

    @lean
    @router.get("/rights/{user}", response_model=out.Rights)
    async def get_rights(name: ServiceName, user: UserName, chaincode: ChaincodeDep) -> dict: ...

    @lean
    @router.post("/rights", response_model=out.Rights, responses=TRANSACTION_RESPONSES)
    async def buy_calls(name: ServiceName, body: Purchase, chaincode: UserChaincodeDep) -> dict: ...

    LeanRoutes(stack, context, routes, limiter, metrics, max_body_bytes)  # the application's outermost layer

A route marked @lean is a GET whose only inputs are its path parameters and the caller's chaincode, or a POST
that also takes one JSON body. LeanRoutes serves such a request with the route's own parts (its path pattern, its
parameters' and body's validation, its endpoint, its response model and serialization) and what the middleware
would have done for it: the rate limit and the metrics, with the same rules. What it skips is the middleware's
layers, matching the path against every route, and solving a tree of dependencies. Anything outside the plain
case goes on to the middleware and FastAPI, which answer as before: a query string, an invalid parameter or body,
a body that is not JSON or has no Content-Length or too large a one, an Idempotency-Key, a missing or unknown token,
the admin on a route for users, a non-custodial caller's write (its signature request).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import ModelField
from fastapi.dependencies.utils import request_body_to_args
from fastapi.routing import RouteContext, iter_route_contexts, serialize_response
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from tdses.asgi import read_body, replaying
from tdses.chaincode import Chaincode
from tdses.rest.api import jsonbody
from tdses.rest.api.deps import caller_chaincode, owner_of, principal_of, user_chaincode
from tdses.rest.api.transact import Transacting
from tdses.rest.middleware.asgi import bearer, header, send_problem
from tdses.rest.middleware.idempotency import HEADER as IDEMPOTENCY_KEY
from tdses.rest.middleware.metrics import Metrics
from tdses.rest.middleware.ratelimit import RateLimiter, client_address, refusal
from tdses.rest.problems import Problem, internal_error
from tdses.rest.services.context import Context

log = logging.getLogger("tdses.rest")

_MARK = "__tdses_lean__"


def lean(endpoint: Callable) -> Callable:
    """Mark a route's endpoint for LeanRoutes (above the route decorator)."""
    setattr(endpoint, _MARK, True)
    return endpoint


@dataclass(frozen=True)
class LeanRoute:
    """What serving a route takes, read once from the route as included (its full path, and the dependencies of its
    routers): FastAPI's RouteContext looks each attribute up again on every access."""

    method: str
    template: str  # the path as the OpenAPI document and the metrics name it: /v1/balances/{account}
    pattern: re.Pattern[str]
    path_fields: tuple[tuple[ModelField, str], ...]  # (field, alias): the path parameters, validated one by one
    body_params: list[ModelField]
    chaincode_parameter: str  # the endpoint's parameter that takes the caller's chaincode
    users_only: bool  # UserChaincodeDep: the organization admin gets FastAPI's 403
    endpoint: Callable
    serialize: Callable  # the route's response model and its options: result -> JSON bytes
    status_code: int

    @classmethod
    def of(cls, route: RouteContext) -> LeanRoute:
        dependant = route.dependant
        extra = (dependant.query_params, dependant.header_params, dependant.cookie_params)
        chaincodes = (caller_chaincode, user_chaincode)
        inputs = [d for d in dependant.dependencies if d.call not in chaincodes]
        chaincode = [d for d in dependant.dependencies if d.call in chaincodes]
        bodies = len(dependant.body_params)
        plain = (route.methods == {"GET"} and bodies == 0) or (route.methods == {"POST"} and bodies == 1)
        if not plain or any(extra) or inputs or len(chaincode) != 1 or route.response_field is None:
            raise TypeError(f"{route.path} cannot be lean: it must be a GET, or a POST of one JSON body, with a "
                            "response model, whose other inputs are path parameters and ChaincodeDep or "
                            "UserChaincodeDep")
        serialize = functools.partial(
            serialize_response, field=route.response_field, include=route.response_model_include,
            exclude=route.response_model_exclude, by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset, exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none, dump_json=True)
        return cls(next(iter(route.methods)), route.path_format, route.path_regex,
                   tuple((field, field.alias) for field in dependant.path_params), list(dependant.body_params),
                   chaincode[0].name, chaincode[0].call is user_chaincode, route.endpoint, serialize,
                   route.status_code or 200)


def lean_routes(routes: Iterable[BaseRoute]) -> list[LeanRoute]:
    return [LeanRoute.of(r) for r in iter_route_contexts(list(routes)) if getattr(r.endpoint, _MARK, False)]


def is_json(content_type: str | None) -> bool:
    return content_type is not None and content_type.partition(";")[0].strip().lower() == "application/json"


class LeanRoutes:
    def __init__(self, app: ASGIApp, context: Context, routes: Iterable[BaseRoute], limiter: RateLimiter,
                 metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app  # the middleware and FastAPI, for everything not served here
        self.context = context
        self.routes = lean_routes(routes)
        self.limiter = limiter
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.match(scope)
        if found is not None:
            started = time.perf_counter()
            lean_route, path_params = found
            body = None
            if lean_route.method == "POST":
                if not self.plain_body(scope):
                    return await self.app(scope, receive, send)
                body = await read_body(receive)
                receive = replaying(body, receive)  # for the middleware and FastAPI, if they answer instead
            try:
                status = await self.serve(lean_route, path_params, body, scope, send)
            except Exception:  # as FastAPI's handler of the unexpected (tdses.rest.main) answers
                log.exception("unexpected error")
                status = await answer_problem(internal_error(), send)
            if status is not None:
                self.metrics.observe(lean_route.method, lean_route.template, status, time.perf_counter() - started)
                return
        await self.app(scope, receive, send)

    def match(self, scope: Scope) -> tuple[LeanRoute, dict[str, str]] | None:
        """The lean route of a plain request (no query string), with its path parameters."""
        if scope["type"] != "http" or scope.get("query_string") or scope.get("root_path"):
            return None
        for lean_route in self.routes:
            if lean_route.method == scope["method"]:
                found = lean_route.pattern.match(scope["path"])
                if found is not None:
                    return lean_route, found.groupdict()
        return None

    def plain_body(self, scope: Scope) -> bool:
        """A JSON body whose announced length is within the limit, and no Idempotency-Key: else the middleware's."""
        length = header(scope, b"content-length")
        return (is_json(header(scope, b"content-type")) and length is not None and length.isdigit()
                and int(length) <= self.max_body_bytes and header(scope, IDEMPOTENCY_KEY) is None)

    async def serve(self, lean_route: LeanRoute, path_params: dict[str, str], body: bytes | None, scope: Scope,
                    send: Send) -> int | None:
        """The status answered here; None leaves the request to the middleware and FastAPI."""
        token = bearer(scope)
        if token is None:
            return None
        values: dict[str, Any] = {}
        for field, alias in lean_route.path_fields:  # the path matched: each parameter is there
            value, errors = field.validate(path_params[alias], values, loc=("path", alias))
            if errors:
                return None
            values[field.name] = value
        if body is not None:
            try:
                received = jsonbody.loads(body)
            except (ValueError, RecursionError):  # FastAPI answers it: 400 MALFORMED_JSON
                return None
            body_values, errors = await request_body_to_args(lean_route.body_params, received, False)
            if errors:
                return None
            values.update(body_values)
        principal = principal_of(self.context, scope, token)
        if principal is None or (lean_route.users_only and principal.is_admin):
            return None
        if body is not None and not principal.custodial:
            return None
        limited = refusal(self.limiter, owner_of(self.context, scope, token), client_address(scope))
        if limited is not None:
            return await answer_problem(limited, send)  # as the rate-limit middleware answers
        set_headers = MutableHeaders()  # as FastAPI's Response parameter would hold them
        values[lean_route.chaincode_parameter] = Chaincode(Transacting(self.context, principal, set_headers))
        try:
            content = await lean_route.serialize(response_content=await lean_route.endpoint(**values))
        except Problem as problem:
            return await answer_problem(problem, send)
        headers = [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json"),
                   *set_headers.raw]
        await send({"type": "http.response.start", "status": lean_route.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        return lean_route.status_code


async def answer_problem(problem: Problem, send: Send) -> int:
    await send_problem(send, problem)
    return problem.status
