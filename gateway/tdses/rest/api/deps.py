"""Dependencies: the gateway context, the authenticated principal (who the request acts as on chain) and the
chaincode as that principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from fabric_gateway import EcdsaSigner, Identity
from tdses.chaincode import Chaincode
from tdses.rest.api.transact import Transacting
from tdses.rest.problems import Problem
from tdses.rest.services.auth import caller_of
from tdses.rest.services.context import Context
from tdses.rest.services.principal import Principal

bearer_scheme = HTTPBearer(auto_error=False, description="a user's API token, or the organization admin's token")


def get_context(request: Request) -> Context:
    return request.app.state.context


ContextDep = Annotated[Context, Depends(get_context)]


def unauthorized(detail: str) -> Problem:
    return Problem(401, "UNAUTHENTICATED", detail, headers={"WWW-Authenticate": 'Bearer realm="tdses"'})


def principal_of(context: Context, scope: Scope, token: str) -> Principal | None:
    caller = caller_of(scope, context.store, context.admin_token_hash, token)
    if caller is None:
        return None
    if caller.user is None:
        return context.ledger.admin
    user = caller.user
    signer = None
    if user.custodial and user.sealed_key is not None:
        signer = EcdsaSigner(context.keybox.open(user.name, user.sealed_key))
    return Principal(user.name, Identity(context.settings.msp_id, user.certificate), signer)


def owner_of(context: Context, scope: Scope, token: str) -> str | None:
    """The idempotency scope of a token: its user's name, or the admin scope."""
    caller = caller_of(scope, context.store, context.admin_token_hash, token)
    return None if caller is None else caller.name


def optional_principal(
    request: Request, context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    if credentials is None:
        return None
    principal = principal_of(context, request.scope, credentials.credentials)
    if principal is None:
        raise unauthorized("the token is unknown or revoked")
    return principal


def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise unauthorized("an Authorization: Bearer token is required")
    return principal


def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.is_admin:
        raise Problem(403, "FORBIDDEN", "the organization admin is not a user: use a user's token")
    return principal


PrincipalDep = Annotated[Principal, Depends(current_principal)]
UserDep = Annotated[Principal, Depends(current_user)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


def caller_chaincode(context: ContextDep, principal: PrincipalDep, response: Response) -> Chaincode:
    """The chaincode as the caller: its reads answer at once, its writes go through transact()."""
    return Chaincode(Transacting(context, principal, response))


def user_chaincode(context: ContextDep, principal: UserDep, response: Response) -> Chaincode:
    """The chaincode as the caller, who must be a user: the organization admin gets 403."""
    return Chaincode(Transacting(context, principal, response))


ChaincodeDep = Annotated[Chaincode, Depends(caller_chaincode)]
UserChaincodeDep = Annotated[Chaincode, Depends(user_chaincode)]


def same_user(principal: Principal, name: str) -> None:
    """A user acts only as itself."""
    if principal.is_admin or principal.name != name:
        raise Problem(403, "FORBIDDEN", f"only user {name!r} may do this")
