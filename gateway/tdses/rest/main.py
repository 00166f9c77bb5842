"""Build the gateway application from its settings.

    application = app(settings)          # FastAPI, for uvicorn or an in-process test client
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from tdses.rest import web
from tdses.rest.api.deps import owner_of
from tdses.rest.api.lean import LeanRoutes
from tdses.rest.api.main import api_router
from tdses.rest.api.routes import ops
from tdses.rest.config import Settings
from tdses.rest.middleware.bodylimit import BodyLimitMiddleware
from tdses.rest.middleware.idempotency import IdempotencyMiddleware
from tdses.rest.middleware.metrics import MetricsMiddleware, RouteLabels
from tdses.rest.middleware.ratelimit import RateLimiter, RateLimitMiddleware
from tdses.rest.problems import Problem, internal_error
from tdses.rest.services.context import Context
from tdses.rest.services.signing import SignatureRequired

log = logging.getLogger("tdses.rest")

DESCRIPTION = """The REST gateway of one T-DSES organization. Every call acts on chain as the caller's own Fabric
identity. Authenticate with `Authorization: Bearer <token>`; errors are `application/problem+json` with a stable
`code`; send `Idempotency-Key` on POSTs to make retries safe."""


# The gateway's metrics are its own (/metrics, tdses.rest.middleware.metrics). FastAPI's OpenTelemetry would only
# ask, on every request, whether a provider has been configured meanwhile.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}


class GatewayApp(FastAPI):
    """FastAPI with one layer in front of its middleware: the lean routes (tdses.rest.api.lean), which apply the
    middleware's rules to what they serve themselves."""

    front: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.front is None else self.front(stack)


def app(settings: Settings) -> GatewayApp:
    context = Context.build(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if context.index is not None:
            context.index.start()  # in the background: peers that are down only delay the index
        yield
        await context.close()

    application = GatewayApp(title=f"T-DSES gateway ({settings.org})", version="1.0.0", description=DESCRIPTION,
                             lifespan=lifespan, docs_url=None, redoc_url=None,  # /docs: tdses.rest.web, offline
                             telemetry=NO_TELEMETRY)
    application.state.context = context
    application.include_router(api_router)
    application.include_router(ops.router)
    web.install(application)
    install_error_handlers(application)

    limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst, context.store)
    caller_of = functools.partial(owner_of, context)  # (scope, token): the caller's name, or None
    application.add_middleware(IdempotencyMiddleware, store=context.store, ttl=settings.idempotency_ttl_seconds,
                               owner_of=caller_of, lease=settings.request_lease())
    application.add_middleware(RateLimitMiddleware, limiter=limiter, caller_of=caller_of)
    application.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    application.add_middleware(MetricsMiddleware, metrics=context.metrics,
                               route_of=RouteLabels(lambda: application.openapi()["paths"]))
    application.front = functools.partial(LeanRoutes, context=context, routes=application.routes, limiter=limiter,
                                          metrics=context.metrics, max_body_bytes=settings.max_body_bytes)
    return application


def json_media_type(content_type: str) -> bool:
    """application/json or application/*+json, as FastAPI reads them."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def install_error_handlers(application: FastAPI) -> None:
    @application.exception_handler(Problem)
    async def problem(_: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    @application.exception_handler(SignatureRequired)
    async def signature_required(_: Request, exc: SignatureRequired) -> JSONResponse:
        return JSONResponse(exc.request.body(), status_code=202)

    @application.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]  # without the input: it may hold a secret
        decoding = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if decoding is not None:
            reason = decoding.get("ctx", {}).get("error")  # the decoder's, e.g. a key given twice (jsonbody)
            return Problem(400, "MALFORMED_JSON", "the body is not valid JSON" + (f": {reason}" if reason else ""),
                           errors=errors).response()
        media_type = request.headers.get("content-type")
        if media_type is not None and not json_media_type(media_type) and any(e["loc"] == ["body"] for e in errors):
            # FastAPI reads a body of another media type as bytes, which then "should be a valid dictionary".
            return Problem(415, "UNSUPPORTED_MEDIA_TYPE", "the body must be application/json").response()
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)[:1000]
        return Problem(422, "INVALID_ARGUMENT", detail, errors=errors).response()

    @application.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, (ValueError, RecursionError)):
            # FastAPI's "error parsing the body" for JSON that json.loads cannot take in: nested too deep, or an
            # integer of more digits than Python converts (its JSONDecodeError is answered above).
            return Problem(400, "MALFORMED_JSON", "the body is not JSON the gateway can read (nested too deep, "
                           "or a number too long)").response()
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
        return Problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {})).response()

    @application.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return internal_error().response()
