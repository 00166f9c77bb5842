"""Metered calls on the real network: users sign vouchers, a service's server checks them (through the `tdses meter`
proxy, or the ASGI middleware in the server itself) and settles them on chain."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from httpx_sse import connect_sse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from fabric_ca import new_csr, new_key
from fabric_gateway.signing import to_low_s
from tdses.metering.client import GatewayVoucherAuth, MemoryCounter, VoucherAuth, VoucherSigner
from tdses.metering.meter import MeterSettings
from tdses.metering.middleware import MeterMiddleware
from tdses.metering.voucher import HEADER, Claim, Voucher, request_digest
from tests.support.gateways import GatewayServer, Gateways
from tests.support.ports import free_port

pytestmark = pytest.mark.integration



class Upstream:
    """A service's own server: answers every request and remembers who the meter said was calling (the proxy
    in the TDSES-User header, the middleware in the request's state)."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []

        async def serve(request: Request) -> JSONResponse:
            self.calls.append(request.headers.get("tdses-user") or getattr(request.state, "tdses_user", None))
            return JSONResponse({"served": len(self.calls), "path": request.url.path})

        self.app = Starlette(routes=[Route("/{path:path}", serve, methods=["GET", "POST"])])


class ChainEvents:
    """The chaincode events seen through one organization's gateway, collected from a background thread."""

    def __init__(self, url: str, token: str) -> None:
        self.events: list[tuple[str, dict]] = []
        self.connected = threading.Event()
        self.changed = threading.Condition()
        self.client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                   timeout=httpx.Timeout(10.0, read=None))
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()
        assert self.connected.wait(30)

    def _follow(self) -> None:
        try:
            with connect_sse(self.client, "GET", "/v1/events") as source:
                self.connected.set()
                for event in source.iter_sse():
                    if not event.data:  # a keep-alive
                        continue
                    with self.changed:
                        self.events.append((event.event, event.json().get("payload", event.json())))
                        self.changed.notify_all()
        except httpx.HTTPError:
            pass  # closed at the end of the test

    def wait_for(self, predicate, timeout: float = 60.0) -> list[tuple[str, dict]]:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.events), timeout), self.events[-5:]
            return list(self.events)

    def close(self) -> None:
        self.client.close()


def sign_digest(key: ec.EllipticCurvePrivateKey, digest_b64: str) -> str:
    der = key.sign(base64.b64decode(digest_b64), ec.ECDSA(Prehashed(hashes.SHA256())))
    return base64.b64encode(to_low_s(der)).decode()


def complete(http: httpx.Client, key, request: dict) -> dict:
    """A non-custodial user signs the proposal, then the transaction."""
    endorsed = http.post(request["signatureUrl"], json={"signature": sign_digest(key, request["digest"])})
    assert endorsed.status_code == 202, endorsed.text
    committed = http.post(request["signatureUrl"], json={"signature": sign_digest(key, endorsed.json()["digest"])})
    assert committed.status_code == 200, committed.text
    return committed.json()


@dataclass
class OwnKeyUser:
    name: str
    key: ec.EllipticCurvePrivateKey
    http: httpx.Client  # to its gateway, with its token

    def buy(self, service: str, calls: int) -> dict:
        return complete(self.http, self.key, self.http.post(f"/v1/services/{service}/rights",
                                                           json={"calls": calls}).json())


def own_key_user(gateways: Gateways, org: str, name: str) -> OwnKeyUser:
    key = new_key()
    with gateways.client(org, gateways.admin_token(org)) as admin:
        created = admin.post("/v1/users", json={"name": name, "csr": new_csr(name, key).decode()})
    assert created.status_code == 201, created.text
    http = gateways.client(org, created.json()["token"])
    complete(http, key, created.json()["signatureRequest"])
    return OwnKeyUser(name, key, http)


def metered_service(gateways: Gateways, tag: str, price: int = 1) -> tuple[str, str]:
    """A service of an org1 developer that requires vouchers; returns (service, developer token)."""
    token = gateways.register("org1", f"dev-{tag}")
    service = f"metered-{tag}"
    with gateways.client("org1", token) as dev:
        created = dev.post("/v1/services", json={"name": service, "category": "weather", "url": "https://m.example",
                                                 "price": price, "requireVouchers": True})
        assert created.status_code == 201 and created.json()["requireVouchers"] is True, created.text
        assert dev.post(f"/v1/services/{service}/publish").status_code == 200
    return service, token


