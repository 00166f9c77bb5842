"""Normalization of the real ProgrammableWeb files: valid unique names, stable owners and prices, dead
services, missing and duplicate edges, non-ASCII and mis-encoded text."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tdses.ecosystem.programmableweb import (
    API_FILE,
    EDGE_COLUMNS,
    EDGE_FILE,
    MASHUP_FILE,
    NODE_COLUMNS,
    SITE,
    chaincode_url,
    clean_text,
    data_dir,
    fold_name,
    load,
    normalize,
    read_rows,
    short_hash,
    valid_name,
)
from tdses.ecosystem.progress import Summary, describe_selection

DATA = data_dir()


@pytest.fixture(scope="module")
def rows():
    return (read_rows(DATA / API_FILE, NODE_COLUMNS), read_rows(DATA / MASHUP_FILE, NODE_COLUMNS),
            read_rows(DATA / EDGE_FILE, EDGE_COLUMNS))


@pytest.fixture(scope="module")
def eco(rows):
    return normalize(*rows)


@pytest.fixture(scope="module")
def by_key(eco):
    return {s.key: s for s in eco.services}


def api_rows(rows, *urls):
    wanted = {u: r for r in rows[0] for u in urls if r["url"] == u}
    return [wanted[u] for u in urls]


def test_every_record_becomes_one_service_with_a_valid_unique_name(eco):
    assert (len(eco.apis), len(eco.mashups)) == (23_579, 7_766)
    names = [s.name for s in eco.services]
    assert len(set(names)) == len(names) == 31_345
    assert all(valid_name(n) for n in names)


def test_every_field_is_one_the_chaincode_accepts(eco):
    by_name = {s.name: s for s in eco.services}
    for s in eco.services:
        assert 1 <= len(s.category) <= 64 and clean_text(s.category, 64) == s.category
        assert len(s.description) <= 1024 and clean_text(s.description, 1024) == s.description
        assert len(s.url) <= 512 and chaincode_url(s.url) == s.url
        assert s.price in range(1, 6)
        if s.composed:  # called one after another: latencies add up, availabilities multiply
            parts = [by_name[c] for c in s.components]
            assert s.latency_ms == sum(p.latency_ms for p in parts)
            assert 0 < s.availability_bp <= min(p.availability_bp for p in parts)
        else:
            assert 20 <= s.latency_ms <= 1000 and 9_000 <= s.availability_bp <= 10_000
        assert len(s.components) <= 32 and s.name not in s.components
        assert len(json.dumps(s.spec())) < 16 * 1024


def test_an_api_is_named_after_its_url_slug(by_key):
    untappd = by_key["/api/untappd"]
    assert (untappd.name, untappd.title, untappd.category) == ("untappd", "Untappd API", "Food")
    assert untappd.url == "https://www.programmableweb.com/api/untappd"
    assert untappd.alive and untappd.spec() == {
        "name": "untappd", "category": "Food", "url": untappd.url, "price": untappd.price,
        "qos": {"latencyMs": untappd.latency_ms, "availabilityBp": untappd.availability_bp},
        "description": "Untappd API — ProgrammableWeb API, listed 2010-12-21"}


def test_a_dead_date_makes_a_service_dead_and_2222_02_22_means_alive(by_key, eco):
    pinnacle = by_key["/api/pinnaclecart-rest"]  # et 2014-11-04, although ProgrammableWeb said alive (oet)
    assert not pinnacle.alive and pinnacle.dead_since == "2014-11-04"
    assert "dead since 2014-11-04" in pinnacle.description
    assert sum(not s.alive for s in eco.apis) == 13_045
    assert eco.report.dead == 13_045 + sum(not m.alive for m in eco.mashups)


def test_non_ascii_slugs_fold_to_ascii_and_titles_keep_their_letters(by_key):
    assert by_key["/api/gr%C3%BCnstromindex"].name == "grunstromindex"
    assert by_key["/api/gr%C3%BCnstromindex"].title == "Grünstromindex API"
    assert by_key["/api/vak%C4%B1fbank-atm-list"].name == "vakifbank-atm-list"  # dotless ı has no decomposition
    assert by_key["/api/%C3%A6ternity"].name == "aeternity"
    assert by_key["/api/roaring%C2%A0signatory"].name == "roaring-signatory"  # no-break space
    # The url (percent-encoded, ASCII) is kept as ProgrammableWeb had it.
    assert by_key["/api/%C3%A6ternity"].url == SITE + "/api/%C3%A6ternity"


def test_mis_encoded_utf8_is_repaired_in_names_and_titles(by_key):
    allocine = by_key["/api/allocin%C3%A3%C2%A9-movie"]  # "AllocinÃ©" in the data, lower-cased in the slug
    assert (allocine.name, allocine.title) == ("allocine-movie", "Allociné Movie API")
    assert by_key["/api/cup%C3%A3%C2%B3nica"].name == "cuponica"
    assert "&amp;" not in by_key["/api/vak%C4%B1fbank-product-service-prices"].title  # HTML entities decoded
    # Replacement characters from an earlier bad decoding are dropped, not passed to the chaincode.
    assert "\ufffd" not in by_key["/api/la-loter%C3%AF%C2%BF%C2%BDa-del-ni%C3%AF%C2%BF%C2%BDo"].title


def test_apis_with_the_same_name_stay_distinct_services(rows, eco):
    counts = Counter(r["name"] for r in rows[0])
    duplicated = {n for n, c in counts.items() if c > 1}
    assert len(duplicated) == 30
    notion = [s for s in eco.apis if s.title == "Notion API"]
    assert sorted(s.name for s in notion) == ["notion", "notion-0"]


def test_name_collisions_get_a_stable_suffix_and_the_api_keeps_the_plain_name(by_key):
    assert by_key["/api/bridge"].name == "bridge"
    assert by_key["Mashup: Bridge"].name == f"bridge-{short_hash('Mashup: Bridge')}" == "bridge-ad4ed8"


def test_long_names_are_trimmed_to_64_and_stay_unique(by_key, eco):
    long = [s for s in eco.apis if len(s.key) - len("/api/") > 64]
    assert long and all(len(s.name) <= 64 for s in long)
    us = by_key["/api/us-department-commerce-community-anchor-institutions-geography-type-and-name"]
    assert len(us.name) == 64 and us.name.endswith("-" + short_hash(us.key))


def test_owners_and_prices_depend_only_on_the_record(rows, eco):
    # The same rows in another order, and a small slice: the same owner and price for every record.
    reordered = normalize(list(reversed(rows[0])), list(reversed(rows[1])), rows[2])
    again = {s.key: (s.developer, s.price) for s in reordered.services}
    assert all(again[s.key] == (s.developer, s.price) for s in eco.services)
    small = normalize(api_rows(rows, "/api/untappd"), [], [])
    assert (small.apis[0].developer, small.apis[0].price) == ("pw-dev-092", 3)  # pinned: the same on every machine


def test_owners_are_spread_over_all_developers(eco):
    owned = Counter(s.developer for s in eco.services)
    assert len(eco.developers) == 100 and set(owned) == set(eco.developers)
    assert max(owned.values()) < 1.5 * min(owned.values())
    assert Counter(s.price for s in eco.services).keys() == {1, 2, 3, 4, 5}


def test_developer_count_is_a_parameter(rows):
    few = normalize(rows[0][:500], [], [], developers=6)
    assert few.developers == [f"pw-dev-00{i}" for i in range(1, 7)]
    assert {s.developer for s in few.apis} == set(few.developers)
    with pytest.raises(ValueError):
        normalize([], [], [], developers=0)


def test_a_mashup_is_composed_of_its_edges_apis(by_key):
    seo = by_key["Mashup: SEO Keyword suggestion Tool"]
    # Its edge to /api/bing-search points at no API in the file: dropped, the other two kept in edge order.
    assert (seo.name, seo.components) == ("seo-keyword-suggestion-tool", ("google-search", "thesaurus"))
    assert seo.composed and seo.spec()["components"] == ["google-search", "thesaurus"]


def test_edges_to_missing_apis_are_dropped_and_reported(eco):
    assert sorted(t for _, t in eco.report.edges_to_missing_apis) == ["/api/bing-search", "/api/bing-search",
                                                                      "/api/coupon"]


def test_duplicate_edges_count_once(eco, by_key):
    assert eco.report.duplicate_edges == 50
    tracker = by_key["Mashup: Influence Tracker"]  # lists /api/govtrackus twice in the edge file
    assert len(tracker.components) == len(set(tracker.components))
    assert by_key["/api/govtrackus"].name in tracker.components


def test_a_mashup_without_a_known_component_is_a_plain_service(by_key, eco):
    roots = by_key["Mashup: CouponRoots"]  # its one edge points at the missing /api/coupon
    assert not roots.composed and "components" not in roots.spec()
    assert eco.report.mashups_without_components == sum(not m.composed for m in eco.mashups) == 1_696
    assert sum(m.composed for m in eco.mashups) == 6_070


def test_a_quoted_mashup_name_is_read_as_csv_quotes_it_and_keeps_its_edges(by_key, eco):
    giphy = by_key['Mashup: GIPHY and Twilio "Text a GIF"']  # "Mashup: GIPHY and Twilio ""Text a GIF""" in the file
    assert giphy.title == 'GIPHY and Twilio "Text a GIF"'
    assert giphy.composed and len(giphy.components) == 2
    assert eco.report.edges_from_missing_mashups == []


