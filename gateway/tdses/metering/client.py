"""The users' side: sign a voucher for each request to a metered service.

    signer = VoucherSigner("weather-api", "alice", key, counter=CounterFile("~/.tdses/vouchers.json"))
    with httpx.Client(base_url="https://weather.example.com", auth=VoucherAuth(signer)) as http:
        http.get("/forecast?city=Paris")

A count is never reused: it is taken from a counter that is written to disk before the voucher is signed. A user
whose gateway keeps its key (custodial) asks the gateway to sign instead: GatewayVoucherAuth.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Generator
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tdses.metering.voucher import HEADER, Claim, Voucher, request_digest


class CounterFile:
    """The last count used per service, in a JSON file (0600) shared safely by threads and processes."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()

    def take(self, service: str, at_least: int = 0) -> int:
        """The next count of service: above every count taken before, and above at_least."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            text = file.read()
            counts = json.loads(text) if text.strip() else {}
            count = max(int(counts.get(service, 0)), at_least) + 1
            counts[service] = count
            file.seek(0)
            file.truncate()
            file.write(json.dumps(counts, sort_keys=True))
            file.flush()
            os.fsync(file.fileno())
            return count


class MemoryCounter:
    """Counts kept in memory only: for tests and for one process that starts from a known count."""

    def __init__(self, start: int = 0) -> None:
        self._last: dict[str, int] = {}
        self._start = start
        self._lock = threading.Lock()

    def take(self, service: str, at_least: int = 0) -> int:
        with self._lock:
            count = max(self._last.get(service, self._start), at_least) + 1
            self._last[service] = count
            return count


class VoucherSigner:
    def __init__(self, service: str, user: str, key: ec.EllipticCurvePrivateKey,
                 counter: CounterFile | MemoryCounter) -> None:
        self.service, self.user, self.key, self.counter = service, user, key, counter

    def sign(self, method: str, target: str | bytes, body: bytes = b"", *, count: int | None = None) -> Voucher:
        claim = Claim(self.service, self.user, count if count is not None else self.counter.take(self.service),
                      request_digest(method, target, body), int(time.time() * 1000))
        return Voucher.sign(claim, self.key)


class VoucherAuth(httpx.Auth):
    """httpx authentication that adds a fresh voucher to every request."""

    requires_request_body = True

    def __init__(self, signer: VoucherSigner) -> None:
        self.signer = signer

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[HEADER] = self.signer.sign(request.method, request.url.raw_path, request.content).text
        yield request


class GatewayVoucherAuth(httpx.Auth):
    """For a custodial user: its organization's gateway signs each voucher (POST /v1/services/{s}/vouchers)."""

    requires_request_body = True

    def __init__(self, gateway_url: str, token: str, service: str) -> None:
        self.url = f"{gateway_url.rstrip('/')}/v1/services/{service}/vouchers"
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        digest = request_digest(request.method, request.url.raw_path, request.content)
        signed = yield httpx.Request("POST", self.url, json={"digests": [digest]},
                                     headers={"Authorization": f"Bearer {self.token}"})
        signed.read()
        if signed.status_code != 200:
            raise httpx.HTTPStatusError(f"the gateway signed no voucher: {signed.status_code} {signed.text}",
                                        request=signed.request, response=signed)
        request.headers[HEADER] = signed.json()["vouchers"][0]
        yield request
