"""QoS-constrained composition: the proposal is the one a brute-force enumeration ranks first, for every
objective, on random instances and on the ProgrammableWeb ecosystem; infeasible requests say why."""

from __future__ import annotations

import itertools
import math
import random
import time
from fractions import Fraction

import pytest

from tdses.discovery.composition import (
    Candidate,
    Constraints,
    Objective,
    TooLong,
    aggregate,
    candidate_front,
    compose,
    sort_key,
    stages,
)
from tdses.ecosystem.programmableweb import load


def brute_force(workflow, candidates, constraints=Constraints(), objective=Objective.COST):
    """Every combination, ranked by sort_key: the reference the search must agree with. None if none fits."""
    plan = stages(workflow)
    categories = [c for stage in plan for c in stage]
    pools = [[s for s in candidates if s.category == c] for c in categories]
    best = None
    for combo in itertools.product(*pools):
        qos = aggregate(plan, combo)
        if ((constraints.max_cost is not None and qos.cost > constraints.max_cost)
                or (constraints.max_latency_ms is not None and qos.latency_ms > constraints.max_latency_ms)
                or (constraints.min_availability_bp is not None
                    and qos.availability_bp < constraints.min_availability_bp)):
            continue
        key = sort_key(objective, qos, [s.name for s in combo])
        if best is None or key < best[0]:
            best = (key, combo)
    return None if best is None else best[1]


def random_instance(rng: random.Random):
    """A small request with many ties (few distinct values), parallel stages, zero availabilities."""
    categories = [f"c{i}" for i in range(rng.randint(1, 4))]
    workflow, i = [], 0
    while i < len(categories):
        width = rng.choice([1, 1, 2, 3])
        stage = categories[i:i + width]
        workflow.append(stage[0] if len(stage) == 1 else set(stage))
        i += width
    candidates = [
        Candidate(f"s{rng.randint(0, 99):02d}-{c}-{j}", c, rng.randint(0, 4), rng.choice([10, 20, 30, 40]),
                  rng.choice([0, 9000, 9500, 9900, 9990, 10_000]))
        for c in categories for j in range(rng.randint(1, 6))
    ]
    constraints = Constraints(rng.choice([None, 3, 6, 9]), rng.choice([None, 40, 60, 90]),
                              rng.choice([None, 0, 8000, 9000, 9500]))
    return workflow, candidates, constraints


@pytest.mark.parametrize("objective", list(Objective))
def test_the_proposal_is_the_brute_force_optimum_on_random_instances(objective):
    rng = random.Random(f"composition-{objective.value}")
    feasible = 0
    for _ in range(300):
        workflow, candidates, constraints = random_instance(rng)
        expected = brute_force(workflow, candidates, constraints, objective)
        plan = compose(workflow, candidates, constraints, objective)
        if expected is None:
            assert not plan.feasible and plan.violations
        else:
            feasible += 1
            assert plan.services == tuple(expected)
            assert plan.qos == aggregate(workflow, expected)
    assert 50 < feasible < 300  # both outcomes were exercised


@pytest.mark.parametrize("objective", list(Objective))
def test_pruning_never_removes_an_optimal_choice(objective):
    rng = random.Random(f"front-{objective.value}")
    pruned = 0
    for _ in range(300):
        workflow, candidates, constraints = random_instance(rng)
        front = [s for pool in candidate_front(workflow, candidates, constraints, objective).values() for s in pool]
        pruned += len(candidates) - len(front)
        assert brute_force(workflow, front, constraints, objective) == \
            brute_force(workflow, candidates, constraints, objective)
    assert pruned > 300  # the front is smaller, so the check had something to prove


def test_dominated_candidates_are_pruned_and_exact_ties_keep_the_first_name():
    candidates = [
        Candidate("b", "maps", 2, 100, 9900),
        Candidate("a", "maps", 2, 100, 9900),  # the same QoS as b: a comes first by name
        Candidate("c", "maps", 3, 150, 9800),  # worse than a in everything
        Candidate("d", "maps", 1, 300, 9000),  # cheaper: kept
        Candidate("e", "maps", 4, 50, 9999),  # faster and more available: kept
    ]
    front = candidate_front(["maps"], candidates, Constraints(10, 1000, 5000))
    assert [s.name for s in front["maps"]] == ["d", "a", "e"]