def test_more_than_32_components_keep_the_first_32(by_key, eco):
    wired = by_key["Mashup: We-Wired Web"]  # 37 edges in the data
    assert len(wired.components) == 32 and wired.components[0] == "flickr"
    assert eco.report.components_truncated == ["Mashup: We-Wired Web"] and eco.report.components_dropped == 5


def test_mashup_urls_are_their_sites_or_their_programmableweb_page(by_key, eco):
    assert by_key["Mashup: CouponRoots"].url == "http://www.couponroots.com"
    assert by_key["Mashup: AskJot"].category == "Uncategorized"  # "None" in the data
    # "Undefined" and other urls the chaincode would refuse become the mashup's ProgrammableWeb page.
    replaced = {m.key for m in eco.mashups if m.url == f"{SITE}/mashup/{m.name}"}
    assert replaced >= set(eco.report.mashup_urls_replaced) and len(eco.report.mashup_urls_replaced) > 1_000
    assert "Mashup: AskJot" in eco.report.mashup_urls_replaced  # its url in the data is "Undefined"
    assert chaincode_url("Undefined") is None
    assert chaincode_url("Http://www.freakstreets.com") == "http://www.freakstreets.com"
    assert chaincode_url("http://x.example/" + "a" * 500) is None
    assert chaincode_url("http://x.example/a b") is None and chaincode_url("http://x.example/%zz") is None


