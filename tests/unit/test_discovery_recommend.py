"""Recommendations: often composed together, bought together, and for a user, on examples counted by hand and
on the ProgrammableWeb mashups."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from tdses.discovery.recommend import CoOccurrence, Related, Suggestion, for_user, suggest
from tdses.ecosystem.programmableweb import load

# maps is in 3 mashups, weather in 2 (both with maps), sms in 2 (one with maps), search in 1 (with maps).
MASHUPS = [
    ("trip", "maps"), ("trip", "weather"), ("trip", "sms"),
    ("alerts", "maps"), ("alerts", "weather"),
    ("finder", "maps"), ("finder", "search"),
    ("notify", "sms"), ("notify", "email"),
    ("trip", "maps"),  # a duplicate edge counts once
]


def test_often_composed_together_ranks_by_shared_mashups_then_jaccard_then_name():
    composed = CoOccurrence.from_pairs(MASHUPS)
    assert composed.members("trip") == {"maps", "weather", "sms"}
    assert composed.groups("maps") == {"trip", "alerts", "finder"}
    assert composed.related("maps") == [
        Related("weather", 2, Fraction(2, 3)),  # 2 together of 3 + 2 - 2 mashups
        Related("search", 1, Fraction(1, 3)),  # 1 of 3 + 1 - 1: ahead of sms on the index
        Related("sms", 1, Fraction(1, 4)),  # 1 of 3 + 2 - 1
    ]
    assert [r.name for r in composed.related("maps", k=1)] == ["weather"]
    assert composed.related("unknown") == []


def test_ties_are_broken_by_name_and_unavailable_services_are_left_out():
    composed = CoOccurrence.from_pairs([("m", "z"), ("m", "a"), ("m", "k"), ("m", "x")])
    assert [r.name for r in composed.related("k")] == ["a", "x", "z"]
    assert [r.name for r in composed.related("k", available=lambda name: name != "a")] == ["x", "z"]


def test_bought_together_counts_the_users_who_bought_both():
    bought = CoOccurrence.from_pairs([
        ("alice", "weather"), ("alice", "maps"),
        ("bob", "weather"), ("bob", "maps"), ("bob", "sms"),
        ("carol", "weather"), ("carol", "sms"),
        ("dave", "video"),
    ])
    assert bought.related("weather") == [Related("maps", 2, Fraction(2, 3)), Related("sms", 2, Fraction(2, 3))]
    assert bought.related("video") == []


def test_a_user_is_offered_what_goes_with_their_services_and_nothing_they_bought():
    bought = CoOccurrence.from_pairs([
        ("alice", "weather"),
        ("bob", "weather"), ("bob", "maps"),
        ("carol", "weather"), ("carol", "maps"), ("carol", "sms"),
        ("dave", "sms"), ("dave", "email"),
    ])
    # weather's groups: bob, carol, alice. maps: 2 of 3 → 2/3; sms: 1 of 3 + 2 - 1 → 1/4. email never with weather.
    assert for_user("alice", bought) == [Suggestion("maps", Fraction(2, 3), 2, ("weather",)),
                                         Suggestion("sms", Fraction(1, 4), 1, ("weather",))]
    # bob has weather and maps: sms goes with weather (1/4) and with maps (carol: 1 of 2 + 2 - 1 → 1/3).
    assert for_user("bob", bought) == [Suggestion("sms", Fraction(1, 4) + Fraction(1, 3), 2, ("maps", "weather"))]
    assert for_user("bob", bought, k=0) == []
    assert for_user("zoe", bought) == []  # bought nothing, composed nothing


def test_a_user_is_also_offered_what_is_composed_with_the_services_of_their_mashups():
    bought = CoOccurrence.from_pairs([("alice", "weather"), ("bob", "weather"), ("bob", "maps")])
    composed = CoOccurrence.from_pairs(MASHUPS)
    offered = for_user("alice", bought, composed, composed_by_user=["sms"])
    # maps: bought with weather by bob (1 of 2 + 1 - 1 → 1/2), composed with weather (2 of 2 + 3 - 2 → 2/3) and
    # with sms (1 of 2 + 3 - 1 → 1/4). email: composed with sms (1 of 2 + 1 - 1 → 1/2). sms is not bought yet:
    # composed with weather (1 of 2 + 2 - 1 → 1/3). search goes with neither weather nor sms.
    assert offered == [
        Suggestion("maps", Fraction(1, 2) + Fraction(2, 3) + Fraction(1, 4), 4, ("sms", "weather")),
        Suggestion("email", Fraction(1, 2), 1, ("sms",)),
        Suggestion("sms", Fraction(1, 3), 1, ("weather",)),
    ]
    assert [s.name for s in for_user("alice", bought, composed, ["sms"], available=lambda n: n != "maps")] == \
        ["email", "sms"]


def test_suggest_scores_any_services_against_any_structures():
    composed = CoOccurrence.from_pairs(MASHUPS)
    assert [s.name for s in suggest(["maps", "sms"], [composed], exclude=["maps", "sms"])] == \
        ["weather", "email", "search"]  # 2/3 + 1/3, then 1/2, then 1/3


def test_the_programmableweb_pair_composed_together_most_often_is_found():
    eco = load()
    composed = CoOccurrence.from_pairs((m.name, api) for m in eco.mashups for api in m.components)
    # Counted directly: every unordered pair of components of every mashup.
    pairs: Counter[tuple[str, str]] = Counter()
    for m in eco.mashups:
        parts = sorted(set(m.components))
        pairs.update((a, b) for i, a in enumerate(parts) for b in parts[i + 1:])
    (a, b), together = min(pairs.items(), key=lambda item: (-item[1], item[0]))
    in_a = sum(1 for m in eco.mashups if a in m.components)
    in_b = sum(1 for m in eco.mashups if b in m.components)
    assert ({a, b}, together) == ({"facebook", "twitter"}, 159)
    related = composed.related(a)
    assert related[0].together == together  # nothing is composed with a more often than b
    assert Related(b, together, Fraction(together, in_a + in_b - together)) in related[:2]
    assert a not in {r.name for r in related}
