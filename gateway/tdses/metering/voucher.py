"""The voucher format, version 1: what a user signs for each call of a metered service.

A voucher travels in one HTTP header:

    TDSES-Voucher: v1.<claim>.<signature>

- `<claim>` is unpadded base64url of a JSON object {"s": service, "u": user, "n": count, "d": digest, "t": time};
  `n` is how many calls of the service the user has used in total, this one included (1, 2, 3, ...: never reused);
  `d` is unpadded base64url of SHA-256 over METHOD, LF, request target (path and query, as sent), LF, body bytes;
  `t` is when the user signed, in Unix milliseconds.
- `<signature>` is unpadded base64url of the ASN.1 DER ECDSA P-256 signature, with SHA-256, of the ASCII bytes
  "v1.<claim>", made with the user's Fabric identity key (its public key is on chain: QueryVoucherKeys).

The chaincode reads the same format when a server settles (SettleCalls); a server in any language can verify it
from this description alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HEADER = "TDSES-Voucher"
REFUSED_HEADER = "TDSES-Meter"  # "refused" on a meter's own refusals, never on the service's answers
VERSION = "v1"
MAX_LENGTH = 1024  # chaincode maxVoucherLen
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # chaincode validateName; fullmatch: "$" takes "a\n"
MAX_COUNT = 10**15


class InvalidVoucher(ValueError):
    """The header is not a well-formed voucher of this version."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Strict, as the chaincode decodes (Go's RawURLEncoding.Strict()): the unused bits of the last character are
    zero, so a voucher has one spelling; another one would be served here and refused on chain."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise InvalidVoucher("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise InvalidVoucher("not unpadded base64url") from error
    if b64url(data) != text:
        raise InvalidVoucher("not canonical base64url: the last character's unused bits must be zero")
    return data


def request_digest(method: str, target: str | bytes, body: bytes = b"") -> str:
    """The digest a voucher names: METHOD LF target LF body, SHA-256, base64url."""
    if isinstance(target, str):
        target = target.encode("latin-1")
    return b64url(hashlib.sha256(method.upper().encode("ascii") + b"\n" + target + b"\n" + body).digest())


@dataclass(frozen=True)
class Claim:
    service: str
    user: str
    count: int
    digest: str
    time_ms: int

    def encode(self) -> bytes:
        return json.dumps({"s": self.service, "u": self.user, "n": self.count, "d": self.digest, "t": self.time_ms},
                          separators=(",", ":")).encode()


@dataclass(frozen=True)
class Voucher:
    claim: Claim
    signed: bytes  # "v1.<claim>": what the signature covers
    signature: bytes
    text: str  # the header value, as settled on chain

    @classmethod
    def sign(cls, claim: Claim, key: ec.EllipticCurvePrivateKey) -> Voucher:
        signed = f"{VERSION}.{b64url(claim.encode())}".encode("ascii")
        signature = key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return cls(claim, signed, signature, f"{signed.decode()}.{b64url(signature)}")

    @classmethod
    def parse(cls, text: str) -> Voucher:
        if len(text) > MAX_LENGTH:
            raise InvalidVoucher(f"a voucher is at most {MAX_LENGTH} characters")
        parts = text.split(".")
        if len(parts) != 3 or parts[0] != VERSION:
            raise InvalidVoucher(f"a voucher is {VERSION}.<claim>.<signature>")
        try:  # UTF-8 only, as the chaincode reads it (json.loads would also take UTF-16, UTF-32 and a BOM)
            fields = json.loads(unb64url(parts[1]).decode("utf-8"))
        except ValueError as error:
            raise InvalidVoucher("the claim is not UTF-8 JSON") from error
        if not isinstance(fields, dict) or set(fields) != {"s", "u", "n", "d", "t"}:
            raise InvalidVoucher("the claim must have exactly the fields s, u, n, d, t")
        service, user, count, digest, time_ms = (fields[k] for k in ("s", "u", "n", "d", "t"))
        if not (isinstance(service, str) and NAME.fullmatch(service) and isinstance(user, str)
                and NAME.fullmatch(user)):
            raise InvalidVoucher("the claim's service and user must be names")
        if not (type(count) is int and 1 <= count <= MAX_COUNT and type(time_ms) is int and time_ms > 0):
            raise InvalidVoucher("the claim's count and time must be positive integers")
        if not isinstance(digest, str) or len(unb64url(digest)) != 32:
            raise InvalidVoucher("the claim's digest must be a base64url SHA-256")
        signature = unb64url(parts[2])
        if not signature:
            raise InvalidVoucher("the voucher has no signature")
        return cls(Claim(service, user, count, digest, time_ms), f"{parts[0]}.{parts[1]}".encode("ascii"),
                   signature, text)

    def signed_by(self, key: ec.EllipticCurvePublicKey) -> bool:
        try:
            key.verify(self.signature, self.signed, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def public_key(spki_b64: str) -> ec.EllipticCurvePublicKey | None:
    """A voucher key as the chain keeps it (base64 DER SubjectPublicKeyInfo); None if it is not P-256."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(spki_b64))
    except ValueError:
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return None
    return key
