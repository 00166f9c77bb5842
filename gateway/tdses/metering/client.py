"""The users' side: a voucher for each request to a metered service.

    signer = VoucherSigner("weather-api", "alice", key)                      # your own key
    with httpx.Client(base_url="https://weather.example.com", auth=VoucherAuth(signer, CounterFile(path))) as http:
        http.get("/forecast?city=Paris")

    auth = GatewayVoucherAuth("http://127.0.0.1:7080", token, "weather-api", CounterFile(path))  # custodial

A voucher's count is the number of calls used in total, and the service settles the highest count it accepted:
so counts are handed out densely and never twice. The counter is written to disk before a voucher is signed; a
count the server refused without counting it (400, 401, 402, 403, 413, 503), gave back (NOT_SERVED: its server
was never reached), or whose request failed on the way, is given back for the next request; a count the server
says is already used (409) moves the counter past it, and the request is sent once more.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from tdses.metering.voucher import HEADER, REFUSED_HEADER, Claim, Voucher, request_digest

NOT_COUNTED = {400, 401, 402, 403, 413, 503}  # the meter refused the voucher before it journaled it
ALREADY_USED = {"COUNT_USED", "VOUCHER_REPLAYED"}


class Counts:
    """The next count of each service: above every count handed out, except counts given back, which go first."""

    def __init__(self, state: dict | None = None) -> None:
        self.state = state or {}

    def take(self, service: str) -> int:
        entry = self.state.setdefault(service, {"last": 0, "free": []})
        if entry["free"]:
            return entry["free"].pop(0)
        entry["last"] += 1
        return entry["last"]

    def give_back(self, service: str, count: int) -> None:
        entry = self.state.setdefault(service, {"last": 0, "free": []})
        if count <= entry["last"] and count not in entry["free"]:
            entry["free"] = sorted([*entry["free"], count])

    def skip_to(self, service: str, used: int) -> None:
        """Counts up to used are settled on chain: never hand them out."""
        entry = self.state.setdefault(service, {"last": 0, "free": []})
        entry["last"] = max(entry["last"], used)
        entry["free"] = [c for c in entry["free"] if c > used]


class MemoryCounter:
    """Counts kept in memory: for one process that starts from a known count, and for tests."""

    def __init__(self) -> None:
        self._counts = Counts()
        self._lock = threading.Lock()

    @contextmanager
    def counts(self):
        with self._lock:
            yield self._counts


class CounterFile(MemoryCounter):
    """Counts in a JSON file (0600), shared safely by the threads and processes of one user."""

    def __init__(self, path: str | os.PathLike) -> None:
        super().__init__()
        self.path = Path(path).expanduser()

    @contextmanager
    def counts(self):
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # beside the user's credentials
        with self._lock, open(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as file:
            fcntl.flock(file, fcntl.LOCK_EX)
            counts = Counts(self._read(file.read()))
            yield counts
            file.seek(0)
            file.truncate()
            file.write(json.dumps(counts.state, sort_keys=True))
            file.flush()
            os.fsync(file.fileno())  # on disk before the voucher that uses the count exists


    def _read(self, text: str) -> dict:
        try:
            state = json.loads(text) if text.strip() else {}
            valid = isinstance(state, dict) and all(
                isinstance(e, dict) and isinstance(e.get("last"), int) and isinstance(e.get("free"), list)
                and all(isinstance(c, int) for c in e["free"]) for e in state.values())
        except ValueError:
            valid = False
        if not valid:  # an OSError: the file is unusable as it is, as if it could not be read
            raise OSError(f"{self.path} is not a file of voucher counts: remove it, and the next calls count again "
                          "(the meter answers for counts already used, and the client moves past them)")
        return state


class VoucherSigner:
    """Signs vouchers with the user's own key (the key of its Fabric identity)."""

    def __init__(self, service: str, user: str, key: ec.EllipticCurvePrivateKey) -> None:
        self.service, self.user, self.key = service, user, key

    def sign(self, method: str, target: str | bytes, body: bytes, count: int) -> Voucher:
        claim = Claim(self.service, self.user, count, request_digest(method, target, body), int(time.time() * 1000))
        return Voucher.sign(claim, self.key)


class _VoucherAuthBase(httpx.Auth):
    requires_request_body = True
    requires_response_body = True

    def __init__(self, service: str, counter: MemoryCounter) -> None:
        self.service = service
        self.counter = counter

    def _take(self) -> int:
        with self.counter.counts() as counts:
            return counts.take(self.service)

    def _give_back(self, count: int) -> None:
        with self.counter.counts() as counts:
            counts.give_back(self.service, count)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for attempt in range(2):
            count = self._take()
            request.headers[HEADER] = yield from self._sign(request, count)
            try:
                response = yield request
            except GeneratorExit:  # httpx closes the flow when the request failed (connection refused, timeout)
                # Safe to reuse even if the server did count it: the reuse is then refused as a replay (409),
                # which moves the counter past it.
                self._give_back(count)
                raise
            if response.headers.get(REFUSED_HEADER) != "refused":
                return
            code = problem_code(response)
            if response.status_code in NOT_COUNTED or code == "NOT_SERVED":
                self._give_back(count)
                return
            if response.status_code != 409 or code not in ALREADY_USED or attempt:
                return
            with self.counter.counts() as counts:  # this count was used elsewhere: move past it, once
                counts.skip_to(self.service, int(response.json().get("used", count)))

    def _sign(self, request: httpx.Request, count: int) -> Generator[httpx.Request, httpx.Response, str]:
        raise NotImplementedError


class VoucherAuth(_VoucherAuthBase):
    """httpx authentication that adds a fresh voucher, signed locally, to every request."""

    def __init__(self, signer: VoucherSigner, counter: MemoryCounter | None = None) -> None:
        super().__init__(signer.service, counter or MemoryCounter())
        self.signer = signer

    def _sign(self, request: httpx.Request, count: int) -> Generator[httpx.Request, httpx.Response, str]:
        return self.signer.sign(request.method, request.url.raw_path, request.content, count).text
        yield  # a generator that sends nothing


class GatewayVoucherAuth(_VoucherAuthBase):
    """For a custodial user: its organization's gateway signs each voucher with the key it keeps
    (POST /v1/services/{service}/vouchers); the counts are the client's, as with VoucherAuth."""

    def __init__(self, gateway_url: str, token: str, service: str, counter: MemoryCounter | None = None) -> None:
        super().__init__(service, counter or MemoryCounter())
        self.url = f"{gateway_url.rstrip('/')}/v1/services/{service}/vouchers"
        self.token = token

    def _sign(self, request: httpx.Request, count: int) -> Generator[httpx.Request, httpx.Response, str]:
        digest = request_digest(request.method, request.url.raw_path, request.content)
        signed = yield httpx.Request("POST", self.url, json={"vouchers": [{"count": count, "digest": digest}]},
                                     headers={"Authorization": f"Bearer {self.token}"})
        if signed.status_code != 200:
            self._give_back(count)
            raise httpx.HTTPStatusError(f"the gateway signed no voucher: {signed.status_code} {signed.text}",
                                        request=signed.request, response=signed)
        return signed.json()["vouchers"][0]


def problem_code(response: httpx.Response) -> str | None:
    if "problem+json" not in response.headers.get("content-type", ""):
        return None
    try:
        return response.json().get("code")
    except ValueError:
        return None
