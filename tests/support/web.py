"""Shared pieces of the web-layer tests: a small fixed corpus, a running app, browser helpers.

The corpus is a few dozen papers on fixed days around ISO week 27 of 2026 (29 June - 5 July),
with gaps (no papers 3-5 July), an old-style arXiv id, a paper from May, one whose title and
abstract hold HTML, and one with Hugging Face upvotes.  Apps are cheap to build (the store is a
fresh SQLite file, the keyword index a few dozen documents), so most tests get their own.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from paperboy.config import Settings
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store
from support import backend
from support.mail import body_text

#: "Now" for the community service in web tests: the corpus's last day, at noon.
NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
XSS = "<script>alert(1)</script>"
XSS_ID = "2607.00021"
OLD_ID = "hep-th/9901001"
HF_ID = "2607.00033"

#: (announcement day, ids): the days that have papers.
DAYS = {
    "1999-01-05": [OLD_ID],
    "2026-05-15": ["2605.00001", "2605.00002"],
    "2026-06-26": ["2606.00001", "2606.00002", "2606.00003"],
    "2026-06-30": ["2606.00010", "2606.00011", "2606.00012"],
    "2026-07-01": [f"2607.{n:05d}" for n in range(1, 9)],
    "2026-07-02": ["2607.00010", "2607.00011", "2607.00012"],
    "2026-07-06": ["2607.00020", XSS_ID, "2607.00022"],
    "2026-07-10": ["2607.00030", "2607.00031", "2607.00032", HF_ID],
}
TOPICS = [
    "Diffusion models for protein design",
    "Graph neural networks for molecules",
    "Transformer language models at scale",
    "Reinforcement learning for robot grasping",
    "Quantum error correction codes",
    "Causal inference with observational data",
    "Diffusion transformers for video generation",
    "Contrastive learning of visual representations",
]
AUTHORS = [["Ada Lovelace", "Grace Hopper"], ["Émile Zola"], ["Alan M. Turing", "Ada Lovelace"], ["Kurt Gödel"]]
CATEGORIES = [["cs.LG", "stat.ML"], ["cs.CL"], ["cs.CV", "cs.LG"], ["q-bio.BM"]]


def rec(**kw: Any) -> PaperRecord:
    """A finished record (defaults: source jsonl)."""
    base: dict[str, Any] = {"title": "A Study of Things", "source": "jsonl", "place": "test:1"}
    base.update(kw)
    out = finish(PaperRecord(**base))
    assert isinstance(out, PaperRecord), out
    return out


def corpus() -> list[PaperRecord]:
    """The fixed test corpus (27 papers)."""
    records = []
    n = 0
    for day, ids in DAYS.items():
        for pid in ids:
            topic = TOPICS[n % len(TOPICS)]
            kw: dict[str, Any] = {
                "id": pid,
                "title": f"{topic}: part {n}",
                "abstract": f"We study {topic.lower()}. Paper number {n} of the test corpus, about learning.",
                "authors": AUTHORS[n % len(AUTHORS)],
                "categories": CATEGORIES[n % len(CATEGORIES)],
                "announced": day,
                "published": f"{day}T10:00:00Z",
            }
            if pid == XSS_ID:
                kw["title"] = f"Attack {XSS} vectors in web pages"
                kw["abstract"] = f"An abstract with {XSS} and <img src=x onerror=alert(2)> inside."
            if pid == HF_ID:
                kw["source"], kw["upvotes"] = "hf", 7
            if pid == OLD_ID:
                kw["title"] = "Strings on old-style identifiers"
            records.append(rec(**kw))
            n += 1
    return records


ALL_IDS = [pid for ids in DAYS.values() for pid in ids]


# -- accounts: cheap argon2 parameters ------------------------------------------------------------
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with small parameters: the same code paths, a hundredth of the time per hash."""
    from argon2 import PasswordHasher

    from paperboy.services import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("not a real password"))


# -- a running app ---------------------------------------------------------------------------------
@dataclass
class Web:
    """An app under test, its first client, and any further browsers."""

    app: FastAPI
    client: TestClient
    extra: list[TestClient] = field(default_factory=list)

    @property
    def services(self) -> Any:
        return self.app.state.services

    @property
    def store(self) -> Store:
        return self.services.store

    def browser(self, base_url: str = "http://testserver") -> TestClient:
        """Another visitor with its own cookies (the app is already started)."""
        client = TestClient(self.app, base_url=base_url)
        self.extra.append(client)
        return client


_TEMPLATE: list[Path] = []
#: On PostgreSQL, the database the template home's index was built from (copied for each app).
WEB_TEMPLATE_DB = "paperboy_web_template"


