"""Votes, comments, submissions and hiding: the store's activity tables and the community rules."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from support.loopback import Loopback, Reply
from support.web import HF_ID, NOW, arxiv_feed, corpus, rec

from paperboy.services.community import MAX_COMMENT, Community
from paperboy.services.errors import NotAllowed, NotFound, ServiceError
from paperboy.store import schema as t
from paperboy.store.activity import HOT_DECAY, hot_score

STAMP = "2026-07-10T12:00:00Z"
DAY1 = "2607.00001"  # announced 2026-07-01
LATEST = "2607.00030"  # announced 2026-07-10


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def filled(store):
    store.ingest("jsonl", "fixture", corpus())
    return store


def _users(store, n: int, admin_first: bool = True) -> list[dict]:
    people = store.people
    ids = [
        people.create_user(f"user{i}", f"user{i}@example.org", "x", STAMP, is_admin=admin_first and i == 0)
        for i in range(n)
    ]
    return [people.user(i) for i in ids]


@pytest.fixture
def people(filled):
    return _users(filled, 8)


@pytest.fixture
def community(filled, settings):
    return Community(filled, settings, clock=Clock())


def _stats(store, paper_id: str) -> dict:
    (paper,) = store.activity.listed([paper_id], include_hidden=True)
    return paper


# -- votes -------------------------------------------------------------------------------------
def test_votes_are_idempotent_and_can_be_withdrawn(filled, people):
    act = filled.activity
    a, b = people[1], people[2]
    assert act.vote(DAY1, a["id"], True, STAMP) == 1
    assert act.vote(DAY1, a["id"], True, STAMP) == 1  # twice counts once
    assert act.vote(DAY1, b["id"], True, STAMP) == 2
    assert act.voted(a["id"], [DAY1, LATEST]) == {DAY1}
    assert act.vote(DAY1, a["id"], False, STAMP) == 1
    assert act.vote(DAY1, a["id"], False, STAMP) == 1  # withdrawing twice too
    assert act.vote_count(DAY1) == 1
    assert _stats(filled, DAY1)["upvotes"] == 1
    assert act.voted(a["id"], [DAY1]) == set()
    assert act.voted(a["id"], []) == set()


def test_counts_are_recomputed_from_the_votes(filled, people):
    act = filled.activity
    act.vote(DAY1, people[1]["id"], True, STAMP)
    with filled.engine.begin() as conn:  # a count that drifted somehow
        conn.execute(update(t.paper_stats).where(t.paper_stats.c.paper_id == DAY1).values(upvotes=99, num_comments=42))
    assert act.vote(DAY1, people[2]["id"], True, STAMP) == 2
    assert _stats(filled, DAY1)["upvotes"] == 2
    assert _stats(filled, DAY1)["num_comments"] == 0


def test_concurrent_voters_never_lose_a_vote(filled):
    users = _users(filled, 12)
    barrier = threading.Barrier(len(users))
    errors: list[BaseException] = []

    def vote(user: dict) -> None:
        try:
            barrier.wait()
            filled.activity.vote(DAY1, user["id"], True, STAMP)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(u,)) for u in users]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert filled.activity.vote_count(DAY1) == len(users)
    assert _stats(filled, DAY1)["upvotes"] == len(users)


def test_source_upvotes_add_to_ours(filled, people, community):
    assert _stats(filled, HF_ID)["upvotes"] == 7
    assert community.vote(people[1], HF_ID) == {"upvotes": 8, "voted": True}
    assert _stats(filled, HF_ID)["upvotes"] == 8
    assert community.vote(people[1], HF_ID, up=False) == {"upvotes": 7, "voted": False}


def test_voting_for_an_unknown_paper(community, people):
    with pytest.raises(NotFound):
        community.vote(people[1], "2607.99999")


def test_hot_score_rule():
    # more votes on the same day rank higher; every HOT_DECAY seconds of age is worth a factor ten
    day, next_day = "2026-07-01", "2026-07-02"
    assert hot_score(5, day) > hot_score(4, day) > hot_score(1, day) == hot_score(0, day)
    per_day = 86400 / HOT_DECAY
    assert hot_score(1, next_day) - hot_score(1, day) == pytest.approx(per_day)
    assert hot_score(10, day) == pytest.approx(hot_score(1, "2026-07-03"))  # two days = tenfold
    assert hot_score(3, day) < hot_score(1, next_day) < hot_score(4, day)  # 10**0.5 = 3.16 votes a day
    assert hot_score(1, None) == hot_score(1, "not a date") == 0.0


def test_hot_ordering_in_listings(filled, people):
    act = filled.activity
    older, newer = "2607.00001", "2607.00010"  # 1 and 2 July
    same_day = "2607.00002"
    for u in people[:3]:
        act.vote(older, u["id"], True, STAMP)
    act.vote(newer, people[0]["id"], True, STAMP)
    for u in people[:2]:
        act.vote(same_day, u["id"], True, STAMP)
    ranked = [p["id"] for p in act.trending("2026-07-01")]
    # HF_ID (seven Hugging Face upvotes on 10 July) leads; then a day newer beats three votes
    # (log10 3 < 0.5); on the same day more votes rank higher
    assert ranked == [HF_ID, newer, older, same_day]
    act.vote(older, people[3]["id"], True, STAMP)  # four votes beat a day (log10 4 > 0.5)
    assert [p["id"] for p in act.trending("2026-07-01")] == [HF_ID, older, newer, same_day]
    assert _stats(filled, older)["upvotes"] == 4
    week, _ = act.announced_between("2026-07-01", "2026-07-02", "trending", 3)
    assert [p["id"] for p in week] == [older, newer, same_day]


def test_hot_score_stored_matches_the_formula(filled, people):
    filled.activity.vote(DAY1, people[1]["id"], True, STAMP)
    filled.activity.vote(HF_ID, people[1]["id"], True, STAMP)
    with filled.engine.connect() as conn:
        hot = dict(conn.execute(select(t.paper_stats.c.paper_id, t.paper_stats.c.hot)).all())
    assert hot[DAY1] == pytest.approx(hot_score(1, "2026-07-01"))
    assert hot[HF_ID] == pytest.approx(math.log10(8) + hot_score(1, "2026-07-10"))  # 7 from Hugging Face + 1


# -- comments ------------------------------------------------------------------------------------
def test_comment_counts_only_visible_ones(filled, people, community):
    admin, alice, bob = people[0], people[1], people[2]
    first = community.add_comment(alice, DAY1, "  First!\r\nSecond line  ")
    assert first["body"] == "First!\nSecond line" and first["username"] == "user1"
    second = community.add_comment(bob, DAY1, "I disagree")
    community.add_comment(alice, DAY1, "**third**")
    assert _stats(filled, DAY1)["num_comments"] == 3
    assert community.hide_comment(admin, second["id"]) == DAY1
    assert _stats(filled, DAY1)["num_comments"] == 2
    assert [c["body"] for c in filled.activity.comments(DAY1)] == ["First!\nSecond line", "**third**"]
    assert len(filled.activity.comments(DAY1, include_hidden=True)) == 3
    assert filled.activity.user_comments(bob["id"]) == []
    community.hide_comment(admin, second["id"], hidden=False)
    assert _stats(filled, DAY1)["num_comments"] == 3
    assert [c["paper_title"] for c in filled.activity.user_comments(bob["id"])] == [_stats(filled, DAY1)["title"]]
    assert community.delete_comment(alice, first["id"]) == DAY1
    assert _stats(filled, DAY1)["num_comments"] == 2
    assert filled.activity.comment(first["id"]) is None


def test_comment_rules(filled, people, community):
    admin, alice, bob = people[0], people[1], people[2]
    mine = community.add_comment(alice, DAY1, "mine")
    for body in ["", "   ", "\r\n", None]:
        with pytest.raises(ServiceError):
            community.add_comment(alice, DAY1, body)
    with pytest.raises(ServiceError):
        community.add_comment(alice, DAY1, "x" * (MAX_COMMENT + 1))
    assert community.add_comment(alice, DAY1, "x" * MAX_COMMENT)
    with pytest.raises(NotFound):
        community.add_comment(alice, "2607.99999", "hello")
    with pytest.raises(NotAllowed):
        community.edit_comment(bob, mine["id"], "bob was here")
    with pytest.raises(NotAllowed):
        community.delete_comment(bob, mine["id"])
    with pytest.raises(NotAllowed):
        community.hide_comment(alice, mine["id"])  # only admins hide, even their own
    with pytest.raises(ServiceError):
        community.edit_comment(alice, mine["id"], "  ")
    edited = community.edit_comment(alice, mine["id"], "mine, edited")
    assert edited["body"] == "mine, edited" and edited["edited_at"] == STAMP
    assert community.edit_comment(admin, mine["id"], "moderated")["body"] == "moderated"
    with pytest.raises(NotFound):
        community.edit_comment(alice, 9999, "nothing")
    with pytest.raises(NotFound):
        community.hide_comment(admin, 9999)
    community.hide_comment(admin, mine["id"])
    with pytest.raises(NotFound):  # a hidden comment is gone for its author too
        community.edit_comment(alice, mine["id"], "sneaky")
    assert community.delete_comment(admin, mine["id"]) == DAY1
    assert filled.activity.comment(mine["id"]) is None


# -- submissions -----------------------------------------------------------------------------------
def test_submitting_a_stored_paper(filled, people, community):
    alice, bob = people[1], people[2]
    paper = community.submit(alice, "https://arxiv.org/abs/2607.00030v2")["paper"]
    assert paper["id"] == LATEST and paper["submitted_by"] == "user1"
    assert paper["upvotes"] == 1  # submitting is a vote
    assert paper["submitted_at"] == STAMP
    for who in (bob, alice):
        with pytest.raises(ServiceError, match="already submitted by user1") as err:
            community.submit(who, LATEST)
        assert err.value.kind == "conflict"
    assert [p["id"] for p in filled.activity.user_submissions(alice["id"])] == [LATEST]
    assert [p["id"] for p in filled.activity.user_votes(alice["id"])] == [LATEST]


@pytest.mark.parametrize("text", ["", "   ", "hello", "2607", "arxiv.org/list/cs.LG", "12345.678901", None])
def test_submitting_something_that_is_not_an_arxiv_id(community, people, text):
    with pytest.raises(ServiceError, match="arXiv id") as err:
        community.submit(people[1], text)
    assert err.value.kind == "invalid"


def test_daily_submission_cap(filled, people, settings):
    clock = Clock()
    community = Community(filled, settings.with_overrides(submit_daily_cap=3), clock=clock)
    alice = people[1]
    for pid in ["2607.00030", "2607.00031", "2607.00032"]:
        community.submit(alice, pid)
    with pytest.raises(ServiceError, match="daily limit") as err:
        community.submit(alice, "2607.00020")
    assert err.value.kind == "too_many"
    assert community.submit(people[2], "2607.00020")  # the cap is per person
    clock.now = NOW.replace(hour=23, minute=59)
    with pytest.raises(ServiceError):
        community.submit(alice, "2607.00022")
    clock.now = NOW + timedelta(days=1)  # a new UTC day
    assert community.submit(alice, "2607.00022")["paper"]["submitted_by"] == "user1"


def test_papers_older_than_the_limit_cannot_be_submitted(filled, people, settings):
    community = Community(filled, settings.with_overrides(submit_max_age_days=10), clock=Clock())
    with pytest.raises(ServiceError, match="last 10 days") as err:
        community.submit(people[1], "2606.00001")  # 26 June, 14 days before "now"
    assert err.value.kind == "invalid"
    assert community.submit(people[1], "2606.00010")["paper"]["id"] == "2606.00010"  # 30 June: 10 days
    assert filled.activity.vote_count("2606.00001") == 0


def test_a_stale_store_counts_a_papers_age_from_its_newest_day(filled, people, settings):
    """A store imported from a snapshot months ago: "the last 10 days" are the feed's last 10 days."""
    months_later = Clock()
    months_later.now = NOW + timedelta(days=150)
    community = Community(filled, settings.with_overrides(submit_max_age_days=10), clock=months_later)
    assert community.feed_day(months_later.now.date()).isoformat() == filled.activity.latest_day()
    assert community.submit(people[1], "2606.00010")["paper"]["id"] == "2606.00010"  # 10 days before the newest day
    with pytest.raises(ServiceError, match="last 10 days"):
        community.submit(people[1], "2606.00001")  # 14 days before it


