"""Invitations to sign up on the organization's web pages: a random token the admin hands to one person, stored
only as its SHA-256, usable once before it expires.

    token = invite(store, ttl_seconds)   # the link is /signup?invitation=<token>
"""

from __future__ import annotations

import secrets
import time

from tdses.rest.services.tokens import token_hash
from tdses.rest.store import Store

SIGNUP_PATH = "/signup"


def invite(store: Store, ttl_seconds: float) -> tuple[str, float]:
    """A new invitation's token and expiry (Unix seconds)."""
    token = secrets.token_urlsafe(32)
    expires_at = time.time() + ttl_seconds
    store.add_invitation(token_hash(token), expires_at)
    return token, expires_at
