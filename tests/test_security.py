"""Attacks on a running paperboy (issue 13), each reproduced: races, hostile data, floods.

Races run for real, in threads released together; where the outcome must not depend on the
scheduler, a barrier holds every thread at the point the attack needs (inside the password
hash, say), so a test that passes cannot have passed by luck of timing.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from sqlalchemy import select, update
from support.loopback import Loopback, Reply, fresh_limiter
from support.servers import free_port, serving
from support.web import NOW, PASSWORD, api_token, arxiv_feed, csrf, post, register, running_app

from paperboy.services import accounts as accounts_module
from paperboy.services.accounts import AccountError, Accounts, TooManyAttempts
from paperboy.services.community import Community
from paperboy.sources import hf, jsonl
from paperboy.sources.normalize import http_url
from paperboy.store import schema as t


class BarrierHasher(PasswordHasher):
    """Cheap argon2 whose ``hash`` returns only once ``parties`` threads are all inside it: the
    widest possible window between whatever a sign-up checks before hashing and its insert."""

    def __init__(self, parties: int) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.barrier = threading.Barrier(parties)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.barrier.wait(timeout=60)
        return super().hash(password, salt=salt)


def _together(n: int, job: Any) -> list[Any]:
    """``job(i)`` for i in 0..n-1, in n threads started at the same moment; results or exceptions."""
    start = threading.Barrier(n)

    def run(i: int) -> Any:
        start.wait(timeout=60)
        try:
            return job(i)
        except Exception as exc:  # noqa: BLE001 - the caller looks at what each attempt got
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


@contextmanager
def live(app: FastAPI) -> Iterator[str]:
    """An already started app (a ``running_app``) served by uvicorn on loopback too; its base URL."""
    with serving(app, lifespan="off") as url:
        yield url


# -- 1. one admin, however sign-ups race ------------------------------------------------------------
def test_simultaneous_first_sign_ups_make_exactly_one_admin(store, settings, monkeypatch):
    n = 20
    monkeypatch.setattr(accounts_module, "_hasher", BarrierHasher(n))
    monkeypatch.setattr(accounts_module, "_hash_slots", threading.BoundedSemaphore(n), raising=False)
    accounts = Accounts(store, settings)
    users = _together(n, lambda i: accounts.register(f"user{i}", f"user{i}@example.org", PASSWORD))
    assert all(isinstance(u, dict) for u in users), users
    assert sum(u["is_admin"] for u in users) == 1
    admins = [u for u in (store.people.user(x["id"]) for x in users) if u["is_admin"]]
    assert len(admins) == 1
    # later accounts never become admins, even after the admin is demoted
    monkeypatch.setattr(accounts_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    store.people.set_admin(admins[0]["id"], False)
    assert not accounts.register("late", "late@example.org", PASSWORD)["is_admin"]


def test_simultaneous_sign_ups_through_the_web_make_one_admin(settings, fast_hashes):
    n = 12
    with running_app(settings.with_overrides(register_max_attempts=n)) as web:  # all from one address
        clients = [web.browser() for _ in range(n)]
        tokens = [csrf(c) for c in clients]

        def sign_up(i: int) -> int:
            form = {"username": f"racer{i}", "email": f"racer{i}@example.org", "password": PASSWORD}
            r = clients[i].post("/register", data={**form, "csrf_token": tokens[i]}, follow_redirects=False)
            return r.status_code

        assert _together(n, sign_up) == [303] * n
        admins = [f"racer{i}" for i in range(n) if web.store.people.user_by_name(f"racer{i}")["is_admin"]]
        assert len(admins) == 1, admins


# -- 2. only http(s) links, stored and rendered ---------------------------------------------------------
HOSTILE_URLS = [
    "javascript:alert(document.domain)",
    "JaVaScRiPt:alert(1)",
    "  javascript:alert(1)",
    "java\nscript:alert(1)",
    "java\tscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "//evil.example/x",
    "https:evil.example",
    "http://",
    'https://example.org/"onmouseover="alert(1)',
    "https://[::1",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_only_http_links_pass(url):
    assert http_url(url) is None


@pytest.mark.parametrize(
    "url", ["https://github.com/a/b", "http://example.org/x?y=1#z", "HTTPS://Example.org", "https://[::1]:8080/p"]
)
def test_http_links_are_kept(url):
    assert http_url(url) == url


def _links(paper: dict[str, Any]) -> set[Any]:
    return {paper["abs_url"], paper["pdf_url"], paper["code_url"]}


def test_imported_links_that_are_not_http_are_dropped(tmp_path: Path, store):
    lines = [
        {"id": "2504.99001", "title": "t", "abs_url": "javascript:alert(document.domain)", "date": "2025-04-03"},
        {"id": "2504.99002", "title": "u", "pdf_url": "data:text/html,<script>alert(1)</script>", "code_url": "jAvA:x"},
        {"title": "Only a URL", "url": "javascript:alert(1)"},
        {"id": "2504.99004", "title": "v", "code_url": "https://github.com/real/repo", "pdf_url": " vbscript:x"},
    ]
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(x) for x in lines))
    daily = tmp_path / "daily.json"
    daily.write_bytes(
        orjson.dumps([{"paper": {"id": "2504.99005", "title": "w", "githubRepo": "javascript:alert(1)", "upvotes": 3}}])
    )
    store.ingest("jsonl", str(source), jsonl.read(source))
    store.ingest("hf", str(daily), hf.read_json(daily))
    with store.engine.connect() as conn:
        rows = {r.title: dict(r._mapping) for r in conn.execute(select(t.papers))}
    assert len(rows) == 5
    for row in rows.values():
        for link in _links(row) - {None}:
            assert link.startswith("https://"), (row["title"], link)
    assert rows["t"]["abs_url"] == "https://arxiv.org/abs/2504.99001"  # filled from the id instead
    assert rows["u"]["pdf_url"] == "https://arxiv.org/pdf/2504.99002" and rows["u"]["code_url"] is None
    assert rows["Only a URL"]["abs_url"] is None
    assert rows["v"]["code_url"] == "https://github.com/real/repo"
    assert rows["w"]["code_url"] is None


_HREF = re.compile(r"""(?:href|src|action)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