def test_a_hidden_paper_cannot_be_submitted_by_others(filled, people, community):
    admin, alice = people[0], people[1]
    community.hide_paper(admin, LATEST)
    with pytest.raises(ServiceError) as err:
        community.submit(alice, LATEST)
    assert err.value.kind == "not_found"
    assert filled.activity.vote_count(LATEST) == 0


def _api(settings, srv):
    return settings.with_overrides(arxiv_api_url=srv.url("/api/query"), submit_fetch_retries=1)


def _fetched(community, user, text):
    """Submit a paper that is not in the store: it is fetched in the background; how that ended."""
    started = community.submit(user, text)
    assert started["state"] == "fetching" and started["paper"] is None
    assert community.fetches.drain(30)
    return community.get_submission(user, started["id"])


def test_a_paper_not_in_the_store_is_fetched_from_arxiv(filled, people, settings):
    entry = {
        "id": "2607.04242",
        "title": "Fetched on demand",
        "summary": "Nobody had imported this one.",
        "authors": ["Lise Meitner"],
        "published": "2026-07-08T10:00:00Z",
        "categories": ["physics.ins-det", "cs.LG"],
    }
    with Loopback([Reply(arxiv_feed(entry))]) as srv:
        community = Community(filled, _api(settings, srv), clock=Clock())
        done = _fetched(community, people[1], "arXiv:2607.04242v1")
    assert done["state"] == "done" and done["kind"] is None
    paper = done["paper"]
    (seen,) = srv.requests
    assert seen.path == "/api/query" and seen.query["id_list"] == "2607.04242"
    assert paper["id"] == "2607.04242" and paper["title"] == "Fetched on demand"
    assert paper["authors"] == ["Lise Meitner"] and paper["submitted_by"] == "user1"
    assert paper["upvotes"] == 1
    stored = filled.get_paper("2607.04242")
    assert stored["sources"] == ["arxiv"] and stored["announced"] >= "2026-07-08"


