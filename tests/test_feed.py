"""Feed pages by day, ISO week and month; previous/next; trending windows and the unvoted filler."""

from __future__ import annotations

from datetime import date

import pytest
from support.web import DAYS, HF_ID, OLD_ID, corpus, rec

from paperboy.services.feed import BadPeriod, Feed, Period, parse_period

STAMP = "2026-07-10T12:00:00Z"


@pytest.fixture
def filled(store):
    store.ingest("jsonl", "fixture", corpus())
    return store


@pytest.fixture
def feed(filled):
    return Feed(filled, page_size=5)


@pytest.fixture
def users(filled):
    ids = [filled.people.create_user(f"u{i}", f"u{i}@example.org", "x", STAMP) for i in range(6)]
    return ids


def _ids(papers) -> list[str]:
    return [p["id"] for p in papers]


# -- periods -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,text,first,last,slug",
    [
        ("day", "2026-07-01", "2026-07-01", "2026-07-01", "2026-07-01"),
        ("day", " 2028-02-29 ", "2028-02-29", "2028-02-29", "2028-02-29"),
        ("week", "2026-W27", "2026-06-29", "2026-07-05", "2026-W27"),
        ("week", "2026-w1", "2025-12-29", "2026-01-04", "2026-W01"),
        ("week", "2026-W53", "2026-12-28", "2027-01-03", "2026-W53"),  # 2026 has 53 ISO weeks
        ("month", "2026-07", "2026-07-01", "2026-07-31", "2026-07"),
        ("month", "2028-02", "2028-02-01", "2028-02-29", "2028-02"),
        ("month", "2026-02", "2026-02-01", "2026-02-28", "2026-02"),
    ],
)
def test_parse_period(kind, text, first, last, slug):
    period = parse_period(kind, text)
    assert (period.kind, period.first.isoformat(), period.last.isoformat()) == (kind, first, last)
    assert period.slug == slug
    assert period.path == f"/papers/{'date' if kind == 'day' else kind}/{slug}"
    assert parse_period(kind, period.slug) == period  # the slug reads back


@pytest.mark.parametrize(
    "kind,text",
    [
        ("day", "2026-02-30"),
        ("day", "2026-02-29"),
        ("day", "2026-13-01"),
        ("day", "2026-00-10"),
        ("day", "0000-01-01"),
        ("day", "2026-7-1"),
        ("day", "26-07-01"),
        ("day", "2026/07/01"),
        ("day", "2026-07-01T00:00"),
        ("day", ""),
        ("day", None),
        ("week", "2026-W54"),
        ("week", "2025-W53"),  # 2025 has 52 weeks
        ("week", "2026-W00"),
        ("week", "2026-W"),
        ("week", "2026-W123"),
        ("week", "0000-W01"),
        ("week", "9999-W52"),  # its Sunday would be in the year 10000
        ("week", "2026-07-01"),
        ("month", "2026-13"),
        ("month", "2026-00"),
        ("month", "0000-01"),
        ("month", "2026-7"),
        ("month", "2026"),
        ("month", "2026-07-01"),
        ("year", "2026"),
    ],
)
def test_invalid_periods(kind, text):
    with pytest.raises(BadPeriod):
        parse_period(kind, text)


def test_period_labels():
    assert parse_period("day", "2026-07-01").label == "Wednesday, 1 July 2026"
    assert parse_period("week", "2026-W27").label == "Week 27, 2026 (Jun 29 – Jul 5)"
    assert parse_period("month", "2026-07").label == "July 2026"


def test_extreme_but_real_periods():
    assert parse_period("day", "9999-12-31").slug == "9999-12-31"
    assert parse_period("month", "9999-12").last == date(9999, 12, 31)
    assert parse_period("week", "0001-W01").first == date(1, 1, 1)
    assert parse_period("week", "9999-W51").last == date(9999, 12, 26)


# -- feed pages ------------------------------------------------------------------------------------
def test_latest_day_is_the_default(feed):
    page = feed.page(None)
    assert page.period == parse_period("day", "2026-07-10")
    assert sorted(_ids(page.papers)) == sorted(DAYS["2026-07-10"])
    assert _ids(page.papers)[0] == HF_ID  # seven Hugging Face upvotes
    assert page.total == 4 and page.pages == 1 and page.page == 1
    assert page.previous == parse_period("day", "2026-07-06") and page.next is None