def _hrefs_are_safe(body: str) -> int:
    """Every link target on a page is a path on this site or an http(s) URL; how many were seen."""
    seen = 0
    for match in _HREF.finditer(body):
        target = html.unescape(match.group(1) or match.group(2) or "")
        assert target.startswith(("/", "#", "?")) or http_url(target) == target, target
        assert "javascript" not in target.lower() and not target.lower().startswith("data:"), target
        seen += 1
    return seen


def test_links_already_in_the_store_are_checked_again_where_they_are_shown(settings, fast_hashes):
    """A store filled before importers checked links (or by hand) still never shows a hostile href."""
    victim = "2607.00031"
    with running_app(settings) as web:
        with web.store.engine.begin() as conn:
            conn.execute(
                update(t.papers)
                .where(t.papers.c.id == victim)
                .values(
                    abs_url="javascript:alert(document.domain)",
                    pdf_url="data:text/html,<script>alert(1)</script>",
                    code_url="JaVaScRiPt:alert(1)",
                )
            )
        register(web.client, "alice")
        post(web.client, f"/papers/{victim}/vote", {"up": "1"})
        anonymous = web.browser()
        pages = ["/", "/papers/date/2026-07-10", f"/papers/{victim}", "/search?q=%22part+24%22", "/trending?window=all"]
        pages += ["/authors/Ada Lovelace", "/users/alice", "/feeds/daily.atom", "/feeds/search.atom?q=%22part+24%22"]
        pages += ["/feeds/trending.atom?window=all"]
        for url in pages:
            for client in (anonymous, web.client):
                r = client.get(url)
                assert r.status_code == 200, url
                assert victim in r.text, url  # the paper is on the page, only its bad links are not
                assert _hrefs_are_safe(r.text) > 0, url
        for url in ["/api/daily_papers?date=2026-07-10", f"/api/papers/{victim}", "/api/papers/search?q=%22part+24%22"]:
            r = anonymous.get(url)
            items = r.json() if isinstance(r.json(), list) else [r.json()]
            papers = [i.get("paper", i) for i in items if i.get("paper", i)["id"] == victim]  # items, or a flat paper
            assert papers, url
            assert all(p[k] is None for p in papers for k in ("githubRepo", "arxivUrl", "pdfUrl")), url


# -- 3. submissions: fetches off the request threads, bounded, failures counted -----------------------
def test_submissions_answer_at_once_while_arxiv_hangs(settings, fast_hashes):
    """arXiv accepts connections and never answers: the site must stay up and every submission be
    answered at once (fetching inline held a thread per submission for the whole time-out)."""
    release = threading.Event()

    def hang(seen: Any) -> Reply:
        release.wait(120)
        return Reply("down", status=503, content_type="text/plain")

    with Loopback(hang) as arxiv:
        tuned = settings.with_overrides(
            arxiv_api_url=arxiv.url("/api/query"),
            submit_daily_cap=100,
            submit_fetch_workers=2,
            submit_fetch_queue=3,
            submit_fetch_timeout=60.0,
            submit_fetch_retries=0,
            http_timeout=60.0,  # what an inline fetch would wait
        )
        with running_app(tuned) as web, live(web.app) as base:
            register(web.client, "alice")
            auth = {"Authorization": f"Bearer {api_token(web.client)}"}
            with httpx.Client(base_url=base, timeout=10.0) as http:

                def submit(i: int) -> int:
                    return http.post("/api/papers/submit", json={"id": f"2607.{10000 + i}"}, headers=auth).status_code

                codes = _together(20, submit)
                assert all(isinstance(c, int) for c in codes), codes  # none timed out
                assert sorted(codes) == [202] * 5 + [429] * 15  # 2 fetching, 3 waiting, the rest told to come back
                assert http.get("/status").status_code == 200  # the site is up while the fetches hang
                assert http.get("/").status_code == 200
            release.set()
            assert web.services.community.fetches.drain(60)
            subs = web.services.community.recent_submissions(web.store.people.user_by_name("alice"))
            assert len(subs) == 5 and {s["state"] for s in subs} == {"failed"}  # the refused 15 are not counted
            assert all("HTTP 503" in s["message"] for s in subs)


def test_failed_fetches_count_toward_the_cap_and_say_why_at_once(settings, fast_hashes):
    """arXiv unreachable (nothing listens): the submitter sees why within moments, and each try counts."""
    closed = f"http://127.0.0.1:{free_port()}/api/query"
    with running_app(settings.with_overrides(arxiv_api_url=closed, submit_daily_cap=2)) as web:
        register(web.client, "alice")
        for pid in ("2607.10001", "2607.10002"):
            r = post(web.client, "/submit", {"paper": pid})
            assert r.status_code == 303 and r.headers["location"].startswith("/submit/"), r.text
            assert web.services.community.fetches.drain(30)
            page = web.client.get(r.headers["location"])
            assert page.status_code == 200
            assert f"Could not fetch {pid} from arXiv right now (arXiv cannot be reached)" in page.text
        third = post(web.client, "/submit", {"paper": "2607.10003"})
        assert third.status_code == 429 and "daily limit" in third.text
        known = post(web.client, "/submit", {"paper": "2607.00031"})  # a paper that is here counts the same
        assert known.status_code == 429


