"""Replay a normalized ecosystem onto a running network, as its developers would have built it.

    summary = asyncio.run(Importer(Network.open(state_dir), eco, eco.select(limit=60)).run())
    print(summary.render())

Developers are real users: registered with their organization's fabric-ca-server and on chain. Only their
CA enrollment secrets are kept (tdses.ecosystem.secrets); every run enrolls them again, and the chaincode
recognizes the new certificate because it binds a user to the certificate's subject and issuer, which a
re-enrollment keeps.

What to submit is tdses.ecosystem.planning's; here it is run. Each developer's transactions run one after
another (publishing updates the developer's own record); different developers run in parallel, at most
`concurrency` transactions in flight. A rerun reads what is on chain first and submits only what is missing.
Every call goes through tdses.retry's policy: one budget of attempts, whatever failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace

import httpx

from fabric_ca import ERR_DUPLICATE_IDENTITY, AsyncCAClient, CAError, Enrollment
from fabric_gateway import BlockUnavailableError, CommitError, EcdsaSigner, GatewayError, Identity, Signer, Timeouts
from fabric_gateway.aio import ChannelPeers, Connection, Contract, Gateway, Network
from tdses.chaincode import Chaincode, Code, Fn, error_code
from tdses.ecosystem import planning
from tdses.ecosystem.planning import Step, developer_orgs
from tdses.ecosystem.programmableweb import Ecosystem, Service
from tdses.ecosystem.progress import Progress, Summary, describe_selection
from tdses.ecosystem.secrets import SECRETS_FILE, SecretStore, SecretsUnreadable
from tdses.fabric.nodes import ca_name
from tdses.fabric.topology import Org
from tdses.local import network as local
from tdses.retry import RetryPolicy

DEFAULT_CONCURRENCY = 64
PAGE = 100
TIMEOUTS = Timeouts(evaluate=30, endorse=60, submit=30, commit_status=120)
# Every call of the import, under load: read conflicts, unreachable or slow peers, endorsers that disagree or are a
# block behind. 0.25 + 0.5 + 1 + 2 + 4 + 4 + 4 s of backoff at most, then the step is reported failed.
RETRY = RetryPolicy(attempts=8, initial_backoff=0.25, max_backoff=4.0)


class ImportFailed(Exception):
    """The import cannot go on (a CA or the network refused something the whole run depends on)."""


class ChaincodeError(Exception):
    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code


async def call(network: Network, contract: Contract, submit: bool, function: str, *args: str,
               policy: RetryPolicy = RETRY) -> dict:
    """One chaincode call, run again as `policy` allows; a chaincode refusal becomes ChaincodeError(code), any other
    failure that outlived the policy ChaincodeError(None). A write returns once every peer of the channel has it:
    the developer's next step may depend on it."""
    try:
        if not submit:
            return json.loads(await policy.evaluate(contract, function, *args))
        committed = await policy.submit(contract, function, *args, network=network)
        await network.wait_for_block(committed.block_number)
        return json.loads(committed.result)
    except GatewayError as error:
        code = error_code(error)
        if code is not None:
            raise ChaincodeError(code, error.chaincode_message or str(error)) from None
        raise ChaincodeError(None, f"{function}: {error.code.name}: {error.message}") from None
    except CommitError as error:
        raise ChaincodeError(None, f"{function}: {error}") from None


class Calls:
    """tdses.chaincode.Invoker through one identity's gateway: every call under the import's retry policy (a write
    may take its own, e.g. with a rule added)."""

    def __init__(self, network: Network, contract: Contract) -> None:
        self.network = network
        self.contract = contract

    async def evaluate(self, function: Fn, *args: str) -> dict:
        return await call(self.network, self.contract, False, function, *args)

    async def submit(self, function: Fn, *args: str, policy: RetryPolicy = RETRY) -> dict:
        return await call(self.network, self.contract, True, function, *args, policy=policy)


