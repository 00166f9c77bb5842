"""The importer's decisions without a network: what a (re)run submits, in which phase, and what it reports."""

from __future__ import annotations

import io
import stat

import grpc
import pytest

from fabric_ca import ERR_DUPLICATE_IDENTITY, CAError
from fabric_ca.errors import CAErrorEntry
from fabric_gateway import EndorseError, ErrorDetail
from tdses.chaincode import Chaincode
from tdses.ecosystem.planning import Step, developer_orgs
from tdses.ecosystem.programmableweb import data_dir, load
from tdses.ecosystem.progress import Progress, Summary
from tdses.ecosystem.running import RETRY, Calls, ChaincodeError, Importer, ImportFailed, call, import_ecosystem
from tdses.ecosystem.secrets import SECRETS_FILE, SecretStore
from tdses.fabric.state import State
from tdses.fabric.topology import load as load_topology
from tdses.local.network import Network

from tests.support.fake_contract import FakeContract, FakeNetwork

DATA = data_dir()


@pytest.fixture(scope="module")
def eco():
    return load(DATA, developers=6)


def importer(tmp_path, eco, services) -> Importer:
    network = Network(State(tmp_path), load_topology("default", 20000))
    return Importer(network, eco, services, concurrency=4, progress=Progress(io.StringIO()))


def actions(phase: dict) -> list[tuple[str, str]]:
    return sorted((step.action, step.service.name) for steps in phase.values() for step in steps)


def test_developers_are_dealt_over_the_organizations_in_turn():
    orgs = load_topology("default", 20000).orgs
    placed = developer_orgs([f"d{i}" for i in range(7)], orgs)
    assert [placed[f"d{i}"].name for i in range(7)] == ["org1", "org2", "org3", "org1", "org2", "org3", "org1"]


def test_a_first_run_registers_publishes_composes_then_invalidates_the_dead(tmp_path, eco):
    chosen = eco.select(60)
    phases = importer(tmp_path, eco, chosen).plan()
    services, mashups, dead = phases
    apis = [s for s in chosen if s.kind == "api"]
    assert actions(services) == sorted([("RegisterService", s.name) for s in apis] +
                                       [("PublishService", s.name) for s in apis])
    composed = [s for s in chosen if s.composed]
    assert actions(mashups) == sorted([("CreateMashup", m.name) for m in composed] +
                                      [("PublishService", m.name) for m in composed])
    assert actions(dead) == sorted(("InvalidateService", s.name) for s in chosen if not s.alive)
    # Each developer's steps keep the lifecycle order: register before publish.
    for steps in services.values():
        for i, step in enumerate(steps):
            if step.action == "PublishService":
                assert ("RegisterService", step.service.name) in [(s.action, s.service.name) for s in steps[:i]]
    assert all(step.service.developer == dev for phase in phases for dev, steps in phase.items() for step in steps)


def test_a_rerun_on_a_finished_import_plans_nothing(tmp_path, eco):
    chosen = eco.select(60)
    imp = importer(tmp_path, eco, chosen)
    imp.chain = {s.name: {"developer": s.developer, "status": "available" if s.alive else "invalid"} for s in chosen}
    assert imp.plan() == [{}, {}, {}]
    assert imp.summary.tally[("services", "already")] == 60
    assert imp.summary.tally[("invalidated", "already")] == sum(not s.alive for s in chosen)


def test_an_interrupted_import_finishes_only_what_is_missing(tmp_path, eco):
    chosen = eco.select(60)
    first, second = chosen[0], chosen[1]
    components = {c for m in chosen for c in m.components}
    invalid, pending = [s for s in chosen[2:] if s.kind == "api" and not s.alive and s.name not in components][:2]
    imp = importer(tmp_path, eco, chosen)
    imp.chain = {s.name: {"developer": s.developer, "status": "available"} for s in chosen if s.kind == "api"}
    imp.chain[first.name]["status"] = "created"  # registered, never published
    del imp.chain[second.name]  # never registered
    imp.chain[invalid.name]["status"] = "invalid"  # the last phase had begun
    services, mashups, dead = imp.plan()
    assert actions(services) == sorted([("PublishService", first.name), ("RegisterService", second.name),
                                        ("PublishService", second.name)])
    assert len(actions(mashups)) == 2 * sum(s.composed for s in chosen)
    assert ("InvalidateService", pending.name) in actions(dead)
    assert ("InvalidateService", invalid.name) not in actions(dead)