def _template_home() -> Path:
    """A home holding the corpus and its keyword index, made once per test process and copied
    for each app (importing and indexing anew for every test would double the suite's time).
    On PostgreSQL its store is the database ``WEB_TEMPLATE_DB``, copied the same way."""
    if not _TEMPLATE:
        from paperboy.config import load_settings
        from paperboy.services.indexing import index_once

        folder = tempfile.mkdtemp(prefix="paperboy-web-template-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        home = Path(folder) / "home"
        url = ""
        if backend.on_postgres():
            url = backend.server().create_database(WEB_TEMPLATE_DB, backend.TEMPLATE)
        settings = load_settings(home, database_url=url)
        with Store.open(settings) as st:
            st.ingest("jsonl", "fixture", corpus())
            index_once(settings, st, semantic=False)
        if url:
            backend.pool(WEB_TEMPLATE_DB)  # copies made ahead of need, renamed into each test's place
        _TEMPLATE.append(home)
    return _TEMPLATE[0]


@contextmanager
def running_app(
    settings: Settings,
    records: list[PaperRecord] | None = None,
    now: datetime | None = NOW,
    **kw: Any,
) -> Iterator[Web]:
    """The app over a store holding ``records`` (the corpus by default), started."""
    from paperboy.web.app import create_app

    if records is None and not Path(settings.home).exists():
        shutil.copytree(_template_home(), settings.home)
        if settings.database_url:  # nobody opened the home yet, so nobody wrote to its database either
            backend.replace(settings.database_url, WEB_TEMPLATE_DB)
    else:
        with Store.open(settings) as st:
            st.ingest("jsonl", "fixture", corpus() if records is None else records)
    semantic = kw.pop("semantic", False)
    kw.setdefault("index_at_start", True)
    app = create_app(settings, semantic=semantic, clock=(lambda: now) if now is not None else None, **kw)
    with TestClient(app) as client:
        web = Web(app, client)
        try:
            yield web
        finally:
            for other in web.extra:
                other.close()


# -- browsing ----------------------------------------------------------------------------------------
def csrf(client: TestClient) -> str:
    """The visitor's CSRF token (visiting a page first when it has none yet)."""
    token = client.cookies.get("pb_csrf")
    if not token:
        client.get("/login")
        token = client.cookies.get("pb_csrf")
    assert token
    return token


def post(client: TestClient, url: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
    """A form POST with the CSRF token, not following the redirect."""
    return client.post(url, data={**(data or {}), "csrf_token": csrf(client)}, follow_redirects=False, **kw)


def register(client: TestClient, name: str, email: str | None = None, password: str = PASSWORD) -> httpx.Response:
    """Sign up (and so sign in) through the form."""
    r = post(
        client, "/register", {"username": name, "email": email or f"{name.lower()}@example.org", "password": password}
    )
    assert r.status_code == 303, r.text
    return r


def confirm_email(client: TestClient, email: str) -> None:
    """Follow the confirmation link mailed to ``email`` (from the outbox), as its owner would; the
    mail is then removed, so tests count only the mail they cause themselves."""
    import re

    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.accounts.later.drain(30)
    for path in sorted((Path(services.settings.home) / "outbox").glob("*.eml"), reverse=True):
        text = body_text(message_from_bytes(path.read_bytes()))
        found = re.search(r"/confirm-email/(\S+)", text)
        if found and message_from_bytes(path.read_bytes())["To"] == email:
            r = post(client, f"/confirm-email/{found[1]}")
            assert r.status_code == 200 and "is now the address of your account" in r.text, r.text
            path.unlink()
            return
    raise AssertionError(f"no confirmation link was mailed to {email}")


def login(client: TestClient, name: str, password: str = PASSWORD, **extra: str) -> httpx.Response:
    return post(client, "/login", {"login": name, "password": password, **extra})


def api_token(client: TestClient, name: str = "script") -> str:
    """A new API token made on the account page."""
    r = post(client, "/account/tokens", {"name": name})
    assert r.status_code == 200
    start = r.text.index('<code class="token">') + len('<code class="token">')
    return r.text[start : r.text.index("</code>", start)]


# -- an arXiv API stand-in ---------------------------------------------------------------------------
def arxiv_feed(*entries: dict[str, Any]) -> bytes:
    """An arXiv API Atom answer with these entries (id, title, summary, authors, published, categories)."""
    parts = []
    for e in entries:
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in e.get("authors", ["A. Author"]))
        cats = e.get("categories", ["cs.LG"])
        parts.append(
            f"""<entry>
  <id>http://arxiv.org/abs/{e["id"]}v1</id>
  <updated>{e["published"]}</updated>
  <published>{e["published"]}</published>
  <title>{escape(e["title"])}</title>
  <summary>{escape(e.get("summary", "An abstract."))}</summary>
  {authors}
  <link href="http://arxiv.org/abs/{e["id"]}v1" rel="alternate" type="text/html"/>
  <link title="pdf" href="http://arxiv.org/pdf/{e["id"]}v1" rel="related" type="application/pdf"/>
  <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{cats[0]}"/>
  {"".join(f'<category term="{c}"/>' for c in cats)}
</entry>"""
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query</title>
  <id>http://arxiv.org/api/test</id>
  <updated>2026-07-10T00:00:00-04:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{len(entries)}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  {"".join(parts)}
</feed>""".encode()
