"""Passwords of the web sign-in, hashed with argon2id (memory-hard; the library's current parameters).

    stored = hash_password("correct horse"); verify_password(stored, "correct horse")  # True
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH, MAX_LENGTH = 10, 256

_hasher = PasswordHasher()

# Verified when the name is unknown, so that a wrong name takes as long as a wrong password.
_DUMMY = _hasher.hash("no such user: a password nobody has")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    return None
