"""Certificate signing requests as fabric-ca expects them: CN = enrollment ID, ECDSA P-256 key, SHA-256.

    key = new_key()
    csr_pem = new_csr("alice", key, hosts=["alice.example.com"])
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def new_csr(
    enrollment_id: str, key: ec.EllipticCurvePrivateKey, hosts: Sequence[str] | None = None
) -> bytes:
    """A PEM CSR whose subject CN is the enrollment ID (fabric-ca refuses any other CN)."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, enrollment_id)])
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
