"""Pages from Jinja2 templates; a refusal (a Problem anywhere in a page's work) becomes a page that shows its
detail, with the problem's status."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from tdses.rest.problems import Problem
from tdses.rest.web.sessions import SignInRequired

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
STATIC = HERE / "static"


# Our pages load only our own files, post only to us and are framed by no one (a framed Confirm button could be
# clicked by a user who sees another site).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                               "object-src 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    visitor = values.get("visitor")
    values.setdefault("csrf", visitor.csrf if visitor is not None else None)
    values.setdefault("once", secrets.token_urlsafe(16))  # a payment form's one-time key (acting.paying_once)
    response = templates.TemplateResponse(request, template, values, status_code=status_code)
    response.headers.update(PAGE_HEADERS)
    return response


def see_other(url: str) -> RedirectResponse:
    """After a form: the browser GETs the next page (no resubmission on reload)."""
    return RedirectResponse(url, status_code=303)


def problem_page(request: Request, problem: Problem) -> HTMLResponse:
    return page(request, "problem.html", status_code=problem.status, problem=problem.body(), visitor=None)


def invalid(error: ValidationError | RequestValidationError) -> Problem:
    detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors())[:1000]
    return Problem(422, "INVALID_ARGUMENT", detail)


class PageRoute(APIRoute):
    """A web page's route: sign-in redirects and problems as pages, not JSON."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def handle(request: Request):
            try:
                return await handler(request)
            except SignInRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return see_other(f"/signin?next={quote(target, safe='')}")
            except Problem as problem:
                return problem_page(request, problem)
            except (ValidationError, RequestValidationError) as error:  # a form's, or a query's or path's
                return problem_page(request, invalid(error))

        return handle
