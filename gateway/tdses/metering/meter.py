"""The servers' side: check each call's voucher against a local cache of the chain, count it durably, and settle
the counts on chain in the background.

    meter = Meter(MeterSettings(service="weather-api", gateway_url="http://127.0.0.1:7070",
                                token=developer_token, journal="weather-api.journal"))
    await meter.start()
    verdict = await meter.check(request.headers.get(HEADER), "GET", "/forecast?city=Paris", b"")
    ...
    await meter.stop()   # settles what is left

A voucher is accepted when it is well formed, names this service and this very request, is fresh, is signed by
one of its user's keys on chain, its count is above what the chain has settled and within what the user bought,
and was never accepted before. Accepted vouchers are journaled before the answer, so a crash loses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ec

from tdses.metering.gateway import Account, GatewayError, MeterGateway, NotASettler, SettlementRefused
from tdses.metering.journal import Journal, Unsettled
from tdses.metering.settings import MeterSettings
from tdses.metering.voucher import HEADER, InvalidVoucher, Voucher, public_key, request_digest
from tdses.metering.writer import JournalWriter

log = logging.getLogger("tdses.meter")

SETTLEMENT_SIZE = 256  # vouchers per SettleCalls transaction (chaincode maxVouchersPerSettlement)
SETTLEMENT_BYTES = 60_000  # a settlement's JSON body: within the gateway's default max_body_bytes (64 KiB)
ACCOUNTS_KEPT = 100_000  # users whose accounts the cache holds; made-up names cannot grow it further
# Events after which a user's cached account is read again: what it bought, its keys, whether it still exists.
REFRESHING_EVENTS = {"CallsBought": "buyer", "CallsReduced": "user", "VoucherKeyUpdated": "user",
                     "UserRemoved": "name"}


@dataclass(frozen=True)
class Verdict:
    """status 0: serve the request; otherwise the HTTP status and problem to answer with."""

    status: int
    code: str = ""
    detail: str = ""
    user: str = ""
    count: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status == 0


class TooManyLookups(Exception):
    """The budget of reads of users the cache does not hold is spent for now."""


class Budget:
    """A token bucket in memory: `rate` a second, `burst` at most."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


@dataclass
class CachedAccount:
    account: Account | None  # None: no such user (remembered too, so that made-up names cost one read)
    keys: list[ec.EllipticCurvePublicKey]
    loaded_at: float