def step_call(chaincode: Chaincode, step: Step, **options) -> Awaitable[dict]:
    """The chaincode call that carries out a planned step."""
    service = step.service
    if step.action == Fn.REGISTER_SERVICE:
        return chaincode.register_service(service.spec(), **options)
    if step.action == Fn.CREATE_MASHUP:
        return chaincode.create_mashup(service.spec(), **options)
    if step.action == Fn.PUBLISH_SERVICE:
        return chaincode.publish_service(service.name, **options)
    if step.action == Fn.INVALIDATE_SERVICE:
        return chaincode.invalidate_service(service.name, **options)
    raise ValueError(f"no call for step {step.action}")


def lagging_endorser(action: str, error: BaseException) -> bool:
    """Whether a refusal contradicts what this developer already committed: the user or service it just created
    missing, or a component it saw published not available. Under load one endorser can be a block behind, so the
    policy endorses such a step again (this rule added to it) rather than reporting it."""
    code = error_code(error)
    if code in (Code.NOT_FOUND, Code.UNAUTHENTICATED):
        return True
    message = getattr(error, "chaincode_message", None) or ""
    return action == Fn.CREATE_MASHUP and code == Code.INVALID_STATE and "not available" in message


@dataclass
class Developer:
    name: str
    org: Org
    chaincode: Chaincode | None = None  # as this developer, through its organization's peers


