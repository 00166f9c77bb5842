"""Sign in with a name and a password, sign up through an invitation, sign out."""

from __future__ import annotations

import asyncio
import re

from fastapi import APIRouter, Request, Response

from tdses.rest.api.deps import ContextDep
from tdses.rest.models.fields import NAME_PATTERN
from tdses.rest.problems import Problem
from tdses.rest.services.onboarding import create_user
from tdses.rest.services.passwords import hash_password, password_problem, verify_password
from tdses.rest.services.tokens import token_hash
from tdses.rest.store import ACTIVE
from tdses.rest.web.render import PageRoute, page, see_other
from tdses.rest.web.sessions import (
    VisitorDep, check_anonymous_form, check_form, end_session, start_session, with_form_token,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NAME = re.compile(NAME_PATTERN)


def local_target(target: object) -> str:
    """Where to go after signing in: a path of this site only (no open redirect)."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _form_page(request: Request, context, template: str, status_code: int = 200, **values) -> Response:
    return with_form_token(context, request, lambda token: page(
        request, template, status_code=status_code, form_csrf=token, visitor=None, **values))


@router.get("/signin")
async def signin_page(request: Request, context: ContextDep, next: str = "/") -> Response:
    return _form_page(request, context, "signin.html", next=local_target(next))


@router.post("/signin")
async def signin(request: Request, context: ContextDep) -> Response:
    form = await request.form()
    check_anonymous_form(form, request)
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = local_target(form.get("next"))
    user = context.store.user(name) if NAME.match(name) else None
    stored = context.store.password_hash(name) if user is not None and user.state == ACTIVE else None
    if not await asyncio.to_thread(verify_password, stored, password):
        return _form_page(request, context, "signin.html", status_code=401, next=target, name=name,
                          error="The name or the password is wrong.")
    response = see_other(target)
    start_session(context, request, response, name)
    return response


@router.get("/signup")
async def signup_page(request: Request, context: ContextDep, invitation: str = "") -> Response:
    if not context.store.invitation_open(token_hash(invitation)):
        raise Problem(403, "INVITATION_INVALID", "this invitation is unknown, used or expired: ask your "
                      "organization's admin for a new one")
    return _form_page(request, context, "signup.html", invitation=invitation)


@router.post("/signup")
async def signup(request: Request, context: ContextDep) -> Response:
    form = await request.form()
    check_anonymous_form(form, request)
    invitation, name = str(form.get("invitation", "")), str(form.get("name", ""))
    password, repeated = str(form.get("password", "")), str(form.get("password2", ""))
    introduction = str(form.get("introduction", ""))[:1000]
    refusal = ("a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
               if not NAME.match(name) else password_problem(password)
               or (None if password == repeated else "the two passwords differ"))
    if refusal is not None:
        return _form_page(request, context, "signup.html", status_code=422, invitation=invitation, name=name,
                          introduction=introduction, error=refusal)
    if not context.store.use_invitation(token_hash(invitation), name):
        raise Problem(403, "INVITATION_INVALID", "this invitation is unknown, used or expired")
    try:
        await create_user(context, name, introduction, None)  # as POST /v1/users: CA identity, key, on chain
    except Problem:
        context.store.return_invitation(token_hash(invitation))
        raise
    context.store.set_password(name, await asyncio.to_thread(hash_password, password))
    response = see_other("/me")
    start_session(context, request, response, name)
    return response


@router.post("/signout")
async def signout(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    check_form(await request.form(), visitor)
    response = see_other("/signin")
    end_session(context, request, response)
    return response