def test_an_empty_store(store):
    page = Feed(store).page(None)
    assert (page.period, page.papers, page.total, page.pages) == (None, [], 0, 1)
    assert Feed(store).trending("all") == []
    assert Feed(store).latest() is None
    day = Feed(store).page(parse_period("day", "2026-07-01"))
    assert day.papers == [] and day.previous is None and day.next is None


def test_paging_and_sorting_a_day(feed, filled, users):
    day = parse_period("day", "2026-07-01")
    ids = DAYS["2026-07-01"]  # eight papers
    for n, uid in enumerate(users):  # ids[3] gets 6 votes, ids[5] 3 votes, ids[1] 1 vote
        filled.activity.vote(ids[3], uid, True, STAMP)
        if n < 3:
            filled.activity.vote(ids[5], uid, True, STAMP)
        if n < 1:
            filled.activity.vote(ids[1], uid, True, STAMP)
    first = feed.page(day, "votes", 1)
    second = feed.page(day, "votes", 2)
    assert first.total == second.total == 8 and first.pages == 2
    assert _ids(first.papers)[:3] == [ids[3], ids[5], ids[1]]
    assert [p["upvotes"] for p in first.papers] == [6, 3, 1, 0, 0]
    assert len(second.papers) == 3
    assert set(_ids(first.papers)) | set(_ids(second.papers)) == set(ids)  # no paper twice, none lost
    assert feed.page(day, "votes", 3).papers == []  # past the end: empty, not an error
    assert feed.page(day, "votes", 0).page == 1
    assert len(feed.page(day, "votes", 1, limit=10_000).papers) == 8  # limits are capped, not refused
    assert len(feed.page(day, "votes", 1, limit=2).papers) == 2
    newest = feed.page(parse_period("week", "2026-W27"), "new", 1, limit=20)
    announced = [p["announced"] for p in newest.papers]
    assert announced == sorted(announced, reverse=True)
    assert feed.page(day, "bogus").sort == "votes"
    assert _ids(feed.page(day, "trending").papers)[:3] == [ids[3], ids[5], ids[1]]


def test_previous_and_next_skip_empty_days(feed):
    page = feed.page(parse_period("day", "2026-07-02"))
    assert page.previous.slug == "2026-07-01" and page.next.slug == "2026-07-06"  # 3-5 July are empty
    page = feed.page(parse_period("day", "2026-06-26"))
    assert page.previous.slug == "2026-05-15" and page.next.slug == "2026-06-30"
    oldest = feed.page(parse_period("day", "1999-01-05"))
    assert _ids(oldest.papers) == [OLD_ID] and oldest.previous is None and oldest.next.slug == "2026-05-15"


def test_a_day_without_papers(feed):
    page = feed.page(parse_period("day", "2026-07-04"))
    assert page.papers == [] and page.total == 0 and page.pages == 1
    assert page.previous.slug == "2026-07-02" and page.next.slug == "2026-07-06"
    future = feed.page(parse_period("day", "2027-01-01"))
    assert future.papers == [] and future.next is None and future.previous.slug == "2026-07-10"


def test_weeks_and_months(feed):
    week = feed.page(parse_period("week", "2026-W27"), limit=50)
    expected = DAYS["2026-06-30"] + DAYS["2026-07-01"] + DAYS["2026-07-02"]
    assert sorted(_ids(week.papers)) == sorted(expected)
    assert week.day_counts == {"2026-06-30": 3, "2026-07-01": 8, "2026-07-02": 3}
    assert week.previous == Period("week", date(2026, 6, 22), date(2026, 6, 28))
    assert week.next.slug == "2026-W28"
    gap = feed.page(parse_period("week", "2026-W24"))  # between May and late June: nothing
    assert gap.papers == [] and gap.previous.slug == "2026-W20" and gap.next.slug == "2026-W26"
    month = feed.page(parse_period("month", "2026-06"), limit=50)
    assert sorted(_ids(month.papers)) == sorted(DAYS["2026-06-26"] + DAYS["2026-06-30"])
    assert month.previous.slug == "2026-05" and month.next.slug == "2026-07"
    assert feed.page(parse_period("month", "2026-05")).previous.slug == "1999-01"
    assert feed.page(parse_period("day", "2026-07-01")).day_counts == {}


