"""A client for fabric-ca-server's REST API (v1.5): enroll, register, reenroll, revoke, CA info.

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
    ERR_DUPLICATE_IDENTITY,
    ERR_INVALID_TOKEN,
    CAError,
    CAErrorEntry,
)
from .models import Attribute, CAInfo, Enrollment, RevocationResult, RevokedCertificate
from .token import create_token, token_payload

__all__ = [
    "AsyncCAClient", "Attribute", "CACalls", "CAClient", "CAError", "CAErrorEntry", "CAInfo", "Call",
    "ERR_AUTHENTICATION_FAILURE", "ERR_AUTHORIZATION_FAILURE", "ERR_DUPLICATE_IDENTITY",
    "ERR_INVALID_TOKEN", "Enrollment", "RevocationResult", "RevokedCertificate", "create_token",
    "new_csr", "new_key", "token_payload",
]
