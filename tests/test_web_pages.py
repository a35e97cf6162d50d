"""The HTML pages over HTTP: every route, sign-in flows, and the security rules they depend on
(CSRF on every POST, no state change on GET, escaping, cookie flags, permissions, the login rate
limit, no open redirects)."""

from __future__ import annotations

import html
import re
from email import message_from_bytes
from urllib.parse import quote, urlsplit

import pytest
from sqlalchemy import select
from support.loopback import Loopback, Reply
from support.mail import body_text
from support.servers import free_port
from support.web import (
    DAYS,
    HF_ID,
    OLD_ID,
    PASSWORD,
    XSS,
    XSS_ID,
    arxiv_feed,
    cheap_hashes,
    confirm_email,
    csrf,
    login,
    post,
    register,
    running_app,
)

from paperboy.store import schema as t

DAY1 = "2607.00001"
ESCAPED_XSS = html.escape(XSS, quote=False)  # &lt;script&gt;alert(1)&lt;/script&gt;


@pytest.fixture(autouse=True)
def fast_hashes(monkeypatch) -> None:
    cheap_hashes(monkeypatch)


@pytest.fixture
def web(settings, fast_hashes):
    with running_app(settings.with_overrides(page_size=6)) as w:
        yield w


def _titles(page: str) -> list[str]:
    """Paper ids of the cards on a page, in order."""
    return re.findall(r'<article class="card" id="p-([^"]+)"', page)


def snapshot(store) -> dict:
    """Every row that a request could change."""
    tables = (t.users, t.sessions, t.api_tokens, t.password_resets, t.votes, t.comments, t.paper_stats, t.papers)
    with store.engine.connect() as conn:
        return {table.name: sorted((tuple(r) for r in conn.execute(select(table))), key=repr) for table in tables}


def outbox(settings) -> list:
    folder = settings.home / "outbox"
    return sorted(folder.iterdir()) if folder.exists() else []


# -- feeds -------------------------------------------------------------------------------------------
def test_home_is_the_latest_day(web):
    r = web.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "private, no-cache"
    assert sorted(_titles(r.text)) == sorted(DAYS["2026-07-10"])
    assert _titles(r.text)[0] == HF_ID  # most upvoted first
    assert "Friday, 10 July 2026" in r.text and "4 papers" in r.text
    assert 'href="/papers/date/2026-07-06" rel="prev"' in r.text
    assert 'rel="next"' not in r.text


def test_day_page_with_paging_and_sorting(web):
    first = web.client.get("/papers/date/2026-07-01")
    assert first.status_code == 200
    assert len(_titles(first.text)) == 6 and "page 1 of 2" in first.text
    assert 'href="/papers/date/2026-07-01?sort=votes&amp;p=2" rel="next"' in first.text
    second = web.client.get("/papers/date/2026-07-01?p=2")
    assert len(_titles(second.text)) == 2
    assert sorted(_titles(first.text) + _titles(second.text)) == sorted(DAYS["2026-07-01"])
    assert _titles(web.client.get("/papers/date/2026-07-01?p=3").text) == []
    assert 'href="/papers/date/2026-06-30" rel="prev"' in first.text
    assert 'href="/papers/date/2026-07-02" rel="next"' in first.text
    for sort in ("votes", "trending", "new", "bogus", ""):
        r = web.client.get(f"/papers/date/2026-07-01?sort={sort}")
        assert r.status_code == 200 and len(_titles(r.text)) == 6


@pytest.mark.parametrize("page", ["0", "-1", "abc", "10001", "1e3", ""])
def test_bad_page_numbers_are_400(web, page):
    r = web.client.get(f"/papers/date/2026-07-01?p={page}")
    assert r.status_code == 400 and "Bad request" in r.text


def test_a_day_without_papers(web):
    r = web.client.get("/papers/date/2026-07-04")
    assert r.status_code == 200
    assert _titles(r.text) == [] and "No papers on Saturday, 4 July 2026" in r.text
    assert 'href="/papers/date/2026-07-02"' in r.text and 'href="/papers/date/2026-07-06"' in r.text


@pytest.mark.parametrize(
    "url",
    [
        "/papers/date/2026-02-30",
        "/papers/date/2026-13-01",
        "/papers/date/garbage",
        "/papers/date/2026-07-01x",
        "/papers/week/2026-W54",
        "/papers/week/2025-W53",
        "/papers/week/9999-W52",
        "/papers/month/2026-13",
        "/papers/month/2026-00",
        "/papers/month/0000-01",
    ],
)
def test_impossible_periods_are_404(web, url):
    r = web.client.get(url)
    assert r.status_code == 404 and "Not found" in r.text


def test_week_and_month_pages(web):
    week = web.client.get("/papers/week/2026-W27")
    assert week.status_code == 200 and "Week 27, 2026" in week.text
    assert "14 papers" in week.text and "page 1 of 3" in week.text
    for day in ("2026-06-30", "2026-07-01", "2026-07-02"):
        assert f'<a href="/papers/date/{day}">' in week.text  # the calendar
    assert 'href="/papers/week/2026-W26" rel="prev"' in week.text
    assert 'href="/papers/week/2026-W28" rel="next"' in week.text
    lower = web.client.get("/papers/week/2026-w27")
    assert lower.status_code == 200 and "Week 27, 2026" in lower.text
    month = web.client.get("/papers/month/2026-06")
    assert month.status_code == 200 and "June 2026" in month.text and "6 papers" in month.text
    assert 'href="/papers/month/2026-05" rel="prev"' in month.text
    assert 'href="/papers/month/2026-07" rel="next"' in month.text