class Meter:
    def __init__(self, settings: MeterSettings, gateway: MeterGateway | None = None) -> None:
        self.settings = settings
        self.service = settings.service
        self.gateway = gateway or MeterGateway(settings.gateway_url, settings.token, settings.service)
        self.journal = Journal(settings.journal, settings.service)
        self.writer = JournalWriter(self.journal)
        self._settled_here = self.journal.settled()  # per user: how far this meter itself settled
        # Per user: counts up to here are refused. They were settled on chain by someone else (another meter, or
        # this one before it lost its journal), or by this meter so long ago that its journal forgot their
        # vouchers (Journal.prune). Counts this meter settled past while their calls were on the way are not: its
        # journal knows their replays.
        self._floors: dict[str, int] = self.journal.floors()
        self._accounts: dict[str, CachedAccount] = {}
        self._loading: dict[str, asyncio.Future] = {}
        self._lookups = Budget(settings.lookups_per_second, settings.lookups_burst)
        self._found: set[str] = set()  # users read and found on chain once: their rereads are not on the budget
        self._generation: Counter[str] = Counter()
        self._since_settlement = 0
        self._settle_now = asyncio.Event()
        self._settling = asyncio.Lock()
        self._tasks: list[asyncio.Task] = []
        self.following = asyncio.Event()  # set while the chaincode event stream is connected

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, wait_for_events: float = 30.0) -> None:
        """Check that the token may settle the service's calls (NotASettler when the gateway says it may not),
        follow the chain's events, settle what an earlier run accepted, then settle periodically."""
        try:
            await self.gateway.check_settler()
        except NotASettler:
            raise
        except GatewayError as error:
            log.warning("cannot check that this meter may settle %s's calls now: %s", self.service, error)
        self._tasks = [asyncio.create_task(self._follow_events(), name="meter-events"),
                       asyncio.create_task(self._settle_periodically(), name="meter-settlements")]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.following.wait(), wait_for_events)
        if await asyncio.to_thread(self.journal.unsettled):
            self._settle_now.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self.settle()
        except Exception:  # noqa: BLE001 - what is journaled is settled at the next start
            log.exception("final settlement failed; the journal keeps the vouchers for the next start")
        await self.gateway.close()
        self.writer.close()
        self.journal.close()

    # --- the check on every call ---------------------------------------------------------------------

    def precheck(self, header: str | None) -> Verdict | Voucher:
        """What can be checked before the request's body is read: the voucher, or the refusal."""
        if not header:
            return Verdict(401, "VOUCHER_REQUIRED", f"this service is metered: send a {HEADER} header")
        try:
            voucher = Voucher.parse(header)
        except InvalidVoucher as error:
            return Verdict(401, "INVALID_VOUCHER", str(error))
        claim = voucher.claim
        if claim.service != self.service:
            return Verdict(401, "WRONG_SERVICE", f"the voucher is for service {claim.service!r}, not {self.service!r}")
        if abs(time.time() * 1000 - claim.time_ms) > self.settings.freshness * 1000:
            return Verdict(401, "STALE_VOUCHER", f"the voucher's time is more than {self.settings.freshness:g} s "
                           "from the server's clock")
        return voucher

    async def check(self, header: str | None, method: str, target: str | bytes, body: bytes) -> Verdict:
        voucher = self.precheck(header)
        if isinstance(voucher, Verdict):
            return voucher
        return await self.check_request(voucher, method, target, body)

    async def check_request(self, voucher: Voucher, method: str, target: str | bytes, body: bytes) -> Verdict:
        """The rest of the check, for a voucher precheck passed: the request it names, the user, the journal."""
        claim = voucher.claim
        if claim.digest != request_digest(method, target, body):
            return Verdict(401, "WRONG_REQUEST", "the voucher was signed for another request (method, target or body)")
        try:
            return await self._check_account(voucher)
        except TooManyLookups:
            return Verdict(503, "METER_BUSY", "the service is reading many new users: try again shortly")
        except GatewayError as error:  # busy (429) or down: the caller may try again; nothing was counted
            log.warning("cannot check call %d of user %s: %s", claim.count, claim.user, error)
            return Verdict(503, "GATEWAY_UNAVAILABLE", "the service cannot check vouchers now: try again shortly")

    async def _check_account(self, voucher: Voucher) -> Verdict:
        claim = voucher.claim
        cached = await self._account(claim.user)
        if cached.account is None:
            cached = await self._reread(claim.user, cached)  # the user may have just registered
            if cached.account is None:
                return Verdict(401, "UNKNOWN_USER", f"no user {claim.user!r} on chain")
        if not self._signed(voucher, cached):
            cached = await self._reread(claim.user, cached)  # the user may have just registered a new key
            if cached.account is None or not self._signed(voucher, cached):
                return Verdict(401, "BAD_SIGNATURE", f"the voucher is not signed by a key of user {claim.user!r}")
        account = cached.account
        if not account.active:
            return Verdict(403, "USER_REMOVED", f"user {claim.user!r} was removed")
        if claim.count <= self._floors.get(claim.user, 0):
            return Verdict(409, "COUNT_USED", f"calls up to {account.used} are settled: count from there",
                           claim.user, claim.count, {"used": account.used})
        if claim.count > account.bought:
            cached = await self._reread(claim.user, cached)  # a purchase may have just committed
            bought = cached.account.bought if cached.account else 0
            if claim.count > bought:
                return Verdict(402, "NO_CALLS_LEFT", f"user {claim.user!r} bought {bought} calls of "
                               f"{self.service!r}; this is call {claim.count}", claim.user, claim.count,
                               {"bought": bought, "buy": f"POST /v1/services/{self.service}/rights"})
        if not await self.writer.record(claim.user, claim.count, voucher.text):
            return Verdict(409, "VOUCHER_REPLAYED", f"call {claim.count} of user {claim.user!r} was made before",
                           claim.user, claim.count)
        self._since_settlement += 1
        if self._since_settlement >= self.settings.settle_every_calls:
            self._since_settlement = 0
            self._settle_now.set()
        return Verdict(0, user=claim.user, count=claim.count)

    async def give_back(self, user: str, count: int) -> None:
        """The call with this accepted count was not served (its server was never reached): it is not counted, and
        the user's next call uses the count again. Were it settled meanwhile, the call using it again is served
        for what was paid."""
        await asyncio.to_thread(self.journal.give_back, user, count)

    @staticmethod
    def _signed(voucher: Voucher, cached: CachedAccount) -> bool:
        return any(voucher.signed_by(key) for key in cached.keys)

    # --- the cache of the chain --------------------------------------------------------------------

    async def _account(self, user: str) -> CachedAccount:
        cached = self._accounts.get(user)
        if cached is not None:
            return cached
        loading = self._loading.get(user)
        if loading is None:  # one read per user however many of its calls arrive at once
            if user not in self._found and not self._lookups.take():
                raise TooManyLookups
            loading = self._loading[user] = asyncio.ensure_future(self._load(user))
            loading.add_done_callback(lambda _: self._loading.pop(user, None))
        return await asyncio.shield(loading)

    async def _load(self, user: str) -> CachedAccount:
        generation = self._generation[user]
        account = await self.gateway.account(user)
        keys = [k for k in map(public_key, account.keys) if k is not None] if account else []
        if account is not None and account.used > self._settled_here.get(user, 0):
            self._raise_floor(user, account.used)
        if account is not None:
            if len(self._found) >= ACCOUNTS_KEPT:
                self._found.clear()
            self._found.add(user)
        cached = CachedAccount(account, keys, time.monotonic())
        if self._generation[user] == generation:  # no event made it stale while it was read
            if len(self._accounts) >= ACCOUNTS_KEPT:
                self._accounts.pop(next(iter(self._accounts)))  # the longest kept
            self._accounts[user] = cached
        return cached

    async def _reread(self, user: str, cached: CachedAccount) -> CachedAccount:
        if time.monotonic() - cached.loaded_at < self.settings.reread_after:
            return cached
        self.forget(user)
        return await self._account(user)

    def forget(self, user: str) -> None:
        self._generation[user] += 1
        self._accounts.pop(user, None)

    async def _follow_events(self) -> None:
        while True:
            try:
                async for name, payload in self.gateway.events():
                    if name == "":
                        self._accounts.clear()  # events may have been missed while disconnected
                        self.following.set()
                        continue
                    self._apply(name, payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the gateway restarts; keep following
                log.warning("chaincode events interrupted (%s); reconnecting", error)
            self.following.clear()
            await asyncio.sleep(1.0)

    def _apply(self, name: str, payload) -> None:
        if not isinstance(payload, dict):
            return
        if name in REFRESHING_EVENTS:
            if name in ("CallsBought", "CallsReduced") and payload.get("service") != self.service:
                return
            self.forget(str(payload.get(REFRESHING_EVENTS[name], "")))
        elif name == "CallsSettled" and payload.get("service") == self.service:
            for settled in payload.get("settled") or []:
                self.forget(str(settled.get("user", "")))

    # --- settlement ----------------------------------------------------------------------------------

    async def _settle_periodically(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._settle_now.wait(), self.settings.settle_interval)
            self._settle_now.clear()
            try:
                await self.settle()
            except (GatewayError, OSError, ValueError) as error:  # the gateway is down or busy: next round
                log.warning("settlement failed (%s); the vouchers stay journaled", error)
            except Exception:  # noqa: BLE001
                log.exception("settlement failed; the vouchers stay journaled")

    async def settle(self) -> int:
        """Settle each user's highest unsettled voucher; returns how many transactions that took."""
        async with self._settling:
            pending = await asyncio.to_thread(self.journal.unsettled)
            transactions = 0
            for batch in settlement_batches(pending):
                transactions += await self._settle_batch(batch)
            await asyncio.to_thread(self.journal.prune, time.time() - 2 * self.settings.freshness - 60)
            for user, floor in (await asyncio.to_thread(self.journal.floors)).items():
                self._raise_floor(user, floor)
            return transactions

    async def _settle_batch(self, batch: list[Unsettled]) -> int:
        """One SettleCalls transaction; a batch the gateway refuses as it is goes in halves, down to the voucher
        that cannot be settled, which the journal sets aside: it never holds up the others again."""
        for u in batch:  # before the chain's event about it can reach the cache (see check)
            self._settled_here[u.user] = max(self._settled_here.get(u.user, 0), u.count)
        try:
            result = await self.gateway.settle([u.voucher for u in batch])
        except SettlementRefused as refusal:
            if len(batch) > 1:
                half = len(batch) // 2
                return await self._settle_batch(batch[:half]) + await self._settle_batch(batch[half:])
            (u,) = batch
            log.error("the chain will never settle call %d of user %s (%s): its lower calls are settled instead",
                      u.count, u.user, refusal)
            await asyncio.to_thread(self.journal.refuse, u.user, u.count, str(refusal)[:500])
            self._settled_here[u.user] = (await asyncio.to_thread(self.journal.settled)).get(u.user, 0)
            return 0
        rejected = {r["user"]: r["reason"] for r in result.get("rejected", [])}
        for u in batch:
            outcome = rejected.get(u.user, "settled")
            if outcome != "settled":
                log.warning("the chain refused call %d of user %s: %s", u.count, u.user, outcome)
            await asyncio.to_thread(self.journal.mark, u.user, u.count, outcome)
        return 1

    def _raise_floor(self, user: str, count: int) -> None:
        self._floors[user] = max(self._floors.get(user, 0), count)


def settlement_batches(pending: list[Unsettled]) -> list[list[Unsettled]]:
    """Consecutive runs of at most SETTLEMENT_SIZE vouchers whose request body stays within SETTLEMENT_BYTES."""
    empty = len('{"vouchers":[]}')
    batches: list[list[Unsettled]] = []
    batch: list[Unsettled] = []
    size = empty
    for u in pending:
        cost = len(u.voucher) + 3  # an ASCII string in JSON: its quotes and a comma
        if batch and (len(batch) == SETTLEMENT_SIZE or size + cost > SETTLEMENT_BYTES):
            batches.append(batch)
            batch, size = [], empty
        batch.append(u)
        size += cost
    if batch:
        batches.append(batch)
    return batches
