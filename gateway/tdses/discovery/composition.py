"""QoS-constrained composition: one service per category a mashup needs, the best set under cost, deadline and
availability constraints, exactly.

    workflow = ["geocoding", {"weather", "maps"}, "sms"]     # a stage in braces runs its categories in parallel
    plan = compose(workflow, candidates, Constraints(max_cost=12, max_latency_ms=300, min_availability_bp=9900))
    plan.services, plan.qos if plan.feasible else plan.violations

A mashup's QoS is the aggregate of its services': cost is the sum of the prices; latency is the critical path
(the stages add up, the services of one stage run in parallel and take the longest); availability is the
product of the availabilities, kept exactly as a Fraction and shown in basis points rounded down, so a
composition never looks more available than it is (and `qos.availability_bp >= m` exactly when it meets a
minimum of m basis points).

The best set minimizes the objective, then the other two measures in the order cost, latency, availability
(maximized), then the services' names in workflow order: the answer is always the same one.

How it stays exact and fast: a candidate, or a partial composition, is dropped only when another one beats it for
every completion (`beats`): it is no worse on every constrained measure and wins the objective's order at a
place that no completion can undo (a lower cost always stays lower; a lower latency only once its stage is
closed, since a parallel stage takes the maximum; a higher availability only while no factor can be zero; the
names last). The survivors are combined stage by stage, and a partial composition that cannot meet a
constraint even with the best remaining services is dropped too. What remains at the end holds the optimum.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

FULL_BP = 10_000  # 100 % in basis points


class Objective(str, Enum):
    COST = "cost"  # minimize the price per call
    LATENCY = "latency"  # minimize the end-to-end latency
    AVAILABILITY = "availability"  # maximize the availability


# The measures in the order they break ties for each objective (after the objective itself, names last).
_ORDER = {
    Objective.COST: ("cost", "latency", "availability"),
    Objective.LATENCY: ("latency", "cost", "availability"),
    Objective.AVAILABILITY: ("availability", "cost", "latency"),
}


@dataclass(frozen=True)
class Candidate:
    """An available service as composition sees it: its price per call and its advertised QoS."""

    name: str
    category: str
    price: int
    latency_ms: int
    availability_bp: int  # 0..10000
    developer: str = ""

    def __post_init__(self):
        if self.price < 0 or self.latency_ms < 0:
            raise ValueError(f"service {self.name!r}: price and latency must not be negative")
        if not 0 <= self.availability_bp <= FULL_BP:
            raise ValueError(f"service {self.name!r}: availability must be 0..{FULL_BP} bp, got {self.availability_bp}")


@dataclass(frozen=True)
class Constraints:
    """Limits on the mashup's aggregated QoS; None leaves a measure free."""

    max_cost: int | None = None
    max_latency_ms: int | None = None  # the deadline for the critical path
    min_availability_bp: int | None = None


@dataclass(frozen=True)
class QoS:
    """A composition's aggregated QoS."""

    cost: int
    latency_ms: int
    availability: Fraction  # exact, 0..1

    @property
    def availability_bp(self) -> int:
        """The availability in basis points, rounded down."""
        return int(self.availability * FULL_BP)


@dataclass(frozen=True)
class Violation:
    """Why no composition exists: a category without candidates, or a constraint that cannot be met (with the
    best value that can be reached for it, alone or under the constraints in `given`)."""

    constraint: str  # "category", "max_cost", "max_latency_ms" or "min_availability_bp"
    message: str
    limit: int | None = None
    best: int | None = None
    given: tuple[str, ...] = ()  # the other constraints `best` was reached under
    category: str | None = None


