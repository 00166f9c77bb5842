"""The metering reverse proxy: the voucher check in front of any HTTP server, in any language, unmodified.

    tdses meter --service weather-api --upstream http://127.0.0.1:9000 --gateway http://127.0.0.1:7070 \
                --token-file developer-token --listen 127.0.0.1:8080

Accepted requests are forwarded with the verified caller in the TDSES-User header (a TDSES-User sent by the
client is dropped, as is TDSES_User, which some servers read as the same header); refused ones never reach the
upstream. The upstream's scheme, host and port are the proxy's setting: a request's target only adds the path.
An upstream that cannot be reached is 502 NOT_SERVED, and the call is not counted; one that fails once it has the
request (a timeout, a dropped connection) is an empty 502, counted: it may have served it.
"""

from __future__ import annotations

import logging

import aiohttp
import yarl
from starlette.types import Receive, Scope, Send

from tdses.asgi import read_body
from tdses.metering.meter import Meter, MeterSettings
from tdses.metering.middleware import REFUSED_KEY, MeterMiddleware, NotServed

log = logging.getLogger("tdses.meter")

USER_HEADER = b"tdses-user"
# Hop-by-hop headers (RFC 9110 7.6.1) are the proxy's own; host is the upstream's.
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer",
              b"transfer-encoding", b"upgrade"}
NOT_FORWARDED = HOP_BY_HOP | {b"host", b"content-length"}  # the client sets both for the upstream


class Forward:
    """An ASGI app that sends each request on to the upstream and streams its answer back."""

    def __init__(self, upstream: str, timeout: float = 60.0) -> None:
        self.upstream = yarl.URL(upstream.rstrip("/"))
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        body = await read_body(receive)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k not in NOT_FORWARDED and k.replace(b"_", b"-") != USER_HEADER]
        user = scope.get("state", {}).get("tdses_user")
        if user:
            headers.append((USER_HEADER.decode(), user))
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        url = yarl.URL.build(scheme=self.upstream.scheme, authority=self.upstream.raw_authority,
                             path=self.upstream.raw_path.rstrip("/") + path,
                             query_string=scope.get("query_string", b"").decode("latin-1"), encoded=True)
        started = False
        try:
            async with self._session().request(scope["method"], url, headers=headers, data=body or None,
                                               allow_redirects=False) as response:
                started = True
                await send({"type": "http.response.start", "status": response.status,
                            "headers": [(k, v) for k, v in response.raw_headers  # TDSES-Meter: the meter's own
                                        if k.lower() not in HOP_BY_HOP and k.lower() != REFUSED_KEY]})
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        except aiohttp.ClientConnectorError as error:  # no connection: the upstream never saw the request
            log.warning("cannot reach the upstream %s: %s", self.upstream, error)
            raise NotServed("the service's server cannot be reached") from None
        except (aiohttp.ClientError, TimeoutError):
            if started:  # cut short: the client sees the connection end before the body does
                raise
            await send({"type": "http.response.start", "status": 502, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None:  # made inside the running loop
            self.session = aiohttp.ClientSession(timeout=self.timeout, auto_decompress=False,
                                                 skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                                                 connector=aiohttp.TCPConnector(limit=512))
        return self.session

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def proxy(upstream: str, settings: MeterSettings | None = None, meter: Meter | None = None) -> MeterMiddleware:
    return MeterMiddleware(Forward(upstream), settings=settings, meter=meter)
