"""What the CA hands back: enrollments (key + certificate), CA info, revocation results.

    key, certificate = client.enroll("alice", secret)
    Enrollment.from_files("admin/cert.pem", "admin/key.pem")
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from os import PathLike

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Enrollment:
    """An enrolled identity: its private key and PEM certificate (and the CA chain that issued it).

    Unpacks as (key, certificate). Also serves as the registrar / caller credential of authenticated calls.
    """

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: bytes
    ca_chain: bytes = b""

    def __iter__(self) -> Iterator[object]:
        return iter((self.key, self.certificate))

    @property
    def enrollment_id(self) -> str:
        """The certificate's CN, which fabric-ca sets to the enrollment ID."""
        cert = x509.load_pem_x509_certificate(self.certificate)
        return str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def key_pem(self, password: bytes | str | None = None) -> bytes:
        """PKCS#8 PEM of the key, encrypted when a password is given."""
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
        if password:
            encryption = serialization.BestAvailableEncryption(
                password.encode() if isinstance(password, str) else password
            )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @classmethod
    def from_pem(
        cls, certificate: bytes, key_pem: bytes, password: bytes | str | None = None
    ) -> Enrollment:
        if isinstance(password, str):
            password = password.encode()
        key = serialization.load_pem_private_key(key_pem, password=password or None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError("fabric-ca tokens need an ECDSA key")
        return cls(key, certificate)

    @classmethod
    def from_files(
        cls,
        certificate_path: str | PathLike[str],
        key_path: str | PathLike[str],
        password: bytes | str | None = None,
    ) -> Enrollment:
        with open(certificate_path, "rb") as c, open(key_path, "rb") as k:
            return cls.from_pem(c.read(), k.read(), password)


@dataclass(frozen=True)
class Attribute:
    """A registration attribute; ecert=True puts it in the enrollment certificate by default."""

    name: str
    value: str
    ecert: bool = False


@dataclass(frozen=True)
class IdentityInfo:
    """An identity registered at the CA, as its registrar sees it."""

    id: str
    type: str
    affiliation: str = ""
    max_enrollments: int = 0
    attributes: tuple[Attribute, ...] = ()


@dataclass(frozen=True)
class CAInfo:
    ca_name: str
    ca_chain: bytes
    version: str
    issuer_public_key: bytes = b""
    issuer_revocation_public_key: bytes = b""


@dataclass(frozen=True)
class RevokedCertificate:
    serial: str
    aki: str


@dataclass(frozen=True)
class RevocationResult:
    revoked: list[RevokedCertificate]
    crl: bytes = b""
