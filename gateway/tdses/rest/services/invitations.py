"""Invitations to sign up on the organization's web pages: a random token the admin hands to one person, stored
only as its SHA-256, usable once before it expires.

    token = invite(store, ttl_seconds)   # the link is /signup?invitation=<token>
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tdses.rest.services.tokens import token_hash
from tdses.rest.store import Store

SIGNUP_PATH = "/signup"


def invite(store: Store, ttl_seconds: float) -> tuple[str, float]:
    """A new invitation's token and expiry (Unix seconds)."""
    token = secrets.token_urlsafe(32)
    expires_at = time.time() + ttl_seconds
    store.add_invitation(token_hash(token), expires_at)
    return token, expires_at


class SignUps:
    """The sign-ups of one invitation run one at a time in this gateway: else two at once, of the same name, both
    take the invitation (a sign-up may take it again to resume), and the one that loses to the other hands it back
    while the other goes on to create the user; the invitation could then create any number of users."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # invitation hash -> its lock, and who holds or waits

    @asynccontextmanager
    async def one_at_a_time(self, invitation_hash: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(invitation_hash, (asyncio.Lock(), 0))
        self._locks[invitation_hash] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[invitation_hash]
            if users == 1:
                del self._locks[invitation_hash]
            else:
                self._locks[invitation_hash] = (lock, users - 1)
