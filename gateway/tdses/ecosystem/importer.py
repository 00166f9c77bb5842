"""Replay a normalized ecosystem onto a running network, as its developers would have built it.

    summary = asyncio.run(Importer(Network.open(state_dir), eco, eco.select(limit=60)).run())
    print(summary.render())

Developers are real users: registered with their organization's fabric-ca-server and on chain. Only their
CA enrollment secrets are kept (one 0600 file under the state directory's secrets/); every run enrolls them
again, and the chaincode recognizes the new certificate because it binds a user to the certificate's subject
and issuer, which a re-enrollment keeps.

Order (what the lifecycle allows): register and publish every service, then create and publish the mashups
(every component is available then), then invalidate what is dead. Each developer's transactions run one
after another (publishing updates the developer's own record); different developers run in parallel, at most
`concurrency` transactions in flight. A rerun reads what is on chain first and submits only what is missing.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import grpc

from fabric_ca import ERR_DUPLICATE_IDENTITY, AsyncCAClient, CAError, Enrollment
from fabric_gateway import (
    CommitError,
    CommitStatusError,
    EcdsaSigner,
    GatewayError,
    Identity,
    RetryPolicy,
    SubmitError,
    Timeouts,
    load_signer,
)
from fabric_gateway.aio import ChannelPeers, Connection, Contract, Gateway
from tdses.chaincode import Code, Fn, ServiceStatus
from tdses.ecosystem.programmableweb import Ecosystem, Service
from tdses.fabric.nodes import ca_name
from tdses.fabric.topology import Org
from tdses.local.network import Network

SECRETS_FILE = "programmableweb-developers.json"
DEFAULT_CONCURRENCY = 64
PAGE = "100"
TIMEOUTS = Timeouts(evaluate=30, endorse=60, submit=30, commit_status=120)
RETRY = RetryPolicy(attempts=8, initial_backoff=0.2, max_backoff=3.0)  # MVCC conflicts: a fresh proposal
# The same step again (outcomes are checked, never doubled) when a peer was unreachable or slow, or when the
# endorsers disagreed (ABORTED: "ProposalResponsePayloads do not match", one peer a block behind under load).
TRANSIENT_ATTEMPTS = 6
LAG_ATTEMPTS, LAG_PAUSE = 5, 0.5  # a refusal from an endorser a block behind: 0.5 + 1 + 2 + 4 s at most
TRANSIENT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                   grpc.StatusCode.ABORTED}

CREATED, AVAILABLE, INVALID = ServiceStatus


class ImportFailed(Exception):
    """The import cannot go on (a CA or the network refused something the whole run depends on)."""


# --- developers' CA secrets --------------------------------------------------------------------------------


class SecretStore:
    """Developers' fabric-ca enrollment secrets in one 0600 JSON file: {name: {"org": ..., "secret": ...}}.

    Written before the CA registers the developer, so a crash never leaves an identity nobody can enroll."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict[str, str]] = json.loads(path.read_text()) if path.exists() else {}

    def get(self, name: str) -> dict[str, str] | None:
        return self.entries.get(name)

    def put(self, name: str, org: str, secret: str) -> None:
        self.entries[name] = {"org": org, "secret": secret}
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.entries, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)


# --- progress and summary ----------------------------------------------------------------------------------


class Progress:
    """Transactions done of planned, rate and ETA on stderr: one refreshed line on a terminal, else a line
    per 10 %."""

    def __init__(self, out: TextIO = sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.total = 0
        self.done = 0
        self.started = time.monotonic()
        self._last_decile = 0
        self._last_draw = 0.0

    def plan(self, total: int) -> None:
        self.total, self.done, self._last_decile = total, 0, 0
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"\r{text}" if self.tty else text, file=self.out, flush=True)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        percent = 100 * self.done // self.total if self.total else 100
        return (f"import: {self.done}/{self.total} transactions ({percent}%), {rate:.1f} tx/s, "
                f"ETA {int(eta) // 60}m{int(eta) % 60:02d}s")

    def tick(self) -> None:
        self.done += 1
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw >= 0.5 or self.done == self.total:
                self._last_draw = now
                print(f"\r{self.line()}\x1b[K", end="" if self.done < self.total else "\n", file=self.out,
                      flush=True)
            return
        decile = 10 * self.done // self.total if self.total else 10
        if decile > self._last_decile:
            self._last_decile = decile
            print(self.line(), file=self.out, flush=True)


