"""Users: created by the org admin (or by anyone with open registration), each with its own Fabric identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from tdses.rest.api.deps import (
    ChaincodeDep, ContextDep, OptionalPrincipalDep, PrincipalDep, UserChaincodeDep, UserDep, same_user, unauthorized,
)
from tdses.rest.api.jsonbody import ApiRoute
from tdses.rest.api.transact import TRANSACTION_RESPONSES
from tdses.rest.models import responses as out
from tdses.rest.models.fields import NAME_PATTERN
from tdses.rest.models.requests import UserCreate
from tdses.rest.problems import Problem
from tdses.rest.services.onboarding import create_user
from tdses.rest.services.tokens import new_token, token_hash
from tdses.rest.store import ACTIVE

router = APIRouter(route_class=ApiRoute, prefix="/users", tags=["users"])

UserName = Annotated[str, Path(pattern=NAME_PATTERN, examples=["alice"])]


@router.post("", status_code=201, response_model=out.UserCreated)
async def register_user(body: UserCreate, context: ContextDep, principal: OptionalPrincipalDep) -> dict:
    """Create a user: an identity at the organization's CA, registered on chain; returns its API token once.

    With `csr` the user keeps its own key (non-custodial) and must sign the returned `signatureRequest`. A creation
    that did not finish (a timeout, a conflict) is resumed by creating the user again: as the organization admin, or
    with the token the first attempt returned."""
    if principal is None and not context.settings.open_registration:
        raise unauthorized("the organization admin's token is required to create users")
    if principal is not None and not (principal.is_admin or principal.is_creating(body.name)):
        raise Problem(403, "FORBIDDEN", "only the organization admin creates users")
    created = await create_user(context, body.name, body.introduction, body.csr, may_resume=principal is not None)
    result = {"user": created.user, "token": created.token, "certificate": created.certificate.decode()}
    if created.signature_request is not None:
        result["signatureRequest"] = created.signature_request.body()
    return result


@router.get("/me", response_model=out.User)
async def who_am_i(chaincode: UserChaincodeDep, principal: UserDep) -> dict:
    """The caller's own user, with balance and contribution."""
    if not principal.registered:
        raise Problem(404, "NOT_FOUND", f"user {principal.name!r} is not registered on chain yet")
    return await chaincode.query_user(principal.name)


@router.get("/{name}", response_model=out.User)
async def get_user(name: UserName, chaincode: ChaincodeDep) -> dict:
    """A user of any organization, with balance and contribution (paper eq. 1)."""
    return await chaincode.query_user(name)


@router.delete("/{name}", response_model=out.RemovalReceipt, responses=TRANSACTION_RESPONSES)
async def remove_user(name: UserName, chaincode: UserChaincodeDep, principal: UserDep) -> dict:
    """Remove yourself: your services become invalid, your SToken return to the pool, your identity is revoked."""
    same_user(principal, name)
    return await chaincode.remove_user(name, after_commit="forget_user")


@router.post("/{name}/compact", response_model=out.Compaction, responses=TRANSACTION_RESPONSES)
async def compact_account(name: UserName, principal: PrincipalDep, chaincode: UserChaincodeDep) -> dict:
    """Fold the credits your account received (but not in the last 10 s) into its balance record, at most 20,000 per
    transaction (`more`: compact again). A balance with more than 90,000 credits not folded yet cannot be read
    until then."""
    same_user(principal, name)
    return await chaincode.compact_account()


@router.post("/{name}/token", response_model=out.TokenRotated)
async def rotate_token(name: UserName, context: ContextDep, principal: PrincipalDep) -> dict:
    """Replace your API token, or, as the organization admin, reset the token of a user who lost theirs: the old
    one stops working at once. The new one is shown only now."""
    if principal.is_admin:
        record = context.store.user(name)
        if record is None or record.state != ACTIVE:
            raise Problem(404, "NOT_FOUND", f"no active user {name!r} at this gateway")
    else:
        same_user(principal, name)
    token = new_token()
    context.store.set_token(name, token_hash(token))
    return {"token": token}
