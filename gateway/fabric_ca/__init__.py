"""A client for fabric-ca-server's REST API (v1.5): enroll, register, reenroll, revoke, identities, CA info.

    ca = CAClient("https://localhost:7054", tls_root_certs="tls-cert.pem", ca_name="ca-org1")
    admin = ca.enroll("admin", "adminpw")
"""

from .aio import AsyncCAClient
from .calls import CACalls, Call
from .client import CAClient
from .csr import new_csr, new_key
from .errors import (
    ERR_AUTHENTICATION_FAILURE,
    ERR_AUTHORIZATION_FAILURE,
    ERR_DB_GET,
    ERR_DUPLICATE_IDENTITY,
    ERR_INVALID_TOKEN,
    CAError,
    CAErrorEntry,
    is_unknown_identity,
)
from .models import Attribute, CAInfo, Enrollment, IdentityInfo, RevocationResult, RevokedCertificate
from .token import create_token, token_payload

__all__ = [
    "AsyncCAClient", "Attribute", "CACalls", "CAClient", "CAError", "CAErrorEntry", "CAInfo", "Call",
    "ERR_AUTHENTICATION_FAILURE", "ERR_AUTHORIZATION_FAILURE", "ERR_DB_GET", "ERR_DUPLICATE_IDENTITY",
    "ERR_INVALID_TOKEN", "Enrollment", "IdentityInfo", "RevocationResult", "RevokedCertificate", "create_token",
    "is_unknown_identity", "new_csr", "new_key", "token_payload",
]