def test_simultaneous_submissions_cannot_pass_the_cap_together(settings, fast_hashes):
    with running_app(settings.with_overrides(submit_daily_cap=3)) as web:
        register(web.client, "alice")
        auth = {"Authorization": f"Bearer {api_token(web.client)}"}
        ids = ["2607.00030", "2607.00031", "2607.00032", "2607.00033", "2607.00020", "2607.00022"]
        clients = [web.browser() for _ in ids]
        codes = _together(
            len(ids), lambda i: clients[i].post("/api/papers/submit", json={"id": ids[i]}, headers=auth).status_code
        )
        assert sorted(codes) == [201] * 3 + [429] * 3


def test_a_submission_never_waits_minutes_for_the_rate_limit(settings, store):
    """arXiv's 3 s rule is shared with imports: when the next free slot is far off, the fetch is
    refused at once instead of sleeping (it used to sleep holding the limiter's lock)."""
    entry = {"id": "2607.20001", "title": "First in line", "published": "2026-07-09T10:00:00Z"}
    with Loopback([Reply(arxiv_feed(entry)), Reply(arxiv_feed())]) as arxiv:
        fresh_limiter("arxiv")
        tuned = settings.with_overrides(
            arxiv_api_url=arxiv.url("/api/query"), arxiv_min_interval=3600.0, submit_fetch_max_wait=1.0
        )
        community = Community(store, tuned, clock=lambda: NOW)
        user = store.people.user(store.people.create_user("alice", "alice@example.org", "x", "2026-07-10T00:00:00Z"))
        first = community.submit(user, "2607.20001")
        assert community.fetches.drain(30)
        assert community.get_submission(user, first["id"])["state"] == "done"
        second = community.submit(user, "2607.20002")  # the next slot is an hour away
        assert community.fetches.drain(30), "the fetch waited for the rate limit"
        late = community.get_submission(user, second["id"])
        assert late["state"] == "failed" and "arXiv is busy" in late["message"]
        community.close()
        fresh_limiter("arxiv")
    assert len(arxiv.requests) == 1


# -- 4. password hashing bounded; attempts counted before the hash ---------------------------------------
class CountingHasher(PasswordHasher):
    """Cheap argon2 that counts its calls and how many run at once (each holds its slot 50 ms)."""

    def __init__(self, verify_barrier: int = 0) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.lock = threading.Lock()
        self.running = self.most = self.calls = 0
        self.barrier = threading.Barrier(verify_barrier) if verify_barrier else None

    def _enter(self) -> None:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)

    def _leave(self) -> None:
        with self.lock:
            self.running -= 1

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self._enter()
        try:
            time.sleep(0.05)
            return super().hash(password, salt=salt)
        finally:
            self._leave()

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 - the base class's name
        self._enter()
        try:
            if self.barrier is not None:  # every guess that gets this far is checked at the same moment
                self.barrier.wait(timeout=60)
            time.sleep(0.05)
            return super().verify(hash, password)
        finally:
            self._leave()


def test_simultaneous_wrong_passwords_are_counted_before_the_hash(store, settings, monkeypatch):
    """30 guesses for one account at the same moment: only the allowed 5 are checked, 25 are refused."""
    accounts = Accounts(store, settings)
    monkeypatch.setattr(accounts_module, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    accounts.register("alice", "alice@example.org", PASSWORD)
    allowed = settings.login_max_failures
    hasher = CountingHasher(verify_barrier=allowed)  # the old check-then-count let all 30 through
    monkeypatch.setattr(accounts_module, "_hasher", hasher)
    monkeypatch.setattr(accounts_module, "_hash_slots", threading.BoundedSemaphore(30))
    got = _together(30, lambda i: accounts.authenticate("alice", f"guess {i}", f"198.51.100.{i}"))
    refused = [g for g in got if isinstance(g, TooManyAttempts)]
    wrong = [g for g in got if isinstance(g, AccountError) and not isinstance(g, TooManyAttempts)]
    assert len(refused) == 30 - allowed and len(wrong) == allowed, got
    assert hasher.calls == allowed  # a refused guess costs no hash
    with pytest.raises(TooManyAttempts):  # and the owner's right password waits out the window too
        accounts.authenticate("alice", PASSWORD, "192.0.2.1")


def test_simultaneous_wrong_passwords_through_the_web_get_429(settings, fast_hashes):
    with running_app(settings) as web:
        register(web.client, "alice")
        clients = [web.browser() for _ in range(30)]
        tokens = [csrf(c) for c in clients]

        def guess(i: int) -> int:
            form = {"login": "alice", "password": f"guess {i}", "csrf_token": tokens[i]}
            r = clients[i].post("/login", data=form, follow_redirects=False)
            assert r.status_code != 429 or int(r.headers["retry-after"]) > 0
            return r.status_code

        assert sorted(_together(30, guess)) == [400] * 5 + [429] * 25


def test_password_hashing_runs_in_bounded_slots(store, settings, monkeypatch):
    hasher = CountingHasher()
    monkeypatch.setattr(accounts_module, "_hasher", hasher)
    slots = 2
    monkeypatch.setattr(accounts_module, "_hash_slots", threading.BoundedSemaphore(slots))
    accounts = Accounts(store, settings.with_overrides(register_max_attempts=100))
    users = _together(12, lambda i: accounts.register(f"u{i}", f"u{i}@example.org", PASSWORD, f"192.0.2.{i}"))
    assert all(isinstance(u, dict) for u in users), users
    assert hasher.calls == 12 and hasher.most == slots  # 12 at once became 2 at a time


def test_sign_ups_with_one_address_are_limited_before_the_hash(store, settings, monkeypatch):
    """40 simultaneous sign-ups naming one email (each a 64 MiB hash): only the allowed few are hashed."""
    hasher = CountingHasher()
    monkeypatch.setattr(accounts_module, "_hasher", hasher)
    monkeypatch.setattr(accounts_module, "_hash_slots", threading.BoundedSemaphore(40))
    accounts = Accounts(store, settings)
    allowed = settings.register_max_attempts
    got = _together(40, lambda i: accounts.register(f"name{i}", "taken@example.org", PASSWORD, f"203.0.113.{i}"))
    assert sum(isinstance(g, TooManyAttempts) for g in got) == 40 - allowed
    assert hasher.calls == allowed
    # and from one client address, whatever the emails
    hasher.calls = 0
    got = _together(40, lambda i: accounts.register(f"other{i}", f"o{i}@example.org", PASSWORD, "198.51.100.9"))
    assert sum(isinstance(g, TooManyAttempts) for g in got) == 40 - allowed
    assert hasher.calls == allowed


# -- 5. the page cache's budget counts its keys ----------------------------------------------------------
def _held(cache: Any) -> int:
    """What the cache's entries really take, keys and values."""
    import sys

    return sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in cache.pages.items())


