"""The benchmark suite's pure parts: its plan and budget, the summaries' figures, ratios, the report's tables."""

from __future__ import annotations

import grpc
import pytest

from fabric_gateway import CommitError, EndorseError, GatewayError
from fabric_gateway.errors import ErrorDetail
from tests.benchmarks.suite import clients, plan, report
from tests.benchmarks.suite.cpu import TICKS, parse_stat
from tests.benchmarks.suite.plan import Point
from tests.benchmarks.suite.results import (Measured, combine, dropped, errors_by_kind, percentile, ratio,
                                             round_ratios, summarize)


def summary(throughput: float, p50: float = 0.01, ok: int = 100, statuses=None, failures=None) -> dict:
    return {"requests": ok, "ok": ok, "seconds": 10.0, "throughput": throughput, "p50": p50, "p90": p50,
            "p99": p50 * 2, "max": p50 * 3, "statuses": statuses or {}, "failures": failures or {}}


def measured(workload: str, client: str, c: int, throughput: float, **kwargs) -> Measured:
    return Measured(Point(workload, client, c, 30), summary(throughput, **kwargs))


def test_the_plan_compares_every_client_at_each_compared_concurrency_and_ends_with_the_no_drop_point():
    points = plan.build(30, 60)
    for c in plan.COMPARED:
        for workload in ("query", "purchase"):
            assert {p.client for p in points if (p.workload, p.concurrency) == (workload, c)} == set(plan.CLIENTS)
    assert points[-1] == Point("purchase", "rest", plan.NO_DROP, 60, "no-drop")
    assert {p.concurrency for p in points if p.client == "rest" and p.workload == "purchase"} >= set(plan.RAMP)


def test_compared_points_run_in_rounds_with_the_clients_order_mirrored():
    points = [p for p in plan.build(30, 60) if (p.workload, p.concurrency, p.purpose) == ("purchase", 32, "compare")]
    assert [(p.round, p.client) for p in points] == [
        (1, "official"), (1, "rest"), (1, "python"), (2, "python"), (2, "rest"), (2, "official")]
    assert {p.seconds for p in points} == {30 / plan.ROUNDS}
    assert all(p.round == 0 for p in plan.build(30, 60) if p.purpose != "compare")


def rounds(workload: str, client: str, c: int, *throughputs: float, p50s=()) -> list[Measured]:
    return [Measured(Point(workload, client, c, 10, round=n), summary(t, p50=p50s[n - 1] if p50s else 0.01,
                                                                       ok=int(t * 10)), gateway_cpu=1.0)
            for n, t in enumerate(throughputs, 1)]


def test_the_rounds_of_a_point_are_combined_where_its_first_round_stood():
    latency = Measured(Point("purchase", "rest", 1, 30, "latency"), summary(7.0))
    results = combine([latency, *rounds("purchase", "official", 32, 100.0, 80.0),
                       *rounds("purchase", "rest", 32, 90.0, 70.0, p50s=(0.2, 0.4))])
    assert [m.point for m in results] == [latency.point, Point("purchase", "official", 32, 20),
                                          Point("purchase", "rest", 32, 20)]
    rest = results[2]
    assert (rest.summary["ok"], rest.summary["seconds"], rest.gateway_cpu) == (1600, 20.0, 2.0)
    assert rest.summary["throughput"] == pytest.approx(80.0)
    assert rest.summary["p50"] == pytest.approx((0.2 * 900 + 0.4 * 700) / 1600)  # averaged by requests
    assert rest.rounds == [90.0, 70.0]
    assert ratio(results, "purchase", "rest", 32) == pytest.approx(80.0 / 90.0)
    assert round_ratios(results, "purchase", "rest", 32) == pytest.approx([0.9, 0.875])
    assert "| REST / official, purchases, c=32 | 0.89× (rounds 0.90×, 0.88×) |" in report.headline(results)


def test_a_round_not_measured_leaves_the_others_and_is_named():
    first, second = rounds("query", "rest", 8, 50.0, 60.0)
    second.summary, second.skipped = None, "time budget spent"
    [m] = combine([first, second])
    assert m.summary["throughput"] == pytest.approx(50.0) and m.rounds == [50.0]
    assert m.notes == ["query rest c=8 round 2 (time budget spent)"]
    [none] = combine([Measured(Point("query", "rest", 8, 10, round=1), skipped="failed: refused")])
    assert none.summary is None and none.skipped == "failed: refused"


