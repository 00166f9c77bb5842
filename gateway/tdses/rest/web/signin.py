"""Sign in with a name and a password, sign up through an invitation, sign out.

Sign-in attempts are charged to the client's address and to the name tried, each allowed
web.signin_attempts_per_minute (a person's password is guessable where an API token is not). A browser that
signed in as the name before is charged to a bucket of its own for the name (sessions.known_browser): others'
failures lock the name for unknown browsers only. A sign-up whose
registration may still commit keeps its invitation bound to the name, so that only the same invitation resumes it.
"""

from __future__ import annotations

import asyncio
import math
import re

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from tdses.rest.api.deps import ContextDep
from tdses.rest.middleware.ratelimit import client_address
from tdses.rest.models.fields import NAME_PATTERN, Text
from tdses.rest.problems import Problem
from tdses.rest.services.onboarding import create_user
from tdses.rest.services.passwords import hash_password, password_problem, verify_password
from tdses.rest.services.tokens import token_hash
from tdses.rest.store import ACTIVE
from tdses.rest.web.acting import one_line
from tdses.rest.web.render import PageRoute, page, see_other
from tdses.rest.web.sessions import (
    VisitorDep, check_anonymous_form, check_form, end_session, known_browser, start_session, with_form_token,
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)

NAME = re.compile(NAME_PATTERN)
INTRODUCTION = TypeAdapter(Text)


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
    check_anonymous_form(form, request, context)
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    target = local_target(form.get("next"))
    # Each attempt is taken from both buckets before the password is checked: attempts sent together cannot all
    # pass a look that charges nothing.
    password_hash = context.store.password_hash(name) if NAME.fullmatch(name) else None
    # What is typed as a name may be a password typed in the wrong field: only a valid name is kept as a key.
    name_key = name if NAME.fullmatch(name) else "(not a name)"
    by_name = ("known:" if known_browser(context, request, name, password_hash) else "name:") + name_key
    wait = max([context.signin.take(client_address(request.scope)), context.signin.take(by_name)])
    if wait > 0:
        retry_after = str(max(1, math.ceil(wait)))
        response = _form_page(request, context, "signin.html", status_code=429, next=target, name=name,
                              error=f"Too many sign-in attempts: try again in {retry_after} seconds.")
        response.headers["Retry-After"] = retry_after
        return response
    user = context.store.user(name) if password_hash is not None else None
    stored = password_hash if user is not None and user.state == ACTIVE else None
    if not await asyncio.to_thread(verify_password, stored, password):
        return _form_page(request, context, "signin.html", status_code=401, next=target, name=name,
                          error="The name or the password is wrong.")
    response = see_other(target)
    start_session(context, request, response, name, stored)
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
    check_anonymous_form(form, request, context)
    invitation, name = str(form.get("invitation", "")), str(form.get("name", ""))
    password, repeated = str(form.get("password", "")), str(form.get("password2", ""))
    introduction = one_line(str(form.get("introduction", "")))
    store, held = context.store, token_hash(invitation)
    refusal = ("a name is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
               if not NAME.fullmatch(name) else password_problem(password)
               or (None if password == repeated else "the two passwords differ")
               or _introduction_problem(introduction))
    async with context.signups.one_at_a_time(held):
        return await _sign_up(request, context, invitation, held, name, password, introduction, refusal)


async def _sign_up(request: Request, context, invitation: str, held: str, name: str, password: str,
                   introduction: str, refusal: str | None) -> Response:
    store = context.store
    status_code = 422
    if refusal is None and store.user(name) is not None and store.invitation_holder(held) != name:
        # A user of that name exists here, or is being created by someone else (e.g. the admin's POST /v1/users
        # that timed out): only the invitation that began a sign-up may resume it.
        refusal, status_code = f"the name {name!r} is taken", 409
    if refusal is not None:
        return _form_page(request, context, "signup.html", status_code=status_code, invitation=invitation,
                          name=name, introduction=introduction, error=refusal)
    taken = store.use_invitation(held, name)
    if taken is None:
        raise Problem(403, "INVITATION_INVALID", "this invitation is unknown, used or expired")
    resuming = taken == "held"  # what this invitation began (a sign-up cut short, or the same form sent twice)
    try:
        # As POST /v1/users: CA identity, key, on chain. Only what this invitation began is resumed: another
        # sign-up of the name that began meanwhile (after the check above) is someone else's.
        await create_user(context, name, introduction, None, may_resume=resuming)
    except Problem as problem:
        if store.user(name) is None or (problem.code == "ALREADY_EXISTS" and not resuming):
            store.return_invitation(held)  # nothing of this sign-up is left: the invitation may be used again
        raise
    password_hash = await asyncio.to_thread(hash_password, password)
    store.set_password(name, password_hash)
    response = see_other("/me")
    start_session(context, request, response, name, password_hash)
    return response


def _introduction_problem(introduction: str) -> str | None:
    try:
        INTRODUCTION.validate_python(introduction)
    except ValidationError as exc:
        return "About you " + exc.errors()[0]["msg"].removeprefix("Value error, ")
    return None


@router.post("/signout")
async def signout(request: Request, context: ContextDep, visitor: VisitorDep) -> Response:
    check_form(await request.form(), visitor)
    response = see_other("/signin")
    end_session(context, request, response)
    return response