def test_hidden_papers_are_not_in_feeds(feed, filled):
    filled.activity.set_hidden(HF_ID, True)
    page = feed.page(None)
    assert HF_ID not in _ids(page.papers) and page.total == 3


# -- trending --------------------------------------------------------------------------------------
def _vote(filled, users, pid: str, n: int) -> None:
    for uid in users[:n]:
        filled.activity.vote(pid, uid, True, STAMP)


def test_trending_windows(feed, filled, users):
    # latest day 10 July: day = 10 July, week = from 4 July, month = from 11 June, all = ever
    _vote(filled, users, "2607.00030", 1)  # 10 July
    _vote(filled, users, "2607.00020", 2)  # 6 July
    _vote(filled, users, "2606.00001", 3)  # 26 June
    _vote(filled, users, OLD_ID, 6)  # 1999
    voted = lambda papers: [p["id"] for p in papers if not p.get("unvoted")]  # noqa: E731
    # HF_ID: seven Hugging Face upvotes on 10 July, none here; it trends all the same
    assert voted(feed.trending("day")) == [HF_ID, "2607.00030"]
    assert voted(feed.trending("week")) == [HF_ID, "2607.00030", "2607.00020"]
    assert voted(feed.trending("month")) == [HF_ID, "2607.00030", "2607.00020", "2606.00001"]
    assert voted(feed.trending("all")) == [HF_ID, "2607.00030", "2607.00020", "2606.00001", OLD_ID]
    assert voted(feed.trending("nonsense")) == voted(feed.trending("week"))


def test_trending_fills_up_with_the_newest_unvoted_papers(feed, filled, users):
    _vote(filled, users, "2607.00020", 2)
    papers = feed.trending("week", limit=5)
    assert len(papers) == 5
    assert _ids(papers[:2]) == [HF_ID, "2607.00020"] and not any(p.get("unvoted") for p in papers[:2])
    filler = papers[2:]
    assert all(p["unvoted"] and p["upvotes"] == 0 for p in filler)
    assert [p["announced"] for p in filler] == sorted((p["announced"] for p in filler), reverse=True)
    assert all(p["announced"] >= "2026-07-04" for p in filler)
    assert "2607.00020" not in _ids(filler)
    # the day window has four papers, so it cannot fill more than that
    day = _ids(feed.trending("day", limit=10))
    assert set(day) >= {"2607.00030", "2607.00031", "2607.00032"} and len(day) == len(set(day)) <= 4
    # no filler after the first page
    assert feed.trending("week", limit=5, offset=5) == []


def test_trending_keeps_papers_with_hugging_face_votes(feed, filled, users):
    """A paper imported with Hugging Face upvotes (and none here yet) still shows in trending."""
    papers = feed.trending("day", limit=10)
    assert HF_ID in _ids(papers)


def test_trending_leaves_out_hidden_and_withdrawn(feed, filled, users):
    _vote(filled, users, "2607.00030", 2)
    _vote(filled, users, "2607.00031", 1)
    filled.activity.set_hidden("2607.00030", True)
    filled.activity.vote("2607.00031", users[0], False, STAMP)
    papers = feed.trending("day", limit=10)
    assert "2607.00030" not in _ids(papers)
    assert all(p.get("unvoted") for p in papers if p["id"] != HF_ID)


def test_a_late_import_on_a_new_day_moves_the_windows(feed, filled, users):
    _vote(filled, users, "2607.00030", 1)
    filled.ingest("jsonl", "late", [rec(id="2607.00100", title="Next week", announced="2026-07-20")])
    assert feed.latest().slug == "2026-07-20"
    assert [p["id"] for p in feed.trending("day")] == ["2607.00100"]
    assert "2607.00030" in _ids(feed.trending("month"))
