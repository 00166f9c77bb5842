"""A token bucket per caller (a user, whichever of its tokens it presents, or the organization admin), and one per
client address for requests that do not authenticate, kept in the gateway's store: replicas sharing a store share
the limit.

A request without a token, or whose token does not authenticate, is charged to its client address: spraying random
tokens does not get a fresh bucket each time, and a user rotating its token keeps its bucket.

A caller's requests take from its bucket a lease of several tokens at a time (a quarter of the burst, at most half
a second's rate) and spend them here, so a busy caller costs the store one write per lease, not per request. A
leased token is gone from the shared bucket: the limit across replicas can only come out stricter, never looser.
An address's standing (whether its failures used its budget) is read again at most once a second while it passes.

    limiter = RateLimiter(rate=50, burst=100, store=store)
    wait = limiter.take_leased("u:alice")  # 0.0 when allowed, else seconds until the next request may pass
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tdses.rest.middleware.asgi import bearer, send_problem
from tdses.rest.problems import Problem
from tdses.rest.store import Store

FORGET_EVERY = 10_000  # takes between two sweeps of full buckets
STANDING_SECONDS = 1.0  # how stale another replica's charges to an address may be seen
LEASES_KEPT = 10_000  # keys with leased tokens remembered at most (forgetting one only wastes its tokens)


class RateLimiter:
    """Buckets of one rate and burst, under the namespace their keys are stored in: the store's sweep of full
    buckets forgets only this limiter's (another limiter's buckets refill at another rate)."""

    def __init__(self, rate: float, burst: int, store: Store, clock=time.time, namespace: str = "api:") -> None:
        self.rate = rate
        self.burst = burst
        self.store = store
        self.namespace = namespace
        self.lease = max(1, min(burst // 4, int(rate / 2)))
        self._clock = clock
        self._takes = 0
        self._leased: dict[str, int] = {}
        self._passing: dict[str, float] = {}  # key -> until when wait() answers 0.0 without asking the store

    def wait(self, key: str) -> float:
        """Seconds until the key may pass again, without using anything (0.0 when it may now). A key found
        passing is not asked again for STANDING_SECONDS, unless it is charged here meanwhile."""
        now = self._clock()
        if self._passing.get(key, 0.0) > now:
            return 0.0
        wait = self.store.peek_rate(self.namespace + key, self.rate, self.burst, now)
        if wait == 0.0:
            if len(self._passing) >= LEASES_KEPT:
                self._passing.clear()
            self._passing[key] = now + STANDING_SECONDS
        return wait

    def take(self, key: str) -> float:
        """0.0 when the key may pass (one token taken from its bucket), else the seconds until it may."""
        self._passing.pop(key, None)
        self._takes += 1
        if self._takes % FORGET_EVERY == 0:
            self.store.forget_full_buckets(self.rate, self.burst, self._clock(), self.namespace)
        return self.store.take_rate(self.namespace + key, self.rate, self.burst, self._clock())

    def take_leased(self, key: str) -> float:
        """take(), from a lease of tokens taken together: a caller's requests."""
        left = self._leased.get(key, 0)
        if left > 0:
            self._leased[key] = left - 1
            return 0.0
        if self.lease > 1 and not self.store.take_rate(self.namespace + key, self.rate, self.burst, self._clock(),
                                                       self.lease):
            if len(self._leased) >= LEASES_KEPT:
                self._leased.clear()
            self._leased[key] = self.lease - 1
            return 0.0
        return self.take(key)  # too few for a lease: the bucket's last tokens one by one


def client_address(scope: Scope) -> str:
    return "a:" + (scope.get("client") or ("?", 0))[0]


def refusal(limiter: RateLimiter, caller: str | None, address: str) -> Problem | None:
    """A 429 when the request may not pass now, else None (and one request is charged): the request of a caller
    (the name its token authenticates) takes from the caller's bucket and passes only while its address's failures
    have not used the address's budget; any other request takes from its address's bucket."""
    wait = limiter.take_leased("u:" + caller) if caller is not None else limiter.take(address)
    if caller is not None and not wait:
        wait = limiter.wait(address)
    if wait <= 0:
        return None
    retry_after = str(max(1, math.ceil(wait)))
    return Problem(429, "RATE_LIMITED", f"too many requests; retry in {retry_after} s",
                   headers={"Retry-After": retry_after})


class RateLimitMiddleware:
    """Applies to the API (/v1); probes and metrics stay unlimited. caller_of(scope, token) names the caller a
    token authenticates, or None."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, caller_of: Callable[[Scope, str], str | None]) -> None:
        self.app = app
        self.limiter = limiter
        self.caller_of = caller_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        token = bearer(scope)
        caller = None if token is None else self.caller_of(scope, token)
        address = client_address(scope)
        limited = refusal(self.limiter, caller, address)
        if limited is not None:
            return await send_problem(send, limited)

        async def charge_failures(message: Message) -> None:  # a caller's token refused after all (its user removed)
            if caller is not None and message["type"] == "http.response.start" and message["status"] == 401:
                self.limiter.take(address)
            await send(message)

        await self.app(scope, receive, charge_failures)
