"""Vouchers without a network: the format, the journal, the users' counters, and the meter's checks against a
gateway double."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import aiohttp.web
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tdses.metering.client import CounterFile, MemoryCounter, VoucherAuth, VoucherSigner
from tdses.metering.gateway import Account, GatewayError, MeterGateway, NotASettler, SettlementRefused
from tdses.metering.journal import Journal, JournalError, Unsettled
from tdses.metering.meter import (SETTLEMENT_BYTES, SETTLEMENT_SIZE, Budget, Meter, MeterSettings,
                                  settlement_batches)
from tdses.metering.middleware import MeterMiddleware, NotServed
from tdses.metering.proxy import Forward, proxy
from tdses.metering.voucher import Claim, InvalidVoucher, Voucher, b64url, request_digest


def spki(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def test_the_request_digest_is_the_documented_one():
    # printf 'GET\n/forecast?city=Paris\n' | openssl dgst -sha256 -binary | base64 (url alphabet, unpadded)
    assert request_digest("GET", "/forecast?city=Paris") == "pm-01rzkDLMEIKIv-p2_opH6uFWSHkIAbUzr3sRBjQk"
    assert request_digest("get", b"/forecast?city=Paris", b"") == request_digest("GET", "/forecast?city=Paris")
    assert request_digest("POST", "/x", b"1") != request_digest("POST", "/x", b"2")


def test_a_voucher_round_trips_and_is_bound_to_its_key():
    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    claim = Claim("weather-api", "alice", 7, request_digest("GET", "/"), 1_700_000_000_000)
    voucher = Voucher.sign(claim, key)
    parsed = Voucher.parse(voucher.text)
    assert parsed.claim == claim and parsed.signed_by(key.public_key())
    assert not parsed.signed_by(other.public_key())
    header, payload, _ = voucher.text.split(".")
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == {
        "s": "weather-api", "u": "alice", "n": 7, "d": claim.digest, "t": 1_700_000_000_000}
    tampered = Claim("weather-api", "alice", 8, claim.digest, claim.time_ms)
    forged = f"{header}.{b64url(tampered.encode())}.{voucher.text.split('.')[2]}"
    assert not Voucher.parse(forged).signed_by(key.public_key())


@pytest.mark.parametrize("text", [
    "", "v1", "v1.a.b.c", "v2.e30.AAAA", "v1.e30=.AAAA", "v1.!!!.AAAA",
    "v1." + b64url(b'{"s":"w","u":"a","n":1,"d":"x","t":1}') + ".AAAA",  # digest not a SHA-256
    "v1." + b64url(json.dumps({"s": "w", "u": "a", "n": 1.0, "d": "A" * 43, "t": 1}).encode()) + ".AAAA",
    "v1." + b64url(json.dumps({"s": "w", "u": "a", "n": 0, "d": "A" * 43, "t": 1}).encode()) + ".AAAA",
    "v1." + b64url(json.dumps({"s": "w", "u": "a", "n": True, "d": "A" * 43, "t": 1}).encode()) + ".AAAA",
    "v1." + b64url(json.dumps({"s": "w w", "u": "a", "n": 1, "d": "A" * 43, "t": 1}).encode()) + ".AAAA",
    "v1." + b64url(json.dumps({"s": "w", "u": "a", "n": 1, "d": "A" * 43, "t": 1, "x": 1}).encode()) + ".AAAA",
    "v1." + b64url(json.dumps({"s": "w", "u": "a", "n": 1, "d": "A" * 43, "t": 1}).encode()) + ".",
    "v1." + "A" * 2000 + ".AAAA",
])
def test_malformed_vouchers_are_refused(text):
    with pytest.raises(InvalidVoucher):
        Voucher.parse(text)


def claim_text(fields: dict | None = None, encoding: str = "utf-8") -> str:
    fields = fields or {"s": "w", "u": "a", "n": 1, "d": "A" * 43, "t": 1}
    return b64url(json.dumps(fields).encode(encoding))


def other_spelling(text: str) -> str:
    """The same bytes in base64url with the last character's unused bits set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused = {2: 0b1111, 3: 0b11}[len(text) % 4]
    return text[:-1] + alphabet[alphabet.index(text[-1]) | unused]


