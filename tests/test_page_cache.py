"""The anonymous page cache: fast repeat views, each visitor's own CSRF token, and no stale page
once votes, comments, hiding or imports change what a page shows."""

from __future__ import annotations

import re
import time

import pytest
from support.web import DAYS, post, rec, register, running_app

from paperboy.config import load_settings

CHECK = 0.05  # seconds between the cache's looks at the store


@pytest.fixture
def web(tmp_path):
    settings = load_settings(tmp_path / "home", page_cache_seconds=CHECK, arxiv_min_interval=0.0)
    with running_app(settings) as web:
        yield web


def _votes(html: str, pid: str) -> int:
    card = html.split(f'id="p-{pid}"', 1)[1]
    return int(re.search(r'class="count">(\d+)<', card).group(1))


def _token(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def test_each_visitor_gets_their_own_token_from_a_cached_page(web):
    one, two = web.browser(), web.browser()
    first, again, other = one.get("/"), one.get("/"), two.get("/")
    assert first.text == again.text  # served from the cache the second time
    assert _token(first.text) == one.cookies.get("pb_csrf") != two.cookies.get("pb_csrf") == _token(other.text)
    assert "\x00" not in first.text and first.text.replace(_token(first.text), "") == other.text.replace(
        _token(other.text), ""
    )
    assert len(web.app.state.page_cache.pages) >= 1


def test_a_vote_shows_to_anonymous_visitors_once_the_cache_looks_again(web):
    day = sorted(DAYS)[-1]
    pid = DAYS[day][0]
    anonymous, voter = web.browser(), web.browser()
    before = _votes(anonymous.get(f"/papers/date/{day}").text, pid)
    register(voter, "voter")
    assert post(voter, f"/papers/{pid}/vote", {"up": "1"}).status_code == 303
    assert _votes(voter.get(f"/papers/date/{day}").text, pid) == before + 1  # signed in: never cached
    time.sleep(CHECK * 2)
    assert _votes(anonymous.get(f"/papers/date/{day}").text, pid) == before + 1


def test_an_import_and_a_comment_invalidate_cached_pages(web):
    anonymous, writer = web.browser(), web.browser()
    assert "Freshly imported" not in anonymous.get("/papers/date/2026-07-10").text
    web.store.ingest("jsonl", "late", [rec(id="2607.00777", title="Freshly imported", announced="2026-07-10")])
    time.sleep(CHECK * 2)
    assert "Freshly imported" in anonymous.get("/papers/date/2026-07-10").text
    paper = anonymous.get("/papers/2607.00777").text
    assert "0 comments" in paper
    register(writer, "writer")
    post(writer, "/papers/2607.00777/comments", {"text": "first!"})
    time.sleep(CHECK * 2)
    assert "1 comment" in anonymous.get("/papers/2607.00777").text


def test_the_cache_stays_within_its_memory_budget(web, monkeypatch):
    from paperboy.web import page_cache as render

    monkeypatch.setattr(render, "PAGE_CACHE_BYTES", 200_000)
    anonymous = web.browser()
    for day in sorted(DAYS):
        anonymous.get(f"/papers/date/{day}")
        anonymous.get(f"/papers/date/{day}?sort=new")
    cache = web.app.state.page_cache
    assert 0 < cache.size <= 200_000 and cache.size == sum(render._footprint(k, p) for k, p in cache.pages.items())


def test_api_answers_are_cached_until_a_vote_and_keep_their_shape(web):
    day = sorted(DAYS)[-1]
    pid = DAYS[day][0]
    anonymous, voter = web.browser(), web.browser()

    def upvotes(items: list[dict]) -> int:
        return next(x["paper"]["upvotes"] for x in items if x["paper"]["id"] == pid)

    first = anonymous.get(f"/api/daily_papers?date={day}")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert anonymous.get(f"/api/daily_papers?date={day}").content == first.content
    assert f"json /api/daily_papers?date={day}" in web.app.state.page_cache.pages
    one = anonymous.get(f"/api/papers/{pid}").json()
    assert one["id"] == pid and set(one) >= {"title", "summary", "publishedAt", "numComments", "submittedOnDailyBy"}
    register(voter, "voter")
    token = voter.cookies.get("pb_csrf")
    assert voter.post(f"/api/papers/{pid}/vote", json={"up": True}, headers={"X-CSRF-Token": token}).status_code == 200
    time.sleep(CHECK * 2)
    assert upvotes(anonymous.get(f"/api/daily_papers?date={day}").json()) == upvotes(first.json()) + 1
    assert anonymous.get(f"/api/papers/{pid}").json()["upvotes"] == one["upvotes"] + 1
    assert anonymous.get("/api/daily_papers?date=2026-13-45").status_code == 400  # errors are not cached answers


def test_search_answers_follow_the_index_not_only_the_store(tmp_path):
    """A search asked before the keyword index held the papers is not kept once it does: the store
    did not change, but what search can answer did (the index was built, vectors arrived)."""
    from support.web import corpus

    from paperboy.services.indexing import index_once

    settings = load_settings(tmp_path / "home", page_cache_seconds=CHECK, arxiv_min_interval=0.0)
    with running_app(settings, records=corpus(), index_at_start=False) as web:
        anonymous = web.browser()
        url = "/api/papers/search?q=diffusion&limit=5&mode=keyword"
        assert anonymous.get(url).json() == []  # nothing indexed yet
        assert anonymous.get("/papers/2607.00001").status_code == 200
        generation = web.store.activity.generation()
        index_once(settings, web.store, semantic=False)
        web.services.search.refresh()
        assert web.store.activity.generation() == generation  # the store itself holds still
        time.sleep(CHECK * 2)
        found = anonymous.get(url).json()
        assert found and all("iffusion" in item["title"] for item in found)
