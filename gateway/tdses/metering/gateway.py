"""What the meter asks of its organization's REST gateway, as the service's developer (or a server it
authorized): users' voucher keys and rights, settlements, and the chaincode events that change them."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from httpx_sse import aconnect_sse

from tdses.chaincode import UserStatus


class GatewayError(RuntimeError):
    """The gateway answered something else than the meter can use."""


class SettlementRefused(GatewayError):
    """The gateway refused a settlement as it is (413: too large a body, 422: a voucher the chaincode refuses):
    sending it again cannot succeed."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"settlement: {status} {text}")
        self.status = status


class NotASettler(GatewayError):
    """The gateway says the meter's token may not settle the service's calls: calls it served would never be paid."""


@dataclass(frozen=True)
class Account:
    """What the chain says of one user, as far as one service's meter cares."""

    keys: tuple[str, ...]  # base64 DER public keys, newest first
    active: bool
    bought: int
    used: int


class MeterGateway:
    def __init__(self, url: str, token: str, service: str, timeout: float = 30.0) -> None:
        self.service = service
        self.http = httpx.AsyncClient(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"},
                                      timeout=timeout)

    async def check_settler(self) -> None:
        """Raise NotASettler when the gateway says the token's user may not settle this service: neither its
        developer nor a server it authorized. An answer that says nothing for sure (the gateway down or busy)
        passes: the settlements will tell."""
        me = await self._get("/v1/users/me")
        if me.status_code in (401, 403, 404):
            raise NotASettler(f"the gateway answers {me.status_code} for the meter's token: it must be the token "
                              f"of the developer of {self.service!r} or of a server it authorized")
        if me.status_code != 200:
            return
        name = me.json()["name"]
        service = await self._get(f"/v1/services/{self.service}")
        if service.status_code == 404:
            raise NotASettler(f"there is no service {self.service!r}")
        if service.status_code != 200 or service.json()["developer"] == name:
            return
        grant = await self._get(f"/v1/services/{self.service}/servers/{name}")
        if grant.status_code == 404:
            raise NotASettler(f"user {name!r} is neither the developer of {self.service!r} nor a server it "
                              f"authorized: the developer authorizes it with POST /v1/services/{self.service}/servers")

    async def _get(self, path: str) -> httpx.Response:
        try:
            return await self.http.get(path)
        except httpx.HTTPError as error:
            raise GatewayError(f"the gateway is not reachable: {error}") from None

    async def account(self, user: str) -> Account | None:
        """None if the user does not exist."""
        keys, rights = await asyncio.gather(self._get(f"/v1/users/{user}/voucher-keys"),
                                            self._get(f"/v1/services/{self.service}/rights/{user}"))
        if keys.status_code == 404:
            return None
        for response in (keys, rights):
            if response.status_code != 200:
                raise GatewayError(f"{response.request.url.path}: {response.status_code} {response.text[:200]}")
        k, r = keys.json(), rights.json()
        return Account(tuple(k["keys"]), k["status"] == UserStatus.ACTIVE, int(r["bought"]), int(r["used"]))

    async def settle(self, vouchers: list[str]) -> dict:
        """One SettleCalls transaction. Retried with the same vouchers, it is the same request (Idempotency-Key)."""
        key = "settle-" + hashlib.sha256("\n".join(vouchers).encode()).hexdigest()
        response = await self.http.post(f"/v1/services/{self.service}/settlements", json={"vouchers": vouchers},
                                        headers={"Idempotency-Key": key})
        if response.status_code in (413, 422):
            raise SettlementRefused(response.status_code, response.text[:300])
        if response.status_code != 200:
            raise GatewayError(f"settlement: {response.status_code} {response.text[:300]}")
        return response.json()

    async def events(self) -> AsyncIterator[tuple[str, dict | None]]:
        """Chaincode events from now on, as (name, payload); ("", None) once the stream is connected."""
        async with aconnect_sse(self.http, "GET", "/v1/events", timeout=httpx.Timeout(None, connect=10.0)) as source:
            if source.response.status_code != 200:
                raise GatewayError(f"events: {source.response.status_code}")
            yield "", None
            async for event in source.aiter_sse():
                if event.data:  # not a keep-alive
                    yield event.event, event.json().get("payload")

    async def close(self) -> None:
        await self.http.aclose()