@dataclass
class Summary:
    """What a run found and did. `tally[(what, outcome)]`: outcome is "new" (this run), "already" (on chain
    before) or "failed"."""

    selected: Counter = field(default_factory=Counter)
    tally: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)  # reason → count
    notes: Counter = field(default_factory=Counter)  # decisions worth knowing → count
    failures: list[str] = field(default_factory=list)
    transactions: int = 0
    elapsed: float = 0.0

    def fail(self, what: str, message: str) -> None:
        self.tally[(what, "failed")] += 1
        if len(self.failures) < 20:
            self.failures.append(message)

    @property
    def failed(self) -> int:
        return sum(n for (_, outcome), n in self.tally.items() if outcome == "failed")

    @property
    def rate(self) -> float:
        return self.transactions / self.elapsed if self.elapsed > 0 else 0.0

    def render(self) -> str:
        rows = ["developers", "services", "mashups", "published", "invalidated", "funded"]
        lines = [f"{'':<13}{'selected':>9}{'this run':>10}{'already':>9}{'failed':>8}"]
        for what in rows:
            if not self.selected[what] and not any(self.tally[(what, o)] for o in ("new", "already", "failed")):
                continue
            lines.append(f"{what:<13}{self.selected[what]:>9}{self.tally[(what, 'new')]:>10}"
                         f"{self.tally[(what, 'already')]:>9}{self.tally[(what, 'failed')]:>8}")
        lines.append(f"transactions {self.transactions} in {self.elapsed:.1f} s: {self.rate:.1f} tx/s")
        if self.skipped:
            lines.append("skipped:")
            lines += [f"  {n:>6}  {reason}" for reason, n in sorted(self.skipped.items(), key=lambda x: -x[1])]
        if self.notes:
            lines.append("notes:")
            lines += [f"  {n:>6}  {note}" for note, n in sorted(self.notes.items(), key=lambda x: -x[1])]
        if self.failures:
            lines.append(f"failures ({self.failed}; first {len(self.failures)}):")
            lines += [f"  {f}" for f in self.failures]
        return "\n".join(lines)


# --- the chain ---------------------------------------------------------------------------------------------


class ChaincodeError(Exception):
    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


async def call(contract: Contract, submit: bool, function: str, *args: str) -> dict:
    """One chaincode call; a chaincode refusal becomes ChaincodeError(code), transient failures are retried."""
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            if submit:
                result = await contract.submit_transaction(function, *args)
            else:
                result = await contract.evaluate_transaction(function, *args)
            return json.loads(result)
        except GatewayError as error:
            if error.chaincode_error_code is not None:
                raise ChaincodeError(error.chaincode_error_code, error.chaincode_message or str(error)) from None
            transient = error.code in TRANSIENT_CODES or isinstance(error, (SubmitError, CommitStatusError))
            if not transient or attempt == TRANSIENT_ATTEMPTS:
                raise ChaincodeError(None, f"{function}: {error.code.name}: {error.message}") from None
        except CommitError as error:
            if attempt == TRANSIENT_ATTEMPTS:
                raise ChaincodeError(None, f"{function}: {error}") from None
        await asyncio.sleep(0.5 * 2 ** attempt)
    raise AssertionError("unreachable")


def lagging_endorser(action: str, error: ChaincodeError) -> bool:
    """Whether a refusal contradicts what this developer already committed: the user or service it just created
    missing, or a component it saw published not available. Under load one endorser can be a block behind."""
    if error.code in ("NOT_FOUND", "UNAUTHENTICATED"):
        return True
    return action == Fn.CREATE_MASHUP and error.code == Code.INVALID_STATE and "not available" in str(error)


def developer_orgs(developers: list[str], orgs: list[Org]) -> dict[str, Org]:
    """Developers dealt round-robin over the organizations: the same on every run of one topology."""
    return {name: orgs[i % len(orgs)] for i, name in enumerate(developers)}


@dataclass
class Developer:
    name: str
    org: Org
    contract: Contract | None = None


@dataclass
class Step:
    action: str  # RegisterService, CreateMashup, PublishService, InvalidateService
    service: Service


