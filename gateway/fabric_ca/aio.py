"""The asyncio face of the fabric-ca client: same calls, awaitable.

    async with AsyncCAClient("https://localhost:7054", tls_root_certs=pem) as ca:
        key, certificate = await ca.enroll("alice", secret)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import httpx

from .calls import CACalls, Call, read_envelope
from .client import PemSource, build_request, tls_context
from .errors import CAError, is_unknown_identity
from .models import Attribute, CAInfo, Enrollment, IdentityInfo, RevocationResult

T = TypeVar("T")


class AsyncCAClient:
    """Async twin of CAClient (CSR key generation is quick and stays synchronous)."""

    def __init__(
        self,
        url: str,
        tls_root_certs: PemSource | None = None,
        *,
        ca_name: str | None = None,
        tls_server_name: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.calls = CACalls(ca_name)
        self._tls_server_name = tls_server_name
        self._http = httpx.AsyncClient(
            base_url=url.rstrip("/") + "/",
            verify=tls_context(tls_root_certs),
            timeout=timeout,
            transport=transport,
        )

    async def _send(self, call: Call[T]) -> T:
        response = await self._http.send(build_request(self._http, call, self._tls_server_name))
        return call.parse(read_envelope(response.status_code, response.content))

    async def get_ca_info(self) -> CAInfo:
        return await self._send(self.calls.get_ca_info())

    async def enroll(
        self,
        enrollment_id: str,
        secret: str,
        csr_hosts: Sequence[str] | None = None,
        profile: str | None = None,
    ) -> Enrollment:
        return await self._send(self.calls.enroll(enrollment_id, secret, csr_hosts, profile))

    async def enroll_csr(self, enrollment_id: str, secret: str, csr_pem: str, profile: str | None = None) -> bytes:
        return await self._send(self.calls.enroll_csr(enrollment_id, secret, csr_pem, profile))

    async def reenroll(
        self,
        identity: Enrollment,
        csr_hosts: Sequence[str] | None = None,
        profile: str | None = None,
        reuse_key: bool = False,
    ) -> Enrollment:
        return await self._send(self.calls.reenroll(identity, csr_hosts, profile, reuse_key))

    async def register(
        self,
        registrar: Enrollment,
        name: str,
        type: str = "client",
        affiliation: str = "",
        attributes: Mapping[str, str] | Sequence[Attribute] | None = None,
        max_enrollments: int | None = None,
        secret: str | None = None,
    ) -> str:
        return await self._send(
            self.calls.register(
                registrar, name, type, affiliation, attributes, max_enrollments, secret
            )
        )

    async def identity(self, registrar: Enrollment, name: str) -> IdentityInfo | None:
        """The identity `name` as the registrar sees it; None when the CA has no identity of that name."""
        try:
            return await self._send(self.calls.identity(registrar, name))
        except CAError as error:
            if is_unknown_identity(error):
                return None
            raise

    async def revoke(
        self,
        registrar: Enrollment,
        name: str | None = None,
        *,
        serial: str | None = None,
        aki: str | None = None,
        reason: str | None = None,
        gencrl: bool = False,
    ) -> RevocationResult:
        return await self._send(
            self.calls.revoke(registrar, name, serial=serial, aki=aki, reason=reason, gencrl=gencrl)
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncCAClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