def test_day_picker(web):
    for query, target in [
        ("d=2026-07-01", "/papers/date/2026-07-01"),
        ("d=junk", "/"),
        ("", "/"),
        ("d=%2F%2Fevil.com", "/"),
        ("d=2026-07-01%0D%0ALocation:%20http://evil.com", "/"),
    ]:
        r = web.client.get(f"/papers/date?{query}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == target, query


# -- trending ------------------------------------------------------------------------------------------
def test_trending_windows(web):
    user = web.browser()
    register(user, "voter")
    for pid in ("2607.00030", "2606.00001", OLD_ID):
        assert post(user, f"/papers/{pid}/vote", {"up": "1"}).status_code == 303
    for window, expect in [  # HF_ID: seven Hugging Face upvotes on the last day, none here
        ("day", [HF_ID, "2607.00030"]),
        ("week", [HF_ID, "2607.00030"]),
        ("month", [HF_ID, "2607.00030", "2606.00001"]),
        ("all", [HF_ID, "2607.00030", "2606.00001", OLD_ID]),
        ("bogus", [HF_ID, "2607.00030"]),
    ]:
        r = web.client.get(f"/trending?window={window}")
        assert r.status_code == 200, window
        ids = _titles(r.text)
        assert ids[: len(expect)] == expect, window
        page = r.text.split("No votes yet", 1)
        assert len(page) == 2 and set(_titles(page[0])) == set(expect), window  # the unvoted filler follows
    assert "/feeds/trending.atom?window=month" in web.client.get("/trending?window=month").text


def test_trending_pages(web):
    user = web.browser()
    register(user, "voter")
    week_ids = DAYS["2026-07-06"] + DAYS["2026-07-10"]
    month_ids = DAYS["2026-06-26"] + DAYS["2026-06-30"] + DAYS["2026-07-01"] + DAYS["2026-07-02"] + week_ids
    voted = [pid for pid in month_ids if pid != HF_ID][:8]
    for pid in voted:
        post(user, f"/papers/{pid}/vote", {"up": "1"})
    first = web.client.get("/trending?window=month")
    assert len(_titles(first.text)) == 6 and "No votes yet" not in first.text
    assert 'href="/trending?window=month&amp;p=2" rel="next"' in first.text
    second = web.client.get("/trending?window=month&p=2")
    assert set(_titles(first.text)) | set(_titles(second.text)) == {*voted, HF_ID}  # HF_ID: Hugging Face votes
    assert 'rel="next"' not in second.text
    assert web.client.get("/trending?p=0").status_code == 400


# -- search -------------------------------------------------------------------------------------------
def test_search_form_without_a_query(web):
    r = web.client.get("/search")
    assert r.status_code == 200 and _titles(r.text) == [] and "No papers found" not in r.text


def test_search_with_paging(web):
    first = web.client.get("/search?q=diffusion&mode=keyword")
    ids = _titles(first.text)
    assert len(ids) == 3  # half a page
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    second = web.client.get("/search?q=diffusion&mode=keyword&p=2")
    ids2 = _titles(second.text)
    assert ids2 and not set(ids) & set(ids2)
    assert 'href="/search?q=diffusion&amp;mode=keyword&amp;p=1" rel="prev"' in second.text
    assert "<mark>" in first.text.lower() or "<mark>" in first.text
    assert 'href="/feeds/search.atom?q=diffusion"' in first.text
    everything = web.client.get("/search?q=diffusion&mode=keyword&p=50")
    assert everything.status_code == 200 and "No papers found" in everything.text


@pytest.mark.parametrize(
    "query,expect",
    [
        ("author=Kurt+G%C3%B6del", {"Kurt Gödel"}),
        ("q=learning&author=Zola", {"Émile Zola"}),
        ("q=author%3A%22%C3%89mile+Zola%22", {"Émile Zola"}),
    ],
)
def test_search_by_author(web, query, expect):
    r = web.client.get(f"/search?{query}&mode=keyword")
    ids = _titles(r.text)
    assert ids, query
    for pid in ids:
        authors = set(web.store.get_paper(pid)["authors"])
        assert authors & expect, (pid, authors)


def test_search_filters(web):
    def ids(query: str) -> list[str]:
        found = []
        for page in range(1, 20):
            r = web.client.get(f"/search?{query}&p={page}")
            assert r.status_code == 200
            if not _titles(r.text):
                return found
            found += _titles(r.text)
        raise AssertionError("too many pages")

    def day(pid: str) -> str:
        return web.store.get_paper(pid)["announced"]

    cats = ids("cat=q-bio.BM")
    assert cats and all("q-bio.BM" in web.store.get_paper(p)["categories"] for p in cats)
    since = ids("q=learning&since=2026-07-02&mode=keyword")
    assert since and all(day(p) >= "2026-07-02" for p in since)
    until = ids("q=learning&until=2026-06-30&mode=keyword")
    assert until and all(day(p) <= "2026-06-30" for p in until)
    assert OLD_ID in until
    both = ids("since=2026-07-01&until=2026-07-01")
    assert sorted(both) == sorted(DAYS["2026-07-01"])
    assert ids("q=diffusion+-protein&mode=keyword") and all(
        "protein" not in web.store.get_paper(p)["title"].lower() for p in ids("q=diffusion+-protein&mode=keyword")
    )
    in_query = ids("q=cat%3Acs.CL+since%3A2026-07")
    assert in_query and all(
        "cs.CL" in web.store.get_paper(p)["categories"] and day(p) >= "2026-07-01" for p in in_query
    )


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic", "bogus", ""])
def test_search_modes(web, mode):
    r = web.client.get(f"/search?q=transformer&mode={mode}")
    assert r.status_code == 200 and _titles(r.text)


def test_search_warnings_and_odd_input(web):
    r = web.client.get("/search?q=diffusion&since=not-a-date")
    assert r.status_code == 200 and 'class="note"' in r.text
    for q in ['"unbalanced', "emoji 🧬🤖 diffusion", "'; DROP TABLE papers; --", "((()))", "a" * 9000, "%00", "\\"]:
        r = web.client.get("/search", params={"q": q})
        assert r.status_code == 200, q
    assert web.store.count_papers() == 27
    assert web.client.get("/search", params={"q": "a" * 10_241}).status_code == 400
    assert web.client.get("/search", params={"q": "x", "author": "a" * 500}).status_code == 400


def test_search_leaves_out_hidden_papers(web):
    admin = web.browser()
    register(admin, "admin")
    assert XSS_ID in _titles(web.client.get("/search?q=attack+vectors&mode=keyword").text)
    assert post(admin, f"/papers/{XSS_ID}/hide", {"hidden": "1"}).status_code == 303
    web.services.search.refresh()  # what the background refresher does every few seconds
    assert XSS_ID not in _titles(web.client.get("/search?q=attack+vectors&mode=keyword").text)


# -- papers and authors --------------------------------------------------------------------------------
def test_paper_page(web):
    r = web.client.get(f"/papers/{DAY1}")
    assert r.status_code == 200
    paper = web.store.get_paper(DAY1)
    assert html.escape(paper["title"]) in r.text and html.escape(paper["abstract"]) in r.text
    for name in paper["authors"]:
        assert f'<a href="/authors/{quote(name, safe="")}">{name}</a>' in r.text
    assert 'href="https://arxiv.org/abs/2607.00001"' in r.text
    assert 'href="/papers/date/2026-07-01"' in r.text
    assert "0 comments" in r.text and f'href="/login?next={quote("/papers/" + DAY1, safe="")}"' in r.text
    assert "Similar papers appear once" in r.text  # no vectors without the semantic index


@pytest.mark.parametrize("path", [OLD_ID, "hep-th%2F9901001"])
def test_old_style_ids(web, path):
    r = web.client.get(f"/papers/{path}")
    assert r.status_code == 200 and "Strings on old-style identifiers" in r.text
    assert f'action="/papers/{OLD_ID}/vote"' in r.text


@pytest.mark.parametrize(
    ("path", "target"),
    [
        (f"{DAY1}v1", DAY1),
        (f"{DAY1}v7", DAY1),  # any version: the page shows the versions it knows
        (f"arXiv:{DAY1}", DAY1),
        (f"https://arxiv.org/abs/{DAY1}v2", DAY1),
        (f"{OLD_ID}v3", OLD_ID),
    ],
)
def test_other_forms_of_an_id_redirect_to_the_paper(web, path, target):
    r = web.client.get(f"/papers/{path}", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"/papers/{target}"
    assert web.client.get(r.headers["location"]).status_code == 200


def test_api_finds_a_paper_by_a_versioned_id(web):
    r = web.client.get(f"/api/papers/{DAY1}v1")
    assert r.status_code == 200 and r.json()["id"] == DAY1  # the flat paper
    assert web.client.get("/api/papers/2607.99999v1").status_code == 404


@pytest.mark.parametrize(
    "path", ["2607.99999", "2607.99999v1", "hep-th/9901002", "nothing/at/all", "..%2F..%2Fetc%2Fpasswd"]
)
def test_missing_papers_are_404(web, path):
    r = web.client.get(f"/papers/{path}")
    assert r.status_code == 404 and "Submit it from arXiv" in r.text


def test_author_pages(web):
    ada = web.client.get("/authors/Ada%20Lovelace")
    assert ada.status_code == 200
    expected = [p["id"] for p in web.store.papers_by_author("Ada Lovelace")]
    assert sorted(_titles(ada.text)) == sorted(expected) and len(expected) > 5
    zola = web.client.get("/authors/emile%20ZOLA")  # any case, accents optional: the papers' spelling is shown
    assert zola.status_code == 200 and "<h1>Émile Zola</h1>" in zola.text and _titles(zola.text)
    nobody = web.client.get("/authors/Nobody%20Atall")
    assert nobody.status_code == 200 and "No papers by Nobody Atall" in nobody.text
    slash = web.client.get("/authors/AC%2FDC/and/more")
    assert slash.status_code == 200
    long = web.client.get("/authors/" + "x" * 5000)
    assert long.status_code == 200


def test_status_page(web):
    r = web.client.get("/status")
    assert r.status_code == 200
    assert "<dt>Papers</dt><dd>27</dd>" in r.text and "27 papers" in r.text
    from paperboy.services.indexing import status_path

    path = status_path(web.store.settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"phase": "idle", "role": "following", "leader": "replica-a:4242"}')
    assert "<dt>Embedding by</dt><dd>replica-a:4242 (this replica" in web.client.get("/status").text


# -- registering, signing in and out ------------------------------------------------------------------
def _cookie_header(response, name: str) -> str:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith(f"{name}="):
            return value
    raise AssertionError(f"no {name} cookie set")


def test_register_signs_in_with_a_safe_cookie(web):
    assert web.client.get("/register").status_code == 200
    r = register(web.client, "alice")
    assert r.headers["location"] == "/"
    cookie = _cookie_header(r, "pb_session")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http here
    assert re.search(r"max-age=2592000", cookie.lower())
    page = web.client.get("/")
    assert "alice" in page.text and "Sign out" in page.text


def test_the_csrf_cookie_is_httponly_and_strict(web):
    fresh = web.browser()
    r = fresh.get("/login")
    flags = {part.strip().lower() for part in _cookie_header(r, "pb_csrf").split(";")[1:]}
    assert "httponly" in flags and "samesite=strict" in flags
    token = fresh.cookies.get("pb_csrf")
    assert f'name="csrf_token" value="{token}"' in r.text
    assert f'<meta name="csrf-token" content="{token}">' in r.text
    # the cookie is kept, not replaced on every page
    again = fresh.get("/")
    assert "pb_csrf" not in again.headers.get("set-cookie", "")
    bad = fresh.get("/", headers={"Cookie": "pb_csrf=short"})
    assert "pb_csrf=" in bad.headers.get("set-cookie", "")  # a malformed cookie is replaced


def test_cookies_are_secure_behind_https(settings, fast_hashes):
    with running_app(settings.with_overrides(base_url="https://papers.example.org")) as web:
        browser = web.browser("https://testserver")  # Secure cookies travel over https only
        r = browser.get("/login")
        assert "secure" in _cookie_header(r, "pb_csrf").lower()
        r = post(browser, "/register", {"username": "alice", "email": "a@example.org", "password": PASSWORD})
        assert "secure" in _cookie_header(r, "pb_session").lower()


def test_registration_errors_keep_the_form(web):
    r = post(web.client, "/register", {"username": "x", "email": "x@example.org", "password": PASSWORD})
    assert r.status_code == 400 and "User names are 2-40" in r.text and 'value="x@example.org"' in r.text
    r = post(web.client, "/register", {"username": "alice", "email": "nope", "password": PASSWORD})
    assert r.status_code == 400 and "email address" in r.text
    r = post(web.client, "/register", {"username": "alice", "email": "a@example.org", "password": "short"})
    assert r.status_code == 400 and "at least 8" in r.text
    register(web.client, "alice")
    other = web.browser()
    r = post(other, "/register", {"username": "ALICE", "email": "b@example.org", "password": PASSWORD})
    assert r.status_code == 400 and "already registered" in r.text  # user names are public anyway
    r = post(other, "/register", {"username": "b" * 3000, "email": "b@example.org", "password": PASSWORD})
    assert r.status_code == 400
    assert web.store.people.count_users() == 1


def test_first_user_is_admin(web):
    register(web.client, "root")
    assert '<span class="badge">admin</span>' in web.client.get("/").text
    other = web.browser()
    register(other, "bob")
    assert '<span class="badge">admin</span>' not in other.get("/").text


def test_closed_registration(settings, fast_hashes):
    with running_app(settings.with_overrides(registration_open=False)) as web:
        r = web.client.get("/register")
        assert r.status_code == 200 and "Registration is closed" in r.text and 'action="/register"' not in r.text
        r = post(web.client, "/register", {"username": "alice", "email": "a@example.org", "password": PASSWORD})
        assert r.status_code == 403
        assert web.store.people.count_users() == 0


def test_login_and_logout(web):
    register(web.client, "alice")
    confirm_email(web.client, "alice@example.org")  # signing in by email needs a confirmed address
    web.client.cookies.delete("pb_session")
    assert "Sign in" in web.client.get("/").text
    r = login(web.client, "alice", "wrong password")
    assert r.status_code == 400 and "Wrong user name or password" in r.text and 'value="alice"' in r.text
    r = login(web.client, "ALICE@example.org", PASSWORD, next="/papers/date/2026-07-01")
    assert r.status_code == 303 and r.headers["location"] == "/papers/date/2026-07-01"
    token = web.client.cookies.get("pb_session")
    assert web.services.accounts.session_user(token)["username"] == "alice"
    r = post(web.client, "/logout")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert 'pb_session=""' in r.headers["set-cookie"] or "pb_session=;" in r.headers["set-cookie"]
    assert web.services.accounts.session_user(token) is None  # ended on the server, not just forgotten
    replay = web.browser().get("/", headers={"Cookie": f"pb_session={token}"})
    assert "Sign out" not in replay.text


def test_login_rate_limit_answers_429_with_retry_after(web):
    register(web.client, "alice")
    web.client.cookies.delete("pb_session")
    for _ in range(5):
        assert login(web.client, "alice", "wrong password").status_code == 400
    r = login(web.client, "alice", PASSWORD)  # even the right password waits
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text
    retry = int(r.headers["retry-after"])
    assert 0 < retry <= web.services.settings.login_window
    assert "pb_session" not in r.headers.get("set-cookie", "")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.com",
        "//evil.com/papers",
        "https://evil.com",
        "http://evil.com/",
        "/\\evil.com",
        "\\\\evil.com",
        "javascript:alert(1)",
        "evil.com",
        "http:evil.com",
        "",
    ],
)
def test_no_open_redirects_after_sign_in(web, target):
    register(web.browser(), "alice")
    r = login(web.client, "alice", PASSWORD, next=target)
    assert r.status_code == 303 and r.headers["location"] == "/"
    page = web.client.get("/login", params={"next": target})
    assert 'name="next" value="/"' in page.text
    other = web.browser()
    r = post(other, "/register", {"username": "bob", "email": "bob@example.org", "password": PASSWORD, "next": target})
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_same_site_next_is_followed(web):
    register(web.browser(), "alice")
    r = login(web.client, "alice", PASSWORD, next="/papers/hep-th/9901001?x=1#c")
    assert r.headers["location"] == "/papers/hep-th/9901001?x=1#c"