def test_fetching_an_old_paper_is_refused_after_the_fetch(filled, people, settings):
    entry = {"id": "2601.00007", "title": "Old news", "published": "2026-01-05T10:00:00Z"}
    with Loopback([Reply(arxiv_feed(entry))]) as srv:
        community = Community(filled, _api(settings, srv), clock=Clock())
        refused = _fetched(community, people[1], "2601.00007")
    assert refused["state"] == "refused" and "last 30 days" in refused["message"]
    assert filled.get_paper("2601.00007") is not None  # kept in the library, just not submitted
    assert filled.activity.user_submissions(people[1]["id"]) == []


def test_arxiv_has_no_such_paper(filled, people, settings):
    with Loopback([Reply(arxiv_feed())]) as srv:
        community = Community(filled, _api(settings, srv), clock=Clock())
        missing = _fetched(community, people[1], "2607.09999")
    assert missing["state"] == "failed" and missing["kind"] == "not_found"
    assert missing["message"] == "arXiv has no paper 2607.09999."


def test_arxiv_unreachable(filled, people, settings):
    with Loopback(lambda seen: Reply("overloaded", status=503, content_type="text/plain")) as srv:
        community = Community(filled, _api(settings, srv), clock=Clock())
        down = _fetched(community, people[1], "2607.09999")
    assert down["state"] == "failed" and down["kind"] == "unavailable"
    assert down["message"] == (
        "Could not fetch 2607.09999 from arXiv right now (arXiv answered HTTP 503). Try again later."
    )
    assert len(srv.requests) == 2  # one retry
    assert filled.activity.user_submissions(people[1]["id"]) == []


