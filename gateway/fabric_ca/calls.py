"""The fabric-ca REST calls as data, shared by the sync and async clients (request bytes in, result out).

    call = CACalls(ca_name="ca-org1").register(admin, "alice")
    call.method, call.endpoint, call.body  # POST api/v1/register {...}
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from .csr import new_csr, new_key
from .errors import CAError, CAErrorEntry
from .models import Attribute, CAInfo, Enrollment, IdentityInfo, RevocationResult, RevokedCertificate

T = TypeVar("T")

API_PREFIX = "api/v1/"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request: what to send, how to authenticate it, and how to read the CA's `result`."""

    method: str
    endpoint: str
    body: bytes = field(repr=False)  # a registration's may hold the secret
    parse: Callable[[Any], T]
    caller: Enrollment | None = None  # token authentication
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)  # enrollment ID and secret


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def read_envelope(status_code: int, content: bytes) -> Any:
    """The `result` of fabric-ca's {"success", "result", "errors", "messages"} envelope, or CAError."""
    try:
        envelope = json.loads(content) if content else None
    except ValueError:
        envelope = None
    if not isinstance(envelope, dict):
        raise CAError(status_code, [], text=content[:500].decode(errors="replace"))
    errors = [
        CAErrorEntry(int(e.get("code", 0)), str(e.get("message", "")))
        for e in envelope.get("errors") or []
    ]
    messages = [str(m.get("message", m)) if isinstance(m, dict) else str(m) for m in envelope.get("messages") or []]
    if status_code >= 400 or errors or not envelope.get("success"):
        raise CAError(status_code, errors, messages)
    return envelope.get("result")


