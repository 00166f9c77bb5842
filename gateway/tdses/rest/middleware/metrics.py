"""Prometheus metrics of one gateway: requests by route and status, and their latency.

    metrics = Metrics(); app.add_middleware(MetricsMiddleware, metrics=metrics); metrics.exposition()
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class Metrics:
    def __init__(self) -> None:
        # A registry per app: several gateways may live in one test process.
        self.registry = CollectorRegistry()
        self.requests = Counter("tdses_gateway_requests_total", "HTTP requests", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("tdses_gateway_request_seconds", "HTTP request latency", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.content_type = CONTENT_TYPE_LATEST
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request answered: its route is a path template or "unmatched", never a path."""
        children = self._children.get((method, route, status))
        if children is None:  # each label set is looked up in the registry once
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RouteLabels:
    """The path template a request path belongs to ("/v1/services/{name}"): no user data in metric labels."""

    def __init__(self, templates: Callable[[], Iterable[str]]) -> None:
        self._templates = templates
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None

    def __call__(self, path: str) -> str:
        if self._patterns is None:
            # Literal templates first: /v1/users/me before /v1/users/{name}.
            ordered = sorted(self._templates(), key=lambda t: (t.count("{"), t))
            self._patterns = [(re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(t)) + "$"), t)
                              for t in ordered]
        return next((t for pattern, t in self._patterns if pattern.match(path)), "unmatched")


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, route_of: Callable[[str], str]) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of
        self._templates: dict[int, str] = {}  # id(route) -> its template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            matched = scope.get("route")  # set by the router: a route's template is searched for once
            route = self._templates.get(id(matched)) if matched is not None else None
            if route is None:
                route = self.route_of(scope["path"])
                if matched is not None:  # routes live as long as the app: their ids stay theirs
                    self._templates[id(matched)] = route
            self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)
