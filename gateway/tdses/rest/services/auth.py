"""Who a bearer token is, looked up once per request: the idempotency middleware (to scope its keys) and the
route (to act as the caller) share the answer through the request's scope."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from tdses.rest.services.tokens import matches, token_hash
from tdses.rest.store import REMOVED, Store, UserRecord

ADMIN_SCOPE = "@admin"  # the admin token's name for idempotency; '@' cannot start a user name
_SCOPE_KEY = "tdses.caller"


@dataclass(frozen=True)
class Caller:
    name: str  # the user's name, or ADMIN_SCOPE
    user: UserRecord | None  # None for the organization admin


def authenticate(store: Store, admin_token_hash: str, token: str) -> Caller | None:
    """The caller a token authenticates, or None if it is unknown or its user was removed."""
    presented = token_hash(token)
    if matches(admin_token_hash, presented):
        return Caller(ADMIN_SCOPE, None)
    user = store.user_by_token(presented)
    if user is None or user.state == REMOVED or not matches(user.token_hash, presented):
        return None
    return Caller(user.name, user)


def caller_of(scope: Scope, store: Store, admin_token_hash: str, token: str) -> Caller | None:
    """authenticate(), remembered in the request's scope for the rest of the request."""
    state = scope.setdefault("state", {})
    known = state.get(_SCOPE_KEY)
    if known is not None and known[0] == token:
        return known[1]
    caller = authenticate(store, admin_token_hash, token)
    state[_SCOPE_KEY] = (token, caller)
    return caller
