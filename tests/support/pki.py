"""Test certificates and signature checks for in-process gRPC servers that stand in for peers in unit tests."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID
from fabric_protos.msp import identities_pb2

from fabric_gateway.signing import P256_ORDER


def certificate(subject: str, key, issuer_key=None, issuer_name: str | None = None, ca: bool = False, san: str | None = None):
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name or subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def verify_signature(creator: bytes, signature: bytes, message: bytes) -> None:
    identity = identities_pb2.SerializedIdentity.FromString(creator)
    cert = x509.load_pem_x509_certificate(identity.id_bytes)
    cert.public_key().verify(signature, message, ec.ECDSA(hashes.SHA256()))  # raises if wrong
    if decode_dss_signature(signature)[1] > P256_ORDER // 2:
        raise ValueError("high-S signature")
