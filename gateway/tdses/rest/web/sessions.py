"""Who is signed in to the web pages, and whether a form was sent by our own page.

A session is a random id in an HttpOnly, SameSite=Lax cookie (Secure over HTTPS or with web.secure_cookies); the
store keeps only its SHA-256, its user, its expiry and its CSRF token. The cookies are named after the organization:
browsers do not tell cookies apart by port, and the local network serves every organization on 127.0.0.1, so
one name would let each organization's sign-in replace the others'. On a shared host every gateway still receives
the other organizations' cookies, and a hostile operator could replay them: in production each organization
serves its pages under a host name of its own (README, "The web pages"). Every form carries that token (synchronizer
token); the sign-in and sign-up forms, sent before there is a session, carry a token that must equal a cookie's
(double submit).

A browser that signed in as a name keeps a long-lived cookie that says so (an HMAC of the name and its password's
stored hash, under a key derived from the gateway's key-encryption key: nobody else can make one, and a new
password ends every old one): its sign-ins as that name are limited apart from everyone else's, and failures sent
by others cannot lock its owner out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from tdses.rest.api.deps import ContextDep, principal_for
from tdses.rest.problems import Problem
from tdses.rest.services.context import Context
from tdses.rest.services.principal import Principal
from tdses.rest.services.tokens import token_hash
from tdses.rest.store import ACTIVE

CSRF_FIELD = "csrf"
KNOWN_BROWSER_SECONDS = 180 * 24 * 3600


def session_cookie(context: Context) -> str:
    return f"tdses_session_{_cookie_part(context.settings.org)}"


def form_cookie(context: Context) -> str:
    """The double-submit token of the forms sent before signing in."""
    return f"tdses_form_{_cookie_part(context.settings.org)}"


def known_browser_cookie(context: Context) -> str:
    """Set at sign-in: this browser signed in as the name it tells (browser_tag)."""
    return f"tdses_known_{_cookie_part(context.settings.org)}"


def browser_tag(context: Context, name: str, password_hash: str) -> str:
    tag = hmac.new(context.browser_key, f"{name}\n{password_hash}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(tag).decode().rstrip("=")


def known_browser(context: Context, request: Request, name: str, password_hash: str | None) -> bool:
    """The browser signed in as name before, with its present password (password_hash: None if it has none)."""
    cookie = request.cookies.get(known_browser_cookie(context))
    return (cookie is not None and password_hash is not None
            and hmac.compare_digest(cookie.encode(), browser_tag(context, name, password_hash).encode()))


def _cookie_part(org: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", org)


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""


@dataclass(frozen=True)
class Visitor:
    """A signed-in person: the user it acts as on chain, and its session's CSRF token."""

    principal: Principal
    csrf: str

    @property
    def name(self) -> str:
        return self.principal.name


def _secure(context: Context, request: Request) -> bool:
    return context.settings.web.secure_cookies or request.url.scheme == "https"


def set_cookie(context: Context, request: Request, response: Response, name: str, value: str,
               max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=_secure(context, request), path="/")


def start_session(context: Context, request: Request, response: Response, name: str, password_hash: str) -> None:
    """Sign name in: a fresh session id (never one the browser brought), a fresh CSRF token, and the cookie of a
    browser that signed in with this password."""
    session_id = secrets.token_urlsafe(32)
    ttl = context.settings.web.session_ttl_seconds
    context.store.add_session(token_hash(session_id), name, secrets.token_urlsafe(32), time.time() + ttl)
    set_cookie(context, request, response, session_cookie(context), session_id, int(ttl))
    set_cookie(context, request, response, known_browser_cookie(context), browser_tag(context, name, password_hash),
               KNOWN_BROWSER_SECONDS)


def end_session(context: Context, request: Request, response: Response) -> None:
    session_id = request.cookies.get(session_cookie(context))
    if session_id:
        context.store.delete_session(token_hash(session_id))
    response.delete_cookie(session_cookie(context), path="/")


def signed_in(request: Request, context: ContextDep) -> Visitor:
    visitor = visitor_of(request, context)
    if visitor is None:
        raise SignInRequired()
    return visitor


def visitor_of(request: Request, context: Context) -> Visitor | None:
    """Who the request's session signs in, if it is valid now (pages ask once; a stream asks as it goes)."""
    session_id = request.cookies.get(session_cookie(context))
    session = context.store.session(token_hash(session_id)) if session_id else None
    user = context.store.user(session.name) if session else None
    if user is None or user.state != ACTIVE or not user.custodial:
        return None
    return Visitor(principal_for(context, user), session.csrf)


VisitorDep = Annotated[Visitor, Depends(signed_in)]


def with_form_token(context: Context, request: Request, render: Callable[[str], Response]) -> Response:
    """A page with a form shown before signing in: rendered with the double-submit token, which its cookie keeps
    (the browser's, or a new one)."""
    token = request.cookies.get(form_cookie(context)) or secrets.token_urlsafe(32)
    response = render(token)
    set_cookie(context, request, response, form_cookie(context), token, None)
    return response


def forged(presented: object, expected: str | None) -> Problem | None:
    if not isinstance(presented, str) or not expected or not hmac.compare_digest(presented, expected):
        return Problem(403, "CSRF", "the form was not sent from this site's own page (or it is too old): "
                       "reload the page and send it again")
    return None


def check_form(form, visitor: Visitor) -> None:
    """403 for a signed-in form without the session's CSRF token."""
    problem = forged(form.get(CSRF_FIELD), visitor.csrf)
    if problem is not None:
        raise problem


def check_anonymous_form(form, request: Request, context: Context) -> None:
    problem = forged(form.get(CSRF_FIELD), request.cookies.get(form_cookie(context)))
    if problem is not None:
        raise problem
