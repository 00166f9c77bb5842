"""fabric-ca's token authentication (fabric-ca 1.4+): "<b64 cert>.<b64 signature>".

The signature is ECDSA-SHA256 (DER, low-S) over "METHOD.b64(uri).b64(body).b64(cert PEM)", where uri is the
request path with its query exactly as sent (Go's URL.RequestURI()) — see util.GenECDSAToken in fabric-ca.

    token = create_token(cert_pem, key, "POST", "/api/v1/register", body)
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

# Order of the P-256 group: fabric-ca's BCCSP rejects signatures with S above half of it.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_payload(method: str, uri: str, body: bytes, certificate_pem: bytes) -> bytes:
    """The exact bytes fabric-ca-server verifies the token signature against."""
    return f"{method.upper()}.{b64(uri.encode())}.{b64(body)}.{b64(certificate_pem)}".encode()


def sign_low_s(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    if s > _P256_ORDER >> 1:
        s = _P256_ORDER - s
    return encode_dss_signature(r, s)


def create_token(
    certificate_pem: bytes, key: ec.EllipticCurvePrivateKey, method: str, uri: str, body: bytes
) -> str:
    """The Authorization header value for an authenticated fabric-ca request."""
    signature = sign_low_s(key, token_payload(method, uri, body, certificate_pem))
    return f"{b64(certificate_pem)}.{b64(signature)}"
