"""The CA's error responses as one exception type.

    except CAError as e:
        if e.has_code(ERR_DUPLICATE_IDENTITY): ...
"""

from __future__ import annotations

from dataclasses import dataclass

# A few codes from fabric-ca's lib/caerrors that callers commonly branch on.
ERR_AUTHENTICATION_FAILURE = 20
ERR_INVALID_TOKEN = 25
ERR_UNTRUSTED_CERTIFICATE = 26
ERR_CERT_REVOKED = 28
ERR_BAD_CSR = 31
ERR_DB_GET = 63  # a failed database read: also how the CA answers for a name it does not have
ERR_CERT_ALREADY_REVOKED = 66
ERR_REVOKED_ID = 70
ERR_AUTHORIZATION_FAILURE = 71
ERR_DUPLICATE_IDENTITY = 74
ERR_REGISTERING_IDENTITY = 75


@dataclass(frozen=True)
class CAErrorEntry:
    code: int
    message: str


class CAError(Exception):
    """fabric-ca-server refused a request (or answered something that is not its JSON envelope).

    `status_code` is the HTTP status; `errors` the CA's (code, message) entries.
    """

    def __init__(
        self, status_code: int, errors: list[CAErrorEntry], messages: list[str] | None = None, text: str = ""
    ) -> None:
        self.status_code = status_code
        self.errors = errors
        self.messages = messages or []
        summary = "; ".join(f"code {e.code}: {e.message}" for e in errors) or text or "no error detail"
        super().__init__(f"fabric-ca request failed (HTTP {status_code}): {summary}")

    @property
    def codes(self) -> list[int]:
        return [e.code for e in self.errors]

    def has_code(self, code: int) -> bool:
        return code in self.codes


def is_unknown_identity(error: CAError) -> bool:
    """The CA has no identity of the name asked for (GET identities/{id})."""
    return error.status_code == 404 and error.has_code(ERR_DB_GET)