def test_aggregated_qos_sums_cost_takes_the_critical_path_and_multiplies_availability():
    services = [
        Candidate("geo", "geocoding", 3, 100, 9900),
        Candidate("weather", "weather", 2, 250, 9800),
        Candidate("maps", "maps", 4, 120, 9950),
        Candidate("sms", "sms", 1, 30, 10_000),
    ]
    qos = aggregate(["geocoding", {"weather", "maps"}, "sms"], services)
    assert qos.cost == 10
    assert qos.latency_ms == 100 + max(250, 120) + 30
    assert qos.availability == Fraction(9900 * 9800 * 9950 * 10_000, 10_000 ** 4)
    # 0.99 * 0.98 * 0.995 = 0.965349: rounded down in basis points, never up.
    assert qos.availability_bp == 9653
    assert aggregate(["geocoding", "weather", "maps", "sms"], services).latency_ms == 500


def test_a_workflow_is_stages_of_categories():
    assert stages(["a", {"c", "b"}, ("e", "d"), "f"]) == (("a",), ("b", "c"), ("e", "d"), ("f",))
    for bad in ([], ["a", "a"], ["a", {"b", "a"}], ["a", set()]):
        with pytest.raises(ValueError):
            stages(bad)
    with pytest.raises(ValueError):
        Candidate("x", "maps", 1, 10, 10_001)


def test_the_default_objective_is_cost_then_latency_then_availability_then_name():
    candidates = [
        Candidate("zeta", "maps", 2, 100, 9900),
        Candidate("alpha", "maps", 2, 100, 9900),
        Candidate("slow", "maps", 2, 200, 9990),
        Candidate("flaky", "maps", 2, 100, 9000),
        Candidate("dear", "maps", 3, 10, 10_000),
    ]
    assert compose(["maps"], candidates).services[0].name == "alpha"
    assert compose(["maps"], candidates, objective="latency").services[0].name == "dear"
    assert compose(["maps"], list(reversed(candidates))).services[0].name == "alpha"  # input order is irrelevant
    # A longer latency off the critical path ties on every measure: the names decide.
    parallel = [Candidate("b-fast", "x", 1, 10, 10_000), Candidate("a-slow", "x", 1, 90, 10_000),
                Candidate("y", "y", 1, 100, 10_000)]
    assert compose([{"x", "y"}], parallel).services[0].name == "a-slow"
    assert compose(["x", "y"], parallel).services[0].name == "b-fast"


def test_each_objective_picks_its_best_under_the_constraints():
    candidates = [
        Candidate("cheap", "maps", 1, 300, 9000),
        Candidate("fast", "maps", 5, 50, 9500),
        Candidate("solid", "maps", 4, 300, 9999),
        Candidate("sms", "sms", 1, 100, 9900),
    ]
    limits = Constraints(max_cost=6, max_latency_ms=450, min_availability_bp=8000)
    assert compose(["maps", "sms"], candidates, limits).services[0].name == "cheap"
    assert compose(["maps", "sms"], candidates, limits, "latency").services[0].name == "fast"
    assert compose(["maps", "sms"], candidates, limits, "availability").services[0].name == "solid"
    tighter = Constraints(max_cost=5, max_latency_ms=450, min_availability_bp=8000)
    assert compose(["maps", "sms"], candidates, tighter, "availability").services[0].name == "solid"
    # cheap and solid tie on latency (400 ms): the cost decides.
    assert compose(["maps", "sms"], candidates, tighter, "latency").services[0].name == "cheap"


CANDIDATES = [
    Candidate("geo-a", "geocoding", 2, 200, 9900), Candidate("geo-b", "geocoding", 5, 100, 9990),
    Candidate("wx-a", "weather", 1, 300, 9800), Candidate("wx-b", "weather", 4, 150, 9999),
    Candidate("map-a", "maps", 3, 120, 9950),
]


@pytest.mark.parametrize("limits, constraint, message", [
    (Constraints(max_latency_ms=300), "max_latency_ms", "minimum possible latency is 370 ms > deadline 300 ms"),
    (Constraints(max_cost=5), "max_cost", "minimum possible cost is 6 > maximum cost 5"),
    (Constraints(min_availability_bp=9950), "min_availability_bp",
     "maximum possible availability is 9939 bp < minimum 9950 bp"),
])
def test_a_constraint_no_composition_can_meet_is_named_with_the_best_value(limits, constraint, message):
    plan = compose(["geocoding", "weather", "maps"], CANDIDATES, limits)
    assert not plan.feasible
    [violation] = plan.violations
    assert (violation.constraint, violation.message, violation.given) == (constraint, message, ())


