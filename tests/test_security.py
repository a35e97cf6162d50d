"""Attacks on a running paperboy (issue 13), each reproduced: races, hostile data, floods.

Races run for real, in threads released together; where the outcome must not depend on the
scheduler, a barrier holds every thread at the point the attack needs (inside the password
hash, say), so a test that passes cannot have passed by luck of timing.
"""

from __future__ import annotations

import html
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update
from webkit import PASSWORD, cheap_hashes, csrf, post, register, running_app

from paperboy.services import accounts as accounts_module
from paperboy.services.accounts import Accounts
from paperboy.sources import hf, jsonl
from paperboy.sources.normalize import http_url
from paperboy.store import schema as t


@pytest.fixture
def fast_hashes(monkeypatch) -> None:
    cheap_hashes(monkeypatch)


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
    with running_app(settings) as web:
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
            papers = [i["paper"] for i in items if i["paper"]["id"] == victim]
            assert papers, url
            assert all(p[k] is None for p in papers for k in ("githubRepo", "arxivUrl", "pdfUrl")), url
