"""`tdses meter`: the metering reverse proxy in front of a service's server."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import httpx

from tdses.metering.settings import MeterSettings

EXIT_OK, EXIT_USAGE = 0, 2


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("meter", help="put the voucher check in front of a service's server (a reverse proxy)",
                       description="Every request must carry a user's voucher for SERVICE; accepted ones are "
                       "forwarded to the upstream and settled on chain in the background.")
    p.add_argument("--service", required=True, help="the metered service")
    p.add_argument("--upstream", required=True, help="the service's own server, e.g. http://127.0.0.1:9000")
    p.add_argument("--gateway", required=True, help="your organization's REST gateway URL")
    p.add_argument("--token-file", type=Path, required=True,
                   help="API token of the service's developer, or of a server user it authorized")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to serve on")
    p.add_argument("--journal", type=Path, help="the journal of accepted vouchers (default: SERVICE.journal)")
    p.add_argument("--freshness", type=float, default=MeterSettings.freshness,
                   help="seconds a voucher's time may be off (default: %(default)s)")
    p.add_argument("--settle-every", type=int, default=MeterSettings.settle_every_calls,
                   help="settle after this many calls (default: %(default)s)")
    p.add_argument("--settle-interval", type=float, default=MeterSettings.settle_interval,
                   help="and at least this often (seconds; default: %(default)s)")
    p.add_argument("--lookups-per-second", type=float, default=MeterSettings.lookups_per_second,
                   help="reads of users the meter does not know yet, at most (default: %(default)s); beyond, "
                   "their calls get 503")
    p.set_defaults(handler=_meter)


def url_problem(text: str) -> str | None:
    """Why text is not an http(s) URL with a host, or None."""
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        return f"is not a valid URL ({exc})"
    if url.scheme not in ("http", "https") or not url.host:
        return "must be an http or https URL with a host"
    return None


def _meter(a: argparse.Namespace) -> int:
    import uvicorn

    from tdses.metering.journal import JournalError
    from tdses.metering.proxy import proxy
    from tdses.serving import HttpProtocol

    host, _, port = a.listen.rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        print(f"usage error: --listen must be HOST:PORT with a port from 1 to 65535, got {a.listen!r}",
              file=sys.stderr)
        return EXIT_USAGE
    for option, url in (("--upstream", a.upstream), ("--gateway", a.gateway)):
        problem = url_problem(url)
        if problem:
            print(f"usage error: {option} {problem}, got {url!r}", file=sys.stderr)
            return EXIT_USAGE
    try:
        token = a.token_file.read_text().strip()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = MeterSettings(service=a.service, gateway_url=a.gateway, token=token,
                                 journal=a.journal or Path(f"{a.service}.journal"), freshness=a.freshness,
                                 settle_every_calls=a.settle_every, settle_interval=a.settle_interval,
                                 lookups_per_second=a.lookups_per_second)
    except ValueError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per gateway request is noise
    try:
        application = proxy(a.upstream, settings)
    except JournalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    uvicorn.run(application, host=host, port=int(port), log_level="warning", access_log=False, lifespan="on",
                server_header=False, http=HttpProtocol)
    return EXIT_OK