def test_a_slice_keeps_the_whole_data_sets_names(eco):
    chosen = eco.select(60)
    apis = [s for s in chosen if s.kind == "api"]
    mashups = [s for s in chosen if s.kind == "mashup"]
    assert apis == eco.apis[:60] and len(mashups) == 8
    api_names = {a.name for a in apis}
    assert all(m.composed and set(m.components) <= api_names for m in mashups)
    assert eco.select() == eco.services


def test_text_cleaning_and_name_folding_edge_cases():
    assert clean_text("a\tb\x00c\x85d\u2028e\ufffd", 64) == "a b c d e"
    assert clean_text("x" * 100, 64) == "x" * 64
    assert fold_name("--Ünïcode & Friends!!") == "unicode-and-friends"
    assert fold_name("™") == "tm" and fold_name("中文") == ""
    assert fold_name("a" * 70 + "-b") == "a" * 64


def test_load_names_a_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="TDSES_PROGRAMMABLEWEB_DIR"):
        load(tmp_path)


def test_a_malformed_data_file_is_named_with_its_line(tmp_path):
    header = "tp\turl\tname\tst\tet\toet\tc\toac\tac\n"
    (tmp_path / "no-c.csv").write_text("tp\turl\tname\tst\tet\n1\t/api/a\tA\t2010\t-1\n")
    with pytest.raises(ValueError, match=r"no-c.csv has no column c"):
        read_rows(tmp_path / "no-c.csv", NODE_COLUMNS)
    (tmp_path / "short.csv").write_text(header + "1\t/api/a\tA\t2010\t-1\t-1\tMaps\t\t\n1\t/api/b\n")
    with pytest.raises(ValueError, match=r"short.csv line 3 has fewer fields"):
        read_rows(tmp_path / "short.csv", NODE_COLUMNS)


def test_an_edge_from_a_mashup_missing_from_the_data_is_reported_in_the_summary(rows):
    apis, mashups, edges = rows
    orphan = {"source": "Mashup: Nowhere", "target": apis[0]["url"]}
    eco = normalize(apis, mashups, [*edges, orphan])
    assert eco.report.edges_from_missing_mashups == [("Mashup: Nowhere", apis[0]["url"])]
    summary = Summary()
    describe_selection(summary, eco, eco.services, None)
    assert summary.skipped["mashup→API edges from mashups missing from the data"] == 1