def test_fitting_a_budget_shortens_every_point_but_the_no_drop_one():
    points = plan.build(30, 60)
    fitted = plan.fit(points, 900)
    assert plan.estimate(fitted) <= 900 + plan.OVERHEAD_SECONDS
    assert all(p.seconds < 30 for p in fitted if p.purpose != "no-drop")
    assert [p for p in fitted if p.purpose == "no-drop"][0].seconds == 60
    assert plan.fit(points, 10**6) == points


def test_fitting_an_impossible_budget_keeps_points_at_the_floor():
    assert {p.seconds for p in plan.fit(plan.build(30, 60), 1) if p.purpose != "no-drop"} == {5.0}


def test_percentile_is_the_load_generators_nearest_rank():
    samples = [float(i) for i in range(1, 101)]
    assert (percentile(samples, 50), percentile(samples, 99), percentile([], 50)) == (50.0, 99.0, 0.0)
    assert percentile([1.0, 2.0], 50) == 1.0


def test_a_python_clients_summary_times_failures_too_but_counts_only_successes_as_throughput():
    s = summarize([0.1, 0.2, 0.3], {"commit: MVCC_READ_CONFLICT": 1}, 2.0, [0.9])
    assert (s["requests"], s["ok"], s["throughput"], s["max"]) == (4, 3, 1.5, 0.9)
    assert s["failures"] == {"commit: MVCC_READ_CONFLICT": 1} and s["statuses"] == {}


def test_errors_by_kind_puts_failed_statuses_and_transport_failures_together_most_frequent_first():
    s = summary(10, statuses={"200": 90, "409": 2, "503": 5}, failures={"connection reset": 3})
    assert errors_by_kind(s) == {"HTTP 503": 5, "connection reset": 3, "HTTP 409": 2}
    assert dropped(s) == 3
    assert dropped(summary(10, failures={"timeout": 4})) == 0


def test_ratio_is_throughput_over_the_official_clients_at_the_same_point():
    results = [measured("purchase", "official", 128, 100.0), measured("purchase", "rest", 128, 80.0),
               measured("purchase", "rest", 32, 40.0)]
    assert ratio(results, "purchase", "rest", 128) == pytest.approx(0.8)
    assert ratio(results, "purchase", "rest", 32) is None  # no official point at 32
    assert ratio(results, "query", "rest", 128) is None


def test_cpu_per_request_divides_by_successful_requests():
    m = Measured(Point("query", "rest", 8, 30), summary(10, ok=200), gateway_cpu=0.5, peer_cpu=None)
    assert m.cpu_per_request_ms("gateway") == pytest.approx(2.5)
    assert m.cpu_per_request_ms("peer") is None


def test_proc_stat_is_read_after_the_command_name_even_with_spaces_and_parentheses():
    fields = ["S"] + ["0"] * 10 + [str(3 * TICKS), str(TICKS)] + ["0"] * 30
    assert parse_stat("4242 (python (a) b) " + " ".join(fields)) == 4.0


def test_the_headline_gives_the_issues_figures():
    results = [measured("purchase", "official", 8, 20.0), measured("purchase", "rest", 8, 10.0),
               measured("query", "official", 128, 1000.0), measured("query", "rest", 128, 250.0),
               measured("purchase", "rest", 1, 1.6, p50=0.612),
               Measured(Point("purchase", "rest", 256, 60, "no-drop"),
                        summary(80, statuses={"201": 10, "503": 2}, failures={"server closed the connection": 1}))]
    text = report.headline(results)
    assert "| REST / official, purchases, c=8 | 0.50× |" in text
    assert "| REST / official, purchases, c=32 | – |" in text
    assert "| REST / official, queries evaluated on the peer, c=128 | 0.25× |" in text
    assert "commit latency p50 (REST gateway) | 612 ms |" in text
    assert "errors by type: HTTP 503: 2, server closed the connection: 1; dropped connections: 1" in text


