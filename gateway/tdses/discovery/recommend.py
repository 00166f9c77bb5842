"""Recommendations from what happens together: services composed in the same mashups, services bought by the
same users, and for a user the services they have not bought yet that go with what they have.

    composed = CoOccurrence.from_pairs(mashup_edges)          # (mashup, service) pairs
    bought = CoOccurrence.from_pairs(purchases)               # (user, service) pairs
    composed.related("google-maps", k=5)                      # often composed together
    bought.related("weather", k=5)                            # bought together
    for_user("alice", bought, composed, k=10, available=lambda name: name in live)

Each structure is built once from its pairs (a duplicate pair counts once); a query touches only the groups of
the service asked about. Rankings are exact (Fractions, no floating point) and end on the name, so the same
data always gives the same list.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Related:
    """A service that occurs with another: in `together` groups (mashups, or users' purchases), out of the
    union of the two services' groups (`jaccard`)."""

    name: str
    together: int
    jaccard: Fraction


@dataclass(frozen=True)
class Suggestion:
    """A service for a user: the sum of its similarities to the user's services, the groups it shares with them,
    and which of them it goes with."""

    name: str
    score: Fraction
    together: int
    because: tuple[str, ...]


class CoOccurrence:
    """Services grouped (by mashup, or by buyer): which services occur in the same groups, and how often."""

    def __init__(self, groups: dict[str, frozenset[str]]):
        self._members = groups
        by_service: dict[str, set[str]] = defaultdict(set)
        for group, members in groups.items():
            for service in members:
                by_service[service].add(group)
        self._groups = {service: frozenset(found) for service, found in by_service.items()}

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> CoOccurrence:
        """From (group, service) pairs: (mashup, component) or (user, service bought)."""
        groups: dict[str, set[str]] = defaultdict(set)
        for group, service in pairs:
            groups[group].add(service)
        return cls({group: frozenset(members) for group, members in groups.items()})

    def members(self, group: str) -> frozenset[str]:
        """The services of a group (a mashup's components, a user's purchases); empty if unknown."""
        return self._members.get(group, frozenset())

    def groups(self, service: str) -> frozenset[str]:
        """The groups a service is in."""
        return self._groups.get(service, frozenset())

    def counts(self, service: str) -> Counter[str]:
        """For every other service, the number of groups it shares with `service`."""
        together: Counter[str] = Counter()
        for group in self.groups(service):
            together.update(self._members[group])
        together.pop(service, None)
        return together

    def related(self, service: str, k: int | None = None,
                available: Callable[[str], bool] | None = None) -> list[Related]:
        """The services that occur with `service`, most groups together first, then the highest Jaccard index,
        then by name; only those `available` accepts, at most k."""
        mine = len(self.groups(service))
        found = [Related(other, n, Fraction(n, mine + len(self.groups(other)) - n))
                 for other, n in self.counts(service).items() if available is None or available(other)]
        found.sort(key=lambda r: (-r.together, -r.jaccard, r.name))
        return found[:k]


def suggest(services: Iterable[str], structures: Iterable[CoOccurrence], exclude: Iterable[str] = (),
            k: int | None = 10, available: Callable[[str], bool] | None = None) -> list[Suggestion]:
    """Item-based collaborative filtering: every service that occurs with one of `services` in one of the
    structures, scored by the sum of its Jaccard indices with them (over every structure), highest first, then
    the most groups shared, then by name; none of `exclude`, only those `available` accepts, at most k."""
    seeds = sorted(set(services))
    excluded = set(exclude)
    score: dict[str, Fraction] = defaultdict(Fraction)
    together: Counter[str] = Counter()
    because: dict[str, set[str]] = defaultdict(set)
    for structure in structures:
        for seed in seeds:
            for r in structure.related(seed):
                if r.name in excluded or (available is not None and not available(r.name)):
                    continue
                score[r.name] += r.jaccard
                together[r.name] += r.together
                because[r.name].add(seed)
    found = [Suggestion(name, score[name], together[name], tuple(sorted(because[name]))) for name in score]
    found.sort(key=lambda s: (-s.score, -s.together, s.name))
    return found[:k]


def for_user(user: str, bought: CoOccurrence, composed: CoOccurrence | None = None, composed_by_user: Iterable[str] = (),
             k: int | None = 10, available: Callable[[str], bool] | None = None) -> list[Suggestion]:
    """Services `user` has not bought, that go with what they bought (by co-purchase, and by co-composition when
    `composed` is given) and with the services of their own mashups (`composed_by_user`)."""
    mine = bought.members(user)
    structures = [bought] if composed is None else [bought, composed]
    return suggest(mine | set(composed_by_user), structures, exclude=mine, k=k, available=available)