def test_a_dead_component_already_invalid_is_published_again_for_a_new_mashup(tmp_path, eco):
    # A smaller import finished (its dead APIs invalid); a larger one now composes one of them into a mashup.
    chosen = eco.select(60)
    mashup = next(m for m in chosen if m.composed and any(not c.alive for c in chosen if c.name in m.components))
    component = next(c for c in chosen if c.name in mashup.components and not c.alive)
    imp = importer(tmp_path, eco, chosen)
    imp.chain = {s.name: {"developer": s.developer, "status": "available" if s.alive else "invalid"}
                 for s in chosen if s.kind == "api"}
    services, mashups, dead = imp.plan()
    assert ("PublishService", component.name) in actions(services)
    assert ("CreateMashup", mashup.name) in actions(mashups)
    assert ("InvalidateService", component.name) in actions(dead)
    assert imp.summary.notes["dead APIs published again for new mashups, invalidated again after"] >= 1


def test_mashup_costs_count_only_other_developers_components(tmp_path, eco):
    chosen = eco.select(60)
    imp = importer(tmp_path, eco, chosen)
    costs = imp.mashup_costs(imp.plan())
    price = {a.name: a for a in eco.apis}
    expected = {}
    for m in (s for s in chosen if s.composed):
        paid = sum(price[c].price for c in m.components if price[c].developer != m.developer)
        expected[m.developer] = expected.get(m.developer, 0) + paid
    assert {d: c for d, c in costs.items() if c} == {d: c for d, c in expected.items() if c}


def test_secrets_are_kept_in_one_owner_only_file(tmp_path):
    store = SecretStore(tmp_path / "secrets" / "pw.json")
    store.put("pw-dev-001", "org1", "s3cret")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert SecretStore(store.path).get("pw-dev-001") == {"org": "org1", "secret": "s3cret"}
    assert "BEGIN" not in store.path.read_text()  # a secret, never a key


def test_progress_prints_a_line_per_tenth_when_not_a_terminal():
    out = io.StringIO()
    progress = Progress(out)
    progress.plan(200)
    for _ in range(200):
        progress.tick()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("import: 200/200 transactions (100%)")
    assert "tx/s" in lines[0] and "ETA" in lines[0]


def test_summary_lists_counts_rate_and_skip_reasons():
    summary = Summary(transactions=300, elapsed=10.0)
    summary.selected.update({"services": 60, "mashups": 8})
    summary.tally.update({("services", "new"): 59, ("services", "already"): 1})
    summary.fail("mashups", "CreateMashup x by pw-dev-001: INSUFFICIENT_FUNDS")
    summary.skipped["edges to APIs missing from the data (dropped)"] = 3
    text = summary.render()
    assert "services" in text and "30.0 tx/s" in text and "      3  edges to APIs missing" in text
    assert summary.failed == 1 and "INSUFFICIENT_FUNDS" in text


@pytest.fixture
def no_sleep(monkeypatch):
    async def instant(_):
        return None

    monkeypatch.setattr("tdses.retry.sleep", instant)


def on(dev, contract: FakeContract) -> FakeContract:
    dev.chaincode = Chaincode(Calls(FakeNetwork(contract), contract))
    return contract


async def test_disagreeing_endorsers_and_unreachable_peers_are_tried_again(no_sleep):
    mismatch = EndorseError(grpc.StatusCode.ABORTED, "failed to collect enough transaction endorsements")
    down = EndorseError(grpc.StatusCode.UNAVAILABLE, "no peer")
    contract = FakeContract(endorse=[mismatch, down])
    network = FakeNetwork(contract)
    assert await call(network, contract, True, "PublishService", "x") == {"ok": True}
    assert len(contract.steps("endorse")) == 3 and contract.steps("submit") == ["tx3"]
    assert network.waited == [5]  # the write is on every peer before the next step


async def test_one_policy_bounds_the_attempts_of_a_step(no_sleep):
    # The client library never retries: RETRY's attempts are all a step gets, whatever keeps failing.
    contract = FakeContract(endorse=[EndorseError(grpc.StatusCode.UNAVAILABLE, "no peer")] * 100)
    with pytest.raises(ChaincodeError) as error:
        await call(FakeNetwork(contract), contract, True, "PublishService", "x")
    assert error.value.code is None and "UNAVAILABLE" in str(error.value)
    assert len(contract.steps("endorse")) == RETRY.attempts


async def test_a_chaincode_refusal_is_not_retried_and_keeps_its_code(no_sleep):
    refused = EndorseError(grpc.StatusCode.ABORTED, "failed to endorse", [
        ErrorDetail("peer0", "Org1MSP", 'chaincode response 500, ALREADY_EXISTS: service "x" already exists')])
    contract = FakeContract(endorse=[refused])
    with pytest.raises(ChaincodeError) as error:
        await call(FakeNetwork(contract), contract, True, "RegisterService", "{}")
    assert error.value.code == "ALREADY_EXISTS" and contract.steps("endorse") == ["tx1"]


def not_found(message: str) -> EndorseError:
    return EndorseError(grpc.StatusCode.ABORTED, "failed to endorse", [
        ErrorDetail("peer0", "Org2MSP", f"chaincode response 500, NOT_FOUND: {message}")])


