"""The daily-listing importer: RSS 2.0 and Atom, announce types, empty days, re-imports, rate limit."""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path

import pytest
from support.loopback import FIXTURES, Loopback, Reply, Seen, assert_spaced, fixture, fresh_limiter

from paperboy.config import Settings
from paperboy.sources import arxiv_api, rss
from paperboy.sources.record import PaperRecord, Rejection, SourceError

FORMATS = pytest.mark.parametrize("kind", ["rss", "atom"])
DAY = "2025-01-14"


def _listing(kind: str) -> bytes:
    return fixture(f"listing.{kind}")


def _rss(settings: Settings, srv: Loopback, kind: str, **overrides: object) -> Settings:
    return settings.with_overrides(arxiv_rss_url=srv.url(f"/{kind}"), **overrides)


def _records(items: list) -> list[PaperRecord]:
    return [item for item in items if isinstance(item, PaperRecord)]


@FORMATS
def test_fetches_the_listing_for_the_categories(settings, kind):
    with Loopback([Reply(_listing(kind))]) as srv:
        items = list(rss.read(_rss(settings, srv, kind), ["cs.LG", "cs.AI"]))
    assert [seen.path for seen in srv.requests] == [f"/{kind}/cs.LG+cs.AI"]
    url = srv.url(f"/{kind}/cs.LG+cs.AI")
    assert [(r.id, r.version) for r in _records(items)] == [
        ("2501.07001", 1),
        ("2501.06002", 1),
        ("2412.00005", 3),
        ("2411.00007", 2),
    ]
    rejections = [item for item in items if isinstance(item, Rejection)]
    assert [r.place for r in rejections] == [f"{url}#item5", f"{url}#item6"]
    assert "no arXiv id" in rejections[0].reason and rejections[1].reason == "missing title"


@FORMATS
def test_announce_types(kind):
    new, cross, replace, replace_cross = _records(rss.parse_listing(_listing(kind), "listing"))
    # New papers and cross-lists first appear in this listing: it is their announcement day.
    assert (new.announced, new.updated) == (DAY, None)
    assert (cross.announced, cross.updated) == (DAY, None)
    # Replacements are not first announcements.
    assert (replace.announced, replace.updated) == (None, DAY)
    assert (replace_cross.announced, replace_cross.updated) == (None, DAY)
    assert cross.categories == ["cs.CV", "cs.LG"] and replace_cross.categories == ["stat.ML", "cs.LG"]


@FORMATS
def test_item_fields(kind):
    new, cross, replace, _ = _records(rss.parse_listing(_listing(kind), "listing"))
    assert new.title == "Sparse Mixtures of Experts for Long-Context Language Modelling"
    assert new.abstract == (
        "We study sparse mixtures of experts for long contexts; routing costs $O(n \\log n)$ & scales to "
        "$10^6$ tokens. Code: https://github.com/example/sparse-moe"
    )
    assert new.authors == ["Ada Lovelace", "Alan M. Turing", "Grace Hopper"]
    assert new.categories == ["cs.LG", "cs.AI"]
    assert new.license == "http://creativecommons.org/licenses/by/4.0/"
    assert new.code_url == "https://github.com/example/sparse-moe"
    assert new.abs_url == "https://arxiv.org/abs/2501.07001"
    assert new.source == "rss" and new.place == "listing#item1"
    assert cross.authors == ["Emmy Noether", "Paul Dirac"]
    assert replace.authors == ["John von Neumann", "Kurt Gödel", "Alonzo Church"]


def test_both_formats_say_the_same():
    def content(kind: str) -> list[dict]:
        return [{**dataclasses.asdict(r), "place": ""} for r in _records(rss.parse_listing(_listing(kind), kind))]

    assert content("rss") == content("atom")


@FORMATS
def test_an_empty_listing_yields_nothing(settings, kind):
    with Loopback([Reply(fixture(f"listing_empty.{kind}"))]) as srv:
        assert list(rss.read(_rss(settings, srv, kind), ["cs.LG", "cs.AI"])) == []
    assert len(srv.requests) == 1


@FORMATS
def test_read_file(kind):
    items = list(rss.read_file(FIXTURES / f"listing.{kind}"))
    assert len(_records(items)) == 4
    assert items[0].place == f"{FIXTURES / f'listing.{kind}'}#item1"


def test_read_file_errors(tmp_path: Path):
    with pytest.raises(SourceError, match="no such file"):
        list(rss.read_file(tmp_path / "missing.rss"))
    broken = tmp_path / "broken.rss"
    broken.write_bytes(_listing("rss")[:500])
    with pytest.raises(SourceError, match="broken.rss: not an RSS or Atom listing"):
        list(rss.read_file(broken))


