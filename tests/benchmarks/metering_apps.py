"""The servers of the metering benchmark, each run by uvicorn in its own process:

    upstream  a trivial service server: {"ok": true}
    metered   the same server with the meter as ASGI middleware (settings from TDSES_METER_* variables)
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


async def ping(request) -> JSONResponse:
    return JSONResponse({"ok": True})


upstream = Starlette(routes=[Route("/ping", ping)])


def metered():
    from tdses.metering.meter import MeterSettings
    from tdses.metering.middleware import MeterMiddleware

    env = os.environ
    settings = MeterSettings(service=env["TDSES_METER_SERVICE"], gateway_url=env["TDSES_METER_GATEWAY"],
                             token=env["TDSES_METER_TOKEN"], journal=env["TDSES_METER_JOURNAL"],
                             freshness=float(env.get("TDSES_METER_FRESHNESS", "300")))
    return MeterMiddleware(Starlette(routes=[Route("/ping", ping)]), settings=settings)
