"""Caliper's yardstick (tests/benchmarks/caliper.py): its configuration from a network's state, the benchmark filled
in with the world, the report read back, the workload modules' buyer pool, and what it says when Caliper is missing."""

import json
import stat
import subprocess

import pytest
import yaml

from tdses.fabric.state import State
from tests.benchmarks import caliper

PEER_ORGS = ("org1", "org2", "org3")


def fake_state(root):
    """The layout `tdses network up --base-port 27050` leaves, as far as Caliper's configuration reads it."""
    state = State(root)
    state.write_manifest({"topology": "default", "base_port": 27050})
    topology = state.topology()
    for org in topology.orgs:
        tls = state.tls_ca_cert(org)
        tls.parent.mkdir(parents=True)
        tls.write_text("-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n")
    return topology, state


def member(tmp_path, name, msp_id):
    home = tmp_path / "identities" / name
    return caliper.Member(name, msp_id, caliper.write_private(home / "cert.pem", "cert"),
                          caliper.write_private(home / "key.pem", "key"))


def listing(root):
    return sorted(p.relative_to(root) for p in root.rglob("*"))


def test_network_config_names_channel_chaincode_and_each_members_files(tmp_path):
    topology, state = fake_state(tmp_path / "state")
    work = tmp_path / "work"
    alice, bob = member(work, "alice", "Org1MSP"), member(work, "bob", "Org3MSP")
    before = listing(tmp_path / "state")

    config = yaml.safe_load(caliper.write_network(topology, state, [alice, bob], work).read_text())

    assert config["version"] == "2.0.0"
    assert config["channels"] == [{"channelName": "tdses", "contracts": [{"id": "tdses"}]}]
    assert [o["mspid"] for o in config["organizations"]] == ["Org1MSP", "Org3MSP"]  # org2 has nobody to sign
    org1 = config["organizations"][0]
    assert org1["identities"]["certificates"] == [{
        "name": "alice", "clientPrivateKey": {"path": str(work / "identities/alice/key.pem")},
        "clientSignedCert": {"path": str(work / "identities/alice/cert.pem")}}]
    assert org1["connectionProfile"]["path"] == str(work / "connection-org1.json")
    assert listing(tmp_path / "state") == before  # nothing written into the network's state


def test_connection_profile_dials_the_orgs_peers_on_loopback_with_its_tls_root(tmp_path):
    topology, state = fake_state(tmp_path / "state")
    work = tmp_path / "work"
    caliper.write_network(topology, state, [member(work, "alice", "Org1MSP")], work)

    profile = json.loads((work / "connection-org1.json").read_text())

    assert profile["client"]["organization"] == "Org1MSP"
    assert profile["organizations"]["Org1MSP"]["peers"] == ["peer0.org1.tdses.test", "peer1.org1.tdses.test"]
    peer0 = profile["peers"]["peer0.org1.tdses.test"]
    assert peer0["url"] == "grpcs://127.0.0.1:27061"  # base port 27050: the orderers, their CA, then org1's peer0
    assert peer0["grpcOptions"]["ssl-target-name-override"] == "peer0.org1.tdses.test"
    assert peer0["tlsCACerts"]["path"] == str(
        tmp_path / "state/crypto/peerOrganizations/org1.tdses.test/tlsca/tlsca.org1.tdses.test-cert.pem")
    assert profile["peers"]["peer1.org1.tdses.test"]["url"] == "grpcs://127.0.0.1:27064"


