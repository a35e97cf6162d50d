"""The JSON API (Hugging Face's shapes), who may write through it, a sweep of hostile input over
every route (never a 500, errors always JSON), and the Atom feeds checked against RFC 4287."""

from __future__ import annotations

import json
from datetime import datetime

import feedparser
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from support.backend import fresh_url
from support.loopback import Loopback, Reply
from support.web import (
    DAYS,
    HF_ID,
    OLD_ID,
    XSS,
    XSS_ID,
    api_token,
    arxiv_feed,
    cheap_hashes,
    corpus,
    csrf,
    post,
    rec,
    register,
    running_app,
)

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap password hashes for every test here

DAY1 = "2607.00001"
ATOM = "{http://www.w3.org/2005/Atom}"
#: Hugging Face's daily item (its ``mediaUrls`` aside), and the fields ``PaperInfo`` reads from the top of one.
ITEM_KEYS = {"paper", "title", "summary", "publishedAt", "numComments", "submittedBy", "thumbnail"}
ITEM_KEYS |= {"organization", "isAuthorParticipating", "githubRepo", "projectPage", "ai_summary", "ai_keywords"}
ITEM_KEYS |= {"source"}
#: Hugging Face's flat paper (``/api/papers/{id}``, ``paper`` of an item).
PAPER_KEYS = {"id", "authors", "publishedAt", "submittedOnDailyAt", "title", "submittedOnDailyBy", "summary"}
PAPER_KEYS |= {"upvotes", "discussionId", "projectPage", "githubRepo", "ai_summary", "ai_keywords", "numComments"}


@pytest.fixture
def web(settings):
    with running_app(settings.with_overrides(page_size=6)) as w:
        yield w


def _user(web, name: str) -> tuple[TestClient, dict[str, str]]:
    """A signed-in browser and the Authorization header of an API token of the same user."""
    client = web.browser()
    register(client, name)
    return client, {"Authorization": f"Bearer {api_token(client)}"}