# -- the account page --------------------------------------------------------------------------------
def test_account_needs_sign_in(web):
    for url in ("/account", "/submit", "/comments/1/edit"):
        r = web.client.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/login?next={quote(url, safe='')}", url


def test_account_page_and_password_change(web):
    register(web.client, "alice")
    laptop = web.browser()
    login(laptop, "alice")
    r = web.client.get("/account")
    assert r.status_code == 200 and "alice@example.org" in r.text
    r = post(web.client, "/account/password", {"current": "wrong", "new": "new password 1"})
    assert r.status_code == 400 and "current password is wrong" in r.text
    r = post(web.client, "/account/password", {"current": PASSWORD, "new": "short"})
    assert r.status_code == 400
    assert "alice" in laptop.get("/").text and "Sign out" in laptop.get("/").text
    r = post(web.client, "/account/password", {"current": PASSWORD, "new": "new password 1"})
    assert r.status_code == 200 and "Password changed" in r.text
    assert "Sign out" in web.client.get("/").text  # this session stays
    assert "Sign out" not in laptop.get("/").text  # the others end
    assert login(laptop, "alice", PASSWORD).status_code == 400
    assert login(laptop, "alice", "new password 1").status_code == 303


def test_api_tokens_on_the_account_page(web):
    register(web.client, "alice")
    r = post(web.client, "/account/tokens", {"name": "laptop <b>script</b>"})
    assert r.status_code == 200
    token = re.search(r'<code class="token">(pb_[^<]+)</code>', r.text)[1]
    assert "laptop &lt;b&gt;script&lt;/b&gt;" in r.text
    page = web.client.get("/account").text
    assert token not in page and token[:10] in page  # shown once, then only its start
    assert web.client.get("/api/papers/2607.00001").status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert web.browser().post(f"/api/papers/{DAY1}/vote", headers=bearer).status_code == 200
    (listed,) = web.store.people.tokens(web.store.people.user_by_name("alice")["id"])
    bob = web.browser()
    register(bob, "bob")
    r = post(bob, f"/account/tokens/{listed['id']}/delete")
    assert r.status_code == 404  # not bob's
    assert post(bob, "/account/tokens/999/delete").status_code == 404
    r = post(web.client, f"/account/tokens/{listed['id']}/delete")
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert web.browser().post(f"/api/papers/{DAY1}/vote", headers=bearer).status_code == 401
    assert post(web.client, "/account/tokens/not-a-number/delete").status_code == 400