async def test_a_step_refused_by_an_endorser_a_block_behind_is_tried_again(tmp_path, eco, no_sleep):
    # Under load, publishing right after registering can reach a peer that has not committed the registration.
    service = eco.apis[0]
    imp = importer(tmp_path, eco, [service])
    dev = imp.developers[service.developer]
    contract = on(dev, FakeContract(endorse=[not_found(f'service "{service.name}" does not exist')]))
    await imp.do(dev, Step("PublishService", service))
    assert contract.steps("endorse") == ["tx1", "tx2"] and contract.steps("submit") == ["tx2"]
    assert imp.summary.tally[("published", "new")] == 1 and imp.summary.failed == 0 and imp.summary.transactions == 1


async def test_a_real_refusal_is_reported_once_and_blocks_the_services_later_steps(tmp_path, eco, no_sleep):
    service = eco.apis[0]
    imp = importer(tmp_path, eco, [service])
    dev = imp.developers[service.developer]
    broke = EndorseError(grpc.StatusCode.ABORTED, "failed to endorse", [
        ErrorDetail("peer0", "Org1MSP", "chaincode response 500, INVALID_ARGUMENT: url must be absolute")])
    contract = on(dev, FakeContract(endorse=[broke]))
    await imp.do(dev, Step("RegisterService", service))
    await imp.do(dev, Step("PublishService", service))
    assert contract.calls == [("endorse", "tx1")] and imp.summary.failed == 1
    assert imp.summary.skipped["RegisterService failed (PublishService)"] == 1


class FlakyCA:
    """A CA whose registrations fail `failing` times with a bare HTTP 500, and which enrolls its identities."""

    def __init__(self, failing: int = 0, registered: dict[str, str] | None = None) -> None:
        self.failing = failing
        self.identities = dict(registered or {})

    async def register(self, registrar, name: str, type: str, secret: str) -> None:
        if self.failing:
            self.failing -= 1
            raise CAError(500, [], text="Internal Server Error")
        if name in self.identities:
            raise CAError(400, [CAErrorEntry(ERR_DUPLICATE_IDENTITY, "already registered")])
        self.identities[name] = secret

    async def enroll(self, name: str, secret: str) -> str:
        if self.identities.get(name) != secret:
            raise CAError(401, [CAErrorEntry(20, "Authentication failure")])
        return f"enrollment of {name}"


async def test_a_registration_that_failed_after_its_secret_was_saved_is_made_by_the_next_run(tmp_path, eco):
    chosen = eco.select(3)
    ca = FlakyCA(failing=1)
    dev = next(iter(importer(tmp_path, eco, chosen).developers.values()))
    with pytest.raises(ImportFailed, match="cannot register developer .*run the import again"):
        await importer(tmp_path, eco, chosen)._enroll(ca, None, dev)
    assert await importer(tmp_path, eco, chosen)._enroll(ca, None, dev) == f"enrollment of {dev.name}"
    assert await importer(tmp_path, eco, chosen)._enroll(ca, None, dev) == f"enrollment of {dev.name}"  # as is


async def test_a_developer_another_state_directory_registered_is_refused_clearly(tmp_path, eco):
    chosen = eco.select(3)
    dev = next(iter(importer(tmp_path, eco, chosen).developers.values()))
    with pytest.raises(ImportFailed, match="registered by another state directory"):
        await importer(tmp_path, eco, chosen)._enroll(FlakyCA(registered={dev.name: "someone else's"}), None, dev)


async def test_a_developer_whose_balance_cannot_be_read_is_a_funding_failure_not_a_crash(tmp_path, eco):
    chosen = eco.select(3)
    imp = importer(tmp_path, eco, chosen)
    name, dev = next(iter(imp.developers.items()))

    class Unregistered:
        async def balance_of(self, account):
            raise ChaincodeError("NOT_FOUND", f'user "{account}" not found')

    dev.chaincode = Unregistered()
    await imp.fund({name: 5})
    assert imp.summary.tally[("funded", "failed")] == 1


@pytest.mark.parametrize("content", ["{not json", "[]", '{"pw-dev-001": {"org": "org1"}}'])
def test_an_unreadable_secrets_file_is_a_clear_error_that_changes_nothing(tmp_path, eco, content):
    network = Network(State(tmp_path), load_topology("default", 20000))
    path = network.state.secrets / SECRETS_FILE
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ImportFailed, match=f"{path}.*restore it"):
        import_ecosystem(network, eco, limit=3, progress=Progress(io.StringIO()))
    assert path.read_text() == content


async def test_a_missing_file_of_the_state_directory_is_a_clear_error(tmp_path, eco):
    imp = importer(tmp_path, eco, eco.select(3))  # a state directory without the organizations' files
    with pytest.raises(ImportFailed, match=f"is missing: is {tmp_path} the state directory"):
        await imp.run()