def test_long_urls_cannot_grow_the_page_cache_past_its_budget(tmp_path, monkeypatch, fast_hashes):
    from paperboy.config import load_settings
    from paperboy.web import page_cache as render

    budget = 2_000_000
    monkeypatch.setattr(render, "PAGE_CACHE_BYTES", budget)
    monkeypatch.setattr(render, "MAX_CACHED_KEY", 10**9, raising=False)  # even when such URLs are cached
    settings = load_settings(tmp_path / "home", page_cache_seconds=60.0)
    with running_app(settings) as web:
        visitor = web.browser()
        for n in range(100):  # 100 unique 60 KB query strings on small cached answers: 6 MB of keys
            pad = f"{n:03d}" + "x" * 60_000
            assert visitor.get(f"/api/daily_papers?date=1999-01-05&pad={pad}").status_code == 200
        cache = web.app.state.page_cache
        assert 0 < _held(cache) <= budget
        assert cache.size >= _held(cache)


def test_urls_longer_than_any_page_needs_are_not_cached(settings, fast_hashes):
    with running_app(settings.with_overrides(page_cache_seconds=60.0)) as web:
        visitor = web.browser()
        assert visitor.get("/?pad=" + "x" * 10_000).status_code == 200
        assert visitor.get("/trending").status_code == 200
        keys = list(web.app.state.page_cache.pages)
        assert keys == ["/trending?"]


# -- 6. credentials revoked on password reset and change ---------------------------------------------------
def _credentials(web: Any, client: Any) -> tuple[dict[str, str], str]:
    """An API token header and a private feed link, made on the account and for-you pages."""
    auth = {"Authorization": f"Bearer {api_token(client)}"}
    page = post(client, "/for-you/feed-link").text
    feed = re.search(r"(/feeds/for-you\.atom\?token=[^<\s\"]+)", page).group(1)
    return auth, html.unescape(feed)


def _works(web: Any, auth: dict[str, str], feed: str) -> tuple[bool, bool]:
    anonymous = web.browser()
    token_ok = anonymous.post("/api/papers/2607.00031/vote", json={"up": True}, headers=auth).status_code == 200
    return token_ok, anonymous.get(feed).status_code == 200


def test_a_password_reset_revokes_every_credential_and_every_older_link(settings, fast_hashes):
    from support.web import confirm_email

    with running_app(settings) as web:
        register(web.client, "alice")
        confirm_email(web.client, "alice@example.org")  # resets go to confirmed addresses only
        auth, feed = _credentials(web, web.client)
        phone = web.browser()
        post(phone, "/login", {"login": "alice", "password": PASSWORD})
        assert _works(web, auth, feed) == (True, True)
        accounts = web.services.accounts
        older = accounts.request_reset("alice@example.org")
        newer = accounts.request_reset("alice@example.org")
        assert accounts.reset_valid(older) and accounts.reset_valid(newer)
        accounts.reset_password(newer, "a brand new password")
        assert _works(web, auth, feed) == (False, False)  # the thief's token and feed link are dead
        assert phone.get("/account", follow_redirects=False).status_code == 303  # signed out
        assert not accounts.reset_valid(older)  # the older link cannot be used to take it back
        r = post(web.browser(), f"/reset/{older}", {"password": "the thief's password"})
        assert r.status_code == 400
        assert post(web.browser(), "/login", {"login": "alice", "password": "a brand new password"}).status_code == 303


def test_a_password_change_revokes_tokens_links_and_other_sessions(settings, fast_hashes):
    with running_app(settings) as web:
        register(web.client, "alice")
        auth, feed = _credentials(web, web.client)
        laptop = web.browser()
        post(laptop, "/login", {"login": "alice", "password": PASSWORD})
        from support.web import confirm_email

        confirm_email(web.client, "alice@example.org")  # resets go to confirmed addresses only
        pending = web.services.accounts.request_reset("alice@example.org")
        assert pending and web.services.accounts.reset_valid(pending)
        r = post(web.client, "/account/password", {"current": PASSWORD, "new": "a changed password"})
        assert r.status_code == 200 and "API tokens and feed link revoked" in r.text
        assert _works(web, auth, feed) == (False, False)
        assert laptop.get("/account", follow_redirects=False).status_code == 303
        assert web.client.get("/account").status_code == 200  # the session that changed it stays
        assert not web.services.accounts.reset_valid(pending)


# -- 7. oversized numbers rejected per record, the rest imported ---------------------------------------------
HUGE = 2**63


def _import(store: Any, source: str, read: Any, path: Path) -> Any:
    """Import as ``paperboy ingest`` does: parsed in a forked reader process."""
    from paperboy.store.pipeline import in_reader_process

    return store.ingest(source, str(path), in_reader_process(read, path, lookup=store.source_hashes(source)))


def _good(n: int) -> dict[str, Any]:
    return {"id": f"2504.{n:05d}", "title": f"Good paper {n}", "announce_date": "2025-04-03"}