# -- password reset -----------------------------------------------------------------------------------
def test_forgot_and_reset(web, settings):
    alice = web.browser()
    register(alice, "alice")
    confirm_email(alice, "alice@example.org")
    assert web.client.get("/forgot").status_code == 200
    unknown = post(web.client, "/forgot", {"email": "nobody@example.org"})
    assert web.services.accounts.later.drain(30)
    assert unknown.status_code == 200 and outbox(settings) == []
    known = post(web.client, "/forgot", {"email": "ALICE@example.org"})
    assert web.services.accounts.later.drain(30)
    assert known.status_code == 200
    assert known.text.replace("ALICE@example.org", "") == unknown.text.replace("nobody@example.org", "")
    (mail,) = outbox(settings)
    link = re.search(r"http://\S+/reset/(\S+)", body_text(message_from_bytes(mail.read_bytes())))
    token = link[1]
    form = web.client.get(f"/reset/{token}")
    assert form.status_code == 200 and f'action="/reset/{token}"' in form.text
    assert post(web.client, f"/reset/{token}", {"password": "short"}).status_code == 400
    r = post(web.client, f"/reset/{token}", {"password": "brand new password"})
    assert r.status_code == 303 and r.headers["location"] == "/account"
    assert "pb_session=" in r.headers["set-cookie"]
    assert "alice" in web.client.get("/account").text
    again = web.client.get(f"/reset/{token}")
    assert "expired or was already used" in again.text and 'action="/reset/' not in again.text
    assert post(web.client, f"/reset/{token}", {"password": "another password"}).status_code == 400
    assert login(web.browser(), "alice", "brand new password").status_code == 303