def test_the_gateways_cpu_per_request_is_given_under_load_only():
    def purchase(c: int, cpu: float, purpose: str = "compare") -> Measured:
        return Measured(Point("purchase", "rest", c, 10, purpose), summary(10.0, ok=100), gateway_cpu=cpu)
    results = [purchase(1, 1.2, "latency"), purchase(8, 0.4), purchase(32, 0.3), purchase(256, 0.9, "no-drop")]
    assert "| REST gateway CPU per purchase | 3.00–4.00 ms (c = 8–32) |" in report.headline(results)
    assert "| REST gateway CPU per query (peer-evaluated) | – |" in report.headline(results)


def test_the_comparison_table_has_one_row_per_workload_and_concurrency_measured():
    results = [measured("query", "official", 8, 815.0, p50=0.0091), measured("query", "rest", 8, 268.0),
               measured("query", "python", 8, 300.0)]
    lines = report.comparison(results).splitlines()
    assert len(lines) == 3
    assert lines[2].startswith("| query | 8 | 815/s, 9.1 / 18.2 ms | 268/s, 10.0 / 20.0 ms | 300/s,")
    assert "| 0.33× | 0.37× |" in lines[2]


def test_a_skipped_point_is_named_in_the_report():
    results = [measured("query", "rest", 8, 100.0), Measured(Point("purchase", "rest", 256, 60, "no-drop"),
                                                              skipped="time budget spent")]
    context = {"command": "make bench", "date": "today", "machine": "2 cores", "network": "default",
               "rest_buyers": 256, "client_buyers": 128, "elapsed": 100.0}
    assert "Not measured: purchase rest c=256 (time budget spent)." in report.render(results, context)


def test_every_buyer_gets_its_own_request_and_the_workloads_name_the_same_chaincode_call():
    buyers = [("alice", "t1"), ("bob", "t2")]
    assert clients.rest_requests("query", "svc", buyers)[1] == {
        "method": "GET", "path": "/v1/services/svc/rights/bob", "token": "t2"}
    assert clients.rest_requests("purchase", "svc", buyers)[0] == {
        "method": "POST", "path": "/v1/services/svc/rights", "token": "t1", "body": {"calls": 1}}
    assert clients.fabric_calls("query", "svc", ["alice", "bob"])[1] == {
        "identity": 1, "function": "GetSpecCallTime", "args": ["svc", "bob"]}
    assert clients.fabric_calls("purchase", "svc", ["alice"])[0]["submit"] is True


def test_python_client_failures_are_named_as_the_load_generator_names_them():
    refused = EndorseError(grpc.StatusCode.ABORTED, "failed to endorse",
                           [ErrorDetail("peer0", "Org1MSP", "chaincode response 500, INSUFFICIENT_FUNDS: no")])
    assert clients.python_failure_kind(refused) == "endorse: ABORTED (INSUFFICIENT_FUNDS)"
    assert clients.python_failure_kind(CommitError("tx", 11)) == "commit: MVCC_READ_CONFLICT"
    assert clients.python_failure_kind(GatewayError(grpc.StatusCode.UNAVAILABLE, "down")) == "evaluate: UNAVAILABLE"
    assert clients.python_failure_kind(TimeoutError()) == "other: TimeoutError"


def test_rest_acts_as_many_callers_as_the_clients_and_more_only_when_the_concurrency_needs_them(monkeypatch):
    from tests.benchmarks.suite.actors import Actors

    actors = Actors("svc", "dev-token", [(f"r{i}", f"token-{i}") for i in range(256)], [object()] * 128)
    target = clients.Target(network=None, url="http://gateway", actors=actors, members=None)
    seen = {}
    monkeypatch.setattr(clients.loadgen, "run", lambda url, requests, c, count, seconds: seen.setdefault(c, requests))
    for c in (8, 128, 200, 256):
        clients.run(Point("query", "rest", c, 1), target)
    assert {c: len(r) for c, r in seen.items()} == {8: 128, 128: 128, 200: 200, 256: 256}
    assert [r["token"] for r in seen[8]] == [f"token-{i}" for i in range(128)]