@dataclass(frozen=True)
class Composition:
    """The proposal: one service per category in workflow order and their QoS, or the reasons there is none."""

    workflow: tuple[tuple[str, ...], ...]
    services: tuple[Candidate, ...] = ()
    qos: QoS | None = None
    violations: tuple[Violation, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        return self.qos is not None

    def service_for(self, category: str) -> Candidate:
        return next(s for s in self.services if s.category == category)


# --- workflow and QoS ----------------------------------------------------------------------------------------


def stages(workflow: Sequence[str | Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    """The workflow as stages: a category alone is a stage of its own; a collection is one stage of parallel
    categories (a set's in name order, a list's or tuple's as given). Every category at most once."""
    result = []
    for step in workflow:
        if isinstance(step, str):
            stage = (step,)
        elif isinstance(step, (set, frozenset)):
            stage = tuple(sorted(step))
        else:
            stage = tuple(step)
        if not stage or not all(isinstance(c, str) for c in stage):
            raise ValueError(f"a stage is one or more category names, got {step!r}")
        result.append(stage)
    flat = [c for stage in result for c in stage]
    if not flat:
        raise ValueError("a workflow needs at least one category")
    if len(set(flat)) != len(flat):
        raise ValueError(f"a category occurs twice in the workflow: {flat}")
    return tuple(result)


def aggregate(workflow: Sequence[str | Iterable[str]], services: Iterable[Candidate]) -> QoS:
    """The QoS of a mashup made of `services`, one for each category of the workflow."""
    plan = stages(workflow)
    by_category = {s.category: s for s in services}
    missing = [c for stage in plan for c in stage if c not in by_category]
    if missing:
        raise ValueError(f"no service for {missing}")
    chosen = [by_category[c] for stage in plan for c in stage]
    availability = Fraction(1)
    for s in chosen:
        availability *= Fraction(s.availability_bp, FULL_BP)
    return QoS(
        cost=sum(s.price for s in chosen),
        latency_ms=sum(max(by_category[c].latency_ms for c in stage) for stage in plan),
        availability=availability,
    )


def sort_key(objective: Objective | str, qos: QoS, names: Sequence[str]) -> tuple:
    """The order in which compositions are preferred (smallest first) under `objective`."""
    values = {"cost": qos.cost, "latency": qos.latency_ms, "availability": -qos.availability}
    return (*(values[m] for m in _ORDER[Objective(objective)]), tuple(names))


# --- the search ----------------------------------------------------------------------------------------------

# A label is a partial composition: (cost, latency, availability numerator, names, services). Every label of one
# set covers the same categories, so the availabilities share the denominator FULL_BP ** len(names).
_COST, _LATENCY, _AVAILABILITY, _NAMES, _PICKS = range(5)


class TooLong(Exception):
    """The composition passed its time limit (compose's give_up_at) and stopped there."""


_CHECK_EVERY = 4096  # labels between two looks at the clock


class _Rules:
    """`beats` for one request: which measures are constrained and which wins cannot be undone."""

    def __init__(self, objective: Objective, constraints: Constraints, availability_stays_strict: bool,
                 give_up_at: float | None = None):
        self.order = [(_COST, 1) if m == "cost" else (_LATENCY, 1) if m == "latency" else (_AVAILABILITY, -1)
                      for m in _ORDER[objective]]
        self.constrained = [i for i, limit in ((_COST, constraints.max_cost), (_LATENCY, constraints.max_latency_ms),
                                                (_AVAILABILITY, constraints.min_availability_bp)) if limit is not None]
        self.availability_stays_strict = availability_stays_strict
        self.give_up_at = give_up_at  # time.monotonic(): beyond it, TooLong

    def check_time(self) -> None:
        if self.give_up_at is not None and time.monotonic() > self.give_up_at:
            raise TooLong

    def key(self, label: tuple) -> tuple:
        return (*(sign * label[i] for i, sign in self.order), label[_NAMES])

    def beats(self, a: tuple, b: tuple, latency_stays_strict: bool) -> bool:
        """Whether a is better than b for every completion that makes b feasible."""
        for i in self.constrained:
            if (a[i] < b[i]) if i == _AVAILABILITY else (a[i] > b[i]):
                return False
        for i, sign in self.order:
            va, vb = sign * a[i], sign * b[i]
            if va > vb:
                return False
            if va < vb and (i == _COST or (i == _LATENCY and latency_stays_strict)
                            or (i == _AVAILABILITY and self.availability_stays_strict)):
                return True
            # equal, or better in a way a completion may undo: the next measure decides
        return a[_NAMES] < b[_NAMES]

    def survivors(self, labels: list[tuple], latency_stays_strict: bool) -> list[tuple]:
        """The labels no other label beats, in preference order. Whatever beats a label sorts before it and beating
        is transitive, so comparing with the survivors so far is enough.

        A label that beats another is no worse on each constrained measure, so an index of the survivors by those
        measures shows at once most labels that nothing can beat; only the others are compared one by one."""
        labels = sorted(labels, key=self.key)
        # The first measure of the order is sorted already; the index covers the other constrained ones.
        indexed = [i for i in self.constrained if i != self.order[0][0]]
        signs = [-1 if i == _AVAILABILITY else 1 for i in indexed]
        index = _Staircase(sorted({signs[0] * label[indexed[0]] for label in labels})) if len(indexed) == 2 else None
        lowest = None  # with one indexed measure: its best value among the survivors
        kept: list[tuple] = []
        for n, b in enumerate(labels):
            if n % _CHECK_EVERY == 0:
                self.check_time()
            point = [sign * b[i] for sign, i in zip(signs, indexed)]
            if index is not None:
                maybe_beaten = index.lowest_up_to(point[0]) <= point[1]
            elif indexed:
                maybe_beaten = lowest is not None and lowest <= point[0]
            else:
                maybe_beaten = True
            if maybe_beaten and any(self.beats(a, b, latency_stays_strict) for a in reversed(kept)):
                continue
            kept.append(b)
            if index is not None:
                index.add(point[0], point[1])
            elif indexed:
                lowest = point[0] if lowest is None else min(lowest, point[0])
        return kept


class _Staircase:
    """Points (x, y) added one by one; the lowest y among the points with x up to a bound (a Fenwick tree of
    minima over the xs known in advance)."""

    def __init__(self, xs: list[int]):
        self.xs = xs
        self.tree = [None] * (len(xs) + 1)

    def add(self, x: int, y: int) -> None:
        i = bisect.bisect_left(self.xs, x) + 1
        while i < len(self.tree):
            if self.tree[i] is None or y < self.tree[i]:
                self.tree[i] = y
            i += i & -i

    def lowest_up_to(self, x: int) -> float:
        i = bisect.bisect_right(self.xs, x)
        lowest = math.inf
        while i > 0:
            if self.tree[i] is not None and self.tree[i] < lowest:
                lowest = self.tree[i]
            i -= i & -i
        return lowest


@dataclass(frozen=True)
class _Bound:
    """The best each measure can reach over some categories, each measure on its own."""

    cost: int = 0
    latency: int = 0
    availability: int = 1  # numerator over FULL_BP ** (number of categories)

    @staticmethod
    def in_sequence(bounds: Iterable[_Bound]) -> _Bound:
        total = _Bound()
        for b in bounds:
            total = _Bound(total.cost + b.cost, total.latency + b.latency, total.availability * b.availability)
        return total


def _usable(pools: dict[str, list[Candidate]], constraints: Constraints) -> dict[str, list[Candidate]]:
    """The candidates that meet every constraint on their own (one that breaks one breaks it in any composition)."""
    limit_cost, deadline, min_bp = constraints.max_cost, constraints.max_latency_ms, constraints.min_availability_bp
    return {c: [s for s in pool if (limit_cost is None or s.price <= limit_cost)
                and (deadline is None or s.latency_ms <= deadline)
                and (min_bp is None or s.availability_bp >= min_bp)] for c, pool in pools.items()}


def _rules(pools: dict[str, list[Candidate]], constraints: Constraints, objective: Objective,
           give_up_at: float | None = None) -> _Rules:
    return _Rules(objective, constraints, all(s.availability_bp > 0 for pool in pools.values() for s in pool),
                  give_up_at)


def _front(plan: tuple[tuple[str, ...], ...], pools: dict[str, list[Candidate]],
           rules: _Rules) -> dict[str, list[Candidate]]:
    front = {}
    for stage in plan:
        for category in stage:
            labels = [(s.price, s.latency_ms, s.availability_bp, (s.name,), (s,)) for s in pools[category]]
            front[category] = [label[_PICKS][0] for label in rules.survivors(labels, len(stage) == 1)]
    return front


def _solve(plan: tuple[tuple[str, ...], ...], pools: dict[str, list[Candidate]], constraints: Constraints,
           objective: Objective, give_up_at: float | None = None) -> tuple | None:
    """The best label over the whole workflow, or None if no composition meets the constraints.

    A quick pass that keeps only the most promising partial compositions usually finds a good one; its value of
    the objective then bounds the exact pass, which drops whatever cannot reach it."""
    found = _search(plan, pools, constraints, objective, keep=_BEAM, give_up_at=give_up_at)
    if found is None:
        return _search(plan, pools, constraints, objective, give_up_at=give_up_at)
    incumbent = found[{Objective.COST: _COST, Objective.LATENCY: _LATENCY,
                       Objective.AVAILABILITY: _AVAILABILITY}[objective]]
    return _search(plan, pools, constraints, objective, incumbent=incumbent, give_up_at=give_up_at)


_BEAM = 32  # partial compositions the quick pass keeps per step


def _search(plan: tuple[tuple[str, ...], ...], pools: dict[str, list[Candidate]], constraints: Constraints,
            objective: Objective, keep: int | None = None, incumbent: int | None = None,
            give_up_at: float | None = None) -> tuple | None:
    """The best label, keeping at most `keep` labels per step (None: exact), dropping labels that cannot reach
    the incumbent's value of the objective."""
    limit_cost, deadline, min_bp = constraints.max_cost, constraints.max_latency_ms, constraints.min_availability_bp
    n = sum(len(stage) for stage in plan)
    pools = _usable(pools, constraints)
    if any(not pool for pool in pools.values()):
        return None
    rules = _rules(pools, constraints, objective, give_up_at)
    pools = _front(plan, pools, rules)

    def best_of(categories: Sequence[str]) -> _Bound:
        availability = 1
        for c in categories:
            availability *= max(s.availability_bp for s in pools[c])
        return _Bound(sum(min(s.price for s in pools[c]) for c in categories),
                      max((min(s.latency_ms for s in pools[c]) for c in categories), default=0), availability)

    min_numerator = None if min_bp is None else min_bp * FULL_BP ** (n - 1)  # availability >= min_bp / FULL_BP

    def feasible(label: tuple, rest_of_stage: _Bound, later: _Bound) -> bool:
        """Whether the label can still meet every constraint with the best services for the categories left."""
        if limit_cost is not None and label[_COST] + rest_of_stage.cost + later.cost > limit_cost:
            return False
        if deadline is not None and max(label[_LATENCY], rest_of_stage.latency) + later.latency > deadline:
            return False
        # The three parts cover all n categories, so their numerators share the denominator FULL_BP ** n.
        availability = label[_AVAILABILITY] * rest_of_stage.availability * later.availability
        if min_numerator is not None and availability < min_numerator:
            return False
        if incumbent is None:
            return True
        if objective is Objective.COST:
            return label[_COST] + rest_of_stage.cost + later.cost <= incumbent
        if objective is Objective.LATENCY:
            return max(label[_LATENCY], rest_of_stage.latency) + later.latency <= incumbent
        return availability >= incumbent

    # Each stage's options, bounded by the best every other stage can do.
    stage_bounds = [best_of(stage) for stage in plan]
    fronts = []
    for k, stage in enumerate(plan):
        others = _Bound.in_sequence(stage_bounds[:k] + stage_bounds[k + 1:])
        labels = [(0, 0, 1, (), ())]
        for j, category in enumerate(stage):
            rules.check_time()
            rest = best_of(stage[j + 1:])
            labels = [(cost + s.price, max(latency, s.latency_ms), availability * s.availability_bp,
                       names + (s.name,), picks + (s,))
                      for cost, latency, availability, names, picks in labels for s in pools[category]]
            labels = [label for label in labels if feasible(label, rest, others)]
            labels = rules.survivors(labels, latency_stays_strict=len(stage) == 1)[:keep]
        fronts.append(rules.survivors(labels, latency_stays_strict=True))  # a closed stage's latency adds up

    # The stages in sequence: latencies add up.
    labels = [(0, 0, 1, (), ())]
    for k, front in enumerate(fronts):
        rules.check_time()
        later = _Bound.in_sequence(stage_bounds[k + 1:])
        labels = [(cost + f[_COST], latency + f[_LATENCY], availability * f[_AVAILABILITY],
                   names + f[_NAMES], picks + f[_PICKS])
                  for cost, latency, availability, names, picks in labels for f in front]
        labels = [label for label in labels if feasible(label, _Bound(), later)]
        labels = rules.survivors(labels, latency_stays_strict=True)[:keep]
        if not labels:
            return None
    return labels[0]


def candidate_front(workflow: Sequence[str | Iterable[str]], candidates: Iterable[Candidate],
                    constraints: Constraints | None = None,
                    objective: Objective | str = Objective.COST) -> dict[str, list[Candidate]]:
    """Each category's candidates that meet the constraints on their own and that no other candidate of the
    category beats for this request: the ones the search starts from. An optimal composition uses only these."""
    plan = stages(workflow)
    constraints = constraints or Constraints()
    pools = _usable(_pools(plan, candidates), constraints)
    return _front(plan, pools, _rules(pools, constraints, Objective(objective)))


def _pools(plan: tuple[tuple[str, ...], ...], candidates: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    pools: dict[str, list[Candidate]] = {c: [] for stage in plan for c in stage}
    for s in candidates:
        if s.category in pools:
            pools[s.category].append(s)
    return pools


# --- the answer ----------------------------------------------------------------------------------------------

_MEASURE = {"max_cost": Objective.COST, "max_latency_ms": Objective.LATENCY,
            "min_availability_bp": Objective.AVAILABILITY}


def compose(workflow: Sequence[str | Iterable[str]], candidates: Iterable[Candidate],
            constraints: Constraints | None = None, objective: Objective | str = Objective.COST,
            give_up_at: float | None = None) -> Composition:
    """The best services for the workflow under the constraints, or why there are none; TooLong once
    time.monotonic() passes give_up_at."""
    plan = stages(workflow)
    constraints = constraints or Constraints()
    objective = Objective(objective)
    pools = _pools(plan, candidates)
    empty = [c for stage in plan for c in stage if not pools[c]]
    if empty:
        return Composition(plan, violations=tuple(
            Violation("category", f"no available candidate for category {c!r}", category=c) for c in empty))
    best = _solve(plan, pools, constraints, objective, give_up_at)
    if best is None:
        return Composition(plan, violations=_diagnose(plan, pools, constraints, give_up_at))
    return Composition(plan, services=best[_PICKS], qos=aggregate(plan, best[_PICKS]))


def _diagnose(plan: tuple[tuple[str, ...], ...], pools: dict[str, list[Candidate]],
              constraints: Constraints, give_up_at: float | None = None) -> tuple[Violation, ...]:
    """Which constraints cannot be met: first each on its own; if each can, each under all the others; if no
    measure can be reached under the others, each pair (every pair then conflicts)."""
    present = [name for name in _MEASURE if getattr(constraints, name) is not None]

    def best(name: str, given: Sequence[str]) -> int | None:
        others = Constraints(**{g: getattr(constraints, g) for g in given})
        label = _solve(plan, pools, others, _MEASURE[name], give_up_at)
        if label is None:
            return None
        qos = aggregate(plan, label[_PICKS])
        return {"max_cost": qos.cost, "max_latency_ms": qos.latency_ms,
                "min_availability_bp": qos.availability_bp}[name]

    def violations(attempts: Iterable[tuple[str, tuple[str, ...]]]) -> tuple[Violation, ...]:
        found = []
        for name, given in attempts:
            value = best(name, given)
            if value is not None and _breaks(name, value, getattr(constraints, name)):
                found.append(_violation(name, value, getattr(constraints, name), given, constraints))
        return tuple(found)

    for attempts in ([(name, ()) for name in present],
                     [(name, tuple(g for g in present if g != name)) for name in present],
                     [(a, (b,)) for i, a in enumerate(present) for b in present[i + 1:]]):
        found = violations(attempts)
        if found:
            return found
    raise AssertionError("an infeasible request breaks at least one pair of constraints")  # pragma: no cover


def _breaks(name: str, value: int, limit: int) -> bool:
    return value < limit if name == "min_availability_bp" else value > limit


def _violation(name: str, value: int, limit: int, given: tuple[str, ...], constraints: Constraints) -> Violation:
    shown = {"max_cost": lambda v: f"cost ≤ {v}", "max_latency_ms": lambda v: f"latency ≤ {v} ms",
             "min_availability_bp": lambda v: f"availability ≥ {v} bp"}
    message = {
        "max_cost": f"minimum possible cost is {value} > maximum cost {limit}",
        "max_latency_ms": f"minimum possible latency is {value} ms > deadline {limit} ms",
        "min_availability_bp": f"maximum possible availability is {value} bp < minimum {limit} bp",
    }[name]
    if given:
        message = f"with {' and '.join(shown[g](getattr(constraints, g)) for g in given)}, {message}"
    return Violation(name, message, limit=limit, best=value, given=given)
