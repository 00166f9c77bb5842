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

    async def account(self, user: str) -> Account | None:
        """None if the user does not exist."""
        try:
            keys, rights = await asyncio.gather(self.http.get(f"/v1/users/{user}/voucher-keys"),
                                                self.http.get(f"/v1/services/{self.service}/rights/{user}"))
        except httpx.HTTPError as error:
            raise GatewayError(f"the gateway is not reachable: {error}") from None
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