@pytest.mark.parametrize("text", [
    "v1." + claim_text() + "." + other_spelling(b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")),
    "v1." + other_spelling(claim_text()) + ".AAAA",
    "v1." + b64url(b"\xef\xbb\xbf" + json.dumps({"s": "w", "u": "a", "n": 1, "d": "A" * 43, "t": 1}).encode())
    + ".AAAA",  # a byte-order mark
    "v1." + claim_text(encoding="utf-16") + ".AAAA",
    "v1." + claim_text({"s": "w", "u": "a\n", "n": 1, "d": "A" * 43, "t": 1}) + ".AAAA",
])
def test_vouchers_the_chaincode_would_refuse_are_refused_here_too(text):
    """What the meter serves it must be able to settle: the chaincode decodes base64url strictly, JSON as UTF-8
    only, and names without a line break."""
    with pytest.raises(InvalidVoucher):
        Voucher.parse(text)
    assert Voucher.parse("v1." + claim_text() + ".AAAA").claim.user == "a"  # the honest spelling


def test_the_journal_keeps_accepted_vouchers_across_a_crash_and_refuses_replays(tmp_path):
    path = tmp_path / "weather.journal"
    killed = subprocess.run([sys.executable, "-c", f"""
import os, signal
from tdses.metering.journal import Journal
journal = Journal({str(path)!r}, "weather-api")
assert journal.record("alice", 1, "v-a1") and journal.record("alice", 3, "v-a3")
assert journal.record("bob", 2, "v-b2")
assert not journal.record("alice", 3, "v-a3-again")
os.kill(os.getpid(), signal.SIGKILL)
"""])
    assert killed.returncode == -signal.SIGKILL
    journal = Journal(path, "weather-api")
    with pytest.raises(JournalError, match="open in another meter"):  # one meter per journal
        Journal(path, "weather-api")
    assert [(u.user, u.count, u.voucher) for u in journal.unsettled()] == [("alice", 3, "v-a3"), ("bob", 2, "v-b2")]
    journal.mark("alice", 3, "settled")
    journal.mark("alice", 2, "settled")  # never goes down
    assert [u.user for u in journal.unsettled()] == ["bob"]
    assert journal.record("alice", 4, "v-a4")
    assert [(u.user, u.count) for u in journal.unsettled()] == [("alice", 4), ("bob", 2)]
    assert journal.prune(time.time() + 1) == 2  # alice's 1 and 3: settled; 4 and bob's 2 are kept
    assert journal.floors() == {"alice": 3}  # what was forgotten is used: a count up to 3 signed again is refused
    assert journal.accepted_count() == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    journal.close()
    with pytest.raises(JournalError, match="not 'another-service'"):
        Journal(path, "another-service")


def test_counter_files_hand_out_counts_densely_and_never_twice(tmp_path):
    path = tmp_path / "counts.json"
    counters = [CounterFile(path) for _ in range(4)]  # four clients of one user sharing one file

    def take(i: int) -> int:
        with counters[i % 4].counts() as counts:
            return counts.take("weather-api")

    with ThreadPoolExecutor(16) as pool:
        taken = list(pool.map(take, range(200)))
    assert sorted(taken) == list(range(1, 201))
    with CounterFile(path).counts() as counts:
        counts.give_back("weather-api", 7)  # refused without being counted: the next request takes it
        counts.give_back("weather-api", 300)  # never handed out: ignored
    with CounterFile(path).counts() as counts:
        assert [counts.take("weather-api"), counts.take("weather-api"), counts.take("maps")] == [7, 201, 1]
        counts.give_back("weather-api", 5)
        counts.skip_to("weather-api", 500)  # settled on chain up to 500
        assert counts.take("weather-api") == 501
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("text", ["{broken", "[]", '{"weather-api": 3}', '{"weather-api": {"last": "1", "free": []}}'])
def test_a_counter_file_that_is_not_one_is_an_os_error_that_says_what_to_do(tmp_path, text):
    path = tmp_path / "counts.json"
    path.write_text(text)
    with pytest.raises(OSError, match="is not a file of voucher counts: remove it"):
        with CounterFile(path).counts():
            pass
    assert path.read_text() == text  # left as it was


class Upstream:
    """An ASGI app behind the meter that answers 200, or 403 on /forbidden (the service's own refusal)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope, receive, send) -> None:
        self.calls += 1
        status = 403 if scope["path"] == "/forbidden" else 200
        body = json.dumps({"code": "SERVICE_SAYS_NO"} if status == 403 else {"ok": True}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json")]})
        await send({"type": "http.response.body", "body": body})


class FakeGateway:
    """The chain as the meter sees it, in memory; counts the reads."""

    def __init__(self, accounts: dict[str, Account]) -> None:
        self.accounts = accounts
        self.reads = 0
        self.settled: list[list[str]] = []

    async def check_settler(self) -> None:
        pass

    async def account(self, user: str) -> Account | None:
        self.reads += 1
        await asyncio.sleep(0.01)
        return self.accounts.get(user)

    async def settle(self, vouchers: list[str]) -> dict:
        self.settled.append(vouchers)
        return {"settled": [{"user": "alice", "calls": 1}], "rejected": []}

    async def events(self):
        yield "", None
        await asyncio.Event().wait()

    async def close(self) -> None:
        pass


async def test_the_meter_checks_in_order_and_reads_each_user_once(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    gateway = FakeGateway({"alice": Account((spki(key),), True, bought=60, used=2),
                           "gone": Account((spki(key),), False, bought=5, used=0)})
    settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t",
                             journal=tmp_path / "j", settle_every_calls=3, settle_interval=3600)
    meter = Meter(settings, gateway=gateway)
    await meter.start()
    signer = VoucherSigner("weather-api", "alice", key)
    counts = iter(range(3, 10**6))

    async def call(count: int | None = None, user_signer: VoucherSigner = signer, target: str = "/f") -> str:
        voucher = user_signer.sign("GET", target, b"", count or next(counts)).text
        verdict = await meter.check(voucher, "GET", target, b"")
        return verdict.code or "OK"

    results = await asyncio.gather(*(call() for _ in range(50)))
    assert results == ["OK"] * 50 and gateway.reads == 1  # fifty at once: one read of alice
    assert await call(count=2) == "COUNT_USED"  # settled on chain before this meter started
    assert await call(count=30) == "VOUCHER_REPLAYED"
    assert await call(count=61) == "NO_CALLS_LEFT"
    assert await call(user_signer=VoucherSigner("weather-api", "gone", key)) == "USER_REMOVED"
    assert await call(user_signer=VoucherSigner("weather-api", "nobody", key)) == "UNKNOWN_USER"
    assert await call(user_signer=VoucherSigner("other", "alice", key)) == "WRONG_SERVICE"
    stale = Voucher.sign(Claim("weather-api", "alice", 70, request_digest("GET", "/f"), 1), key).text
    assert (await meter.check(stale, "GET", "/f", b"")).code == "STALE_VOUCHER"
    assert (await meter.check(signer.sign("GET", "/f", b"", 60).text, "GET", "/g", b"")).code == "WRONG_REQUEST"
    assert (await meter.check(None, "GET", "/f", b"")).code == "VOUCHER_REQUIRED"
    await meter.stop()  # settles: alice's highest voucher
    assert len(gateway.settled) >= 1 and Voucher.parse(gateway.settled[-1][0]).claim.count == 52


async def test_made_up_users_spend_only_the_lookup_budget_and_known_users_go_on(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    gateway = FakeGateway({"alice": Account((spki(key),), True, bought=60, used=0)})
    settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t", journal=tmp_path / "j",
                             settle_interval=3600, lookups_per_second=0.001, lookups_burst=3)
    meter = Meter(settings, gateway=gateway)
    await meter.start()

    async def call(user: str, count: int) -> str:
        voucher = VoucherSigner("weather-api", user, key).sign("GET", "/f", b"", count).text
        return (await meter.check(voucher, "GET", "/f", b"")).code or "OK"

    assert await call("alice", 1) == "OK"
    made_up = [await call(f"nobody-{n}", 1) for n in range(4)]
    assert made_up == ["UNKNOWN_USER", "UNKNOWN_USER", "METER_BUSY", "METER_BUSY"] and gateway.reads == 3
    assert await call("alice", 2) == "OK"  # a user the cache holds costs no lookup
    meter.forget("alice")  # as a settlement or a purchase of hers makes the meter read her again
    assert await call("alice", 3) == "OK" and gateway.reads == 4  # a user found before is read off the budget
    await meter.stop()


def test_a_budget_refills_at_its_rate_up_to_its_burst():
    now = [0.0]
    budget = Budget(rate=2, burst=3, clock=lambda: now[0])
    assert [budget.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one more
    assert [budget.take() for _ in range(2)] == [True, False]
    now[0] += 100
    assert [budget.take() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize("setting", [{"freshness": 0}, {"lookups_per_second": float("nan")}, {"lookups_burst": 0},
                                     {"settle_every_calls": -1}, {"reread_after": -0.1}])
def test_meter_settings_out_of_range_are_refused(tmp_path, setting):
    with pytest.raises(ValueError, match="must be"):
        MeterSettings(service="s", gateway_url="http://gw", token="t", journal=tmp_path / "j", **setting)


async def test_the_client_gives_back_counts_the_meter_did_not_count_and_skips_used_ones(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    gateway = FakeGateway({"alice": Account((spki(key),), True, bought=3, used=1)})
    settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t", journal=tmp_path / "j")
    upstream = Upstream()
    app = MeterMiddleware(upstream, meter=Meter(settings, gateway=gateway))
    await app.meter.start()
    counter = MemoryCounter()
    auth = VoucherAuth(VoucherSigner("weather-api", "alice", key), counter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://s", auth=auth) as http:
        first = await http.get("/f")  # count 1 is settled on chain: 409 COUNT_USED, and again with count 2
        assert first.status_code == 200 and "tdses-meter" not in first.headers
        assert (await http.get("/forbidden")).status_code == 403  # the service's own refusal: count 3 is used
        refused = await http.get("/f")  # count 4 > 3 bought: 402, and count 4 is given back
        assert (refused.status_code, refused.headers["tdses-meter"]) == (402, "refused")
        gateway.accounts["alice"] = Account((spki(key),), True, bought=10, used=1)
        app.meter.forget("alice")  # as the CallsBought event would
        assert (await http.get("/f")).status_code == 200
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse_connection), auth=auth) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("http://s/f")  # count 5 never reached anyone: given back
    with counter.counts() as counts:
        assert counts.take("weather-api") == 5  # dense: 1 (skipped), 2, 3, 4 used
    assert upstream.calls == 3
    await app.meter.stop()


async def test_a_call_whose_upstream_cannot_be_reached_is_given_back_and_its_count_signed_again(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    gateway = FakeGateway({"alice": Account((spki(key),), True, bought=10, used=0)})
    settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t", journal=tmp_path / "j")
    held = socket.socket()
    held.bind(("127.0.0.1", 0))  # bound, not listening: the upstream's connections are refused
    app = proxy(f"http://127.0.0.1:{held.getsockname()[1]}", meter=Meter(settings, gateway=gateway))
    await app.meter.start()
    served: list[str] = []

    async def upstream(request: aiohttp.web.Request) -> aiohttp.web.Response:
        served.append(request.headers["TDSES-User"])
        return aiohttp.web.Response(text="ok")

    application = aiohttp.web.Application()
    application.router.add_get("/f", upstream)
    runner = aiohttp.web.AppRunner(application)
    await runner.setup()
    counter = MemoryCounter()
    auth = VoucherAuth(VoucherSigner("weather-api", "alice", key), counter)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://s", auth=auth) as http:
            down = await http.get("/f")
            assert (down.status_code, down.headers["tdses-meter"], down.json()["code"]) == (502, "refused",
                                                                                            "NOT_SERVED")
            assert "127.0.0.1" not in down.text  # the upstream's address is the operator's
            assert app.meter.journal.accepted_count() == 0
            await aiohttp.web.SockSite(runner, held).start()
            assert (await http.get("/f")).status_code == 200
    finally:
        await app.app.session.close()
        await runner.cleanup()
    assert served == ["alice"]
    assert app.meter.journal.unsettled() == [Unsettled("alice", 1, app.meter.journal.unsettled()[0].voucher)]
    with counter.counts() as counts:
        assert counts.take("weather-api") == 2  # count 1 was signed again, and served
    await app.meter.stop()
    assert gateway.settled and len(gateway.settled[-1]) == 1


async def test_an_app_may_give_a_call_back_only_before_it_answers(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    gateway = FakeGateway({"alice": Account((spki(key),), True, bought=10, used=0)})
    settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t", journal=tmp_path / "j")

    async def busy(scope, receive, send) -> None:
        if scope["path"] == "/late":
            await send({"type": "http.response.start", "status": 200, "headers": []})
        raise NotServed("the model is loading", status=503)

    app = MeterMiddleware(busy, meter=Meter(settings, gateway=gateway))
    await app.meter.start()
    auth = VoucherAuth(VoucherSigner("weather-api", "alice", key), MemoryCounter())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://s", auth=auth) as http:
        given_back = await http.get("/soon")
        assert (given_back.status_code, given_back.json()["code"]) == (503, "NOT_SERVED")
        assert "the model is loading: call 1 of user 'alice' is not counted" in given_back.json()["detail"]
        with pytest.raises(RuntimeError, match="after the answer started"):
            await http.get("/late")  # count 1 again: accepted, and counted, since the answer had begun
    assert [(u.user, u.count) for u in app.meter.journal.unsettled()] == [("alice", 1)]
    await app.meter.stop()


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


class AliceMeter:
    """A meter of weather-api on which alice bought 10 calls; call(n) checks alice's voucher for her nth call."""

    def __init__(self, tmp_path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.gateway = FakeGateway({"alice": Account((spki(self.key),), True, bought=10, used=0)})
        self.settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t",
                                      journal=tmp_path / "j", settle_interval=3600)
        self.signer = VoucherSigner("weather-api", "alice", self.key)
        self.meter = Meter(self.settings, gateway=self.gateway)

    async def call(self, count: int) -> str:
        voucher = self.signer.sign("GET", "/f", b"", count).text
        return (await self.meter.check(voucher, "GET", "/f", b"")).code or "OK"

    def settled_on_chain(self, used: int) -> None:
        self.gateway.accounts["alice"] = Account((spki(self.key),), True, bought=10, used=used)
        self.meter.forget("alice")  # as the CallsSettled event does


async def test_a_call_still_on_its_way_when_its_meter_settled_past_it_is_served_once(tmp_path):
    alice = AliceMeter(tmp_path)
    meter, call = alice.meter, alice.call
    await meter.start()
    assert [await call(1), await call(2), await call(4)] == ["OK"] * 3
    await meter.settle()  # settles 4
    alice.settled_on_chain(used=4)
    assert await call(3) == "OK"  # was on its way: 4 calls served, 4 settled
    assert await call(4) == "VOUCHER_REPLAYED"
    alice.settled_on_chain(used=8)  # another meter settled 8
    assert await call(6) == "COUNT_USED"
    assert await call(9) == "OK"
    await meter.stop()


async def test_a_count_signed_again_after_the_journal_forgot_it_is_refused(tmp_path):
    """The journal forgets settled vouchers (prune) once replays of them are stale; their user may still sign
    the same counts again with a fresh time, and must not be served again for calls it paid once."""
    alice = AliceMeter(tmp_path)
    await alice.meter.start()
    assert [await alice.call(1), await alice.call(2), await alice.call(3)] == ["OK"] * 3
    await alice.meter.settle()
    alice.settled_on_chain(used=3)
    assert await alice.call(2) == "VOUCHER_REPLAYED"
    assert alice.meter.journal.prune(time.time() + 600) == 3  # as settle() does once the vouchers are old
    await alice.meter.settle()
    assert [await alice.call(1), await alice.call(2), await alice.call(3)] == ["COUNT_USED"] * 3
    assert await alice.call(4) == "OK"
    await alice.meter.stop()

    alice.meter = Meter(alice.settings, gateway=alice.gateway)  # restarted on the same journal
    await alice.meter.start()
    assert await alice.call(3) == "COUNT_USED" and await alice.call(5) == "OK"
    await alice.meter.stop()


def test_settlements_are_cut_to_the_gateway_s_body_limit_and_the_chaincode_s_count():
    long = [Unsettled(f"user-{i:04d}", 1, "v1." + "A" * 1010 + f".{i:04d}") for i in range(300)]
    short = [Unsettled(f"u{i}", 1, "v1.short") for i in range(600)]
    for pending in (long, short):
        batches = settlement_batches(pending)
        assert [u for batch in batches for u in batch] == pending
        for batch in batches:
            assert len(batch) <= SETTLEMENT_SIZE
            assert len(json.dumps({"vouchers": [u.voucher for u in batch]}, separators=(",", ":"))) <= SETTLEMENT_BYTES
    assert len(settlement_batches(short)) == 3


class RefusingGateway(FakeGateway):
    """Refuses, as the gateway does (422), every settlement that holds the poisoned voucher."""

    def __init__(self, accounts, poisoned: str) -> None:
        super().__init__(accounts)
        self.poisoned = poisoned
        self.refused = 0

    async def settle(self, vouchers: list[str]) -> dict:
        if self.poisoned in vouchers:
            self.refused += 1
            raise SettlementRefused(422, '{"code":"INVALID_ARGUMENT"}')
        return await super().settle(vouchers)


async def test_a_voucher_the_chain_refuses_is_set_aside_and_the_others_settle(tmp_path):
    alice = AliceMeter(tmp_path)
    poisoned = "v1.poisoned.voucher"
    alice.meter.gateway = gateway = RefusingGateway(alice.gateway.accounts, poisoned)
    journal = alice.meter.journal
    journal.record_many([(f"user{i}", 1, f"v1.good.{i}") for i in range(7)]
                        + [("mallory", 2, "v1.mallory.2"), ("mallory", 3, poisoned)])
    assert await alice.meter.settle() == 3  # halves of 8, of 4, of 2: three settle, one by one down to mallory
    assert sorted(v for batch in gateway.settled for v in batch) == sorted(f"v1.good.{i}" for i in range(7))
    assert [(u.user, u.count) for u in journal.unsettled()] == [("mallory", 2)]  # her call before it still settles
    refused_before = gateway.refused
    assert await alice.meter.settle() == 1 and gateway.settled[-1] == ["v1.mallory.2"]
    assert gateway.refused == refused_before and journal.unsettled() == []
    assert not journal.record("mallory", 3, poisoned)  # its replay is still refused
    alice.meter.writer.close()
    journal.close()


async def test_the_middleware_refuses_websockets_non_paths_and_large_bodies_before_reading_or_serving(tmp_path):
    alice = AliceMeter(tmp_path)
    alice.settings = MeterSettings(service="weather-api", gateway_url="http://unused", token="t",
                                   journal=tmp_path / "j2", max_body_bytes=10)
    upstream = Upstream()
    app = MeterMiddleware(upstream, meter=Meter(alice.settings, gateway=alice.gateway))
    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    async def no_body():
        raise AssertionError("the body is read only for a request with a voucher")

    async def serve(scope, receive=no_body) -> dict:
        sent.clear()
        await app({"headers": [], "query_string": b"", **scope}, receive, send)
        return sent[0]

    async def connect():
        return {"type": "websocket.connect"}

    closed = await serve({"type": "websocket", "path": "/live", "raw_path": b"/live"}, connect)
    assert closed["type"] == "websocket.close" and upstream.calls == 0
    refused = await serve({"type": "http", "method": "GET", "path": "*", "raw_path": b"*@127.0.0.1:1/x"})
    assert refused["status"] == 400 and upstream.calls == 0
    assert (await serve({"type": "http", "method": "POST", "path": "/f", "raw_path": b"/f"}))["status"] == 401
    bogus = {"type": "http", "method": "POST", "path": "/f", "raw_path": b"/f", "headers": [(b"tdses-voucher", b"v1.x")]}
    assert (await serve(bogus))["status"] == 401  # a malformed voucher: refused before the body too
    voucher = alice.signer.sign("POST", "/f", b"x" * 11, 1).text
    big = [{"type": "http.request", "body": b"x" * 6, "more_body": True},
           {"type": "http.request", "body": b"x" * 5, "more_body": False}]

    async def chunks():
        return big.pop(0)

    large = await serve({"type": "http", "method": "POST", "path": "/f", "raw_path": b"/f",
                         "headers": [(b"tdses-voucher", voucher.encode())]}, chunks)
    assert large["status"] == 413 and (b"tdses-meter", b"refused") in large["headers"] and upstream.calls == 0


async def test_the_proxy_keeps_its_upstream_and_drops_what_a_client_may_not_set():
    seen = {}

    async def upstream(request):  # aiohttp's test server stands in for the service's own server
        seen.update(host=request.host, path=request.raw_path, user=request.headers.getall("TDSES-User", []),
                    spoofed=request.headers.get("TDSES_User"), type=request.headers.get("Content-Type"))
        return aiohttp.web.Response(text="ok", headers={"TDSES-Meter": "refused"})

    application = aiohttp.web.Application()
    application.router.add_route("*", "/{tail:.*}", upstream)
    runner = aiohttp.web.AppRunner(application)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    forward = Forward(f"http://127.0.0.1:{port}")
    sent: list[dict] = []

    async def send(message) -> None:
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    try:
        await forward({"type": "http", "method": "GET", "path": "/a", "raw_path": b"/a//b", "query_string": b"q=1",
                       "headers": [(b"tdses_user", b"admin"), (b"tdses-user", b"admin")],
                       "state": {"tdses_user": "alice"}}, receive, send)
    finally:
        await forward.session.close()
        await runner.cleanup()
    assert sent[0]["status"] == 200 and all(k.lower() != b"tdses-meter" for k, _ in sent[0]["headers"])
    assert seen == {"host": f"127.0.0.1:{port}", "path": "/a//b?q=1", "user": ["alice"], "spoofed": None,
                    "type": None}


def gateway_answering(answers: dict[str, int], developer: str = "bob") -> MeterGateway:
    """A MeterGateway of weather-api whose gateway answers each path with the given status (200 bodies made up)."""
    bodies = {"/v1/users/me": {"name": "dave"}, "/v1/services/weather-api": {"developer": developer}}

    def answer(request: httpx.Request) -> httpx.Response:
        status = answers.get(request.url.path, 200)
        if status == 0:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(status, json=bodies.get(request.url.path, {}) if status == 200 else {"code": "X"})

    gateway = MeterGateway("http://gw", "t", "weather-api")
    gateway.http = httpx.AsyncClient(transport=httpx.MockTransport(answer), base_url="http://gw")
    return gateway


@pytest.mark.parametrize("answers, developer, refused", [
    ({}, "dave", None),  # the developer's own meter
    ({}, "bob", None),  # a server bob authorized
    ({"/v1/services/weather-api/servers/dave": 404}, "bob", "neither the developer"),
    ({"/v1/users/me": 401}, "bob", "answers 401"),
    ({"/v1/users/me": 403}, "bob", "answers 403"),  # the organization admin's token
    ({"/v1/services/weather-api": 404}, "bob", "no service"),
    ({"/v1/users/me": 503}, "bob", None),  # nothing sure: the settlements will tell
    ({"/v1/services/weather-api": 503}, "bob", None),
])
async def test_a_meter_checks_that_its_token_may_settle_the_service(answers, developer, refused):
    gateway = gateway_answering(answers, developer)
    if refused is None:
        await gateway.check_settler()
    else:
        with pytest.raises(NotASettler, match=refused):
            await gateway.check_settler()
    await gateway.close()


async def test_an_unreachable_gateway_is_not_taken_for_a_refusal():
    gateway = gateway_answering({"/v1/users/me": 0})
    with pytest.raises(GatewayError) as raised:
        await gateway.check_settler()
    assert not isinstance(raised.value, NotASettler)
    await gateway.close()


async def test_the_app_s_startup_fails_with_the_reason_when_its_meter_may_not_settle(tmp_path):
    settings = MeterSettings(service="weather-api", gateway_url="http://gw", token="t", journal=tmp_path / "j")
    meter = Meter(settings, gateway=gateway_answering({"/v1/services/weather-api/servers/dave": 404}))
    started = []

    async def app(scope, receive, send):  # an app's lifespan, as Starlette's
        message = await receive()
        assert message["type"] == "lifespan.startup"
        started.append(True)
        await send({"type": "lifespan.startup.complete"})

    sent = []

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        sent.append(message)

    await MeterMiddleware(app, meter=meter)({"type": "lifespan"}, receive, send)
    assert started and sent[0]["type"] == "lifespan.startup.failed" and "neither the developer" in sent[0]["message"]
    assert not meter._tasks  # nothing was started
    await meter.gateway.close()