# -- hiding ------------------------------------------------------------------------------------------
def test_hidden_papers_are_left_out_of_listings(filled, people, community):
    admin, alice = people[0], people[1]
    community.vote(alice, LATEST)
    community.submit(alice, "2607.00031")
    with pytest.raises(NotAllowed):
        community.hide_paper(alice, LATEST)
    with pytest.raises(NotFound):
        community.hide_paper(admin, "2607.99999")
    community.hide_paper(admin, LATEST)
    community.hide_paper(admin, "2607.00031")
    act = filled.activity
    assert act.hidden_ids() == {LATEST, "2607.00031"}
    day, total = act.announced_between("2026-07-10", "2026-07-10")
    assert LATEST not in {p["id"] for p in day} and total == 2
    assert [p["id"] for p in act.trending(None)] == [HF_ID]  # its votes came from Hugging Face
    assert act.listed([LATEST, DAY1]) == [_stats(filled, DAY1)]
    assert act.listed([LATEST], include_hidden=True)[0]["hidden"]
    assert act.user_votes(alice["id"]) == [] and act.user_submissions(alice["id"]) == []
    with pytest.raises(NotFound):
        community.visible_paper(LATEST, alice)
    with pytest.raises(NotFound):
        community.vote(alice, LATEST)
    with pytest.raises(NotFound):
        community.add_comment(alice, LATEST, "hello?")
    assert community.visible_paper(LATEST, admin)["hidden"]
    community.hide_paper(admin, LATEST, hidden=False)
    assert community.visible_paper(LATEST, alice)["upvotes"] == 1


def test_a_new_paper_of_the_store_appears_unvoted(filled):
    filled.ingest("jsonl", "more", [rec(id="2607.00099", title="Late arrival", announced="2026-07-10")])
    (paper,) = filled.activity.listed(["2607.00099"])
    assert (paper["upvotes"], paper["num_comments"], paper["hidden"], paper["submitted_by"]) == (0, 0, False, None)


def test_hot_scores_follow_votes_not_the_clock(filled, people):
    """The stored score depends on votes and the paper's day only: voting later changes nothing else."""
    act = filled.activity
    act.vote(DAY1, people[1]["id"], True, "2026-07-01T00:00:00Z")
    first = act.trending(None)[0]
    act.vote(DAY1, people[1]["id"], True, (NOW + timedelta(days=300)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert act.trending(None)[0] == first