def _error(r, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"]
    return body["error"]


def _ids(items) -> list[str]:
    return [item["paper"]["id"] for item in items]


# -- reading ----------------------------------------------------------------------------------------
def test_daily_papers_has_hugging_faces_shape(web):
    r = web.client.get("/api/daily_papers")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    items = r.json()
    assert sorted(_ids(items)) == sorted(DAYS["2026-07-10"])
    for item in items:
        assert set(item) == ITEM_KEYS
        paper = item["paper"]
        assert PAPER_KEYS <= set(paper)
        stored = web.store.get_paper(paper["id"])
        assert paper["title"] == item["title"] == stored["title"]
        assert paper["summary"] == item["summary"] == stored["abstract"]
        assert [a["name"] for a in paper["authors"]] == stored["authors"]
        assert all(len(a["_id"]) == 24 and a["hidden"] is False for a in paper["authors"])
        assert paper["publishedAt"] == item["publishedAt"] == "2026-07-10T10:00:00.000Z"  # the v1 time
        assert paper["submittedOnDailyAt"] == "2026-07-10T00:00:00.000Z"  # the announcement
        datetime.fromisoformat(paper["publishedAt"].replace("Z", "+00:00"))
        assert isinstance(paper["upvotes"], int) and isinstance(item["numComments"], int)
        assert item["submittedBy"]["name"] == paper["submittedOnDailyBy"]["user"] == "paperboy"  # the import
        assert item["organization"] is None and paper["ai_keywords"] == [] and len(paper["discussionId"]) == 24
        assert paper["categories"] == stored["categories"]
        assert paper["arxivUrl"] == f"https://arxiv.org/abs/{paper['id']}"
    assert items[0]["paper"]["id"] == HF_ID and items[0]["paper"]["upvotes"] == 7


def test_submitted_by_and_counts(web):
    alice, auth = _user(web, "alice")
    assert web.client.post("/api/papers/submit", json={"id": "2607.00031"}, headers=auth).status_code == 201
    web.client.post(f"/api/papers/{HF_ID}/comments", json={"text": "nice"}, headers=auth)
    items = {i["paper"]["id"]: i for i in web.client.get("/api/daily_papers").json()}
    by = items["2607.00031"]["submittedBy"]
    assert (by["name"], by["user"], by["fullname"], by["avatarUrl"]) == (
        "alice",
        "alice",
        "alice",
        "/avatars/alice.svg",
    )
    assert items["2607.00031"]["paper"]["submittedOnDailyBy"]["user"] == "alice"
    assert items["2607.00031"]["paper"]["submittedOnDailyAt"].startswith("2026-07-10T12:00:00")
    assert items["2607.00031"]["paper"]["upvotes"] == 1
    assert items[HF_ID]["numComments"] == items[HF_ID]["paper"]["numComments"] == 1


def test_daily_papers_periods_paging_and_sorting(web):
    get = lambda query: web.client.get(f"/api/daily_papers?{query}").json()  # noqa: E731
    assert sorted(_ids(get("date=2026-07-01&limit=50"))) == sorted(DAYS["2026-07-01"])
    week = DAYS["2026-06-30"] + DAYS["2026-07-01"] + DAYS["2026-07-02"]
    assert sorted(_ids(get("week=2026-W27"))) == sorted(week)
    assert sorted(_ids(get("month=2026-06"))) == sorted(DAYS["2026-06-26"] + DAYS["2026-06-30"])
    assert get("date=2026-07-04") == []
    pages = [_ids(get(f"date=2026-07-01&limit=3&p={p}")) for p in range(4)]
    assert [len(p) for p in pages] == [3, 3, 2, 0]
    assert sorted(sum(pages, [])) == sorted(DAYS["2026-07-01"])
    newest = get("week=2026-W28&sort=publishedAt")
    assert [i["publishedAt"] for i in newest] == sorted((i["publishedAt"] for i in newest), reverse=True)
    assert _ids(get("week=2026-W28&sort=upvotes"))[0] == HF_ID
    assert len(get("week=2026-W28&sort=trending")) == 7
    assert _ids(get("date=2026-07-01&week=2026-W28")) == _ids(get("date=2026-07-01"))  # the day wins


@pytest.mark.parametrize(
    "query,status",
    [
        ("date=2026-02-30", 400),
        ("date=2026-13-01", 400),
        ("date=yesterday", 400),
        ("week=2026-W54", 400),
        ("week=9999-W52", 400),
        ("month=2026-13", 400),
        ("month=0000-01", 400),
        ("limit=0", 422),
        ("limit=101", 422),
        ("limit=-5", 422),
        ("limit=ten", 422),
        ("p=-1", 422),
        ("p=100001", 422),
        ("sort=hot", 422),
        ("date=" + "9" * 41, 422),
    ],
)
def test_daily_papers_bad_input(web, query, status):
    message = _error(web.client.get(f"/api/daily_papers?{query}"), status)
    if status == 422:
        assert web.client.get(f"/api/daily_papers?{query}").json()["details"]
    else:
        assert "2026" in message or "9999" in message or "0000" in message or "yesterday" in message


def test_search(web):
    first = web.client.get("/api/papers/search?q=diffusion&mode=keyword&limit=3").json()
    second = web.client.get("/api/papers/search?q=diffusion&mode=keyword&limit=3&offset=3").json()
    assert len(first) == 3 and second and not set(_ids(first)) & set(_ids(second))
    for item in first:
        assert ITEM_KEYS | {"score", "highlight", "keywordRank", "semanticScore"} == set(item)
        assert "<mark>" in item["highlight"]["title"] + item["highlight"]["summary"]
        assert isinstance(item["keywordRank"], int) and item["semanticScore"] is None
    assert [i["keywordRank"] for i in first] == [1, 2, 3]
    assert web.client.get("/api/papers/search").json() == []
    assert web.client.get("/api/papers/search?q=%20%20").json() == []
    assert web.client.get("/api/papers/search?q=zzzyyyxxx").json() == []
    (xss,) = web.client.get("/api/papers/search?q=attack+vectors&mode=keyword").json()[:1]
    assert xss["paper"]["title"] == web.store.get_paper(XSS_ID)["title"]  # data as it is...
    assert (
        "<script>" not in xss["highlight"]["title"] and "&lt;script&gt;" in xss["highlight"]["title"]
    )  # ...HTML escaped


def test_search_leaves_out_hidden_papers(web):
    admin, auth = _user(web, "admin")
    assert XSS_ID in _ids(web.client.get("/api/papers/search?q=attack+vectors&mode=keyword").json())
    post(admin, f"/papers/{XSS_ID}/hide", {"hidden": "1"})
    web.services.search.refresh()
    assert XSS_ID not in _ids(web.client.get("/api/papers/search?q=attack+vectors&mode=keyword").json())


def test_one_paper(web):
    paper = web.client.get(f"/api/papers/{DAY1}").json()
    assert PAPER_KEYS <= set(paper) and paper["id"] == DAY1  # Hugging Face's flat shape
    assert "paper" not in paper and paper["submittedOnDailyBy"]["user"] == "paperboy"
    for path in (OLD_ID, "hep-th%2F9901001"):
        assert web.client.get(f"/api/papers/{path}").json()["id"] == OLD_ID
    assert web.client.get(f"/api/papers/{OLD_ID}/comments").json() == []
    assert "no paper" in _error(web.client.get("/api/papers/2607.99999"), 404)
    _error(web.client.get("/api/papers/2607.99999/comments"), 404)
    _error(web.client.get("/api/papers/2607.99999/similar"), 404)
    assert web.client.get(f"/api/papers/{DAY1}/similar").json() == []  # no vectors without semantic search


def test_hidden_papers_in_the_api(web):
    admin, admin_auth = _user(web, "admin")
    _, auth = _user(web, "bob")
    post(admin, f"/papers/{HF_ID}/hide", {"hidden": "1"})
    _error(web.client.get(f"/api/papers/{HF_ID}"), 404)
    assert HF_ID not in _ids(web.client.get("/api/daily_papers").json())
    _error(web.client.post(f"/api/papers/{HF_ID}/vote", headers=auth), 404)
    _error(web.client.post(f"/api/papers/{HF_ID}/comments", json={"text": "x"}, headers=auth), 404)
    assert admin.get(f"/api/papers/{HF_ID}").status_code == 200  # admins still see it


# -- writing: who may ------------------------------------------------------------------------------------
def test_vote_with_an_api_token(web):
    _, auth = _user(web, "alice")
    anon = web.browser()  # no cookies at all: the token alone
    r = anon.post(f"/api/papers/{DAY1}/vote", json={"up": True}, headers=auth)
    assert r.status_code == 200 and r.json() == {"id": DAY1, "upvotes": 1, "voted": True}
    assert anon.post(f"/api/papers/{DAY1}/vote", headers=auth).json()["upvotes"] == 1  # twice counts once
    assert anon.post(f"/api/papers/{DAY1}/vote", json={"up": False}, headers=auth).json() == {
        "id": DAY1,
        "upvotes": 0,
        "voted": False,
    }
    assert anon.post(f"/api/papers/{HF_ID}/vote", headers=auth).json()["upvotes"] == 8
    assert anon.post(f"/api/papers/{OLD_ID}/vote", headers=auth).json()["id"] == OLD_ID
    assert "no paper" in _error(anon.post("/api/papers/2607.99999/vote", headers=auth), 404)
    assert web.store.activity.vote_count(DAY1) == 0 and web.store.activity.vote_count(OLD_ID) == 1


def test_vote_with_the_session_and_the_csrf_header(web):
    alice, _ = _user(web, "alice")
    token = csrf(alice)
    r = alice.post(f"/api/papers/{DAY1}/vote", json={"up": True}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["upvotes"] == 1
    assert "CSRF" in _error(alice.post(f"/api/papers/{HF_ID}/vote", json={"up": True}), 403)
    _error(alice.post(f"/api/papers/{HF_ID}/vote", headers={"X-CSRF-Token": "x" * 43}), 403)
    _error(alice.post(f"/api/papers/{HF_ID}/vote", headers={"X-CSRF-Token": ""}), 403)
    assert web.store.activity.vote_count(HF_ID) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer pb_not-a-real-token"},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
        {"Authorization": "pb_xyz"},
        {"Authorization": "Bearer " + "x" * 5000},
        {"X-CSRF-Token": "whatever"},
    ],
)
def test_writing_without_credentials_is_401(web, headers):
    anon = web.browser()
    for method_url, body in [
        (f"/api/papers/{DAY1}/vote", {"up": True}),
        ("/api/papers/submit", {"id": "2607.00031"}),
        (f"/api/papers/{DAY1}/comments", {"text": "hi"}),
        ("/api/comments/1", {"text": "hi"}),
        ("/api/comments/1/delete", None),
    ]:
        r = anon.post(method_url, json=body, headers=headers)
        _error(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
    assert web.store.activity.vote_count(DAY1) == 0
    assert web.store.activity.user_submissions(1) == []


def test_a_bad_token_is_not_rescued_by_a_session(web):
    alice, _ = _user(web, "alice")
    r = alice.post(
        f"/api/papers/{DAY1}/vote", headers={"Authorization": "Bearer pb_wrong", "X-CSRF-Token": csrf(alice)}
    )
    _error(r, 401)


def test_a_revoked_token_stops_working(web):
    alice, auth = _user(web, "alice")
    assert web.client.post(f"/api/papers/{DAY1}/vote", headers=auth).status_code == 200
    (token,) = web.store.people.tokens(web.store.people.user_by_name("alice")["id"])
    assert token["last_used_at"]
    post(alice, f"/account/tokens/{token['id']}/delete")
    _error(web.client.post(f"/api/papers/{DAY1}/vote", headers=auth), 401)


# -- submitting --------------------------------------------------------------------------------------------
def test_submit(web):
    _, auth = _user(web, "alice")
    _, bob = _user(web, "bob")
    r = web.client.post("/api/papers/submit", json={"id": "https://arxiv.org/abs/2607.00031v2"}, headers=auth)
    assert r.status_code == 201
    item = r.json()
    assert set(item) == ITEM_KEYS and item["paper"]["id"] == "2607.00031"
    assert (item["submittedBy"]["name"], item["submittedBy"]["fullname"]) == ("alice", "alice")
    assert item["paper"]["upvotes"] == 1
    assert "already submitted" in _error(
        web.client.post("/api/papers/submit", json={"id": "2607.00031"}, headers=bob), 409
    )
    assert "arXiv id" in _error(web.client.post("/api/papers/submit", json={"id": "hello"}, headers=bob), 400)
    assert "30 days" in _error(web.client.post("/api/papers/submit", json={"id": "2605.00001"}, headers=bob), 400)
    _error(web.client.post("/api/papers/submit", json={}, headers=bob), 422)
    _error(web.client.post("/api/papers/submit", json={"id": "x" * 501}, headers=bob), 422)


def test_submission_cap_through_the_api(settings):
    with running_app(settings.with_overrides(submit_daily_cap=2)) as web:
        _, auth = _user(web, "alice")
        for pid in ("2607.00030", "2607.00031"):
            assert web.client.post("/api/papers/submit", json={"id": pid}, headers=auth).status_code == 201
        assert "daily limit" in _error(web.client.post("/api/papers/submit", json={"id": DAY1}, headers=auth), 429)


def test_submit_fetches_from_arxiv(settings):
    entry = {"id": "2607.06666", "title": "Fetched for the API", "published": "2026-07-09T10:00:00Z"}
    script = [Reply(arxiv_feed(entry)), Reply(arxiv_feed()), Reply("down", status=503, content_type="text/plain")]
    with Loopback(script) as srv:
        with running_app(settings.with_overrides(arxiv_api_url=srv.url("/api/query"), submit_fetch_retries=0)) as web:
            _, auth = _user(web, "alice")

            def submitted(pid: str) -> dict:
                r = web.client.post("/api/papers/submit", json={"id": pid}, headers=auth)
                assert r.status_code == 202 and r.json()["state"] == "fetching", r.text
                assert web.services.community.fetches.drain(30)
                status = web.client.get(r.json()["statusUrl"], headers=auth)
                assert status.status_code == 200
                return status.json()

            done = submitted("2607.06666")
            assert done["state"] == "done" and done["paper"]["title"] == "Fetched for the API"
            assert web.client.get("/api/papers/2607.06666").status_code == 200
            missing = submitted("2607.06667")
            assert missing["state"] == "failed" and missing["status"] == 404 and "no paper" in missing["message"]
            down = submitted("2607.06668")
            assert down["state"] == "failed" and down["status"] == 503 and "Could not fetch" in down["message"]
            assert web.client.get(f"/api/submissions/{done['id']}").status_code == 401  # not without a token
            _, bob = _user(web, "bob")
            assert web.client.get(f"/api/submissions/{done['id']}", headers=bob).status_code == 404  # not bob's
    assert [seen.query["id_list"] for seen in srv.requests] == ["2607.06666", "2607.06667", "2607.06668"]


# -- comments ----------------------------------------------------------------------------------------------
def test_comments(web):
    admin, admin_auth = _user(web, "admin")
    _, alice = _user(web, "alice")
    _, bob = _user(web, "bob")
    r = web.client.post(f"/api/papers/{DAY1}/comments", json={"text": "  **Nice** <b>paper</b>  "}, headers=alice)
    assert r.status_code == 201
    comment = r.json()
    assert set(comment) == {"id", "paperId", "author", "text", "createdAt", "editedAt"}
    assert comment["paperId"] == DAY1 and comment["author"] == "alice" and comment["editedAt"] is None
    assert comment["text"] == "**Nice** <b>paper</b>"  # the source as typed (trimmed); pages render it safely
    cid = comment["id"]
    assert web.client.get(f"/api/papers/{DAY1}/comments").json() == [comment]
    assert "author or an admin" in _error(
        web.client.post(f"/api/comments/{cid}", json={"text": "bob"}, headers=bob), 403
    )
    _error(web.client.post(f"/api/comments/{cid}/delete", headers=bob), 403)
    edited = web.client.post(f"/api/comments/{cid}", json={"text": "edited"}, headers=alice)
    assert edited.status_code == 200 and edited.json()["text"] == "edited" and edited.json()["editedAt"]
    _error(web.client.post(f"/api/comments/{cid}", json={"text": "   "}, headers=alice), 400)
    _error(web.client.post(f"/api/comments/{cid}", json={"text": "x" * 10_001}, headers=alice), 422)
    _error(web.client.post(f"/api/papers/{DAY1}/comments", json={"text": ""}, headers=alice), 400)
    _error(web.client.post(f"/api/papers/{DAY1}/comments", json={}, headers=alice), 422)
    _error(web.client.post("/api/papers/2607.99999/comments", json={"text": "hi"}, headers=alice), 404)
    assert web.client.post(f"/api/comments/{cid}", json={"text": "by admin"}, headers=admin_auth).status_code == 200
    r = web.client.post(f"/api/comments/{cid}/delete", headers=alice)
    assert r.status_code == 204 and r.content == b""
    _error(web.client.post(f"/api/comments/{cid}/delete", headers=alice), 404)
    _error(web.client.post(f"/api/comments/{cid}", json={"text": "gone"}, headers=alice), 404)
    other = web.client.post(f"/api/papers/{OLD_ID}/comments", json={"text": "🧬 ok"}, headers=bob).json()
    assert other["paperId"] == OLD_ID and other["text"] == "🧬 ok"
    assert web.client.post(f"/api/comments/{other['id']}/delete", headers=admin_auth).status_code == 204
    assert web.client.get(f"/api/papers/{DAY1}/comments").json() == []


def test_hidden_comments_are_not_listed(web):
    admin, _ = _user(web, "admin")
    _, alice = _user(web, "alice")
    cid = web.client.post(f"/api/papers/{DAY1}/comments", json={"text": "rude"}, headers=alice).json()["id"]
    post(admin, f"/comments/{cid}/hide", {"hidden": "1"})
    assert web.client.get(f"/api/papers/{DAY1}/comments").json() == []
    assert web.client.get(f"/api/papers/{DAY1}").json()["numComments"] == 0
    _error(web.client.post(f"/api/comments/{cid}", json={"text": "sneaky"}, headers=alice), 404)


# -- similar papers, with the real embedding model ----------------------------------------------------------
def test_similar_papers_with_real_embeddings(settings, embedder):
    with running_app(settings, semantic=True, embedder=embedder) as web:
        r = web.client.get(f"/api/papers/{DAY1}/similar?limit=5")
        assert r.status_code == 200
        items = r.json()
        assert len(items) == 5 and DAY1 not in _ids(items)
        scores = [i["score"] for i in items]
        assert scores == sorted(scores, reverse=True) and all(0 < s < 0.985 for s in scores)
        assert all(i["semanticScore"] == i["score"] for i in items)
        # the corpus repeats eight topics almost word for word: those near-duplicates are left out
        assert len(set(_ids(items))) == 5
        recent = web.client.get(f"/api/papers/{DAY1}/similar?since=2026-07-06").json()
        assert recent and all(web.store.get_paper(pid)["announced"] >= "2026-07-06" for pid in _ids(recent))
        _error(web.client.get(f"/api/papers/{DAY1}/similar?limit=101"), 422)
        hybrid = web.client.get("/api/papers/search?q=protein+folding+generative&mode=hybrid").json()
        assert hybrid and any(i["semanticScore"] is not None for i in hybrid)
        page = web.client.get(f"/papers/{DAY1}").text
        assert "Similar papers appear once" not in page and page.count('class="why"') >= 1


# -- hostile input: never a 500 ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One app for the whole sweep, with a user, a token, a comment and an arXiv stand-in that knows nothing."""
    from paperboy.config import load_settings

    with pytest.MonkeyPatch.context() as mp, Loopback(lambda seen: Reply(arxiv_feed())) as srv:
        cheap_hashes(mp)
        settings = load_settings(
            tmp_path_factory.mktemp("hostile") / "home",
            arxiv_min_interval=0.0,
            http_retries=0,
            http_timeout=2.0,
            page_cache_seconds=0,
            arxiv_api_url=srv.url("/api/query"),
            database_url=fresh_url(),
        )
        with running_app(settings) as web:
            client, auth = _user(web, "alice")
            cid = web.client.post(f"/api/papers/{DAY1}/comments", json={"text": "hi"}, headers=auth).json()["id"]
            raw = TestClient(web.app, raise_server_exceptions=False)
            yield raw, auth, cid
            raw.close()


BAD_TEXT = [
    "",
    " ",
    "x" * 10_240,
    "word " * 2000,
    "🧬🤖💥" * 50,
    "'; DROP TABLE papers; --",
    '" OR 1=1 --',
    '"unbalanced',
    'author:"',
    "cat:",
    "since:99999-99-99",
    "until:0000-00-00",
    "((((",
    "-",
    "NOT NOT -",
    "*?~^:[]{}\\",
    "\x00\x01\x1b",
    "%00",
    "<script>alert(1)</script>",
    "\u202e\ufeff",
]
BAD_IDS = [
    "2607.99999",
    "nothing/at/all",
    "hep-th/9901001/../../etc/passwd",
    "..",
    "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "hep-th%2F9901002",
    "a%2Fb%2Fc",
    "%00",
    "%FF%FE",
    "'%3B%20DROP%20TABLE%20papers%3B--",
    "%F0%9F%A7%AC",
    "x" * 3000,
    "2607.00001v999",
    "%20",
]
BAD_PERIODS = ["2026-02-30", "2026-13-01", "0000-00-00", "9999-12-31", "-1", "💥", "2026-07-01';--", "x" * 39]
BAD_NUMBERS = ["0", "-1", "101", "1" * 30, "abc", "1.5", "", "1e3", "NaN", "%00"]


def _get_cases() -> list[tuple[str, str, dict]]:
    cases: list[tuple[str, str, dict]] = []
    for value in BAD_PERIODS:
        for field in ("date", "week", "month"):
            cases.append(("GET", "/api/daily_papers", {"params": {field: value}}))
    for value in ["2026-W54", "9999-W52", "0000-W01", "2026-W-1", "W27", "2026-W", "9999-12", "0001-01"]:
        cases.append(("GET", "/api/daily_papers", {"params": {"week": value, "month": value}}))
    for value in BAD_NUMBERS:
        cases.append(("GET", "/api/daily_papers", {"params": {"limit": value}}))
        cases.append(("GET", "/api/daily_papers", {"params": {"p": value}}))
        cases.append(("GET", "/api/papers/search", {"params": {"q": "learning", "limit": value}}))
        cases.append(("GET", "/api/papers/search", {"params": {"q": "learning", "offset": value}}))
        cases.append(("GET", f"/api/papers/{DAY1}/similar", {"params": {"limit": value}}))
    for sort in ["hot", "", "upvotes'", "publishedAt;"]:
        cases.append(("GET", "/api/daily_papers", {"params": {"sort": sort}}))
    for q in BAD_TEXT:
        for mode in ("hybrid", "keyword", "semantic"):
            cases.append(("GET", "/api/papers/search", {"params": {"q": q, "mode": mode}}))
        cases.append(("GET", "/feeds/search.atom", {"params": {"q": q}}))
        cases.append(("GET", f"/api/papers/{DAY1}/similar", {"params": {"since": q[:40]}}))
    cases.append(("GET", "/api/papers/search", {"params": {"q": "x", "mode": "bogus"}}))
    for pid in BAD_IDS:
        for suffix in ("", "/similar", "/comments", "/vote"):
            cases.append(("GET", f"/api/papers/{pid}{suffix}", {}))
    for window in ["", "decade", "%00", "x" * 500]:
        cases.append(("GET", "/feeds/trending.atom", {"params": {"window": window}}))
    cases += [("GET", "/api/nothing/here", {}), ("GET", "/api/", {}), ("GET", "/api/comments/1", {})]
    return cases


def _post_cases() -> list[tuple[str, str, dict]]:
    bodies = [
        {"content": b'{"up":', "headers": {"Content-Type": "application/json"}},
        {"content": b"[]", "headers": {"Content-Type": "application/json"}},
        {"content": b'"string"', "headers": {"Content-Type": "application/json"}},
        {"content": b"null", "headers": {"Content-Type": "application/json"}},
        {"content": b"", "headers": {"Content-Type": "application/json"}},
        {"content": b'{"up": "maybe", "id": 5, "text": 7}', "headers": {"Content-Type": "application/json"}},
        {"content": b'{"up": 1e999, "id": null, "text": null}', "headers": {"Content-Type": "application/json"}},
        {
            "content": b'{"text": {"nested": ["x"]}, "id": ["2607.00001"]}',
            "headers": {"Content-Type": "application/json"},
        },
        {"content": b"\xff\xfe\x00garbage", "headers": {"Content-Type": "application/json"}},
        {
            "content": b'{"id": "2607.00001", "text": "x"}' + b" " * 100,
            "headers": {"Content-Type": "application/json; charset=latin-1"},
        },
        {"content": b"up=1&text=hi&id=2607.00031", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"content": b"up=1", "headers": {"Content-Type": "text/plain"}},
        {"content": b"<up>1</up>", "headers": {"Content-Type": "application/xml"}},
        {"files": {"text": ("a.txt", b"hello")}},
        {"json": {"up": True, "id": "'; DROP TABLE papers; --", "text": "x" * 10_001}},
        {"json": {"id": "x" * 600, "text": ""}},
        {"json": {"id": "🧬", "text": "🧬"}},
        {"json": {"id": "2607.99999", "text": "<script>alert(1)</script>"}},
        {"json": {"id": "hep-th/9901002"}},
    ]
    cases: list[tuple[str, str, dict]] = []
    for body in bodies:
        for url in (
            "/api/papers/submit",
            f"/api/papers/{DAY1}/vote",
            f"/api/papers/{DAY1}/comments",
            "/api/comments/{cid}",
        ):
            cases.append(("POST", url, body))
    for pid in BAD_IDS:
        for suffix in ("/vote", "/comments"):
            cases.append(("POST", f"/api/papers/{pid}{suffix}", {"json": {"up": True, "text": "hi"}}))
    for cid in ["abc", "-1", "0", "99999999999999999999999", "1.5", "%00", "1%2F2", "9223372036854775808"]:
        cases.append(("POST", f"/api/comments/{cid}", {"json": {"text": "hi"}}))
        cases.append(("POST", f"/api/comments/{cid}/delete", {}))
    return cases


CASES = _get_cases() + _post_cases()


def _group(case: tuple[str, str, dict]) -> str:
    """The route a case aims at, for grouping: one test per route keeps the sweep fast."""
    method, url, _ = case
    if url.startswith("/api/papers/") and url not in ("/api/papers/search", "/api/papers/submit"):
        route = url.rsplit("/", 1)[-1] if url.endswith(("/similar", "/comments", "/vote")) else "(paper)"
        return f"{method} /api/papers/ID/{route}"
    if url.startswith("/api/comments/"):
        return f"{method} /api/comments/ID" + ("/delete" if url.endswith("/delete") else "")
    return f"{method} {url}"


GROUPS: dict[str, list[tuple[str, str, dict]]] = {}
for _case in CASES:
    GROUPS.setdefault(_group(_case), []).append(_case)


def _problem(client: TestClient, auth: dict, cid: int, method: str, url: str, kwargs: dict) -> str | None:
    """What is wrong with the answer to one hostile request (None: nothing)."""
    url = url.replace("{cid}", str(cid))
    headers = {**kwargs.get("headers", {}), **(auth if method == "POST" else {})}
    r = client.request(method, url, **{**kwargs, "headers": headers})
    if not (200 <= r.status_code < 300 or 400 <= r.status_code < 500):
        return f"status {r.status_code}: {r.text[:300]}"
    if url.startswith("/feeds/"):
        if r.status_code != 200:
            q = kwargs["params"]["q"]  # too long, or holding a NUL (refused before any route): a 4xx is right
            return None if len(q) > 10_000 or "\x00" in q else f"feed status {r.status_code}"
        return None if feedparser.parse(r.content).bozo == 0 else "feed does not parse"
    if r.status_code == 204:
        return None if not r.content else "a body with 204"
    if not r.headers.get("content-type", "").startswith("application/json"):
        return f"not JSON: {r.headers.get('content-type')}"
    body = json.loads(r.content)
    if r.status_code >= 400 and not (isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]):
        return f"error without an 'error' key: {body!r:.300}"
    return None


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_hostile_input_never_breaks_the_api(hostile, group):
    """Every case: 2xx or 4xx (never 5xx), JSON bodies, errors as {"error": ...}; feeds stay valid Atom."""
    client, auth, cid = hostile
    problems = []
    for method, url, kwargs in GROUPS[group]:
        problem = _problem(client, auth, cid, method, url, kwargs)
        if problem:
            problems.append(f"{method} {url[:80]} {str(kwargs)[:120]} -> {problem}")
    assert not problems, "\n".join(problems)


