"""What the suite measures, in which order, for how long: points of (workload, client, concurrency, seconds) fitted
into a time budget. Pure: no network, no clock."""

from __future__ import annotations

from dataclasses import dataclass, replace

WORKLOADS = {
    "query": "a user's rights on the service, evaluated on the peer (GetSpecCallTime; REST: GET "
             "/v1/services/{name}/rights/{user})",
    "service": "one service's record (official client: QueryService on the peer; REST: GET /v1/services/{name}, "
               "served by the gateway's registry index)",
    "purchase": "buy 1 call of the service and wait until committed (CallService; REST: POST "
                "/v1/services/{name}/rights {\"calls\": 1})",
}
CLIENTS = {"official": "official Go client (fabric-gateway 1.7.1)", "rest": "REST gateway",
           "python": "project's Python client (fabric_gateway.aio)"}
COMPARED = (8, 32, 128)           # the three clients side by side
ROUNDS = 2                        # each compared point in rounds, the clients' order mirrored from round to round
ORDER = ("official", "rest", "python")  # the clients' order in odd rounds; even rounds reverse it
RAMP = (1, 8, 32, 128, 200)       # figures 12–15, through REST
NO_DROP = 256                     # the long point: errors by type, no dropped connection
SETUP_SECONDS = 150               # users, identities, service (a first run; later runs reuse them)
OVERHEAD_SECONDS = 4              # per point: start the load generator, connect, let the last calls finish


@dataclass(frozen=True)
class Point:
    workload: str
    client: str
    concurrency: int
    seconds: float
    purpose: str = "compare"      # compare | ramp | latency | no-drop
    round: int = 0                # of a compared point's ROUNDS (1, 2, ...); 0: measured in one go

    @property
    def label(self) -> str:
        return f"{self.workload} {self.client} c={self.concurrency}" + (f" round {self.round}" if self.round else "")


def build(seconds: float, no_drop_seconds: float) -> list[Point]:
    """The points, quiet ones first: the c=1 latencies, then each concurrency with the clients next to each other,
    the rest of the ramp, and the long c=256 point last.

    A compared point runs in ROUNDS rounds of seconds / ROUNDS, the clients in ORDER, then in reverse, and so on:
    the machine's speed drifts by more than the differences measured, and in this order a steady drift weighs the
    same on every client, so their ratios are of the same minutes."""
    points = [Point("purchase", "rest", 1, seconds, "latency"), Point("purchase", "official", 1, seconds, "latency"),
              Point("query", "rest", 1, seconds, "ramp")]
    for c in COMPARED:
        for workload in ("query", "purchase"):
            for n in range(1, ROUNDS + 1):
                points += [Point(workload, client, c, seconds / ROUNDS, round=n)
                           for client in (ORDER if n % 2 else ORDER[::-1])]
        points.append(Point("service", "rest", c, seconds, "ramp"))
    points.append(Point("service", "official", COMPARED[-1], seconds))
    points += [Point(w, "rest", c, seconds, "ramp") for c in RAMP if c > COMPARED[-1] for w in ("query", "purchase")]
    points.append(Point("purchase", "rest", NO_DROP, no_drop_seconds, "no-drop"))
    return points


def estimate(points: list[Point]) -> float:
    """Seconds the points take with setup, as planned."""
    return SETUP_SECONDS + sum(p.seconds + OVERHEAD_SECONDS for p in points)


def fit(points: list[Point], budget_seconds: float, floor: float = 5.0) -> list[Point]:
    """Shorten the points (all but the no-drop one, by the same factor, to `floor` seconds at least) so that the
    whole run fits the budget; points already short enough stay as they are."""
    if estimate(points) <= budget_seconds:
        return points
    fixed = [p for p in points if p.purpose == "no-drop"]
    flexible = [p for p in points if p.purpose != "no-drop"]
    room = budget_seconds - estimate(fixed) - OVERHEAD_SECONDS * len(flexible)
    wanted = sum(p.seconds for p in flexible)
    factor = max(0.0, room) / wanted if wanted else 1.0
    return [p if p.purpose == "no-drop" else replace(p, seconds=max(floor, round(p.seconds * factor)))
            for p in points]
