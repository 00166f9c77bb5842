"""`tdses import programmableweb` on the real network: a small deterministic slice, read back from another
organization's peer, then extended with fresh enrollments of the same developers, then a rerun that submits
nothing."""

from __future__ import annotations

import json
import stat

import pytest

from tdses.cli import main
from tdses.ecosystem.secrets import SECRETS_FILE

from tests.integration.test_chaincode_scenarios import Client

pytestmark = pytest.mark.integration

GRANT = 1000  # network-config/stoken.yaml initialGrant (the session registers far fewer than 1000 users)


@pytest.fixture(scope="module")
def eco(programmableweb_slice):
    return programmableweb_slice.eco


@pytest.fixture(scope="module")
def imported(programmableweb_slice):
    """Half the slice, then the whole slice (every developer enrolled again), as the summaries say."""
    return programmableweb_slice.first, programmableweb_slice.second


@pytest.fixture(scope="module")
def limit(programmableweb_slice):
    return programmableweb_slice.limit


@pytest.fixture(scope="module")
def reader(network, enroll, imported):
    client = Client(enroll("org2", "pw-reader"), network.topology.org("org2").peers[1])
    yield client
    client.close()


def names_by_status(reader: Client, status: str, ours: set[str]) -> set[str]:
    found, bookmark = set(), ""
    while True:
        page = reader.evaluate("QueryServiceByStatus", status, "100", bookmark)
        found |= {r["name"] for r in page["records"]} & ours
        bookmark = page["bookmark"]
        if not bookmark:
            return found


def test_both_runs_succeed_and_the_second_reuses_the_developers(imported, eco, limit):
    first, second = imported
    developers = len(eco.developers)
    assert first.failed == 0 and second.failed == 0, (first.render(), second.render())
    assert first.tally[("developers", "new")] == developers
    # New certificates, same users: the chain binds a user to subject + issuer, which re-enrollment keeps.
    assert second.tally[("developers", "already")] == developers and second.tally[("developers", "new")] == 0
    assert second.tally[("services", "already")] == limit // 2
    assert second.tally[("services", "new")] == limit - limit // 2
    assert second.selected["mashups"] == sum(s.composed for s in eco.select(limit)) == 8


def test_counts_by_status_match_the_data(reader, eco, limit):
    chosen = eco.select(limit)
    ours = {s.name for s in chosen}
    assert names_by_status(reader, "available", ours) == {s.name for s in chosen if s.alive}
    assert names_by_status(reader, "invalid", ours) == {s.name for s in chosen if not s.alive}
    assert names_by_status(reader, "created", ours) == set()


def test_a_mashup_has_its_components_and_a_dead_api_is_invalid(reader, eco, limit):
    chosen = {s.name: s for s in eco.select(limit)}
    mashup = reader.evaluate("QueryService", "basecamp-37454a")  # "Mashup: Basecamp", a name taken by an API
    assert mashup["mashup"] is True and mashup["components"] == ["worksnaps"]
    assert mashup["developer"] == chosen["basecamp-37454a"].developer
    dead = next(s for s in chosen.values() if s.kind == "api" and not s.alive)
    assert reader.evaluate("QueryService", dead.name)["status"] == "invalid"
    untappd = reader.evaluate("QueryService", "untappd")
    assert untappd["status"] == "available" and untappd["url"] == "https://www.programmableweb.com/api/untappd"


def test_creators_paid_their_components_developers(reader, eco, limit):
    chosen = eco.select(limit)
    price = {s.name: s for s in chosen}
    balance = {d: GRANT for d in eco.developers}
    compositions = {}
    for m in (s for s in chosen if s.composed):
        for c in m.components:
            owner = price[c].developer
            if owner != m.developer:
                balance[m.developer] -= price[c].price
                balance[owner] += price[c].price
                compositions[c] = compositions.get(c, 0) + 1
    assert any(b != GRANT for b in balance.values())  # the slice moves SToken at all
    for developer, expected in balance.items():
        assert reader.evaluate("BalanceOf", developer)["balance"] == expected, developer
    for component, count in compositions.items():
        assert reader.evaluate("GetCallTimesOfService", component)["compositions"] == count


def test_a_rerun_submits_nothing(network, eco, limit, capsys):
    code = main(["import", "programmableweb", "--state-dir", str(network.state.root), "--limit", str(limit),
                 "--developers", str(len(eco.developers)), "--concurrency", "16"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "transactions 0 in" in out


def test_only_enrollment_secrets_are_kept(network, eco):
    path = network.state.secrets / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entries = json.loads(path.read_text())
    assert sorted(entries) == eco.developers
    assert {e["org"] for e in entries.values()} == {"org1", "org2", "org3"}
    assert all(set(e) == {"org", "secret"} for e in entries.values())
    assert not any("PRIVATE KEY" in p.read_text(errors="ignore") for p in network.state.secrets.iterdir()
                   if p.is_file() and "programmableweb" in p.name)