def _b64decode(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def ca_info_of(result: Mapping[str, Any]) -> CAInfo:
    return CAInfo(
        ca_name=result.get("CAName", ""),
        ca_chain=_b64decode(result.get("CAChain")),
        version=result.get("Version", ""),
        issuer_public_key=_b64decode(result.get("IssuerPublicKey")),
        issuer_revocation_public_key=_b64decode(result.get("IssuerRevocationPublicKey")),
    )


def _attributes(attributes: Mapping[str, str] | Sequence[Attribute] | None) -> list[dict[str, Any]]:
    if not attributes:
        return []
    if isinstance(attributes, Mapping):
        attributes = [Attribute(name, value) for name, value in attributes.items()]
    result = []
    for attribute in attributes:
        entry: dict[str, Any] = {"name": attribute.name, "value": attribute.value}
        if attribute.ecert:
            entry["ecert"] = True
        result.append(entry)
    return result


class CACalls:
    """Builds each fabric-ca call for one CA (its `caname` on a multi-CA server)."""

    def __init__(self, ca_name: str | None = None) -> None:
        self.ca_name = ca_name or ""

    def _with_ca(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.ca_name:
            body["caname"] = self.ca_name
        return body

    def _sign_request(
        self, enrollment_id: str, csr_hosts: Sequence[str] | None, profile: str | None, key
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"certificate_request": new_csr(enrollment_id, key, csr_hosts).decode()}
        if csr_hosts:
            body["hosts"] = list(csr_hosts)
        if profile:
            body["profile"] = profile
        return self._with_ca(body)

    def get_ca_info(self) -> Call[CAInfo]:
        return Call("POST", API_PREFIX + "cainfo", encode(self._with_ca({})), ca_info_of)

    def enroll(
        self,
        enrollment_id: str,
        secret: str,
        csr_hosts: Sequence[str] | None = None,
        profile: str | None = None,
    ) -> Call[Enrollment]:
        key = new_key()
        body = self._sign_request(enrollment_id, csr_hosts, profile, key)
        return Call(
            "POST",
            API_PREFIX + "enroll",
            encode(body),
            lambda result: _enrollment(key, result),
            basic_auth=(enrollment_id, secret),
        )

    def enroll_csr(self, enrollment_id: str, secret: str, csr_pem: str, profile: str | None = None) -> Call[bytes]:
        """Enroll with a CSR its holder made: only the certificate (PEM) comes back; the key never leaves them."""
        body: dict[str, Any] = {"certificate_request": csr_pem}
        if profile:
            body["profile"] = profile
        return Call("POST", API_PREFIX + "enroll", encode(self._with_ca(body)),
                    lambda result: _b64decode(result["Cert"]), basic_auth=(enrollment_id, secret))

    def reenroll(
        self,
        identity: Enrollment,
        csr_hosts: Sequence[str] | None = None,
        profile: str | None = None,
        reuse_key: bool = False,
    ) -> Call[Enrollment]:
        key = identity.key if reuse_key else new_key()
        body = self._sign_request(identity.enrollment_id, csr_hosts, profile, key)
        return Call(
            "POST",
            API_PREFIX + "reenroll",
            encode(body),
            lambda result: _enrollment(key, result),
            caller=identity,
        )

    def register(
        self,
        registrar: Enrollment,
        name: str,
        type: str = "client",
        affiliation: str = "",
        attributes: Mapping[str, str] | Sequence[Attribute] | None = None,
        max_enrollments: int | None = None,
        secret: str | None = None,
    ) -> Call[str]:
        body: dict[str, Any] = {"id": name, "type": type, "affiliation": affiliation}
        if secret:
            body["secret"] = secret
        if max_enrollments is not None:
            body["max_enrollments"] = max_enrollments
        if attributes:
            body["attrs"] = _attributes(attributes)
        return Call(
            "POST",
            API_PREFIX + "register",
            encode(self._with_ca(body)),
            lambda result: str(result["secret"]),
            caller=registrar,
        )

    def identity(self, registrar: Enrollment, name: str) -> Call[IdentityInfo]:
        """What the CA holds of the identity `name`; CAError (is_unknown_identity) when it has none."""
        query = f"?ca={quote(self.ca_name, safe='')}" if self.ca_name else ""
        return Call("GET", API_PREFIX + "identities/" + quote(name, safe="") + query, b"", _identity,
                    caller=registrar)

    def revoke(
        self,
        registrar: Enrollment,
        name: str | None = None,
        *,
        serial: str | None = None,
        aki: str | None = None,
        reason: str | None = None,
        gencrl: bool = False,
    ) -> Call[RevocationResult]:
        if not name and not (serial and aki):
            raise ValueError("revoke needs an enrollment ID, or a certificate's serial and AKI")
        body: dict[str, Any] = {}
        if name:
            body["id"] = name
        if serial:
            body["serial"] = serial
        if aki:
            body["aki"] = aki
        if reason:
            body["reason"] = reason
        if gencrl:
            body["gencrl"] = True
        return Call(
            "POST", API_PREFIX + "revoke", encode(self._with_ca(body)), _revocation, caller=registrar
        )


def _enrollment(key, result: Mapping[str, Any]) -> Enrollment:
    chain = _b64decode((result.get("ServerInfo") or {}).get("CAChain"))
    return Enrollment(key, _b64decode(result["Cert"]), chain)


def _identity(result: Mapping[str, Any]) -> IdentityInfo:
    attributes = tuple(Attribute(str(a.get("name", "")), str(a.get("value", "")), bool(a.get("ecert")))
                       for a in result.get("attrs") or [])
    return IdentityInfo(str(result["id"]), str(result.get("type", "")), str(result.get("affiliation", "")),
                        int(result.get("max_enrollments") or 0), attributes)


def _revocation(result: Mapping[str, Any] | None) -> RevocationResult:
    result = result or {}
    revoked = [
        RevokedCertificate(str(c.get("Serial", "")), str(c.get("AKI", "")))
        for c in result.get("RevokedCerts") or []
    ]
    return RevocationResult(revoked, _b64decode(result.get("CRL")))