def test_the_sweep_is_thorough():
    assert len(CASES) > 350 and len(GROUPS) >= 12


def test_the_sweep_left_the_store_sound(hostile):
    client, auth, cid = hostile
    assert client.get("/api/daily_papers?date=2026-07-01&limit=50").status_code == 200
    assert len(client.get("/api/daily_papers?date=2026-07-01&limit=50").json()) == 8
    assert client.get(f"/api/papers/{DAY1}").status_code == 200


# -- Atom feeds ---------------------------------------------------------------------------------------------
def _check_atom(content: bytes) -> etree._Element:
    """RFC 4287's requirements of a feed and its entries; returns the parsed feed."""
    parsed = feedparser.parse(content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    root = etree.fromstring(content)
    assert root.tag == f"{ATOM}feed"

    def one(parent: etree._Element, name: str) -> etree._Element:
        found = parent.findall(f"{ATOM}{name}")
        assert len(found) == 1, (name, len(found))
        assert (found[0].text or "").strip() or name == "title", name
        return found[0]

    one(root, "id")
    one(root, "title")
    datetime.fromisoformat(one(root, "updated").text.replace("Z", "+00:00"))
    feed_author = root.findall(f"{ATOM}author")
    assert all((a.findtext(f"{ATOM}name") or "").strip() for a in feed_author)
    ids = []
    for entry in root.findall(f"{ATOM}entry"):
        ids.append(one(entry, "id").text)
        assert (one(entry, "title").text or "").strip()
        datetime.fromisoformat(one(entry, "updated").text.replace("Z", "+00:00"))
        alternates = [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
        assert len(alternates) == 1 and alternates[0].get("href", "").startswith("http")
        authors = entry.findall(f"{ATOM}author")
        assert feed_author or authors, "an entry without an author in a feed without one"
        assert all((a.findtext(f"{ATOM}name") or "").strip() for a in authors)
    assert len(ids) == len(set(ids)), "entry ids must be unique"
    self_links = [link for link in root.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert len(self_links) == 1
    return root


def test_daily_feed(web):
    r = web.client.get("/feeds/daily.atom")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/atom+xml")
    root = _check_atom(r.content)
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 4
    links = [e.find(f"{ATOM}link").get("href") for e in entries]
    assert links[0] == f"http://testserver/papers/{HF_ID}"  # most upvoted first, absolute, this host's
    parsed = feedparser.parse(r.content)
    assert parsed.feed.title == "paperboy: daily papers"
    assert parsed.entries[0].authors and parsed.entries[0].summary.endswith("(7 upvotes)")


def test_trending_feed(web):
    _, auth = _user(web, "alice")
    web.client.post("/api/papers/2607.00020/vote", headers=auth)
    for window in ("day", "week", "month", "all", "bogus"):
        r = web.client.get(f"/feeds/trending.atom?window={window}")
        assert r.status_code == 200, window
        root = _check_atom(r.content)
        assert root.findall(f"{ATOM}entry"), window
    parsed = feedparser.parse(web.client.get("/feeds/trending.atom?window=week").content)
    links = [e.link for e in parsed.entries]
    assert links[0].endswith(f"/papers/{HF_ID}")  # seven Hugging Face upvotes on the last day
    assert links[1].endswith("/papers/2607.00020")  # the one vote here


def test_search_feed(web):
    r = web.client.get("/feeds/search.atom?q=diffusion")
    root = _check_atom(r.content)
    entries = feedparser.parse(r.content).entries
    assert len(entries) == 7
    days = [web.store.get_paper(e.link.rsplit("/papers/", 1)[1])["announced"] for e in entries]
    assert days == sorted(days, reverse=True)  # newest first
    assert root.findtext(f"{ATOM}title") == "paperboy: diffusion"
    empty = web.client.get("/feeds/search.atom?q=")
    assert not _check_atom(empty.content).findall(f"{ATOM}entry")
    none = web.client.get("/feeds/search.atom?q=zzzyyyxxx")
    assert not _check_atom(none.content).findall(f"{ATOM}entry")


def test_feeds_escape_html_and_keep_old_ids(web):
    _, auth = _user(web, "alice")
    web.client.post(f"/api/papers/{XSS_ID}/vote", headers=auth)
    web.client.post(f"/api/papers/{OLD_ID}/vote", headers=auth)
    for url in ("/feeds/trending.atom?window=all", "/feeds/search.atom?q=attack+vectors"):
        r = web.client.get(url)
        _check_atom(r.content)
        assert b"<script>" not in r.content and b"&lt;script&gt;" in r.content, url
    parsed = feedparser.parse(web.client.get("/feeds/trending.atom?window=all").content)
    titles = {e.link.rsplit("/papers/", 1)[1]: e.title for e in parsed.entries}
    assert titles[XSS_ID] == f"Attack {XSS} vectors in web pages"  # the reader gets the text itself
    assert OLD_ID in titles
    search = feedparser.parse(web.client.get("/feeds/search.atom?q=%3Cscript%3E%22%26").content)
    assert search.bozo == 0 and search.feed.title == 'paperboy: <script>"&'


def test_feeds_survive_control_characters(settings):
    """arXiv metadata now and then holds control characters, which XML 1.0 cannot carry."""
    odd = [
        rec(
            id="2607.00501",
            title="Control \x0b characters\x1b[0m in a title",
            # (a NUL is refused at import: tests/test_nul_and_ids.py)
            abstract="An abstract with \x01 SOH, \x0c form feed, \x1b escape and \ufffe a non-character.",
            authors=["Bell \x07 Ringer"],
            announced="2026-07-10",
            published="2026-07-10T10:00:00Z",
        )
    ]
    with running_app(settings, records=corpus() + odd) as web:
        for url in ("/feeds/daily.atom", "/feeds/search.atom?q=control+characters", "/feeds/trending.atom?window=day"):
            r = web.client.get(url)
            assert r.status_code == 200, url
            _check_atom(r.content)
        assert web.client.get("/papers/2607.00501").status_code == 200
        assert web.client.get("/api/papers/2607.00501").status_code == 200


def test_openapi_lists_the_api(web):
    spec = web.client.get("/openapi.json").json()
    paths = set(spec["paths"])
    for path in (
        "/api/daily_papers",
        "/api/papers/search",
        "/api/papers/{paper_id}",
        "/api/papers/{paper_id}/vote",
        "/api/papers/submit",
        "/api/comments/{comment_id}",
    ):
        assert path in paths, path
    assert not any(p.startswith(("/login", "/register", "/account")) for p in paths)
    assert web.client.get("/docs").status_code == 200


def test_feeds_and_api_need_no_cookies(web):
    fresh = web.browser()
    for url in ("/api/daily_papers", "/feeds/daily.atom"):
        r = fresh.get(url)
        assert r.status_code == 200 and "set-cookie" not in r.headers, url