class Importer:
    """Import `services` (a selection of `ecosystem`) onto `network`; `run()` returns the Summary."""

    def __init__(self, network: Network, ecosystem: Ecosystem, services: list[Service],
                 concurrency: int = DEFAULT_CONCURRENCY, progress: Progress | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.network = network
        self.ecosystem = ecosystem
        self.services = services
        self.concurrency = concurrency
        self.progress = progress or Progress()
        self.summary = Summary()
        self.secrets = SecretStore(network.state.secrets / SECRETS_FILE)
        orgs = developer_orgs(ecosystem.developers, network.topology.orgs)
        needed = sorted({s.developer for s in services})
        for name in needed:  # a developer stays in the organization whose CA registered it
            known = self.secrets.get(name)
            if known:
                orgs[name] = network.topology.org(known["org"])
        self.developers = {name: Developer(name, orgs[name]) for name in needed}
        self.chain: dict[str, dict] = {}  # service name → what is on chain (developer, status)
        self.unusable: dict[str, str] = {}  # service name → why later steps must leave it alone
        self._connections: dict[str, Connection] = {}
        self._channel_peers: ChannelPeers | None = None
        self._slots = asyncio.Semaphore(concurrency)

    # --- set-up ----------------------------------------------------------------------------------------

    def connection(self, org: Org) -> Connection:
        if org.name not in self._connections:
            self._connections[org.name] = Connection(
                [p.address for p in org.peers], self.network.state.tls_ca_cert(org))
        return self._connections[org.name]

    def contract(self, org: Org, identity: Identity, signer: EcdsaSigner) -> Contract:
        if self._channel_peers is None:  # a write returns once every peer has it: the next step may depend on it
            self._channel_peers = ChannelPeers(self.network.channel_peers())
        gateway = Gateway(self.connection(org), identity, signer, timeouts=TIMEOUTS, retry=RETRY,
                          channel_peers=self._channel_peers)
        t = self.network.topology
        return gateway.get_network(t.channel).get_contract(t.chaincode_name)

    async def enroll_developers(self) -> None:
        """Register what the CAs do not know yet (secret saved first) and enroll every developer afresh."""
        state = self.network.state
        by_org: dict[str, list[Developer]] = {}
        for dev in self.developers.values():
            by_org.setdefault(dev.org.name, []).append(dev)
        for org_name, devs in by_org.items():
            org = self.network.topology.org(org_name)
            async with AsyncCAClient(f"https://{org.ca.address}", state.tls_ca_cert(org).read_bytes(),
                                     ca_name=ca_name(org.ca), timeout=30) as ca:
                registrar = await ca.enroll("admin", state.registrar_secret(org).read_text().strip())
                limit = asyncio.Semaphore(8)

                async def enroll(dev: Developer) -> None:
                    async with limit:
                        enrollment = await self._enroll(ca, registrar, dev)
                    dev.contract = self.contract(org, Identity(org.msp_id, enrollment.certificate),
                                                 EcdsaSigner(enrollment.key))

                await asyncio.gather(*(enroll(d) for d in devs))

    async def _enroll(self, ca: AsyncCAClient, registrar: Enrollment, dev: Developer) -> Enrollment:
        known = self.secrets.get(dev.name)
        if known is None:
            secret = secrets.token_urlsafe(24)
            self.secrets.put(dev.name, dev.org.name, secret)
            try:
                await ca.register(registrar, dev.name, type="client", secret=secret)
            except CAError as error:
                if not error.has_code(ERR_DUPLICATE_IDENTITY):
                    raise
                # Registered by an earlier run that died before saving? Then the secret is lost; enroll says so.
        try:
            return await ca.enroll(dev.name, self.secrets.get(dev.name)["secret"])
        except CAError as error:
            raise ImportFailed(
                f"cannot enroll developer {dev.name} at {ca_name(dev.org.ca)} with the secret in {self.secrets.path} "
                f"({error}); was it registered by another state directory?") from None

    async def register_developers(self) -> list[Developer]:
        """Check each developer's user on chain; returns those that still need RegisterUser."""
        missing = []

        async def check(dev: Developer) -> None:
            try:
                user = await call(dev.contract, False, Fn.QUERY_USER, dev.name)
            except ChaincodeError as error:
                if error.code != "NOT_FOUND":
                    raise
                missing.append(dev)
                return
            if user["mspId"] != dev.org.msp_id:
                raise ImportFailed(f"user {dev.name} on chain belongs to {user['mspId']}, not {dev.org.msp_id}")
            # The fresh certificate must act as this user (the chain binds a user to its enrollment).
            if not await self.acts_as_itself(dev):
                raise ImportFailed(f"developer {dev.name}: its new certificate does not act as its user on chain")
            self.summary.tally[("developers", "already")] += 1

        await asyncio.gather(*(check(d) for d in self.developers.values()))
        return sorted(missing, key=lambda d: d.name)

    async def acts_as_itself(self, dev: Developer) -> bool:
        try:
            me = await call(dev.contract, False, Fn.WHO_AM_I)
        except ChaincodeError as error:
            if error.code == "UNAUTHENTICATED":
                return False
            raise
        return me["name"] == dev.name

    async def register_users(self, devs: list[Developer], events: dict[str, asyncio.Event]) -> None:
        """RegisterUser one after another: every registration updates the incentive pool's one key. Each
        developer's event is set once it is registered (or could not be), so its work can start."""
        try:
            for dev in devs:
                try:
                    await self.submit(dev, Fn.REGISTER_USER, dev.name, "ProgrammableWeb developer (imported)")
                    self.summary.tally[("developers", "new")] += 1
                except ChaincodeError as error:
                    if error.code == Code.ALREADY_EXISTS and await self.acts_as_itself(dev):
                        self.summary.tally[("developers", "new")] += 1  # a retry after a commit we did not see
                    else:
                        self.summary.fail("developers", f"RegisterUser {dev.name}: {error}")
                        for s in self.services:
                            if s.developer == dev.name:
                                self.unusable[s.name] = "its developer could not be registered"
                events[dev.name].set()
        finally:
            for event in events.values():
                event.set()

    async def read_chain(self, skip: set[str]) -> None:
        """Every service each developer (but those just being registered) already has on chain, with its
        status."""

        async def scan(dev: Developer) -> None:
            bookmark = ""
            while True:
                async with self._slots:
                    page = await call(dev.contract, False, Fn.QUERY_SERVICE_BY_USER, dev.name, PAGE, bookmark)
                for record in page["records"]:
                    self.chain[record["name"]] = {"developer": record["developer"], "status": record["status"],
                                                  "components": record["components"]}
                bookmark = page["bookmark"]
                if not bookmark:
                    return

        await asyncio.gather(*(scan(d) for d in self.developers.values() if d.name not in skip))

    # --- plan --------------------------------------------------------------------------------------------

    def plan(self) -> list[dict[str, list[Step]]]:
        """Three phases of steps per developer, from what is on chain; counts what is already done."""
        phases: list[dict[str, list[Step]]] = [{}, {}, {}]
        s = self.summary

        def add(phase: int, action: str, service: Service) -> None:
            phases[phase].setdefault(service.developer, []).append(Step(action, service))

        composed = [m for m in self.services if m.composed]
        to_create = [m for m in composed if m.name not in self.chain]
        needed = {c for m in to_create for c in m.components}
        republished: set[str] = set()
        for svc in self.services:
            kind = "mashups" if svc.composed else "services"
            s.selected[kind] += 1
            s.selected["published"] += 1
            if not svc.alive:
                s.selected["invalidated"] += 1
            on_chain = self.chain.get(svc.name)
            phase = 1 if svc.composed else 0
            if on_chain is None:
                add(phase, Fn.CREATE_MASHUP if svc.composed else Fn.REGISTER_SERVICE, svc)
                add(phase, Fn.PUBLISH_SERVICE, svc)
                continue
            s.tally[(kind, "already")] += 1
            status = on_chain["status"]
            if status == CREATED:
                add(phase, Fn.PUBLISH_SERVICE, svc)
            elif status == INVALID and (svc.alive or svc.name in needed):
                add(phase, Fn.PUBLISH_SERVICE, svc)
                republished.add(svc.name)
            else:
                s.tally[("published", "already")] += 1
        for svc in self.services:
            if svc.alive:
                continue
            on_chain = self.chain.get(svc.name)
            if on_chain is None or on_chain["status"] != INVALID or svc.name in republished:
                add(2, Fn.INVALIDATE_SERVICE, svc)
            else:
                s.tally[("invalidated", "already")] += 1
        again = sum(1 for svc in self.services if svc.name in republished and not svc.alive)
        if again:
            s.notes["dead APIs published again for new mashups, invalidated again after"] += again
        return phases

    def mashup_costs(self, phases: list[dict[str, list[Step]]]) -> dict[str, int]:
        """What each developer will pay for the mashups it still has to create (others' components only)."""
        apis = {a.name: a for a in self.ecosystem.apis}
        costs: Counter = Counter()
        for dev, steps in phases[1].items():
            for step in steps:
                if step.action == Fn.CREATE_MASHUP:
                    costs[dev] += sum(apis[c].price for c in step.service.components if apis[c].developer != dev)
        return costs

    async def fund(self, costs: dict[str, int]) -> None:
        """Top up developers whose balance cannot pay their mashups, from their organization's account
        (OrgTransfer by the org admin). The default 100 developers never need it on a fresh network."""
        short: dict[str, list[tuple[Developer, int]]] = {}
        for name, cost in costs.items():
            dev = self.developers[name]
            balance = (await call(dev.contract, False, Fn.BALANCE_OF, name))["balance"]
            if balance < cost:
                short.setdefault(dev.org.name, []).append((dev, cost - balance))
        for org_name, needs in short.items():
            org = self.network.topology.org(org_name)
            msp = self.network.state.admin_msp(org)
            certificate = sorted((msp / "signcerts").glob("*.pem"))[0].read_bytes()
            key = sorted(p for p in (msp / "keystore").iterdir() if p.is_file())[0]
            admin = self.contract(org, Identity(org.msp_id, certificate), load_signer(key))
            for dev, amount in needs:  # one after another: each debits the organization's account
                try:
                    await call(admin, True, Fn.ORG_TRANSFER, dev.name, str(amount))
                    self.summary.transactions += 1
                    self.summary.tally[("funded", "new")] += 1
                except ChaincodeError as error:
                    self.summary.fail("funded", f"OrgTransfer {amount} to {dev.name}: {error}")

    # --- run ---------------------------------------------------------------------------------------------

    async def submit(self, dev: Developer, function: str, *args: str) -> dict:
        async with self._slots:
            try:
                return await call(dev.contract, True, function, *args)
            finally:
                self.summary.transactions += 1
                self.progress.tick()

    async def do(self, dev: Developer, step: Step) -> None:
        svc, action = step.service, step.action
        what = {Fn.REGISTER_SERVICE: "services", Fn.CREATE_MASHUP: "mashups", Fn.PUBLISH_SERVICE: "published",
                Fn.INVALIDATE_SERVICE: "invalidated"}[action]
        if svc.name in self.unusable:
            self.summary.skipped[f"{self.unusable[svc.name]} ({action})"] += 1
            self.progress.total -= 1
            return
        if action == Fn.CREATE_MASHUP:
            blocked = [c for c in svc.components if c in self.unusable]
            if blocked:
                self.unusable[svc.name] = "a component could not be imported"
                self.summary.skipped["mashup with a component that could not be imported"] += 1
                self.progress.total -= 1
                return
        try:
            await self.submit_step(dev, step)
            self.summary.tally[(what, "new")] += 1
        except ChaincodeError as error:
            try:
                outcome = await self.explain(dev, step, error)
            except ChaincodeError:
                outcome = None
            if outcome == "already":
                self.summary.tally[(what, "already")] += 1
            elif outcome == "taken":
                self.unusable[svc.name] = "name taken by another user"
                self.summary.skipped[self.unusable[svc.name]] += 1
            else:
                if action in (Fn.REGISTER_SERVICE, Fn.CREATE_MASHUP):
                    self.unusable[svc.name] = f"{action} failed"
                self.summary.fail(what, f"{action} {svc.name} by {dev.name}: {error}")

    async def submit_step(self, dev: Developer, step: Step) -> None:
        """Submit one step; a refusal that only a lagging endorser gives (it has not committed the block with
        this developer's previous transaction yet) is tried again after a pause."""
        creates = step.action in (Fn.REGISTER_SERVICE, Fn.CREATE_MASHUP)
        argument = json.dumps(step.service.spec()) if creates else step.service.name
        for attempt in range(1, LAG_ATTEMPTS + 1):
            try:
                await self.submit(dev, step.action, argument)
                return
            except ChaincodeError as error:
                if attempt == LAG_ATTEMPTS or not lagging_endorser(step.action, error):
                    raise
                self.progress.total += 1
            await asyncio.sleep(LAG_PAUSE * 2 ** (attempt - 1))

    async def explain(self, dev: Developer, step: Step, error: ChaincodeError) -> str | None:
        """"already" if the refusal means the step's result is on chain (an earlier run's transaction committed
        after that run stopped), "taken" if another user owns the name, None for a real failure."""
        if step.action in (Fn.REGISTER_SERVICE, Fn.CREATE_MASHUP) and error.code == Code.ALREADY_EXISTS:
            record = await call(dev.contract, False, Fn.QUERY_SERVICE, step.service.name)
            return "already" if record["developer"] == dev.name else "taken"
        if step.action == Fn.PUBLISH_SERVICE and error.code == Code.INVALID_STATE and "already available" in str(error):
            return "already"
        if (step.action == Fn.INVALIDATE_SERVICE and error.code == Code.INVALID_STATE
                and "already invalid" in str(error)):
            return "already"
        return None

    async def run_phase(self, steps: dict[str, list[Step]], waits: dict[str, asyncio.Event]) -> None:
        async def worker(name: str, todo: list[Step]) -> None:
            await waits[name].wait()
            for step in todo:
                await self.do(self.developers[name], step)

        await asyncio.gather(*(worker(name, todo) for name, todo in sorted(steps.items())))

    async def run(self) -> Summary:
        started = time.monotonic()
        say = self.progress.say
        try:
            self.summary.selected["developers"] = len(self.developers)
            say(f"enrolling {len(self.developers)} developers with their organizations' CAs")
            await self.enroll_developers()
            missing = await self.register_developers()
            await self.read_chain({d.name for d in missing})
            phases = self.plan()
            self.progress.plan(sum(len(steps) for phase in phases for steps in phase.values()) + len(missing))
            say(f"{len(self.chain)} of the selected developers' services already on chain; "
                f"{self.progress.total} transactions to submit")
            waits = {name: asyncio.Event() for name in self.developers}
            for name in waits:
                if name not in {d.name for d in missing}:
                    waits[name].set()
            if missing:
                say(f"registering {len(missing)} developers on chain (one after another; the others start meanwhile)")
            registering = asyncio.create_task(self.register_users(missing, waits))
            costs = self.mashup_costs(phases)
            labels = ["services: register and publish", "mashups: create and publish", "invalidate the dead"]
            for number, (label, steps) in enumerate(zip(labels, phases), 1):
                if number == 2:
                    await registering
                    await self.fund(costs)
                if steps:
                    say(f"phase {number}/3, {label}: {sum(len(v) for v in steps.values())} transactions")
                    await self.run_phase(steps, waits)
            await registering
        finally:
            for connection in self._connections.values():
                await connection.close()
            if self._channel_peers is not None:
                await self._channel_peers.close()
            self.summary.elapsed = time.monotonic() - started
        return self.summary


def describe_selection(summary: Summary, ecosystem: Ecosystem, services: list[Service], limit: int | None) -> None:
    """Normalization's skips and decisions, into the summary."""
    r = ecosystem.report
    if r.edges_to_missing_apis:
        summary.skipped["mashup→API edges to APIs missing from the data"] = len(r.edges_to_missing_apis)
    if r.duplicate_edges:
        summary.skipped["duplicate mashup→API edges"] = r.duplicate_edges
    if r.components_dropped:
        summary.skipped["components beyond the chaincode's 32 per mashup (the first 32 kept)"] = r.components_dropped
    if limit is not None:
        left = len(ecosystem.mashups) - sum(1 for s in services if s.kind == "mashup")
        summary.skipped[f"mashups outside --limit {limit} (a component beyond the slice, or none known)"] = left
    plain = sum(1 for s in services if s.kind == "mashup" and not s.composed)
    if plain:
        summary.notes["mashups without a known component, imported as plain services"] = plain
    for note, keys in [("mashup urls the chaincode refuses, replaced by their ProgrammableWeb page",
                         set(r.mashup_urls_replaced)),
                        ("names taken by another record, given a hash suffix",
                         {key for key, _ in r.renamed_on_collision})]:
        count = sum(1 for s in services if s.key in keys)
        if count:
            summary.notes[note] = count


def import_ecosystem(network: Network, ecosystem: Ecosystem, limit: int | None = None,
                     concurrency: int = DEFAULT_CONCURRENCY, progress: Progress | None = None) -> Summary:
    """Select (all, or the first `limit` APIs and their mashups), import, and return the summary."""
    services = ecosystem.select(limit)
    importer = Importer(network, ecosystem, services, concurrency, progress)
    describe_selection(importer.summary, ecosystem, services, limit)
    return asyncio.run(importer.run())
