"""ECDSA P-256 signing the way Fabric verifies it: SHA-256 digest, DER signature, low-S.

    signer = load_signer("msp/keystore/key.pem")
    signature = signer.sign(sha256(message))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from os import PathLike
from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from .errors import SignerRequiredError
from .identity import Identity

# Order of the P-256 group; Fabric rejects signatures whose S is above half of it.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_ORDER = P256_ORDER >> 1


def sha256(message: bytes) -> bytes:
    """The digest fabric-gateway signs: SHA-256 of the serialized message."""
    return hashlib.sha256(message).digest()


@runtime_checkable
class Signer(Protocol):
    """Anything that turns a digest into a DER ECDSA signature (a private key, an HSM, a remote wallet).

        class Remote:
            def sign(self, digest: bytes) -> bytes: return wallet.sign(digest)
    """

    def sign(self, digest: bytes) -> bytes: ...


def to_low_s(signature: bytes, curve_order: int = P256_ORDER) -> bytes:
    """Return the DER signature with S replaced by n - S when S is in the upper half (Fabric's rule).

        to_low_s(der_signature)
    """
    r, s = decode_dss_signature(signature)
    if s > curve_order >> 1:
        s = curve_order - s
    return encode_dss_signature(r, s)


def is_low_s(signature: bytes, curve_order: int = P256_ORDER) -> bool:
    _, s = decode_dss_signature(signature)
    return s <= curve_order >> 1


class EcdsaSigner:
    """Signs digests with an in-memory ECDSA private key (P-256 for Fabric).

        signer = EcdsaSigner(ec.generate_private_key(ec.SECP256R1()))
        signer.sign(sha256(b"payload"))
    """

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"an ECDSA private key is required, got {type(private_key).__name__}")
        self._key = private_key
        self._order = _curve_order(private_key.curve)

    @classmethod
    def generate(cls) -> EcdsaSigner:
        """A fresh P-256 key, for tests and for CA enrollment."""
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_pem(cls, pem: bytes | str, password: bytes | str | None = None) -> EcdsaSigner:
        return cls(load_private_key(pem, password))

    @property
    def private_key(self) -> ec.EllipticCurvePrivateKey:
        return self._key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def private_key_pem(self, password: bytes | str | None = None) -> bytes:
        """PKCS#8 PEM of the key, encrypted with the password when one is given."""
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
        if password:
            encryption = serialization.BestAvailableEncryption(_as_bytes(password))
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def sign(self, digest: bytes) -> bytes:
        ecdsa = _PREHASHED.get(len(digest))
        if ecdsa is None:
            raise ValueError(f"digest of {len(digest)} bytes does not match a supported hash")
        der = self._key.sign(digest, ecdsa)
        return to_low_s(der, self._order)

    def __repr__(self) -> str:  # never print key material
        return f"EcdsaSigner(curve={self._key.curve.name})"


_PREHASHED: dict[int, ec.ECDSA] = {
    32: ec.ECDSA(Prehashed(hashes.SHA256())),
    48: ec.ECDSA(Prehashed(hashes.SHA384())),
}

_CURVE_ORDERS = {
    "secp256r1": P256_ORDER,
    "secp384r1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
}


def _curve_order(curve: ec.EllipticCurve) -> int:
    try:
        return _CURVE_ORDERS[curve.name]
    except KeyError:
        raise ValueError(f"unsupported curve {curve.name}; Fabric uses P-256") from None


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def load_private_key(
    pem: bytes | str, password: bytes | str | None = None
) -> ec.EllipticCurvePrivateKey:
    """Parse a PEM private key (PKCS#8 or SEC1, optionally encrypted).

        key = load_private_key(open("key.pem", "rb").read(), password="s3cret")
    """
    key = serialization.load_pem_private_key(
        _as_bytes(pem), password=_as_bytes(password) if password else None
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError(f"an ECDSA private key is required, got {type(key).__name__}")
    return key


def load_signer(key_path: str | PathLike[str], password: bytes | str | None = None) -> EcdsaSigner:
    """Read a PEM private key file (e.g. msp/keystore/*_sk) into a signer.

        signer = load_signer("msp/keystore/priv_sk")
    """
    with open(key_path, "rb") as f:
        return EcdsaSigner(load_private_key(f.read(), password))


@dataclass(frozen=True)
class SigningIdentity:
    """The identity plus an optional signer; without a signer every message must be signed offline."""

    identity: Identity
    signer: Signer | None = None

    def creator(self) -> bytes:
        return self.identity.creator()

    def sign(self, digest: bytes) -> bytes:
        if self.signer is None:
            raise SignerRequiredError(
                "no signer configured: sign .digest() elsewhere and use the Gateway's new_signed_* methods"
            )
        return self.signer.sign(digest)
