"""Who sees what the index knows beyond the public registry (README, "Visibility"):

- a service's buyers, history and revenue: its developer, and the organization admin of the gateway;
- a user's rights, history and suggestions: that user, and the organization admin of the gateway;
- analytics: the admin for everything; a developer only for its own services (never by organization).

Anyone else gets 403: nobody sees another user's history.
"""

from __future__ import annotations

from tdses.rest.problems import Problem
from tdses.rest.services.principal import Principal


def may_see_service_accounts(principal: Principal, developer: str) -> bool:
    return principal.is_admin or principal.is_user(developer)


def may_see_user(principal: Principal, user: str) -> bool:
    return principal.is_admin or principal.is_user(user)


def check_service_accounts(principal: Principal, service: str, developer: str) -> None:
    if not may_see_service_accounts(principal, developer):
        raise Problem(403, "FORBIDDEN", f"only the developer of {service!r} and the organization admin see its "
                      "buyers, history and revenue")


def check_user(principal: Principal, user: str) -> None:
    if not may_see_user(principal, user):
        raise Problem(403, "FORBIDDEN", f"only {user!r} and the organization admin see its rights and history")


def analytics_scope(principal: Principal, by: str) -> str | None:
    """The developer whose services the caller's analytics cover (None: all of them)."""
    if principal.is_admin:
        return None
    if by == "organization":
        raise Problem(403, "FORBIDDEN", "analytics by organization are for the organization admin")
    if not principal.registered:
        raise Problem(403, "FORBIDDEN", "analytics are for registered users: yours has not committed yet")
    return principal.name