def test_reset_with_a_made_up_token(web):
    for token in ["nonsense", "x" * 500, "%3Cscript%3E"]:
        r = web.client.get(f"/reset/{token}")
        assert r.status_code == 200 and "expired or was already used" in r.text
        assert "<script>" not in r.text.split("</head>", 1)[1]


def test_reset_requests_are_rate_limited(web, settings):
    alice = web.browser()
    register(alice, "alice")
    confirm_email(alice, "alice@example.org")
    for _ in range(5):
        assert post(web.client, "/forgot", {"email": "alice@example.org"}).status_code == 200
    assert post(web.client, "/forgot", {"email": "alice@example.org"}).status_code == 429
    assert web.services.accounts.later.drain(30)
    assert len(outbox(settings)) == 5


def test_forgot_with_the_mail_server_down(settings, fast_hashes, caplog):
    """The answer is the usual one (a 503 only for known addresses would tell who has an account);
    the failure is logged by the mail thread."""
    down = settings.with_overrides(smtp_host="127.0.0.1", smtp_port=free_port())
    with running_app(down) as web:
        web.services.accounts.register("alice", "alice@example.org", PASSWORD, email_confirmed=True)
        known = post(web.client, "/forgot", {"email": "alice@example.org"})
        unknown = post(web.client, "/forgot", {"email": "nobody@example.org"})
        assert known.status_code == unknown.status_code == 200
        assert web.services.accounts.later.drain(30)
    assert any("SMTP server unreachable" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_forgot_through_smtp(settings, fast_hashes):
    from support.mail import smtp_server

    with smtp_server() as (received, port):
        with running_app(settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port)) as web:
            alice = web.browser()
            register(alice, "alice")
            assert web.services.accounts.later.drain(30)
            (confirm,) = received.messages
            link = re.search(r"/confirm-email/(\S+)", body_text(confirm))[1]
            assert post(alice, f"/confirm-email/{link}").status_code == 200
            assert post(web.client, "/forgot", {"email": "alice@example.org"}).status_code == 200
            assert web.services.accounts.later.drain(30)
    (_, msg) = received.messages
    assert msg["To"] == "alice@example.org" and "/reset/" in body_text(msg)


# -- profiles -------------------------------------------------------------------------------------------
def test_profiles(web):
    register(web.client, "alice")
    post(web.client, f"/papers/{DAY1}/vote", {"up": "1"})
    post(web.client, f"/papers/{DAY1}/comments", {"text": "Great *paper*"})
    post(web.client, "/submit", {"paper": "2607.00031"})
    assert web.client.get("/users/alice").status_code == 200
    other = web.browser().get("/users/ALICE")
    assert other.status_code == 200
    assert "Submitted (1)" in other.text and "Upvoted (2)" in other.text and "Comments (1)" in other.text
    assert "<em>paper</em>" in other.text
    assert "alice@example.org" not in other.text  # the email is private
    assert web.browser().get("/users/nobody").status_code == 404
    assert web.browser().get("/users/" + "x" * 100).status_code == 404


# -- submitting ---------------------------------------------------------------------------------------
def test_submit_pages(web):
    register(web.client, "alice")
    assert web.client.get("/submit").status_code == 200
    r = post(web.client, "/submit", {"paper": "https://arxiv.org/abs/2607.00031v1"})
    assert r.status_code == 303 and r.headers["location"] == "/papers/2607.00031"
    assert "Submitted by" in web.client.get("/papers/2607.00031").text
    bob = web.browser()
    register(bob, "bob")
    dup = post(bob, "/submit", {"paper": "2607.00031"})
    assert dup.status_code == 409 and "already submitted by alice" in dup.text
    bad = post(bob, "/submit", {"paper": "<script>alert(1)</script>"})
    assert bad.status_code == 400 and ESCAPED_XSS in bad.text and XSS not in bad.text
    old = post(bob, "/submit", {"paper": "2605.00001"})
    assert old.status_code == 400 and "last 30 days" in old.text
    assert post(bob, "/submit", {"paper": "x" * 600}).status_code == 400


