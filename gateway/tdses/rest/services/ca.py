"""The organization's fabric-ca-server as the gateway uses it: register users as the registrar, enroll them with a
key made here (custodial) or with the client's own CSR (non-custodial), revoke them.

    ca = OrgCA(settings)
    secret = await ca.register("alice"); enrollment = await ca.enroll("alice", secret)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from fabric_ca import ERR_DUPLICATE_IDENTITY, AsyncCAClient, CAError, Enrollment
from fabric_gateway.connection import read_pem

from tdses.rest.config import Settings
from tdses.rest.problems import Problem


class OrgCA:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client = AsyncCAClient(settings.ca.url, tls_root_certs=read_pem(settings.ca.tls_ca_file),
                                 ca_name=settings.ca.name)
        self._registrar: Enrollment | None = None
        self._lock = asyncio.Lock()

    async def registrar(self) -> Enrollment:
        async with self._lock:
            if self._registrar is None:
                with ca_reachable():
                    self._registrar = await self._client.enroll(self._settings.ca.registrar,
                                                                self._settings.registrar_secret())
            return self._registrar

    async def register(self, name: str) -> str:
        """A new client identity that can enroll once (a leaked secret cannot mint a second certificate)."""
        taken = Problem(409, "ALREADY_EXISTS", f"the organization's CA already has an identity {name!r}")
        try:
            with ca_reachable():
                return await self._client.register(await self.registrar(), name, type="client", max_enrollments=1)
        except CAError as error:
            if error.has_code(ERR_DUPLICATE_IDENTITY):
                raise taken from None
            # Two registrations of one name at once: fabric-ca checks, then inserts, and the second insert fails
            # on its database's unique key with a bare 500. Whether the name is now taken tells the two apart.
            if await self.has_identity(name):
                raise taken from None
            raise ca_problem(error) from None

    async def has_identity(self, name: str) -> bool:
        try:
            with ca_reachable():
                return await self._client.identity(await self.registrar(), name) is not None
        except CAError as error:
            raise ca_problem(error) from None

    async def enroll(self, name: str, secret: str) -> Enrollment:
        try:
            with ca_reachable():
                return await self._client.enroll(name, secret)
        except CAError as error:
            raise ca_problem(error) from None

    async def enroll_csr(self, name: str, secret: str, csr_pem: str) -> bytes:
        try:
            with ca_reachable():
                return await self._client.enroll_csr(name, secret, csr_pem)
        except CAError as error:
            if 400 <= error.status_code < 500:
                raise Problem(422, "INVALID_ARGUMENT", "the CA refused the certificate signing request") from None
            raise ca_problem(error) from None

    async def revoke(self, name: str) -> None:
        try:
            with ca_reachable():
                await self._client.revoke(await self.registrar(), name, reason="cessationofoperation")
        except CAError as error:
            raise ca_problem(error) from None

    async def close(self) -> None:
        await self._client.aclose()


def ca_problem(error: CAError) -> Problem:
    return Problem(502, "CA_ERROR", f"the organization's CA refused the request (HTTP {error.status_code})")


@contextmanager
def ca_reachable() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPError:
        raise Problem(503, "UNAVAILABLE", "the organization's CA is not reachable",
                      headers={"Retry-After": "5"}) from None