def test_constraints_that_only_conflict_together_are_named_with_the_best_value_under_the_others():
    # Cost 6 is reachable (slow: 620 ms) and latency 370 ms is reachable (dear: 12), not both.
    plan = compose(["geocoding", "weather", "maps"], CANDIDATES, Constraints(max_cost=8, max_latency_ms=400))
    assert [(v.constraint, v.best, v.given) for v in plan.violations] == [
        ("max_cost", 12, ("max_latency_ms",)), ("max_latency_ms", 620, ("max_cost",))]
    assert plan.violations[0].message == "with latency ≤ 400 ms, minimum possible cost is 12 > maximum cost 8"


def test_a_category_without_candidates_is_named():
    plan = compose(["geocoding", "sms", {"maps", "video"}], CANDIDATES, Constraints(max_cost=100))
    assert [(v.constraint, v.category) for v in plan.violations] == [("category", "sms"), ("category", "video")]
    assert plan.violations[0].message == "no available candidate for category 'sms'"


def test_ten_categories_of_three_hundred_candidates_are_composed(capsys):
    rng = random.Random(7)
    categories = [f"category-{i}" for i in range(10)]
    candidates = [Candidate(f"{c}-service-{j:03d}", c, rng.randint(1, 100), rng.randint(20, 2000),
                            rng.randint(9000, 10_000)) for c in categories for j in range(300)]
    workflow = [categories[0], set(categories[1:4]), categories[4], set(categories[5:7]), *categories[7:]]
    limits = Constraints(max_cost=250, max_latency_ms=2500, min_availability_bp=9600)
    for objective in Objective:
        started = time.perf_counter()
        plan = compose(workflow, candidates, limits, objective)
        with capsys.disabled():
            print(f"\n10 x 300 candidates, {objective.value}: {time.perf_counter() - started:.2f} s")
        assert plan.feasible and len(plan.services) == 10
        assert plan.qos.cost <= 250 and plan.qos.latency_ms <= 2500 and plan.qos.availability_bp >= 9600


def test_a_composition_stops_at_its_time_limit():
    """Twelve categories whose services trade cost against latency and availability: large fronts, and an
    infeasible request just past the optimum, which takes the search (and then its diagnosis) minutes."""
    rng = random.Random(3)
    candidates = [Candidate(f"c{c}-s{i}", f"cat{c}", i, (30 - i) * 10 + rng.randint(0, 9),
                            min(9000 + i * 33 + rng.randint(0, 3), 10_000)) for c in range(12) for i in range(30)]
    with pytest.raises(TooLong):
        compose([f"cat{c}" for c in range(12)], candidates, Constraints(180, 1800, 5000),
                give_up_at=time.monotonic() + 0.3)


# --- the ProgrammableWeb ecosystem -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pw_candidates():
    candidates = []
    for s in load().apis:
        if s.alive:
            candidates.append(Candidate(s.name, s.category, s.price, s.latency_ms, s.availability_bp, s.developer))
    return candidates


@pytest.mark.parametrize("workflow, limits", [
    (["Mapping", "Weather", "Messaging"], Constraints(max_cost=6, max_latency_ms=900, min_availability_bp=9500)),
    (["Payments", {"eCommerce", "Shipping"}], Constraints(max_cost=5, max_latency_ms=250, min_availability_bp=9900)),
    (["Travel", {"Music", "Video"}, "Social"], Constraints(max_cost=10, max_latency_ms=1500, min_availability_bp=9700)),
])
@pytest.mark.parametrize("objective", list(Objective))
def test_programmableweb_requests_match_brute_force_over_the_front(pw_candidates, workflow, limits, objective):
    front = candidate_front(workflow, pw_candidates, limits, objective)
    assert math.prod(len(pool) for pool in front.values()) > 1  # there was a choice to make
    expected = brute_force(workflow, [s for pool in front.values() for s in pool], limits, objective)
    plan = compose(workflow, pw_candidates, limits, objective)
    assert expected is not None and plan.services == tuple(expected)
