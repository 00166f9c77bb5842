"""`tdses gateway serve` and the user commands over a gateway's REST API.

    tdses login --url http://127.0.0.1:8081 --token-file alice.token
    tdses service register weather-api --category weather --url https://w.example --price 3
    tdses rights buy weather-api 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from tdses.chaincode import ServiceStatus
from tdses.rest.client import ApiClient, ApiError
from tdses.rest.headers import ISSUES_SECRETS, MAX_KEY_LENGTH, valid_key
from tdses.secretfiles import write_private

EXIT_OK, EXIT_API, EXIT_USAGE = 0, 1, 2
HTTP_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token


def credentials_file() -> Path:
    base = Path(os.environ.get("TDSES_CONFIG_DIR") or Path.home() / ".config" / "tdses")
    return base / "credentials.json"


def add_parsers(sub: argparse._SubParsersAction) -> None:
    gw = sub.add_parser("gateway", help="the organization's REST gateway")
    gw_sub = gw.add_subparsers(dest="action", required=True)
    serve = gw_sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, required=True, help="the gateway's YAML configuration")
    serve.set_defaults(handler=_serve)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help="gateway URL (default: from `tdses login`, or $TDSES_URL)")
    common.add_argument("--token-file", type=Path, help="read the API token from this file (default: login's)")
    common.add_argument("--json", action="store_true", help="print the raw JSON answer")
    common.add_argument("--idempotency-key", help="run a write at most once: give the key an earlier run printed "
                        "when its answer was lost (default: a new key)")

    def command(parent, name: str, help: str, run, *args: tuple[tuple, dict]) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, parents=[common])
        for positional, options in args:
            p.add_argument(*positional, **options)
        p.set_defaults(handler=lambda a: _run(a, run))
        return p

    login = sub.add_parser("login", help="remember a gateway URL and API token (0600 file under ~/.config/tdses)")
    login.add_argument("--url", required=True)
    login.add_argument("--token-file", type=Path, help="file with the token (default: read it from stdin)")
    login.set_defaults(handler=_login)

    user = sub.add_parser("user", help="users").add_subparsers(dest="action", required=True)
    command(user, "register", "create a user (needs the organization admin's token)", _user_register,
            (("name",), {}), (("--introduction",), {"default": ""}),
            (("--login",), {"action": "store_true", "help": "remember the new user's token"}))
    command(user, "show", "a user with balance and contribution (yourself by default)", _user_show,
            (("name",), {"nargs": "?"}))
    command(user, "remove", "remove yourself", _user_remove, (("name",), {}))
    command(user, "rotate-token", "replace your API token (and remember the new one)", _user_rotate,
            (("name",), {}))
    command(user, "rights", "your rights on every service", _user_rights, (("name",), {"nargs": "?"}),
            (("--min-block",), {"type": int}))
    command(user, "history", "your payments, rewards and transfers", _user_history, (("name",), {"nargs": "?"}),
            (("--limit",), {"type": int}), (("--cursor",), {}), (("--min-block",), {"type": int}))
    command(user, "suggestions", "services that go with what you bought", _user_suggestions,
            (("name",), {"nargs": "?"}))
    command(user, "reset-token", "as the organization admin: a new token for a user who lost theirs", _user_reset,
            (("name",), {}))
    command(user, "invite", "as the organization admin: a sign-up link for the web pages, usable once", _user_invite)

    service = sub.add_parser("service", aliases=["services"], help="services").add_subparsers(dest="action",
                                                                                             required=True)
    register = command(service, "register", "register a service of yours", _service_register, (("name",), {}))
    _service_options(register, required=True)
    edit = command(service, "edit", "change a service of yours", _service_edit, (("name",), {}))
    _service_options(edit, required=False)
    command(service, "publish", "make a service of yours available", _service_status("publish"), (("name",), {}))
    command(service, "invalidate", "withdraw a service of yours", _service_status("invalidate"), (("name",), {}))
    command(service, "show", "one service", _service_show, (("name",), {}))
    command(service, "list", "services", _service_list, (("--developer",), {}),
            (("--status",), {"choices": [s.value for s in ServiceStatus]}), (("--start",), {}), (("--end",), {}),
            (("--page-size",), {"type": int, "default": 20}), (("--cursor",), {}))
    command(service, "authorize", "let a server user reduce rights on your service", _service_authorize,
            (("name",), {}), (("server",), {}))
    command(service, "usage", "calls bought and used on your service", _service_usage, (("name",), {}))
    command(service, "search", "search the registry (the gateway's index): words, filters, sort", _service_search,
            (("words",), {"nargs": "*", "help": "words in the name, category or description"}),
            (("--category",), {}), (("--developer",), {}),
            (("--status",), {"help": "available (default), created, invalid or any"}),
            (("--mashup",), {"action": argparse.BooleanOptionalAction, "default": None}),
            (("--min-price",), {"type": int}), (("--max-price",), {"type": int}),
            (("--max-latency-ms",), {"type": int}), (("--min-availability-bp",), {"type": int}),
            (("--sort",), {"choices": ["relevance", "price", "-price", "popularity", "compositions", "newest",
                                       "name"]}),
            (("--limit",), {"type": int}), (("--cursor",), {}),
            (("--min-block",), {"type": int, "help": "wait until the index holds this block (a write's)"}))
    command(service, "buyers", "who bought calls of your service", _service_buyers, (("name",), {}),
            (("--min-block",), {"type": int}))
    command(service, "history", "purchases, reductions, settlements and rewards of your service", _service_history,
            (("name",), {}), (("--limit",), {"type": int}), (("--cursor",), {}), (("--min-block",), {"type": int}))
    command(service, "revenue", "SToken your service earned per period", _service_revenue, (("name",), {}),
            (("--bucket",), {"choices": ["day", "week", "month"], "default": "day"}))
    command(service, "related", "services composed or bought together with this one", _service_related,
            (("name",), {}))

    mashup = sub.add_parser("mashup", help="mashups").add_subparsers(dest="action", required=True)
    create = command(mashup, "create", "compose services into a mashup (you pay each component's price)",
                     _mashup_create, (("name",), {}),
                     (("--component",), {"action": "append", "required": True, "dest": "components"}))
    _service_options(create, required=True)

    rights = sub.add_parser("rights", help="call-time rights").add_subparsers(dest="action", required=True)
    command(rights, "buy", "buy calls of a service", _rights_buy, (("service",), {}), (("calls",), {"type": int}),
            (("--max-price",), {"type": int, "help": "refuse if a call costs more than this now"}))
    command(rights, "show", "a user's rights on a service (yours by default)", _rights_show,
            (("service",), {}), (("user",), {"nargs": "?"}))
    command(rights, "reduce", "use a caller's calls (developer or authorized server)", _rights_reduce,
            (("service",), {}), (("user",), {}), (("calls",), {"type": int}))

    command(sub, "call", "call a metered service through its server, with a voucher your gateway signs",
            _call, (("service",), {}), (("target",), {"help": "the service server's URL to call"}),
            (("--method",), {"default": "GET"}), (("--data",), {"help": "request body"}),
            (("--header", "-H"), {"action": "append", "default": [], "help": "'Name: value', repeatable"}))

    command(sub, "compose", "the best available services for a workflow of categories", _compose,
            (("steps",), {"nargs": "+", "help": "categories in order; 'A,B' is a stage of parallel categories"}),
            (("--max-cost",), {"type": int}), (("--max-latency-ms",), {"type": int}),
            (("--min-availability-bp",), {"type": int}),
            (("--objective",), {"choices": ["cost", "latency", "availability"], "default": "cost"}))
    command(sub, "analytics", "a metric per period and per service, developer or organization", _analytics,
            (("--by",), {"choices": ["service", "developer", "organization"], "default": "service"}),
            (("--bucket",), {"choices": ["hour", "day", "month"], "default": "day"}),
            (("--metric",), {"choices": ["calls_bought", "calls_used", "revenue", "compositions", "new_services"],
                             "default": "calls_bought"}))
    command(sub, "reward", "reward a service's developer with SToken", _reward,
            (("service",), {}), (("amount",), {"type": int}))
    command(sub, "balance", "SToken balance (yours by default; org:<MSP> for an organization)", _balance,
            (("account",), {"nargs": "?"}))
    command(sub, "transfer", "send SToken to a user", _transfer, (("to",), {}), (("amount",), {"type": int}))
    command(sub, "supply", "the SToken supply", _supply)
    command(sub, "tx", "a transaction's commit status", _tx, (("tx_id",), {}))


def _service_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--category", required=required)
    p.add_argument("--service-url", dest="service_url", required=required, help="the service's own URL")
    p.add_argument("--price", type=int, required=required, help="SToken per call")
    p.add_argument("--description")
    p.add_argument("--latency-ms", type=int)
    p.add_argument("--availability-bp", type=int, help="basis points: 10000 = 100 %%")
    p.add_argument("--require-vouchers", action=argparse.BooleanOptionalAction, default=None, dest="require_vouchers",
                   help="calls are used up only by settling users' vouchers")


def _service_body(a: argparse.Namespace) -> dict[str, Any]:
    body = {"category": a.category, "url": a.service_url, "price": a.price, "description": a.description,
            "requireVouchers": a.require_vouchers}
    qos = {"latencyMs": a.latency_ms, "availabilityBp": a.availability_bp}
    if any(v is not None for v in qos.values()):  # an edit changes only the figures given
        body["qos"] = {k: v for k, v in qos.items() if v is not None}
    return {k: v for k, v in body.items() if v is not None}


# --- running a command -------------------------------------------------------------------------------


def _serve(a: argparse.Namespace) -> int:
    import uvicorn

    from tdses.rest.config import ConfigError, load_settings
    from tdses.rest.main import app

    try:
        settings = load_settings(a.config)
        application = app(settings)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    uvicorn.run(application, log_level="info", **settings.server_options())
    return EXIT_OK


class Session:
    def __init__(self, a: argparse.Namespace) -> None:
        saved = _read_credentials()
        self.url = a.url or os.environ.get("TDSES_URL") or saved.get("url")
        if not self.url:
            raise UsageError("no gateway URL: run `tdses login --url URL` or pass --url")
        if a.token_file is not None:
            self.token = read_token(a.token_file.read_bytes())
        else:
            self.token = os.environ.get("TDSES_TOKEN") or saved.get("token")
            if self.token is not None:
                self.token = read_token(self.token.encode("utf-8", "replace"))
        # The saved name belongs to the saved token only: another token is another user, asked for below.
        self.user = saved.get("user") if self.token and self.token == saved.get("token") else None
        try:
            self.api = ApiClient(self.url, self.token)
        except httpx.InvalidURL as exc:
            raise UsageError(f"the gateway URL {self.url!r} is not valid: {exc}") from None
        self.json = a.json
        self.idempotency_key = a.idempotency_key
        if self.idempotency_key is not None and not valid_key(self.idempotency_key):
            raise UsageError(f"--idempotency-key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters")
        self.retry_key: str | None = None  # the key to send a lost write again under, if the gateway keeps it

    def call(self, method: str, path: str, body: Any = None, params: dict | None = None) -> Any:
        key = None
        if method == "POST":  # run again under the same key, a write takes effect at most once
            key = self.idempotency_key or str(uuid.uuid4())
            # A new token or invitation is never kept for a retry (a secret): sent again, it is made again.
            self.retry_key = None if ISSUES_SECRETS.match(path) else key
        return self.api.call(method, path, body, params, idempotency_key=key)

    def me(self) -> str:
        if not self.user:
            self.user = self.call("GET", "/v1/users/me")["name"]
        return self.user


class UsageError(Exception):
    pass


def seg(value: str) -> str:
    """A name as one path segment: 'a/../b' or 'a?b' stays a name, not another path or a query."""
    return "%2E" * len(value) if value in (".", "..") else quote(value, safe="")


def read_token(raw: bytes) -> str:
    """A token as a file or the environment holds it: one line of printable ASCII (what an HTTP header carries)."""
    token = raw.strip()
    if not token or any(b < 0x21 or b > 0x7E for b in token):
        raise UsageError("the token must be one line of printable ASCII characters (as `tdses user register` "
                         "prints it)")
    return token.decode()


def _run(a: argparse.Namespace, run) -> int:
    session = None
    try:
        session = Session(a)
        result = run(session, a)
    except UsageError as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        p = exc.problem
        status = f" ({exc.status} {p.get('code', '')}".rstrip() + ")" if exc.status else ""  # 0: not reached
        print(f"error: {p.get('detail') or exc}{status}", file=sys.stderr)
        if p.get("transactionId"):
            print(f"transaction: {p['transactionId']}", file=sys.stderr)
        if session is not None and session.retry_key and (p.get("code") == "NO_ANSWER" or exc.status >= 500
                                                          or exc.status == 429 or p.get("code") == "CONFLICT"):
            print(f"to try again without doing it twice, add: --idempotency-key {session.retry_key}",
                  file=sys.stderr)
        return EXIT_API
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_API
    if session.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        _print(result)
    return EXIT_OK


def _print(value: Any, indent: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                print(f"{indent}{key}:")
                _print(item, indent + "  ")
            else:
                print(f"{indent}{key}: {'' if item is None else item}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and "name" in item:
                print(f"{indent}- {item['name']}  {item.get('status', '')}  price {item.get('price', '')}  "
                      f"by {item.get('developer', '')}")
            else:
                print(f"{indent}- {item}")
    elif value is not None:
        print(f"{indent}{value}")


def _read_credentials() -> dict[str, str]:
    """What `tdses login` saved: its string fields (a file that is not such an object counts as none)."""
    try:
        saved = json.loads(credentials_file().read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in saved.items() if isinstance(v, str)} if isinstance(saved, dict) else {}


def _write_credentials(values: dict[str, str]) -> Path:
    path = credentials_file()
    write_private(path, json.dumps(values))
    return path


def _login(a: argparse.Namespace) -> int:
    try:
        raw = a.token_file.read_bytes() if a.token_file else sys.stdin.buffer.readline()
        token = read_token(raw)
        api = ApiClient(a.url, token)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_API
    except (UsageError, httpx.InvalidURL) as exc:
        print(f"usage error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with api:
            me = api.call("GET", "/v1/users/me")
        user = me["name"] if isinstance(me, dict) and isinstance(me.get("name"), str) else None
        if user is None:
            raise ApiError(200, {"code": "NOT_THE_API", "detail": f"{a.url} answered /v1/users/me without a name"})
    except ApiError as exc:
        if exc.status != 403:  # the admin token is valid but is no user
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_API
        user = ""
    try:
        path = _write_credentials({"url": a.url, "token": token, "user": user})
    except OSError as exc:
        print(f"error: the credentials could not be saved: {exc}", file=sys.stderr)
        return EXIT_API
    print(f"logged in to {a.url} as {user or 'the organization admin'} (credentials in {path})")
    return EXIT_OK


# --- commands ---------------------------------------------------------------------------------------------


def _user_register(s: Session, a) -> Any:
    created = s.call("POST", "/v1/users", {"name": a.name, "introduction": a.introduction})
    shown = {"name": created["user"]["name"], "balance": created["user"].get("balance"),
             "token": created["token"], "note": "the token is shown only once: keep it"}
    if a.login:
        shown["note"] += _remember(s.url, created["token"], a.name)
    return shown


def _user_show(s: Session, a) -> Any:
    return s.call("GET", f"/v1/users/{seg(a.name or s.me())}")


def _user_remove(s: Session, a) -> Any:
    return s.call("DELETE", f"/v1/users/{seg(a.name)}")


def _user_rotate(s: Session, a) -> Any:
    own = s.token == _read_credentials().get("token") and _who(s) == a.name  # the login's own token
    rotated = s.call("POST", f"/v1/users/{seg(a.name)}/token")
    note = "the old token no longer works"
    if own:
        note += _remember(s.url, rotated["token"], a.name)
    else:
        note += "; the new token is shown only once: keep it"
    return {"token": rotated["token"], "note": note}


def _who(s: Session) -> str | None:
    try:
        return s.me()
    except ApiError:
        return None  # the organization admin, who is no user


def _remember(url: str, token: str, user: str) -> str:
    """Save the login; a note for the answer, which shows the token either way."""
    try:
        path = _write_credentials({"url": url, "token": token, "user": user})
    except OSError as exc:
        return f"; NOT remembered ({exc}): keep the token, then `tdses login`"
    return f"; remembered in {path}"


def _user_reset(s: Session, a) -> Any:
    reset = s.call("POST", f"/v1/users/{seg(a.name)}/token")
    return {"user": a.name, "token": reset["token"], "note": "give it to the user; their old token no longer works"}


def _user_invite(s: Session, a) -> Any:
    invitation = s.call("POST", "/v1/invitations")
    return {"link": s.url.rstrip("/") + invitation["path"], "expiresAt": invitation["expiresAt"],
            "note": "give it to one person: it works once"}


def _service_register(s: Session, a) -> Any:
    return s.call("POST", "/v1/services", {"name": a.name, **_service_body(a)})


def _service_edit(s: Session, a) -> Any:
    return s.call("PATCH", f"/v1/services/{seg(a.name)}", _service_body(a))


def _service_status(action: str):
    return lambda s, a: s.call("POST", f"/v1/services/{seg(a.name)}/{action}")


def _service_show(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.name)}")


def _service_list(s: Session, a) -> Any:
    return s.call("GET", "/v1/services", params={"developer": a.developer, "status": a.status, "start": a.start,
                                                 "end": a.end, "page_size": a.page_size, "cursor": a.cursor})


def _service_search(s: Session, a) -> Any:
    return s.call("GET", "/v1/services", params={
        "q": " ".join(a.words) or None, "category": a.category, "developer": a.developer, "status": a.status,
        "mashup": None if a.mashup is None else str(a.mashup).lower(), "min_price": a.min_price,
        "max_price": a.max_price, "max_latency_ms": a.max_latency_ms, "min_availability_bp": a.min_availability_bp,
        "sort": a.sort, "limit": a.limit, "cursor": a.cursor, "min_block": a.min_block})


def _service_buyers(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.name)}/buyers", params={"min_block": a.min_block})


def _service_history(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.name)}/history",
                  params={"limit": a.limit, "cursor": a.cursor, "min_block": a.min_block})


def _service_revenue(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.name)}/revenue", params={"bucket": a.bucket})


def _service_related(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.name)}/related")


def _user_rights(s: Session, a) -> Any:
    return s.call("GET", f"/v1/users/{seg(a.name or s.me())}/rights", params={"min_block": a.min_block})


def _user_history(s: Session, a) -> Any:
    return s.call("GET", f"/v1/users/{seg(a.name or s.me())}/history",
                  params={"limit": a.limit, "cursor": a.cursor, "min_block": a.min_block})


def _user_suggestions(s: Session, a) -> Any:
    return s.call("GET", f"/v1/users/{seg(a.name or s.me())}/suggestions")


def _compose(s: Session, a) -> Any:
    workflow = [step if "," not in step else [c.strip() for c in step.split(",") if c.strip()] for step in a.steps]
    constraints = {"maxCost": a.max_cost, "maxLatencyMs": a.max_latency_ms,
                   "minAvailabilityBp": a.min_availability_bp}
    return s.call("POST", "/v1/compositions", {"workflow": workflow, "objective": a.objective,
                                                "constraints": {k: v for k, v in constraints.items() if v is not None}})


def _analytics(s: Session, a) -> Any:
    return s.call("GET", "/v1/analytics", params={"by": a.by, "bucket": a.bucket, "metric": a.metric})


def _service_authorize(s: Session, a) -> Any:
    return s.call("POST", f"/v1/services/{seg(a.name)}/servers", {"server": a.server})


def _service_usage(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.name)}/rights")


def _mashup_create(s: Session, a) -> Any:
    return s.call("POST", "/v1/mashups", {"name": a.name, "components": a.components, **_service_body(a)})


def _rights_buy(s: Session, a) -> Any:
    body = {"calls": a.calls} if a.max_price is None else {"calls": a.calls, "maxPrice": a.max_price}
    return s.call("POST", f"/v1/services/{seg(a.service)}/rights", body)


def _rights_show(s: Session, a) -> Any:
    return s.call("GET", f"/v1/services/{seg(a.service)}/rights/{seg(a.user or s.me())}")


def _rights_reduce(s: Session, a) -> Any:
    return s.call("POST", f"/v1/services/{seg(a.service)}/rights/{seg(a.user)}/reduce", {"calls": a.calls})


def _call(s: Session, a) -> Any:
    from tdses.metering.client import CounterFile, GatewayVoucherAuth

    headers = {name.strip(): value.strip() for name, _, value in (h.partition(":") for h in a.header)}
    if not all(name and (name + value).isascii() and (name + value).isprintable() for name, value in headers.items()):
        raise UsageError("each -H must be 'Name: value' in printable ASCII")
    if not HTTP_METHOD.fullmatch(a.method):
        raise UsageError(f"--method {a.method!r} is not an HTTP method")
    body = None if a.data is None else os.fsencode(a.data)  # the bytes given, whatever their encoding
    counter = CounterFile(credentials_file().parent / f"voucher-counts-{s.me()}.json")  # this user's counts
    try:
        with httpx.Client(auth=GatewayVoucherAuth(s.url, s.token, a.service, counter), timeout=60) as http:
            response = http.request(a.method.upper(), a.target, content=body, headers=headers)
            response.raise_for_status()
    except httpx.HTTPStatusError as error:
        answer = error.response
        try:
            problem = answer.json()
        except ValueError:
            problem = None
        raise ApiError(answer.status_code, problem if isinstance(problem, dict) else {"detail": answer.text[:500]}) \
            from None
    except httpx.InvalidURL as error:
        raise UsageError(f"the service URL {a.target!r} is not valid: {error}") from None
    except httpx.TransportError as error:
        raise ApiError(0, {"detail": f"cannot reach {a.target}: {error}"}) from None
    try:
        return response.json()
    except ValueError:
        return response.text


def _reward(s: Session, a) -> Any:
    return s.call("POST", f"/v1/services/{seg(a.service)}/rewards", {"amount": a.amount})


def _balance(s: Session, a) -> Any:
    return s.call("GET", f"/v1/balances/{seg(a.account or s.me())}")


def _transfer(s: Session, a) -> Any:
    return s.call("POST", "/v1/transfers", {"to": a.to, "amount": a.amount})


def _supply(s: Session, a) -> Any:
    return s.call("GET", "/v1/token")


def _tx(s: Session, a) -> Any:
    return s.call("GET", f"/v1/transactions/{seg(a.tx_id)}")
