"""Refuse request bodies above the configured size with 413, whether or not Content-Length announces them.

The body is read here, up to the limit, before the application sees it: a body that grows too large while it
is streamed in (chunked) is refused with 413 too, never half-parsed by a route.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from tdses.asgi import replaying
from tdses.rest.middleware.asgi import header, send_problem
from tdses.rest.problems import Problem


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def too_large(self) -> Problem:
        return Problem(413, "BODY_TOO_LARGE", f"the request body exceeds {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await send_problem(send, self.too_large() if length.isdigit()
                                      else Problem(400, "BAD_REQUEST", "malformed Content-Length"))
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await send_problem(send, self.too_large())
            chunks.append(chunk)
            more = message.get("more_body", False)
        await self.app(scope, replaying(b"".join(chunks), receive), send)