def test_submit_a_hidden_paper(web):
    register(web.client, "admin")
    post(web.client, "/papers/2607.00031/hide", {"hidden": "1"})
    bob = web.browser()
    register(bob, "bob")
    r = post(bob, "/submit", {"paper": "2607.00031"})
    assert r.status_code == 404
    assert web.store.activity.user_submissions(web.store.people.user_by_name("bob")["id"]) == []


def test_submit_fetches_from_arxiv(settings, fast_hashes):
    entry = {"id": "2607.05555", "title": "Straight from arXiv", "published": "2026-07-08T10:00:00Z"}
    with Loopback([Reply(arxiv_feed(entry))]) as srv:
        api = settings.with_overrides(arxiv_api_url=srv.url("/api/query"), submit_fetch_retries=0)
        with running_app(api) as web:
            register(web.client, "alice")
            r = post(web.client, "/submit", {"paper": "2607.05555"})
            assert r.status_code == 303 and r.headers["location"].startswith("/submit/")  # answered at once
            assert web.services.community.fetches.drain(30)
            done = web.client.get(r.headers["location"], follow_redirects=False)
            assert done.status_code == 303 and done.headers["location"] == "/papers/2607.05555"
            page = web.client.get("/papers/2607.05555")
            assert page.status_code == 200 and "Straight from arXiv" in page.text
            missing = post(web.client, "/submit", {"paper": "2607.05556"})  # the script is used up: 410
            assert web.services.community.fetches.drain(30)
            failed = web.client.get(missing.headers["location"])
            assert failed.status_code == 200 and "Could not fetch 2607.05556" in failed.text
            assert "HTTP 410" in failed.text
            listing = web.client.get("/submit").text
            assert "2607.05555</a>: submitted" in listing and "Could not fetch 2607.05556" in listing
    assert [seen.query["id_list"] for seen in srv.requests] == ["2607.05555", "2607.05556"]


# -- votes ------------------------------------------------------------------------------------------------
def test_voting_with_the_form(web):
    register(web.client, "alice")
    back = "http://testserver/papers/date/2026-07-01?sort=new"
    r = post(web.client, f"/papers/{DAY1}/vote", {"up": "1"}, headers={"Referer": back})
    assert r.status_code == 303 and r.headers["location"] == "/papers/date/2026-07-01?sort=new"
    assert web.store.activity.vote_count(DAY1) == 1
    post(web.client, f"/papers/{DAY1}/vote", {"up": "1"})
    assert web.store.activity.vote_count(DAY1) == 1
    page = web.client.get(f"/papers/{DAY1}").text
    assert 'aria-pressed="true"' in page and '<input type="hidden" name="up" value="0">' in page
    r = post(web.client, f"/papers/{DAY1}/vote", {"up": "0"}, headers={"Referer": "https://evil.com//evil.org/x"})
    assert r.status_code == 303 and not r.headers["location"].startswith("//")
    assert urlsplit(r.headers["location"]).netloc == ""
    assert web.store.activity.vote_count(DAY1) == 0
    assert post(web.client, "/papers/2607.99999/vote", {"up": "1"}).status_code == 404
    assert post(web.client, f"/papers/{OLD_ID}/vote", {"up": "1"}).status_code == 303
    assert web.store.activity.vote_count(OLD_ID) == 1


def test_voting_needs_sign_in(web):
    r = post(web.client, f"/papers/{DAY1}/vote", {"up": "1"})
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert web.store.activity.vote_count(DAY1) == 0


# -- comments -------------------------------------------------------------------------------------------
def _comment(web, client, text: str, paper: str = DAY1) -> int:
    r = post(client, f"/papers/{paper}/comments", {"text": text})
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("#c-", 1)[1])


def test_comment_permissions(web):
    admin, alice, bob = web.client, web.browser(), web.browser()
    register(admin, "admin")
    register(alice, "alice")
    register(bob, "bob")
    cid = _comment(web, alice, "Alice says hi")
    assert "Alice says hi" in web.browser().get(f"/papers/{DAY1}").text
    # bob may not touch it
    assert bob.get(f"/comments/{cid}/edit").status_code == 404
    assert post(bob, f"/comments/{cid}/edit", {"text": "bob was here"}).status_code == 403
    assert post(bob, f"/comments/{cid}/delete").status_code == 403
    assert post(bob, f"/comments/{cid}/hide", {"hidden": "1"}).status_code == 403
    assert post(alice, f"/comments/{cid}/hide", {"hidden": "1"}).status_code == 403  # nor may its author hide it
    assert web.store.activity.comment(cid)["body"] == "Alice says hi"
    assert not web.store.activity.comment(cid)["hidden"]
    # its author may edit it
    form = alice.get(f"/comments/{cid}/edit")
    assert form.status_code == 200 and "Alice says hi</textarea>" in form.text
    r = post(alice, f"/comments/{cid}/edit", {"text": "Alice, edited"})
    assert r.status_code == 303 and r.headers["location"] == f"/papers/{DAY1}#c-{cid}"
    assert post(alice, f"/comments/{cid}/edit", {"text": "   "}).status_code == 400
    assert web.store.activity.comment(cid)["body"] == "Alice, edited"
    # an admin may edit, hide and show it
    assert admin.get(f"/comments/{cid}/edit").status_code == 200
    assert post(admin, f"/comments/{cid}/edit", {"text": "Moderated"}).status_code == 303
    assert post(admin, f"/comments/{cid}/hide", {"hidden": "1"}).status_code == 303
    assert "Moderated" not in bob.get(f"/papers/{DAY1}").text
    assert "0 comments" in bob.get(f"/papers/{DAY1}").text
    shown_to_admin = admin.get(f"/papers/{DAY1}").text
    assert "Moderated" in shown_to_admin and "<b>hidden</b>" in shown_to_admin
    assert post(alice, f"/comments/{cid}/edit", {"text": "undo"}).status_code == 404
    assert post(admin, f"/comments/{cid}/hide", {"hidden": "0"}).status_code == 303
    assert "Moderated" in bob.get(f"/papers/{DAY1}").text
    # and its author may delete it
    r = post(alice, f"/comments/{cid}/delete")
    assert r.status_code == 303 and r.headers["location"] == f"/papers/{DAY1}#comments"
    assert web.store.activity.comment(cid) is None
    assert post(alice, f"/comments/{cid}/delete").status_code == 404
    other = _comment(web, bob, "bob's")
    assert post(admin, f"/comments/{other}/delete").status_code == 303
    assert post(admin, "/comments/abc/delete").status_code == 400


