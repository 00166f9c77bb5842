"""Dependencies: the gateway context, the authenticated principal (who the request acts as on chain) and the
chaincode as that principal."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import Scope

from tdses.chaincode import Chaincode
from tdses.index.store import IndexStore
from tdses.rest.api.transact import Transacting
from tdses.rest.problems import Problem
from tdses.rest.services.auth import Caller, caller_of
from tdses.rest.services.context import Context
from tdses.rest.services.principal import Principal
from tdses.rest.store import UserRecord

bearer_scheme = HTTPBearer(auto_error=False, description="a user's API token, or the organization admin's token")


async def get_context(request: Request) -> Context:
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
    return principal_for(context, caller.user)


def principal_for(context: Context, user: UserRecord) -> Principal:
    """A gateway user as it acts on chain: its certificate, and its key when the gateway keeps it."""
    return context.principals.of(user)


def owner_of(context: Context, scope: Scope, token: str) -> str | None:
    """The idempotency scope of a token: its user's name, or the admin scope."""
    caller = caller_of(scope, context.store, context.admin_token_hash, token)
    return None if caller is None else caller.name


async def optional_principal(
    request: Request, context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal | None:
    if credentials is None:
        return None
    principal = principal_of(context, request.scope, credentials.credentials)
    if principal is None:
        raise unauthorized("the token is unknown or revoked")
    return principal


async def current_principal(principal: Annotated[Principal | None, Depends(optional_principal)]) -> Principal:
    if principal is None:
        raise unauthorized("an Authorization: Bearer token is required")
    return principal


async def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if principal.is_admin:
        raise Problem(403, "FORBIDDEN", "the organization admin is not a user: use a user's token")
    return principal


async def authenticated(
    request: Request, context: ContextDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Caller:
    """Who the token is, for a read that signs nothing (from the index): no key is opened."""
    if credentials is None:
        raise unauthorized("an Authorization: Bearer token is required")
    caller = caller_of(request.scope, context.store, context.admin_token_hash, credentials.credentials)
    if caller is None:
        raise unauthorized("the token is unknown or revoked")
    return caller


CallerDep = Annotated[Caller, Depends(authenticated)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]
UserDep = Annotated[Principal, Depends(current_user)]
OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal)]


async def caller_chaincode(context: ContextDep, principal: PrincipalDep, response: Response) -> Chaincode:
    """The chaincode as the caller: its reads answer at once, its writes go through transact()."""
    return Chaincode(Transacting(context, principal, response.headers))


async def user_chaincode(context: ContextDep, principal: UserDep, response: Response) -> Chaincode:
    """The chaincode as the caller, who must be a user: the organization admin gets 403."""
    return Chaincode(Transacting(context, principal, response.headers))


ChaincodeDep = Annotated[Chaincode, Depends(caller_chaincode)]
UserChaincodeDep = Annotated[Chaincode, Depends(user_chaincode)]


def same_user(principal: Principal, name: str) -> None:
    """A user acts only as itself."""
    if principal.is_admin or principal.name != name:
        raise Problem(403, "FORBIDDEN", f"only user {name!r} may do this")


# --- the registry index -------------------------------------------------------------------------------------

_known: dict[int, frozenset[str]] = {}


def query_names(dependant: Dependant) -> set[str]:
    """The query parameters a route and its dependencies declare."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= query_names(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not know: a misspelt filter must not return an unfiltered page."""
    route = request.scope.get("route")
    if route is None:
        return
    allowed = _known.get(id(route))
    if allowed is None:
        allowed = _known[id(route)] = frozenset(query_names(route.dependant))
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise Problem(422, "UNKNOWN_PARAMETER", f"unknown query parameter{'s' if len(unknown) > 1 else ''}: "
                      f"{', '.join(unknown)} (known: {', '.join(sorted(allowed))})", parameters=unknown)


INDEX_BLOCK_HEADER, MIN_BLOCK_HEADER = "X-Index-Block", "X-Min-Block"
MinBlockHeader = Annotated[int | None, Header(ge=0, description=(
    "read-your-writes: wait (at most the gateway's index.wait_seconds) until the index holds this block, "
    "e.g. a write's X-Block-Number; 503 if it does not"))]
MinBlockQuery = Annotated[int | None, Query(ge=0, description="the same as the X-Min-Block header")]


async def indexed(context: ContextDep, response: Response, x_min_block: MinBlockHeader = None,
                  min_block: MinBlockQuery = None) -> IndexStore:
    """The index, once it holds the block the caller asks for; the answer carries the block it reflects."""
    follower = context.index
    if follower is None:
        raise Problem(503, "INDEX_DISABLED", "this gateway keeps no registry index (index.enabled is false)")
    wanted = max(b for b in (x_min_block, min_block, -1) if b is not None)
    if wanted > follower.current_block:
        await beyond_the_ledger(context, wanted)
        await follower.wait_for_block(wanted, context.settings.index.wait_seconds)
    block = follower.current_block
    if follower.store is None or block < wanted:
        raise Problem(503, "INDEX_BEHIND", f"the index holds block {block}, not yet block {wanted}; try again",
                      headers={"Retry-After": "1", INDEX_BLOCK_HEADER: str(block)}, indexBlock=block,
                      minBlock=wanted)
    response.headers[INDEX_BLOCK_HEADER] = str(block)
    return follower.store


async def beyond_the_ledger(context: Context, block: int) -> None:
    """422 for a block the organization's peers have not committed: no write was answered with it (a write is
    answered once every peer of the channel has its block), so waiting for it would only hold the request."""
    try:
        height = await context.ledger.height()
    except Problem:
        return  # the peers cannot say: the index cannot move either, and the wait ends in a 503
    if block >= height:
        raise Problem(422, "UNKNOWN_BLOCK", f"block {block} is not on the ledger (its newest is {height - 1}): "
                      "X-Min-Block takes a block a write was answered with (X-Block-Number)",
                      ledgerBlock=height - 1)


async def indexed_if_enabled(context: ContextDep, response: Response, x_min_block: MinBlockHeader = None,
                             min_block: MinBlockQuery = None) -> Callable[[], Awaitable[IndexStore]] | None:
    """`indexed` for a route that reads the ledger instead on a gateway that keeps no index (None then). The route
    awaits it: FastAPI checks a route's own parameters after its dependencies, and an invalid request must not wait."""
    if context.index is None:
        return None
    return lambda: indexed(context, response, x_min_block, min_block)


IndexDep = Annotated[IndexStore, Depends(indexed)]
OptionalIndexDep = Annotated[Callable[[], Awaitable[IndexStore]] | None, Depends(indexed_if_enabled)]


async def off_loop(function, *args, **kwargs):
    """A query of the index, in a worker thread: the event loop keeps serving."""
    return await asyncio.to_thread(function, *args, **kwargs)