class MeterProcess:
    """`tdses meter` as its own process, as a service's operator runs it."""

    def __init__(self, tmp_path, service: str, upstream: str, gateway: str, token: str, **options) -> None:
        token_file = tmp_path / "developer-token"
        token_file.write_text(token)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "tdses.cli", "meter", "--service", service, "--upstream", upstream,
                     "--gateway", gateway, "--token-file", str(token_file), "--listen", f"127.0.0.1:{self.port}",
                     "--journal", str(tmp_path / f"{service}.journal")]
        for option, value in options.items():
            self.args += [f"--{option.replace('_', '-')}", str(value)]
        self.log = tmp_path / "meter.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> MeterProcess:
        self.process = subprocess.Popen(self.args, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:  # serving once its lifespan started: following the chain's events
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 401:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def refusal(self) -> str:
        """Run it expecting it not to start: what it said."""
        process = subprocess.Popen(self.args, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        assert process.wait(timeout=60) != 0, self.log.read_text()
        return self.log.read_text()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM: uvicorn shuts down, and the meter settles what is left before it exits (by the signal)."""
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=120) in (0, -signal.SIGTERM), self.log.read_text()


def test_a_meter_that_may_not_settle_refuses_to_start_until_the_developer_authorizes_it(gateways, tmp_path):
    tag = secrets.token_hex(3)
    service, dev_token = metered_service(gateways, tag)
    server = f"server-{tag}"
    meter = MeterProcess(tmp_path, service, "http://127.0.0.1:9", gateways.url("org1"), gateways.register("org1", server))
    assert f"user {server!r} is neither the developer of {service!r} nor a server it authorized" in meter.refusal()
    with gateways.client("org1", dev_token) as dev:
        assert dev.post(f"/v1/services/{service}/servers", json={"server": server}).status_code == 201
        assert dev.get(f"/v1/services/{service}/servers/{server}").json()["server"] == server
        assert dev.get(f"/v1/services/{service}/servers/{tag}").status_code == 404
    meter.start().stop()


def settled_calls(events: list[tuple[str, dict]], service: str) -> list[dict]:
    return [p for name, p in events if name == "CallsSettled" and p["service"] == service and p["settled"]]


def test_a_hundred_calls_through_the_meter_survive_a_kill_and_settle_in_few_transactions(gateways, tmp_path):
    tag = secrets.token_hex(3)
    service, dev_token = metered_service(gateways, tag)
    user = f"caller-{tag}"
    user_token = gateways.register("org2", user)
    with gateways.client("org2", user_token) as http:
        assert http.post(f"/v1/services/{service}/rights", json={"calls": 100}).status_code == 200
    chain = ChainEvents(gateways.url("org3"), gateways.admin_token("org3"))
    upstream = Upstream()
    server = GatewayServer(upstream.app).start()
    try:
        meter = MeterProcess(tmp_path, service, server.url, gateways.url("org1"), dev_token,
                             settle_every=1000, settle_interval=3600).start()
        try:
            auth = GatewayVoucherAuth(gateways.url("org2"), user_token, service)
            with httpx.Client(base_url=meter.url, auth=auth, timeout=60) as caller:
                for i in range(100):
                    if i == 40:  # mid-run: 40 calls accepted, journaled, none settled yet
                        meter.kill()
                        assert settled_calls(chain.events, service) == []
                        meter.start()  # settles the 40 it finds in its journal
                    if i == 70:  # the service's server is down: the call is not counted, its count signed again
                        server.stop()
                        down = caller.get("/forecast?day=down")
                        assert (down.status_code, down.json()["code"]) == (502, "NOT_SERVED"), down.text
                        server = GatewayServer(upstream.app, port=server.port).start()
                    answer = caller.get(f"/forecast?day={i}")
                    assert answer.status_code == 200, answer.text
                refused = caller.get("/forecast?day=100")
                assert refused.status_code == 402 and refused.json()["code"] == "NO_CALLS_LEFT", refused.text
                assert refused.json()["bought"] == 100
        finally:
            meter.stop()
    finally:
        server.stop()
    events = chain.wait_for(lambda evs: sum(s["settled"][0]["calls"] for s in settled_calls(evs, service)) == 100)
    chain.close()
    settlements = settled_calls(events, service)
    assert [s["settled"][0]["used"] for s in settlements] == [40, 100]  # at the restart, and at the stop
    assert upstream.calls == [user] * 100
    with gateways.client("org3", gateways.admin_token("org3")) as org3:
        rights = org3.get(f"/v1/services/{service}/rights/{user}").json()
    assert (rights["bought"], rights["used"], rights["remaining"]) == (100, 100, 0)


@pytest.fixture(scope="module")
def middleware_server(gateways, tmp_path_factory):
    """A Python service server with the meter as ASGI middleware; 20 calls bought by an own-key user."""
    tag = secrets.token_hex(3)
    service, dev_token = metered_service(gateways, tag)
    upstream = Upstream()
    settings = MeterSettings(service=service, gateway_url=gateways.url("org1"), token=dev_token,
                             journal=tmp_path_factory.mktemp("meter") / "journal", settle_interval=3600)
    app = MeterMiddleware(upstream.app, settings=settings)
    with GatewayServer(app) as server:
        yield service, dev_token, server, upstream, app.meter


def test_attacks_on_the_voucher_check_are_refused_and_reach_nothing(gateways, middleware_server):
    service, dev_token, server, upstream, meter = middleware_server
    tag = secrets.token_hex(3)
    alice = own_key_user(gateways, "org2", f"alice-{tag}")
    mallory = own_key_user(gateways, "org3", f"mallory-{tag}")
    alice.buy(service, 5)
    mallory.buy(service, 5)
    signer = VoucherSigner(service, alice.name, alice.key)

    def send(voucher: str | None, path: str = "/forecast", body: bytes = b"") -> httpx.Response:
        headers = {HEADER: voucher} if voucher else {}
        return httpx.post(server.url + path, content=body, headers=headers, timeout=30)

    def voucher(count: int, *, service_name: str = service, user: str = alice.name, key=alice.key,
                target: str = "/forecast", body: bytes = b"", time_ms: int | None = None) -> str:
        claim = Claim(service_name, user, count, request_digest("POST", target, body),
                      time_ms or int(time.time() * 1000))
        return Voucher.sign(claim, key).text

    served = len(upstream.calls)
    assert send(None).json()["code"] == "VOUCHER_REQUIRED"
    assert send("v1.bm90.dm91Y2hlcg").json()["code"] == "INVALID_VOUCHER"
    forged = voucher(1, key=ec.generate_private_key(ec.SECP256R1()))
    assert (send(forged).status_code, send(forged).json()["code"]) == (401, "BAD_SIGNATURE")
    as_another = voucher(1, key=mallory.key)  # mallory signs a voucher that says it is alice's
    assert send(as_another).json()["code"] == "BAD_SIGNATURE"
    assert send(voucher(1, service_name=f"other-{tag}")).json()["code"] == "WRONG_SERVICE"
    assert send(voucher(1, target="/elsewhere")).json()["code"] == "WRONG_REQUEST"
    assert send(voucher(1, body=b'{"a":1}'), body=b'{"a":2}').json()["code"] == "WRONG_REQUEST"
    stale = voucher(1, time_ms=int((time.time() - 3600) * 1000))
    assert send(stale).json()["code"] == "STALE_VOUCHER"
    assert len(upstream.calls) == served  # nothing refused reached the server

    first = signer.sign("POST", "/forecast", b"", 1).text
    assert send(first).status_code == 200
    replayed = send(first)
    assert (replayed.status_code, replayed.json()["code"]) == (409, "VOUCHER_REPLAYED")
    beyond = send(voucher(6))
    assert (beyond.status_code, beyond.json()["code"], beyond.json()["bought"]) == (402, "NO_CALLS_LEFT", 5)
    assert len(upstream.calls) == served + 1

    # A purchase is usable as soon as it commits (the meter follows the chain's events).
    alice.buy(service, 5)
    assert send(voucher(6)).status_code == 200

    # Settlement: a stranger may not; a voucher of a removed user settles nothing.
    with gateways.client("org3", gateways.register("org3", f"stranger-{tag}")) as http:
        stranger = http.post(f"/v1/services/{service}/settlements", json={"vouchers": [first]})
    assert (stranger.status_code, stranger.json()["code"]) == (403, "FORBIDDEN"), stranger.text
    mallory_voucher = voucher(1, user=mallory.name, key=mallory.key)
    assert send(mallory_voucher).status_code == 200
    complete(mallory.http, mallory.key, mallory.http.delete(f"/v1/users/{mallory.name}").json())
    assert send(voucher(2, user=mallory.name, key=mallory.key)).json()["code"] == "USER_REMOVED"
    with gateways.client("org1", dev_token) as dev:
        settled = dev.post(f"/v1/services/{service}/settlements", json={"vouchers": [mallory_voucher, first]})
        assert settled.status_code == 200, settled.text
        assert [(r["user"], r["reason"]) for r in settled.json()["rejected"]] == [(mallory.name, "USER_REMOVED")]
        assert [(s["user"], s["used"]) for s in settled.json()["settled"]] == [(alice.name, 1)]
        again = dev.post(f"/v1/services/{service}/settlements", json={"vouchers": [first]})
        assert again.json()["settled"] == []  # idempotent
        assert dev.get(f"/v1/services/{service}/rights/{alice.name}").json()["used"] == 1
        # A service that requires vouchers cannot be reduced on the developer's word alone.
        reduced = dev.post(f"/v1/services/{service}/rights/{alice.name}/reduce", json={"calls": 1})
        assert (reduced.status_code, reduced.json()["code"]) == (403, "FORBIDDEN")
    # Counts that are settled on chain are refused as used, even by a meter that never saw them.
    meter.forget(alice.name)
    assert send(voucher(1)).json()["code"] == "COUNT_USED"


def test_fifty_parallel_calls_of_one_user_are_all_served(gateways, middleware_server):
    service, _, server, upstream, meter = middleware_server
    user = own_key_user(gateways, "org1", f"busy-{secrets.token_hex(3)}")
    user.buy(service, 50)
    auth = VoucherAuth(VoucherSigner(service, user.name, user.key), MemoryCounter())
    with httpx.Client(base_url=server.url, auth=auth, timeout=60,
                      limits=httpx.Limits(max_connections=50)) as http:
        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(lambda i: http.post("/work", json={"i": i}).status_code, range(50)))
        assert statuses == [200] * 50
        assert http.post("/work", json={"i": 50}).status_code == 402
    assert upstream.calls.count(user.name) == 50
    assert [u.count for u in meter.journal.unsettled() if u.user == user.name] == [50]


def test_a_custodial_user_calls_a_metered_service_from_the_command_line(gateways, middleware_server, tmp_path):
    service, _, server, upstream, _ = middleware_server
    user = f"cli-{secrets.token_hex(3)}"
    token_file = tmp_path / "token"
    token_file.write_text(gateways.register("org2", user))
    cli = [sys.executable, "-m", "tdses.cli", "call", service, f"{server.url}/forecast?city=Paris",
           "--url", gateways.url("org2"), "--token-file", str(token_file), "--json"]
    env = {**os.environ, "TDSES_CONFIG_DIR": str(tmp_path)}
    refused = subprocess.run(cli, capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "402 NO_CALLS_LEFT" in refused.stderr, refused.stderr
    with gateways.client("org2", token_file.read_text()) as http:
        assert http.post(f"/v1/services/{service}/rights", json={"calls": 2}).status_code == 200
    for _ in range(2):
        called = subprocess.run(cli, capture_output=True, text=True, env=env)
        assert called.returncode == 0, called.stderr
        assert json.loads(called.stdout)["path"] == "/forecast"
    assert upstream.calls.count(user) == 2
    assert subprocess.run(cli, capture_output=True, text=True, env=env).returncode == 1  # the third: none left