def test_files_naming_keys_are_readable_by_their_owner_only(tmp_path):
    topology, state = fake_state(tmp_path / "state")
    work = tmp_path / "work"
    alice = member(work, "alice", "Org2MSP")
    network = caliper.write_network(topology, state, [alice], work)
    for path in (network, alice.private_key, work / "connection-org2.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_network_config_refuses_a_member_of_another_network_and_a_missing_tls_root(tmp_path):
    topology, state = fake_state(tmp_path / "state")
    work = tmp_path / "work"
    with pytest.raises(ValueError, match="Org9MSP"):
        caliper.write_network(topology, state, [member(work, "eve", "Org9MSP")], work)
    state.tls_ca_cert(topology.org("org2")).unlink()
    with pytest.raises(FileNotFoundError, match="tlsca.org2"):
        caliper.write_network(topology, state, [member(work, "alice", "Org1MSP")], work)


def buyers(tmp_path, n):
    return [member(tmp_path, f"buyer-{i}", f"Org{i % 3 + 1}MSP") for i in range(n)]


def test_benchmark_has_a_query_and_a_purchase_round_filled_with_the_world(tmp_path):
    base = yaml.safe_load(caliper.BENCHMARK.read_text())
    config = caliper.benchmark_config(base, channel="tdses", contract="tdses", service="svc-1",
                                      buyers=buyers(tmp_path, 4), workers=2, seconds=45,
                                      loads={"query": 12, "purchase": 6})

    assert config["test"]["workers"] == {"number": 2}
    query, purchase = config["test"]["rounds"]
    assert (query["label"], purchase["label"]) == ("query", "purchase")
    assert [r["txDuration"] for r in (query, purchase)] == [45, 45]
    assert [r["rateControl"]["opts"]["transactionLoad"] for r in (query, purchase)] == [12, 6]
    for round_ in (query, purchase):
        module = round_["workload"]["module"]
        assert module.startswith("/") and (caliper.MODULES / module).is_file()
        arguments = round_["workload"]["arguments"]
        assert arguments["service"] == "svc-1"
        assert arguments["buyers"][1] == {"name": "buyer-1", "mspId": "Org2MSP"}
    assert purchase["workload"]["arguments"]["maxPrice"] == caliper.PRICE
    assert base["test"]["rounds"][0]["workload"]["arguments"]["buyers"] == []  # the base is left as it was


def test_benchmark_refuses_fewer_buyers_than_workers_and_unknown_rounds(tmp_path):
    base = yaml.safe_load(caliper.BENCHMARK.read_text())
    common = dict(channel="tdses", contract="tdses", service="s", seconds=10)
    with pytest.raises(ValueError, match="buyer of its own"):
        caliper.benchmark_config(base, buyers=buyers(tmp_path, 1), workers=2, loads={"query": 1, "purchase": 1},
                                 **common)
    with pytest.raises(ValueError, match="rounds"):
        caliper.benchmark_config(base, buyers=buyers(tmp_path, 2), workers=2, loads={"query": 1}, **common)
    with pytest.raises(ValueError, match="at least 1"):
        caliper.benchmark_config(base, buyers=buyers(tmp_path, 2), workers=2, loads={"query": 1, "purchase": 0},
                                 **common)


HEAD = ("<tr> <th>Name</th> <th>Succ</th> <th>Fail</th> <th>Send Rate (TPS)</th> <th>Max Latency (s)</th> "
        "<th>Min Latency (s)</th> <th>Avg Latency (s)</th> <th>Throughput (TPS)</th></tr>")


def row(*cells):
    return "<tr>" + "".join(f" <td>{c}</td>" for c in cells) + "</tr>"


def report(summary_rows, round_rows=()):
    """A page shaped like caliper-core's report template: the summary, then a table per round."""
    rounds = "".join(f'<div id="r{i}"><h3>Performance metrics</h3><table>{HEAD}{r}</table></div>'
                     for i, r in enumerate(round_rows))
    return (f'<html><body><div id="benchmarksummary"><table><h3>Summary of performance metrics</h3>{HEAD}'
            f'{"".join(summary_rows)}</table></div>{rounds}</body></html>')


def test_report_summary_gives_each_rounds_figures():
    html = report([row("query", 262, 0, 26.4, 0.60, 0.01, 0.14, 26.3),
                   row("purchase", 90, 10, 9.7, 1.82, 0.50, 1.04, 9.5)],
                  [row("query", 1, 1, 1, 1, 1, 1, 1)])  # a round's own table must not be taken for the summary

    figures = caliper.parse_report(html)

    assert list(figures) == ["query", "purchase"]
    assert figures["query"] == {"succ": 262, "fail": 0, "send_rate": 26.4, "max_latency": 0.6, "min_latency": 0.01,
                                "avg_latency": 0.14, "throughput": 26.3, "valid_tps": 26.3}
    assert figures["purchase"]["fail"] == 10
    assert figures["purchase"]["valid_tps"] == 8.6  # Caliper's 9.5 TPS counts the 10 failures too


def test_report_round_without_a_success_has_no_latency():
    figures = caliper.parse_report(report([row("purchase", 0, 40, 4.0, "-", "-", "-", 3.9)]))
    assert figures["purchase"]["avg_latency"] is None and figures["purchase"]["valid_tps"] == 0.0
    assert "-" in caliper.render(figures)


def test_report_without_a_summary_or_with_other_columns_is_refused():
    with pytest.raises(ValueError, match="no summary"):
        caliper.parse_report("<html><body><p>No data within test result</p></body></html>")
    with pytest.raises(ValueError, match="Throughput"):
        caliper.parse_report(report([]).replace("<th>Throughput (TPS)</th>", ""))


def test_missing_node_or_caliper_says_what_to_install(tmp_path, monkeypatch):
    install = caliper.Installation(tmp_path / "caliper-0.6.0", "0.6.0", "fabric:2.5")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(caliper.CaliperUnavailable, match="Node.js 20 and npm"):
        install.check()
    monkeypatch.undo()  # Node.js and npm are on the PATH: make test needs them (browser-tools)
    with pytest.raises(caliper.CaliperUnavailable, match="make caliper-tools"):
        install.check()


def test_caliper_pins_come_from_the_makefile():
    install = caliper.Installation.pinned(cache_dir=caliper.ROOT / "unused")
    assert install.version == "0.6.0" and install.sut == "fabric:2.5"
    assert install.directory.name == "caliper-0.6.0"
    assert install.marker.name == ".bound-fabric-2.5"  # what `make caliper-tools` touches


POOL = """
const { BuyerPool } = require(process.argv[1]);
const buyers = [0, 1, 2, 3, 4].map(i => ({ name: 'b' + i, mspId: 'Org1MSP' }));
const pools = [new BuyerPool(buyers, 0, 2), new BuyerPool(buyers, 1, 2)];
const out = { shares: pools.map(p => p.buyers.map(b => b.name)) };
const p = pools[0];
const first = p.take(), second = p.take();
p.release(first);
out.taken = [first.name, second.name, p.take().name, p.take().name];
out.busy = [p.take().name];  // every buyer of worker 0 has a purchase in flight: the next in turn, all the same
try { new BuyerPool(buyers.slice(0, 1), 1, 2); } catch (e) { out.error = e.message; }
console.log(JSON.stringify(out));
"""


def test_buyer_pool_splits_buyers_between_workers_and_prefers_one_without_a_purchase_in_flight():
    result = subprocess.run(["node", "-e", POOL, str(caliper.MODULES / "buyers.js")], capture_output=True,
                            text=True, check=True, timeout=30)
    out = json.loads(result.stdout)
    assert out["shares"] == [["b0", "b2", "b4"], ["b1", "b3"]]
    # b0 and b2 taken, b0 given back: b4 is free and next in turn, then b0 again; b2 is still busy
    assert out["taken"] == ["b0", "b2", "b4", "b0"]
    assert out["busy"] == ["b2"]
    assert "has no buyer" in out["error"]