class Importer:
    """Import `services` (a selection of `ecosystem`) onto `network`; `run()` returns the Summary."""

    def __init__(self, network: local.Network, ecosystem: Ecosystem, services: list[Service],
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

    def chaincode(self, org: Org, identity: Identity, signer: Signer) -> Chaincode:
        """The chaincode through org's peers, as `identity`."""
        if self._channel_peers is None:  # a write returns once every peer has it: the next step may depend on it
            self._channel_peers = ChannelPeers(self.network.channel_peers())
        gateway = Gateway(self.connection(org), identity, signer, timeouts=TIMEOUTS, channel_peers=self._channel_peers)
        t = self.network.topology
        channel = gateway.get_network(t.channel)
        return Chaincode(Calls(channel, channel.get_contract(t.chaincode_name)))

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
                    dev.chaincode = self.chaincode(
                        org, Identity(org.msp_id, enrollment.certificate), EcdsaSigner(enrollment.key))

                await asyncio.gather(*(enroll(d) for d in devs))

    async def _enroll(self, ca: AsyncCAClient, registrar: Enrollment, dev: Developer) -> Enrollment:
        """Enroll with the developer's saved secret. The secret is saved before the CA registers it, so a run that
        dies in between still holds it; a saved secret that does not enroll is registered (again) first: its
        registration may have failed."""
        known = self.secrets.get(dev.name)
        if known is None:
            self.secrets.put(dev.name, dev.org.name, secrets.token_urlsafe(24))
        secret = self.secrets.get(dev.name)["secret"]
        if known is not None:
            with contextlib.suppress(CAError):
                return await ca.enroll(dev.name, secret)
        try:
            await ca.register(registrar, dev.name, type="client", secret=secret)
        except CAError as error:
            if not error.has_code(ERR_DUPLICATE_IDENTITY):  # a duplicate: registered before, by us or not
                raise ImportFailed(f"cannot register developer {dev.name} at {ca_name(dev.org.ca)}: {error}; "
                                   "run the import again to go on") from None
        try:
            return await ca.enroll(dev.name, secret)
        except CAError as error:
            raise ImportFailed(
                f"cannot enroll developer {dev.name} at {ca_name(dev.org.ca)} with the secret in {self.secrets.path} "
                f"({error}); was it registered by another state directory?") from None

    async def register_developers(self) -> list[Developer]:
        """Check each developer's user on chain; returns those that still need RegisterUser."""
        missing = []

        async def check(dev: Developer) -> None:
            try:
                user = await dev.chaincode.query_user(dev.name)
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
            me = await dev.chaincode.who_am_i()
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
                    await self.submit(dev.chaincode.register_user(dev.name, "ProgrammableWeb developer (imported)"))
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
                    page = await dev.chaincode.services_by_developer(dev.name, page_size=PAGE, bookmark=bookmark)
                for record in page["records"]:
                    self.chain[record["name"]] = {"developer": record["developer"], "status": record["status"],
                                                  "components": record["components"]}
                bookmark = page["bookmark"]
                if not bookmark:
                    return

        await asyncio.gather(*(scan(d) for d in self.developers.values() if d.name not in skip))

    # --- plan --------------------------------------------------------------------------------------------

    def plan(self) -> list[dict[str, list[Step]]]:
        """Three phases of steps per developer, from what read_chain found (see tdses.ecosystem.planning)."""
        return planning.plan(self.services, self.chain, self.summary)

    def mashup_costs(self, phases: list[dict[str, list[Step]]]) -> dict[str, int]:
        return planning.mashup_costs(self.ecosystem, phases)

    async def fund(self, costs: dict[str, int]) -> None:
        """Top up developers whose balance cannot pay their mashups, from their organization's account
        (OrgTransfer by the org admin). The default 100 developers never need it on a fresh network."""
        short: dict[str, list[tuple[Developer, int]]] = {}
        for name, cost in costs.items():
            dev = self.developers[name]
            try:
                balance = (await dev.chaincode.balance_of(name))["balance"]
            except ChaincodeError as error:  # e.g. its RegisterUser failed: its mashups fail, reported each
                self.summary.fail("funded", f"BalanceOf {name}: {error}")
                continue
            if balance < cost:
                short.setdefault(dev.org.name, []).append((dev, cost - balance))
        for org_name, needs in short.items():
            org = self.network.topology.org(org_name)
            admin = self.chaincode(org, *self.network.state.admin(org))
            for dev, amount in needs:  # one after another: each debits the organization's account
                try:
                    await admin.org_transfer(dev.name, amount)
                    self.summary.transactions += 1
                    self.summary.tally[("funded", "new")] += 1
                except ChaincodeError as error:
                    self.summary.fail("funded", f"OrgTransfer {amount} to {dev.name}: {error}")

    # --- run ---------------------------------------------------------------------------------------------

    async def submit(self, write: Awaitable[dict]) -> dict:
        """Run one write of the import (a chaincode call, not started yet) within the concurrency limit."""
        async with self._slots:
            try:
                return await write
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
        this developer's previous transaction yet) is endorsed again, within the same policy's attempts."""
        policy = replace(RETRY, endorse_again=lambda error: lagging_endorser(step.action, error))
        await self.submit(step_call(dev.chaincode, step, policy=policy))

    async def explain(self, dev: Developer, step: Step, error: ChaincodeError) -> str | None:
        """"already" if the refusal means the step's result is on chain (an earlier run's transaction committed
        after that run stopped), "taken" if another user owns the name, None for a real failure."""
        if step.action in (Fn.REGISTER_SERVICE, Fn.CREATE_MASHUP) and error.code == Code.ALREADY_EXISTS:
            record = await dev.chaincode.query_service(step.service.name)
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
        except FileNotFoundError as error:  # a file of the organizations' (a registrar's secret, a TLS root)
            raise ImportFailed(f"{error.filename} is missing: is {self.network.state.root} the state directory of "
                               "the network to import onto?") from None
        except (CAError, ChaincodeError, httpx.HTTPError, BlockUnavailableError, OSError) as error:
            raise ImportFailed(f"{error}; nothing done is lost: run the import again to go on") from None
        finally:
            for connection in self._connections.values():
                await connection.close()
            if self._channel_peers is not None:
                await self._channel_peers.close()
            self.summary.elapsed = time.monotonic() - started
        return self.summary


def import_ecosystem(network: local.Network, ecosystem: Ecosystem, limit: int | None = None,
                     concurrency: int = DEFAULT_CONCURRENCY, progress: Progress | None = None) -> Summary:
    """Select (all, or the first `limit` APIs and their mashups), import, and return the summary."""
    services = ecosystem.select(limit)
    try:
        importer = Importer(network, ecosystem, services, concurrency, progress)
    except SecretsUnreadable as error:
        raise ImportFailed(f"{error}; it holds the developers' enrollment secrets: restore it, or import onto a new "
                           "network") from None
    describe_selection(importer.summary, ecosystem, services, limit)
    return asyncio.run(importer.run())