@pytest.mark.parametrize("row", ["99999999999999999999999", "9223372036854775808", "0", "-1", "abc", "1.5"])
def test_ids_out_of_range_are_400(web, row):
    register(web.client, "alice")
    assert web.client.get(f"/comments/{row}/edit").status_code == 400
    for url in (
        f"/comments/{row}/edit",
        f"/comments/{row}/delete",
        f"/comments/{row}/hide",
        f"/account/tokens/{row}/delete",
    ):
        r = post(web.client, url, {"text": "x", "hidden": "1"})
        assert r.status_code == 400 and "Bad request" in r.text, url


def test_the_largest_id_is_just_not_found(web):
    register(web.client, "alice")
    top = 2**63 - 1
    assert web.client.get(f"/comments/{top}/edit").status_code == 404
    assert post(web.client, f"/comments/{top}/delete").status_code == 404
    assert post(web.client, f"/account/tokens/{top}/delete").status_code == 404


def test_comment_errors(web):
    register(web.client, "alice")
    assert post(web.client, f"/papers/{DAY1}/comments", {"text": " "}).status_code == 400
    assert post(web.client, "/papers/2607.99999/comments", {"text": "hello"}).status_code == 404
    assert post(web.client, f"/papers/{DAY1}/comments", {"text": "x" * 10_001}).status_code == 400
    cid = _comment(web, web.client, f"on an old one {XSS}", paper=OLD_ID)
    assert web.store.activity.comment(cid)["paper_id"] == OLD_ID
    assert "1 comment<" in web.client.get(f"/papers/{OLD_ID}").text


# -- hiding papers -----------------------------------------------------------------------------------
def test_only_admins_hide_papers(web):
    admin, bob = web.client, web.browser()
    register(admin, "admin")
    register(bob, "bob")
    assert post(bob, f"/papers/{HF_ID}/hide", {"hidden": "1"}).status_code == 403
    assert HF_ID in _titles(web.browser().get("/").text)
    r = post(admin, f"/papers/{HF_ID}/hide", {"hidden": "1"})
    assert r.status_code == 303 and r.headers["location"] == f"/papers/{HF_ID}"
    anon = web.browser()
    assert anon.get(f"/papers/{HF_ID}").status_code == 404
    assert bob.get(f"/papers/{HF_ID}").status_code == 404
    assert HF_ID not in _titles(anon.get("/").text)
    assert HF_ID not in anon.get("/feeds/daily.atom").text
    assert anon.get(f"/api/papers/{HF_ID}").status_code == 404
    page = admin.get(f"/papers/{HF_ID}")
    assert page.status_code == 200 and "hidden from everyone but admins" in page.text
    assert post(admin, "/papers/2607.99999/hide", {"hidden": "1"}).status_code == 404
    assert post(admin, f"/papers/{HF_ID}/hide", {"hidden": "0"}).status_code == 303
    assert anon.get(f"/papers/{HF_ID}").status_code == 200


# -- security: escaping ---------------------------------------------------------------------------------
def _body(page: str) -> str:
    """The page without its <head> (which holds the site's own script tag)."""
    return page.split("</head>", 1)[1]


def test_html_in_paper_titles_and_abstracts_is_escaped(web):
    user = web.browser()
    register(user, "alice")
    post(user, f"/papers/{XSS_ID}/vote", {"up": "1"})
    pages = [
        f"/papers/{XSS_ID}",
        "/papers/date/2026-07-06",
        "/papers/week/2026-W28",
        "/trending?window=week",
        "/search?q=attack+vectors&mode=keyword",
        "/authors/%C3%89mile%20Zola",
        "/users/alice",
    ]
    for url in pages:
        r = user.get(url)
        assert r.status_code == 200, url
        assert "<script>alert(1)</script>" not in r.text, url
        assert "<img src=x" not in r.text and "<img src=" not in _body(r.text), url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text or "&lt;script&gt;" in r.text, url
        assert "<script" not in _body(r.text), url
    head = user.get(f"/papers/{XSS_ID}").text.split("</head>", 1)[0]
    assert head.count("<script") == 1 and '<script src="/static/app.js" defer></script>' in head


COMMENT = (
    "Look: <script>alert(1)</script> and <img src=x onerror=alert(2)> and "
    '<a href="javascript:alert(3)">raw link</a>\n\n'
    "[md link](javascript:alert(4)) ![md image](javascript:alert(5)) [data](data:text/html;base64,PHNjcmlwdD4=)\n\n"
    "**bold** and [fine](https://example.org/x)"
)


def test_html_in_comments_is_escaped(web):
    register(web.client, "alice")
    cid = _comment(web, web.client, COMMENT)
    for url in (f"/papers/{DAY1}", "/users/alice", f"/comments/{cid}/edit"):
        page = _body(web.client.get(url).text)
        assert "<script" not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
        assert "<img" not in page and '<a href="javascript' not in page, url
        assert not re.search(r"(href|src)\s*=\s*\"?\s*(javascript|data):", page, re.IGNORECASE), url
    page = _body(web.client.get(f"/papers/{DAY1}").text)
    assert "<strong>bold</strong>" in page and '<a href="https://example.org/x">fine</a>' in page