def test_the_item_date_is_used_when_the_channel_has_none():
    body = re.sub(rb"    <pubDate>[^<]*</pubDate>\n    <skipDays>", b"    <skipDays>", _listing("rss"))
    assert body.count(b"<pubDate>") == 5  # only the items' dates remain
    assert _records(rss.parse_listing(body, "listing"))[0].announced == DAY


def test_announce_type_from_the_description_when_the_element_is_missing():
    body = re.sub(rb"\s*<arxiv:announce_type>[^<]*</arxiv:announce_type>", b"", _listing("atom"))
    assert b"announce_type" not in body
    new, cross, replace, replace_cross = _records(rss.parse_listing(body, "listing"))
    assert [r.announced for r in (new, cross, replace, replace_cross)] == [DAY, DAY, None, None]
    assert replace_cross.updated == DAY


def test_feed_error_is_a_source_error(settings):
    with Loopback([Reply(fixture("listing_feed_error.atom"))]) as srv:
        with pytest.raises(SourceError, match="Feed error for query: cs.NOPE"):
            list(rss.read(_rss(settings, srv, "atom"), ["cs.NOPE"]))


def test_needs_a_category(settings):
    with pytest.raises(SourceError, match="category"):
        list(rss.read(settings, []))


def test_cut_off_listing_is_fetched_again(settings):
    body = _listing("rss")
    with Loopback([Reply(body[: len(body) // 2]), Reply(body)]) as srv:
        items = list(rss.read(_rss(settings, srv, "rss"), ["cs.LG"]))
    assert len(srv.requests) == 2 and len(_records(items)) == 4


@pytest.mark.parametrize(
    ("creators", "names"),
    [
        (["A. One, B. Two, and C. Three"], ["A. One", "B. Two", "C. Three"]),
        (["A. One and B. Two"], ["A. One", "B. Two"]),
        (["John Smith, Jr., Jane Doe"], ["John Smith Jr.", "Jane Doe"]),
        (["X. Ray (Dept. of Physics and Astronomy, Univ. A), Y. Zed"], ["X. Ray", "Y. Zed"]),
        (["Solo Author", "Second Element"], ["Solo Author", "Second Element"]),
        (["Alexander Anderson, Sandra Andrews"], ["Alexander Anderson", "Sandra Andrews"]),
    ],
)
def test_split_authors(creators, names):
    assert [name for name, _ in rss.split_authors(creators)] == names
    # an affiliation in parentheses is the author's own, kept apart from the name
    if "(" in creators[0]:
        assert rss.split_authors(creators)[0][1] == ["Dept. of Physics and Astronomy, Univ. A"]
        assert rss.split_authors(creators)[1][1] == []


@FORMATS
def test_importing_the_same_listing_twice_changes_nothing(settings, store, kind):
    with Loopback(lambda seen: Reply(_listing(kind))) as srv:
        cfg = _rss(settings, srv, kind)
        first = store.ingest("rss", "cs.LG+cs.AI", rss.read(cfg, ["cs.LG", "cs.AI"]))
        second = store.ingest("rss", "cs.LG+cs.AI", rss.read(cfg, ["cs.LG", "cs.AI"]))
    assert (first.new, first.updated, first.unchanged, first.rejected) == (4, 0, 0, 2)
    assert (second.new, second.updated, second.unchanged, second.rejected) == (0, 0, 4, 2)
    replaced = store.get_paper("2412.00005")
    assert replaced["announced"] is None and replaced["updated"] == DAY
    assert store.get_paper("2501.07001")["announced"] == DAY


def test_rate_limit_is_shared_by_the_api_and_the_listing(settings):
    api_pages = {"0": fixture("api_search_page1.xml"), "3": fixture("api_search_page2.xml")}

    def respond(seen: Seen) -> Reply:
        if seen.path.startswith("/api"):
            return Reply(api_pages[seen.query["start"]])
        return Reply(_listing("rss"))

    limiter = fresh_limiter()
    with Loopback(respond) as srv:
        cfg = settings.with_overrides(
            arxiv_api_url=srv.url("/api/query"), arxiv_rss_url=srv.url("/rss"), arxiv_min_interval=0.2
        )
        counts: dict[str, int] = {}

        def listing() -> None:
            counts["rss"] = sum(len(_records(list(rss.read(cfg, ["cs.LG"])))) for _ in range(2))

        def search() -> None:
            counts["api"] = len(list(arxiv_api.read(cfg, query="cat:cs.LG", page_size=3)))

        threads = [threading.Thread(target=listing), threading.Thread(target=search)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    assert counts == {"rss": 8, "api": 5}
    assert sorted(seen.path for seen in srv.requests) == ["/api/query"] * 2 + ["/rss/cs.LG"] * 2
    assert_spaced(srv, limiter, 0.2)
