"""A token bucket per API token, and one per client address for requests that do not authenticate, kept in the
gateway's store: replicas sharing a store share the limit.

A request without a token, or whose token fails authentication (401), is charged to its client address:
spraying random tokens does not get a fresh bucket each time.

    limiter = RateLimiter(rate=50, burst=100, store=store)
    wait = limiter.take("token-hash")  # 0.0 when allowed, else seconds until the next request may pass
"""

from __future__ import annotations

import math
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tdses.rest.middleware.asgi import bearer, send_problem
from tdses.rest.problems import Problem
from tdses.rest.services.tokens import token_hash
from tdses.rest.store import Store

FORGET_EVERY = 10_000  # takes between two sweeps of full buckets


class RateLimiter:
    def __init__(self, rate: float, burst: int, store: Store, clock=time.time) -> None:
        self.rate = rate
        self.burst = burst
        self.store = store
        self._clock = clock
        self._takes = 0

    def wait(self, key: str) -> float:
        """Seconds until the key may pass again, without using anything (0.0 when it may now)."""
        return self.store.peek_rate(key, self.rate, self.burst, self._clock())

    def take(self, key: str) -> float:
        self._takes += 1
        if self._takes % FORGET_EVERY == 0:
            self.store.forget_full_buckets(self.rate, self.burst, self._clock())
        return self.store.take_rate(key, self.rate, self.burst, self._clock())


class RateLimitMiddleware:
    """Applies to the API (/v1); probes and metrics stay unlimited."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            return await self.app(scope, receive, send)
        token = bearer(scope)
        address = "a:" + (scope.get("client") or ("?", 0))[0]
        wait = self.limiter.take("t:" + token_hash(token)) if token else self.limiter.take(address)
        if token and not wait:
            wait = self.limiter.wait(address)  # an address whose failures used its budget
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            return await send_problem(send, Problem(429, "RATE_LIMITED", f"too many requests; retry in {retry_after} s",
                                                    headers={"Retry-After": retry_after}))

        async def charge_failures(message: Message) -> None:
            if token and message["type"] == "http.response.start" and message["status"] == 401:
                self.limiter.take(address)
            await send(message)

        await self.app(scope, receive, charge_failures)