@pytest.mark.parametrize(
    "url",
    [
        "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
        "/search?author=%3Cscript%3Ealert(1)%3C/script%3E",
        "/authors/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/papers/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/users/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/papers/date/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/login?next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "/trending?window=%3Cscript%3Ealert(1)%3C/script%3E",
    ],
)
def test_reflected_input_is_escaped(web, url):
    r = web.client.get(url)
    assert r.status_code in (200, 404), url
    assert "<script>alert(1)" not in r.text


def test_form_values_are_escaped_when_shown_again(web):
    r = post(web.client, "/register", {"username": '"><script>alert(1)</script>', "email": "x", "password": "p"})
    assert r.status_code == 400 and "<script>alert(1)" not in r.text
    assert 'value="&#34;&gt;&lt;script&gt;' in r.text or 'value="&quot;&gt;&lt;script&gt;' in r.text
    r = login(web.client, '"><script>alert(1)</script>', "x")
    assert r.status_code == 400 and "<script>alert(1)" not in r.text


# -- security: CSRF and GET ------------------------------------------------------------------------------
@pytest.fixture
def world(web, settings):
    """An admin (the first browser), bob, a comment of bob's, a token of the admin's, a reset link."""
    register(web.client, "admin")
    confirm_email(web.client, "admin@example.org")
    bob = web.browser()
    register(bob, "bob")
    cid = _comment(web, bob, "bob's comment")
    post(web.client, "/account/tokens", {"name": "t"})
    (token,) = web.store.people.tokens(1)
    reset = web.services.accounts.request_reset("admin@example.org")
    for mail in outbox(settings):
        mail.unlink()
    return {"bob": bob, "cid": cid, "tid": token["id"], "reset": reset}


def _posts(world: dict) -> list[tuple[str, dict]]:
    """Every form POST, in an order in which each one, made genuinely, changes something."""
    cid, tid = world["cid"], world["tid"]
    return [
        ("/register", {"username": "mallory", "email": "m@example.org", "password": PASSWORD}),
        ("/login", {"login": "admin", "password": PASSWORD}),
        ("/logout", {}),
        ("/account/tokens", {"name": "evil"}),
        (f"/account/tokens/{tid}/delete", {}),
        ("/forgot", {"email": "admin@example.org"}),
        ("/submit", {"paper": "2607.00031"}),
        (f"/papers/{DAY1}/vote", {"up": "1"}),
        (f"/papers/{OLD_ID}/vote", {"up": "1"}),
        (f"/papers/{DAY1}/comments", {"text": "csrf"}),
        (f"/comments/{cid}/edit", {"text": "csrf"}),
        (f"/comments/{cid}/hide", {"hidden": "1"}),
        (f"/comments/{cid}/delete", {}),
        (f"/papers/{DAY1}/hide", {"hidden": "1"}),
        ("/account/password", {"current": PASSWORD, "new": "pwned password"}),
        (f"/reset/{world['reset']}", {"password": "pwned password"}),
    ]


def test_every_post_needs_the_csrf_token(web, world, settings):
    before = snapshot(web.store)
    good = csrf(web.client)
    stranger = web.browser()
    stranger_token = csrf(stranger)
    for url, data in _posts(world):
        attempts = {
            "no token": web.client.post(url, data=data, follow_redirects=False),
            "wrong token": web.client.post(url, data={**data, "csrf_token": "x" * 43}, follow_redirects=False),
            "another visitor's token": web.client.post(
                url, data={**data, "csrf_token": stranger_token}, follow_redirects=False
            ),
            "wrong header": web.client.post(
                url, data=data, headers={"X-CSRF-Token": stranger_token}, follow_redirects=False
            ),
            "json body": web.client.post(url, json={**data, "csrf_token": good}, follow_redirects=False),
        }
        for how, r in attempts.items():
            assert r.status_code == 403, (url, how, r.status_code)
            assert snapshot(web.store) == before, (url, how)
    # a request without the cookie but with a token copied from the page
    web.client.cookies.delete("pb_csrf")
    r = web.client.post(f"/papers/{DAY1}/vote", data={"up": "1", "csrf_token": good}, follow_redirects=False)
    assert r.status_code == 403
    assert snapshot(web.store) == before
    assert outbox(settings) == []


def test_the_same_posts_work_with_the_token(web, world, settings):
    """The control for the test above: each of those requests, made genuinely, changes something."""
    visitor = web.browser()
    for url, data in _posts(world):
        client = visitor if url in ("/register", "/login", "/logout") else web.client
        if url == "/register":
            visitor = web.browser()  # a new visitor signs up; another one signs in and out
        if url.startswith("/reset/"):  # the password change before it revoked the older link
            url = f"/reset/{web.services.accounts.request_reset('admin@example.org')}"
        before = snapshot(web.store)
        r = post(client, url, data)
        assert web.services.accounts.later.drain(30)  # account mail goes out off the request thread
        assert r.status_code in (200, 303), (url, r.status_code)
        assert snapshot(web.store) != before, url
    assert len(outbox(settings)) == 3  # mallory's confirmation link, the reset links of /forgot and above


def test_get_never_changes_anything(web, world):
    before = snapshot(web.store)
    cid, tid = world["cid"], world["tid"]
    urls = [url for url, _ in _posts(world)] + [
        f"/papers/{DAY1}/vote?up=1",
        f"/api/papers/{DAY1}/vote",
        f"/api/papers/{DAY1}/comments",
        f"/api/comments/{cid}/delete",
        "/api/papers/submit?id=2607.00031",
        "/logout?csrf_token=" + csrf(web.client),
        f"/comments/{cid}/hide?hidden=1",
        f"/account/tokens/{tid}/delete",
    ]
    for url in urls:
        for client in (web.client, world["bob"]):
            r = client.get(url, follow_redirects=False)
            assert r.status_code in (200, 303, 404, 405), (url, r.status_code)
            assert snapshot(web.store) == before, url
    assert web.services.accounts.reset_valid(world["reset"])  # looking at the form does not spend the link
    assert "Sign out" in web.client.get("/").text
