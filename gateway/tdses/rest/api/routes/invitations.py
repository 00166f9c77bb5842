"""Invitations to the organization's web pages: the admin creates one per person who may sign up."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import APIRouter

from tdses.rest.api.deps import ContextDep, PrincipalDep
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.models import responses as out
from tdses.rest.problems import Problem
from tdses.rest.services.invitations import SIGNUP_PATH, invite

router = APIRouter(route_class=ApiRoute, tags=["users"])


@router.post("/invitations", status_code=201, response_model=out.Invitation)
async def create_invitation(context: ContextDep, principal: PrincipalDep) -> dict:
    """An invitation to sign up on this gateway's web pages, usable once until it expires (web.invitation_ttl_seconds).
    The person who follows it chooses a name and a password and becomes a custodial user of the organization."""
    if not principal.is_admin:
        raise Problem(403, "FORBIDDEN", "only the organization admin invites people")
    token, expires_at = invite(context.store, context.settings.web.invitation_ttl_seconds)
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {"invitation": token, "path": f"{SIGNUP_PATH}?{urlencode({'invitation': token})}", "expiresAt": expires}