def test_jsonl_numbers_out_of_range_are_rejected_with_their_lines(tmp_path: Path, store):
    bad = {
        "version": {**_good(90001), "version": HUGE},
        "versions": {**_good(90002), "versions": [{"version": 1}, {"version": HUGE + 5}]},
        "upvotes": {**_good(90003), "upvotes": 10**18 * 9},
        "negative": {**_good(90004), "upvotes": -5},
        "zero version": {**_good(90005), "version": 0},
        "versioned id": {**_good(90006), "id": "2504.90006v" + "9" * 25},
    }
    lines = [_good(n) for n in range(1, 101)] + list(bad.values()) + [_good(n) for n in range(101, 201)]
    path = tmp_path / "big-numbers.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    run = _import(store, "jsonl", jsonl.read, path)
    assert run.status == "completed" and run.new == 200 and run.rejected == len(bad)
    reasons = {r["place"]: r["reason"] for r in store.rejections(run.run_id)}
    assert sorted(reasons) == sorted(f"{path}:{101 + i}" for i in range(len(bad)))
    assert all("out of range" in why for why in reasons.values()), reasons
    assert store.count_papers() == 200


def test_kaggle_versions_out_of_range_are_rejected_with_their_lines(tmp_path: Path, store):
    from paperboy.sources import kaggle

    def line(n: int, label: str = "v1") -> dict[str, Any]:
        created = "Mon, 2 Apr 2007 19:18:42 GMT"
        return {"id": f"0704.{n:04d}", "title": f"Paper {n}", "versions": [{"version": label, "created": created}]}

    rows = [line(n) for n in range(1, 51)] + [line(51, f"v{HUGE}"), line(52, "v" + "9" * 30)]
    rows += [line(n) for n in range(53, 101)]
    path = tmp_path / "snapshot.json"
    path.write_bytes(b"\n".join(orjson.dumps(x) for x in rows) + b"\n")
    run = _import(store, "kaggle", kaggle.read, path)
    assert run.status == "completed" and run.new == 98 and run.rejected == 2
    assert sorted(r["place"] for r in store.rejections(run.run_id)) == [f"{path}:51", f"{path}:52"]


def test_hugging_face_upvotes_out_of_range_are_rejected(tmp_path: Path, store):
    items = [{"paper": {"id": f"2504.{n:05d}", "title": f"P{n}", "upvotes": n}} for n in range(1, 21)]
    items[4]["paper"]["upvotes"] = HUGE
    items[7]["paper"]["upvotes"] = -3
    path = tmp_path / "daily.json"
    path.write_bytes(orjson.dumps(items))
    run = store.ingest("hf", str(path), hf.read_json(path))
    assert run.status == "completed" and run.new == 18 and run.rejected == 2
    reasons = {r["place"]: r["reason"] for r in store.rejections(run.run_id)}
    assert set(reasons) == {f"{path}[4]", f"{path}[7]"}
    assert "out of range: -3" in reasons[f"{path}[7]"]


# -- 8. hidden papers absent from every page, feed, API answer and explanation ----------------------------
def test_a_hidden_paper_is_absent_everywhere(settings, fast_hashes):
    from support import recs as recs_kit

    hidden, kept = recs_kit.recent(2), recs_kit.recent(2, 1)
    with recs_kit.running_app(settings) as client:
        store = client.app.state.services.store
        title = store.get_paper(hidden)["title"]
        recs_kit.sign_up(client, "admin")
        alice = TestClientFor(client)
        recs_kit.sign_up(alice, "alice")
        for pid in (hidden, kept):  # alice saves, votes for and comments on both
            assert post(alice, f"/papers/{pid}/save").status_code == 303
            assert post(alice, f"/papers/{pid}/vote", {"up": "1"}).status_code == 303
            assert post(alice, f"/papers/{pid}/comments", {"text": f"notes on {pid}"}).status_code == 303
        comment_id = store.activity.comments(hidden)[0]["id"]
        auth = {"Authorization": f"Bearer {api_token(alice)}"}
        bib = f"@misc{{x, title={{{title}}}, eprint={{{hidden}}}, archivePrefix={{arXiv}}}}".encode()
        collection = store.library.collections(store.people.user_by_name("alice")["id"])[0]["id"]
        assert post(client, f"/papers/{hidden}/hide", {"hidden": "1"}).status_code == 303

        def absent(body: str, where: str) -> None:
            assert hidden not in body and title not in body, where

        anonymous = TestClientFor(client)
        words = " ".join(title.split()[:4])
        pages = ["/", "/papers/date/2026-07-10", "/papers/week/2026-W28", "/papers/month/2026-07"]
        pages += [f"/search?q={words}", "/trending?window=all", "/feeds/daily.atom", "/feeds/trending.atom?window=all"]
        pages += [f"/feeds/search.atom?q={words}", "/api/daily_papers?date=2026-07-10", f"/api/papers/search?q={words}"]
        pages += [f"/api/papers/{kept}/similar", f"/papers/{kept}", f"/api/papers/{kept}/comments"]
        for url in pages:
            for who in (anonymous, alice):
                r = who.get(url)
                assert r.status_code == 200, url
                absent(r.text, url)
        own = [
            "/users/alice",
            "/for-you",
            "/for-you?seen=1",
            "/library",
            f"/library/collections/{collection}/export.bib",
        ]
        for url in own:
            r = alice.get(url)
            assert r.status_code == 200, url
            absent(r.text, url)
        assert f"notes on {kept}" in alice.get("/users/alice").text  # the other comment is still listed
        for_you = alice.get("/api/for-you", params={"includeSeen": "true"}, headers=auth)
        assert for_you.status_code == 200 and for_you.json()["recommendedPapers"]
        absent(for_you.text, "/api/for-you")
        asked = client.post("/api/recommendations", json={"positivePaperIds": [hidden, kept]})
        assert asked.status_code == 200 and asked.json()["recommendedPapers"]
        assert all(
            c["id"] != hidden for item in asked.json()["recommendedPapers"] for c in item["why"]["closestPapers"]
        )
        assert asked.json()["unknownPaperIds"] == [hidden] and title not in asked.text
        assert client.post("/api/recommendations", json={"positivePaperIds": [hidden]}).status_code == 404
        assert alice.get(f"/comments/{comment_id}/edit").status_code == 404
        assert anonymous.get(f"/papers/{hidden}").status_code == 404
        assert anonymous.get(f"/api/papers/{hidden}").status_code == 404
        imported = alice.post(
            "/library/import",
            data={"csrf_token": csrf(alice), "collection": "From BibTeX"},
            files={"file": ("refs.bib", bib)},
        )
        assert imported.status_code == 200 and "0 matched" in imported.text and "1 not found here" in imported.text
        assert client.get(f"/papers/{hidden}").status_code == 200  # the admin still sees it


