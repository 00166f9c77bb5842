"""ASGI middleware for Python servers (FastAPI, Starlette): every request must carry a valid voucher.

    app = FastAPI()
    app.add_middleware(MeterMiddleware, settings=MeterSettings(service="weather-api", ...))

Refused: 400 (a request target that is not a path), 401 (no, bad, foreign, stale or wrongly signed voucher), 402
(no calls left: how to buy), 403 (user removed), 409 (count replayed or already settled), 413 (a body above
MeterSettings.max_body_bytes), 503 (the gateway cannot be asked now); as application/problem+json. Accepted requests
reach the app with the verified user in scope["state"]["tdses_user"]. An app that cannot serve one after all (the
proxy's upstream cannot be reached) raises NotServed before it starts its answer: the call is given back to its
user (502 NOT_SERVED, or the status it carries), whose client signs the count again for its next call. A voucher
pays for one request, not for a connection: WebSockets are refused. The meter starts and stops with the app's
lifespan; the app's startup fails when the gateway says the meter's token may not settle the service's calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tdses.asgi import BodyTooLarge, read_body, replaying
from tdses.metering.gateway import NotASettler
from tdses.metering.meter import Meter, MeterSettings, Verdict
from tdses.metering.voucher import HEADER, REFUSED_HEADER

HEADER_KEY = HEADER.lower().encode("latin-1")
REFUSED_KEY = REFUSED_HEADER.lower().encode("latin-1")
TITLES = {400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 409: "Conflict",
          413: "Content Too Large", 502: "Bad Gateway", 503: "Service Unavailable"}


class NotServed(Exception):
    """Raised by the app behind the meter, before it sends anything, for a request it did not serve."""

    def __init__(self, detail: str, status: int = 502) -> None:
        super().__init__(detail)
        self.detail, self.status = detail, status


class MeterMiddleware:
    def __init__(self, app: ASGIApp, settings: MeterSettings | None = None, meter: Meter | None = None,
                 exempt: Callable[[str], bool] = lambda path: False) -> None:
        if (settings is None) == (meter is None):
            raise TypeError("give settings or a meter")
        self.app = app
        self.meter = meter or Meter(settings)
        self.exempt = exempt  # paths served without a voucher, e.g. a health check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        if scope["type"] not in ("http", "websocket") or self.exempt(scope["path"]):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect; a close before accepting answers the handshake with 403
            return await send({"type": "websocket.close", "code": 1008, "reason": "metered: one voucher per request"})
        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        if not target.startswith(b"/"):  # "*" or "*@host:port/…": not a path of this service (the proxy's URL)
            return await send_verdict(send, Verdict(400, "INVALID_TARGET", "the request target must be a path"))
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == HEADER_KEY), None)
        voucher = self.meter.precheck(header)
        if isinstance(voucher, Verdict):  # refused before a byte of the body is read
            return await send_verdict(send, voucher)
        try:
            body = await read_body(receive, self.meter.settings.max_body_bytes)
        except BodyTooLarge as error:
            return await send_verdict(send, Verdict(413, "BODY_TOO_LARGE", str(error)))
        verdict = await self.meter.check_request(voucher, scope["method"], target, body)
        if not verdict.accepted:
            return await send_verdict(send, verdict)
        scope.setdefault("state", {})["tdses_user"] = verdict.user
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, replaying(body, receive), sending)
        except NotServed as error:
            if started:
                raise RuntimeError("NotServed raised after the answer started") from error
            await self.meter.give_back(verdict.user, verdict.count)
            await send_verdict(send, Verdict(error.status, "NOT_SERVED", f"{error.detail}: call {verdict.count} of "
                                             f"user {verdict.user!r} is not counted", verdict.user, verdict.count))

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app's lifespan, with the meter's start and stop in it. A meter that may not settle makes the app's
        startup fail, with the reason (the server reports it and exits)."""
        refused: list[str] = []

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.meter.start()
                except NotASettler as error:
                    refused.append(f"tdses meter: {error}")
            elif message["type"] == "lifespan.shutdown":
                await self.meter.stop()
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete" and refused:
                message = {"type": "lifespan.startup.failed", "message": refused[0]}
            await send(message)

        await self.app(scope, receiving, sending)


async def send_verdict(send: Send, verdict: Verdict) -> None:
    problem = {"type": "about:blank", "title": TITLES.get(verdict.status, "Refused"), "status": verdict.status,
               "code": verdict.code, "detail": verdict.detail, **verdict.extra}
    body = json.dumps(problem).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
               (REFUSED_KEY, b"refused")]  # so that clients tell the meter's refusals from the service's
    if verdict.status == 401:
        headers.append((b"www-authenticate", b'TDSES-Voucher realm="tdses"'))
    if verdict.status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": verdict.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
