"""API tokens: 32 random bytes shown once, stored only as their SHA-256.

    token = new_token(); stored = token_hash(token)
    matches(stored, token_hash(presented))
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "tdses_"


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def matches(stored_hash: str, presented_hash: str) -> bool:
    return hmac.compare_digest(stored_hash.encode(), presented_hash.encode())