def TestClientFor(client: Any) -> Any:  # noqa: N802 - reads as the class it makes
    """Another visitor of the app ``client`` runs (its own cookies)."""
    from fastapi.testclient import TestClient

    return TestClient(client.app, base_url="http://testserver")


# -- 9. no 500 for huge integers, in any integer parameter of any route ---------------------------------------
HUGE_NUMBERS = [str(2**63), str(2**64), "1" + "0" * 30, str(-(2**63) - 1), "-1", "0"]


def _integer_parameters(app: FastAPI) -> list[tuple[Any, str, str]]:
    """(route, parameter, where: path, query or form) for every integer parameter of every route."""
    import inspect
    import typing

    from fastapi import params
    from fastapi.routing import APIRoute

    def walk(routes: list[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            elif hasattr(route, "original_router"):  # an included router (FastAPI 0.16x)
                yield from walk(route.original_router.routes)

    found = []
    for route in walk(app.routes):
        hints = typing.get_type_hints(route.endpoint, include_extras=True)
        for name in inspect.signature(route.endpoint).parameters:
            hint, extras = hints.get(name), ()
            if typing.get_origin(hint) is typing.Annotated:
                hint, *extras = typing.get_args(hint)
            if typing.get_origin(hint) in (typing.Union, __import__("types").UnionType):
                hint = next((a for a in typing.get_args(hint) if a is not type(None)), None)
            if hint is not int:
                continue
            where = "path" if "{" + name in route.path else "query"
            if any(isinstance(e, params.Form) for e in extras):
                where = "form"
            found.append((route, name, where))
    return found


def test_huge_integers_anywhere_are_refused_not_crashed(settings, fast_hashes):
    with running_app(settings) as web:
        register(web.client, "admin")  # the first account: an admin, so every route is reachable
        auth = {"Authorization": f"Bearer {api_token(web.client)}", "X-CSRF-Token": csrf(web.client)}
        found = _integer_parameters(web.app)
        names = {(r.path, n) for r, n, _ in found}
        assert ("/library", "c") in names and ("/library/collections/{collection_id}/delete", "collection_id") in names
        assert ("/papers/{paper_id:path}/save", "collection") in names and len(found) >= 15, names
        tried = 0
        for route, name, where in found:
            path = re.sub(r"\{paper_id(:path)?\}", "2607.00031", route.path)
            for number in HUGE_NUMBERS:
                url = path.replace("{" + name + "}", number)
                url = re.sub(r"\{[a-z_]+(:path)?\}", "1", url)  # any other path parameter
                for method in route.methods - {"HEAD"}:
                    query = {name: number} if where == "query" else {}
                    form = {name: number, "csrf_token": csrf(web.client)}
                    if method == "GET":
                        r = web.client.get(url, params=query, headers=auth, follow_redirects=False)
                    elif url.startswith("/api/"):
                        r = web.client.post(url, params=query, json={"text": "x", "id": "1"}, headers=auth)
                    else:
                        r = web.client.post(url, params=query, data=form, follow_redirects=False)
                    assert r.status_code < 500, (method, url, where, number, r.status_code, r.text[:300])
                    tried += 1
        assert tried >= 6 * len(found)


# -- 10. the rest: CSRF marker and rotation ------------------------------------------------------------------
def test_imported_text_cannot_carry_the_cached_pages_csrf_marker(settings, fast_hashes):
    """An abstract holding the cache's token marker inside a URL must not become a link with each
    visitor's CSRF token (the marker was a fixed string; now it is random per process, between NUL
    characters, which no imported record may hold any more)."""
    from paperboy.sources.base import finish
    from paperboy.sources.record import PaperRecord, Rejection
    from paperboy.web import page_cache as render_module

    marker = render_module._CSRF_MARK
    assert isinstance(finish(PaperRecord(title="x", abstract=marker, place="t:1")), Rejection)
    marks = [marker.strip("\x00"), render_module._CSRF_MARK[1:6]]
    record = {
        "id": "2607.00031",
        "title": "Marked " + marks[0],
        "abstract": "Code at https://evil.example/steal?t=" + marks[0] + " and more",
    }
    from support.web import corpus, rec

    records = [r for r in corpus() if r.id != "2607.00031"] + [rec(**{**record, "announced": "2026-07-10"})]
    with running_app(settings.with_overrides(page_cache_seconds=60.0), records=records) as web:
        for _ in range(2):  # the first view fills the cache, the second is served from it
            visitor = web.browser()
            page = visitor.get("/papers/2607.00031").text
            token = visitor.cookies.get("pb_csrf")
            assert token and "evil.example/steal?t=" + token not in page
            assert page.count(token) == page.count('name="csrf_token"') + 1  # the forms and the meta tag only


def test_signing_in_and_out_rotates_the_csrf_token(settings, fast_hashes):
    with running_app(settings) as web:
        visitor = web.browser()
        before = csrf(visitor)
        register(visitor, "alice")
        after_sign_up = visitor.cookies.get("pb_csrf")
        assert after_sign_up and after_sign_up != before
        old = visitor.post("/logout", data={"csrf_token": before}, follow_redirects=False)
        assert old.status_code == 403  # the token a page showed before signing in is dead
        assert post(visitor, "/logout").status_code == 303
        assert visitor.cookies.get("pb_csrf") not in (before, after_sign_up)
        assert post(visitor, "/login", {"login": "alice", "password": PASSWORD}).status_code == 303


def test_security_headers_on_every_kind_of_answer(settings, fast_hashes):
    import base64
    import hashlib

    with running_app(settings) as web:
        anonymous = web.browser()
        for url in ["/", "/papers/2607.00031", "/api/daily_papers", "/feeds/daily.atom", "/static/app.js", "/nope"]:
            r = anonymous.get(url)
            policy = r.headers["content-security-policy"]
            assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy, url
            assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, url
            assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", url
            assert r.headers["referrer-policy"] == "same-origin", url
        for url in ("/docs", "/redoc"):
            docs = anonymous.get(url)
            inline = re.findall(r"<script>(.*?)</script>", docs.text, re.DOTALL)
            assert inline or url == "/redoc", url  # Swagger UI's start-up script, allowed by its hash only
            script_src = next(
                d for d in docs.headers["content-security-policy"].split("; ") if d.startswith("script-src")
            )
            for body in inline:
                digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
                assert f"'sha256-{digest}'" in script_src, url
            assert "'unsafe-inline'" not in script_src and "http" not in script_src, url
        page = anonymous.get("/").text
        assert "<script>" not in page and " style=" not in page and "onsubmit" not in page


def test_one_user_cannot_flood_comments_even_all_at_once(settings, fast_hashes):
    with running_app(settings.with_overrides(comment_limit=10, comment_window=600)) as web:
        register(web.client, "alice")
        auth = {"Authorization": f"Bearer {api_token(web.client)}"}
        clients = [web.browser() for _ in range(30)]
        codes = _together(
            30,
            lambda i: (
                clients[i].post("/api/papers/2607.00031/comments", json={"text": f"spam {i}"}, headers=auth).status_code
            ),
        )
        assert sorted(codes) == [201] * 10 + [429] * 20
        assert len(web.store.activity.comments("2607.00031")) == 10
        r = web.client.post("/api/papers/2607.00030/comments", json={"text": "one more"}, headers=auth)
        assert r.status_code == 429 and "10 comments every 10 minutes" in r.json()["error"]
        register(web.browser(), "bob")  # others are not affected
        bob = web.extra[-1]
        assert post(bob, "/papers/2607.00031/comments", {"text": "a real comment"}).status_code == 303
        web.services.community.clock = lambda: NOW.replace(minute=11)  # the window moves on
        assert (
            web.client.post("/api/papers/2607.00030/comments", json={"text": "later"}, headers=auth).status_code == 201
        )


def test_an_import_killed_with_kill_9_does_not_stay_running(tmp_path: Path):
    import os
    import signal
    import subprocess
    import sys

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from support.backend import store_url

    from paperboy.config import load_settings
    from paperboy.store import Store

    home = tmp_path / "home"
    source = tmp_path / "many.jsonl"
    source.write_bytes(b"\n".join(orjson.dumps(_good(n % 99999 + 1) | {"title": f"T{n}"}) for n in range(60_000)))
    env = {**os.environ, "PAPERBOY_BATCH_SIZE": "20"}  # thousands of commits: still going when killed
    importer = subprocess.Popen(
        [sys.executable, "-m", "paperboy", "--home", str(home), "ingest", "jsonl", str(source)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # read with plain SQL (no migration racing the importer's), read-only on SQLite
    url = store_url(home)
    reader = create_engine(
        f"sqlite:///file:{home / 'paperboy.db'}?mode=ro&uri=true" if url.startswith("sqlite") else url,
        connect_args={"timeout": 30} if url.startswith("sqlite") else {},
    )
    try:
        deadline = time.monotonic() + 120
        run: dict[str, Any] | None = None
        while run is None and time.monotonic() < deadline:
            assert importer.poll() is None, "the import ended before it could be killed"
            time.sleep(0.05)
            try:
                with reader.connect() as db:
                    row = db.execute(text("SELECT id, new FROM ingest_runs ORDER BY id DESC LIMIT 1")).first()
            except DBAPIError:  # no file or no table yet
                continue
            if row and row[1] > 0:
                with Store.open(load_settings(home)) as store:  # migrated by now: just reading
                    run = next(r for r in store.runs() if r["id"] == row[0])
        assert run is not None and run["status"] == "running"  # alive: shown as running
        os.kill(importer.pid, signal.SIGKILL)
        importer.wait(timeout=30)
    finally:
        if importer.poll() is None:
            importer.kill()
        reader.dispose()
    with Store.open(load_settings(home)) as store:
        (dead,) = [r for r in store.runs() if r["id"] == run["id"]]
    assert dead["status"] == "died" and "ended without finishing" in dead["error"]
    cli = subprocess.run(
        [sys.executable, "-m", "paperboy", "--home", str(home), "stats", "--json"], capture_output=True, timeout=120
    )
    assert orjson.loads(cli.stdout)["runs"][0]["status"] == "died"


# -- 10. sign-up and reset requests do not tell who has an account ---------------------------------------------
def _mails(settings: Any) -> list[tuple[str, str, str]]:
    """(to, subject, text) of every mail in the outbox."""
    from email import message_from_bytes

    from support.mail import body_text

    folder = Path(settings.home) / "outbox"
    out = []
    for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
        msg = message_from_bytes(path.read_bytes())
        out.append((msg["To"], msg["Subject"], body_text(msg)))
    return out


def _without(text: str, *words: str) -> str:
    for word in words:
        text = text.replace(word, "")
    return re.sub(r'name="csrf-token" content="[^"]+"|name="csrf_token" value="[^"]+"', "", text)


def test_signing_up_with_a_registered_address_looks_like_any_sign_up(settings, fast_hashes):
    from support.web import confirm_email, login

    with running_app(settings) as web:
        alice = web.browser()
        register(alice, "alice")
        confirm_email(alice, "alice@example.org")
        taken, fresh = web.browser(), web.browser()
        form = {"password": PASSWORD}
        a = post(taken, "/register", {**form, "username": "mallory", "email": "alice@example.org"})
        b = post(fresh, "/register", {**form, "username": "mallowy", "email": "fresh@example.org"})
        assert a.status_code == b.status_code == 303 and a.headers["location"] == b.headers["location"]
        assert sorted(c.split("=")[0] for c in a.headers.get_list("set-cookie")) == sorted(
            c.split("=")[0] for c in b.headers.get_list("set-cookie")
        )
        pages = [c.get("/account").text for c in (taken, fresh)]
        assert _without(pages[0], "mallory", "alice@example.org") == _without(pages[1], "mallowy", "fresh@example.org")
        assert web.services.accounts.later.drain(30)
        mails = _mails(settings)
        (to_owner,) = [m for m in mails if m[0] == "alice@example.org"]
        assert to_owner[1] == "Somebody used your address at paperboy" and "/confirm-email/" not in to_owner[2]
        (to_fresh,) = [m for m in mails if m[0] == "fresh@example.org"]
        assert "/confirm-email/" in to_fresh[2]
        # the address stays alice's: sign-in by it and resets reach her account only
        assert login(web.browser(), "alice@example.org", PASSWORD).status_code == 303
        assert web.store.people.user_by_email("alice@example.org")["username"] == "alice"
        assert web.store.people.user_by_name("mallory")["email"] is None


def test_confirming_an_address(settings, fast_hashes):
    from support.web import confirm_email, login

    with running_app(settings) as web:
        bob = web.browser()
        register(bob, "bob")
        assert login(web.browser(), "bob@example.org", PASSWORD).status_code == 400  # not confirmed yet
        assert "not confirmed yet" in bob.get("/account").text
        assert web.services.accounts.request_reset("bob@example.org") is None  # no reset to an unconfirmed address
        confirm_email(bob, "bob@example.org")
        assert "not confirmed yet" not in bob.get("/account").text
        assert login(web.browser(), "bob@example.org", PASSWORD).status_code == 303
        assert web.client.get("/confirm-email/made-up-token").status_code == 200
        assert post(web.client, "/confirm-email/made-up-token").status_code == 400


class HoldingCollector:
    """An aiosmtpd handler that holds every message until released (a slow mail server)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        self.messages.append(",".join(envelope.rcpt_tos))
        return "250 Message accepted"


def test_forgot_answers_before_any_mail_is_sent(settings, fast_hashes):
    """Known and unknown addresses get the same answer after the same work: the lookup and the
    mail happen off the request thread (the request used to wait for the mail server)."""
    from aiosmtpd.controller import Controller

    handler = HoldingCollector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with running_app(settings.with_overrides(smtp_host="127.0.0.1", smtp_port=port)) as web:
            web.services.accounts.register("alice", "alice@example.org", PASSWORD, email_confirmed=True)
            answers: dict[str, Any] = {}

            def ask(email: str) -> None:
                answers[email] = post(web.browser(), "/forgot", {"email": email})

            for email in ("alice@example.org", "nobody@example.org"):
                asking = threading.Thread(target=ask, args=(email,))
                asking.start()
                asking.join(20)  # the mail server holds the message: only an answer that does not wait returns
                assert not asking.is_alive(), f"/forgot waited for the mail to {email}"
            known, unknown = answers["alice@example.org"], answers["nobody@example.org"]
            assert known.status_code == unknown.status_code == 200
            assert _without(known.text, "alice@example.org") == _without(unknown.text, "nobody@example.org")
            handler.release.set()
            assert web.services.accounts.later.drain(60)
    finally:
        handler.release.set()
        controller.stop()
    assert handler.messages == ["alice@example.org"]


def test_votes_take_a_boolean_and_errors_have_the_documented_shapes(settings, fast_hashes):
    with running_app(settings) as web:
        register(web.client, "alice")
        auth = {"Authorization": f"Bearer {api_token(web.client)}"}
        for body in ({"up": 0}, {"up": 1}, {"up": "true"}, {"up": None}):
            r = web.client.post("/api/papers/2607.00031/vote", json=body, headers=auth)
            assert r.status_code == 422, body
            assert set(r.json()) == {"error", "details"} and r.json()["details"][0].startswith("up:"), r.json()
        assert web.store.activity.vote_count("2607.00031") == 0
        assert web.client.post("/api/papers/2607.00031/vote", json={"up": True}, headers=auth).status_code == 200
        doc = web.client.get("/openapi.json").json()
        shapes = doc["components"]["schemas"]
        assert set(shapes["InvalidBody"]["required"]) == {"error", "details"} and "HTTPValidationError" not in shapes
        submit = doc["paths"]["/api/papers/submit"]["post"]["responses"]
        assert sorted(submit) == ["201", "202", "400", "401", "403", "404", "409", "422", "429"]
        for path, operations in doc["paths"].items():
            for method, op in operations.items():
                for status, answer in op["responses"].items():
                    if status.startswith("4") and path.startswith("/api/"):
                        ref = answer["content"]["application/json"]["schema"]["$ref"]
                        assert ref.endswith(("/ErrorBody", "/InvalidBody")), (method, path, status)
