"""Feeds and API reads as feed readers and scripts poll them: each entry's own time, links from
the request's host, conditional GET (ETag, Last-Modified, 304) and gzip.

The polling test uses a real feed reader (feedparser, which sends If-None-Match and
If-Modified-Since itself) against the real app served by uvicorn on a loopback port.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from datetime import datetime

import feedparser
import httpx
import pytest
from lxml import etree
from support.servers import free_port, serving
from support.web import rec, register, running_app

from paperboy.config import Settings
from paperboy.store import Store
from paperboy.web.app import create_app

pytestmark = pytest.mark.usefixtures("fast_hashes")  # cheap password hashes for every test here

ATOM = "{http://www.w3.org/2005/Atom}"
DAY = "2026-07-10"


def _records() -> list:
    return [
        rec(id="2607.00101", title="A first paper", announced=DAY, published="2026-07-08T09:15:00Z", upvotes=3),
        rec(
            id="2607.00102",
            title="A revised paper",
            announced=DAY,
            published="2026-07-07T11:00:00Z",
            updated="2026-07-09T16:45:00Z",
            version=2,
            upvotes=2,
        ),
        rec(id="2607.00103", title="A paper without any date", announced=DAY, upvotes=1),
    ]


def _entries(body: bytes) -> dict[str, etree._Element]:
    root = etree.fromstring(body)
    return {e.find(f"{ATOM}link").get("href").rsplit("/", 1)[1]: e for e in root.findall(f"{ATOM}entry")}


def test_each_entry_has_its_own_updated_and_no_1970(settings: Settings):
    with running_app(settings, _records()) as web:
        body = web.client.get("/feeds/daily.atom").content
        first_seen = web.store.get_paper("2607.00103")["first_seen"]
        entries = _entries(body)
        assert entries["2607.00101"].findtext(f"{ATOM}updated") == "2026-07-08T09:15:00+00:00"
        assert entries["2607.00101"].findtext(f"{ATOM}published") == "2026-07-08T09:15:00+00:00"
        assert entries["2607.00102"].findtext(f"{ATOM}updated") == "2026-07-09T16:45:00+00:00"  # the latest version
        undated = entries["2607.00103"]
        assert undated.find(f"{ATOM}published") is None
        assert undated.findtext(f"{ATOM}updated") == first_seen.replace("Z", "+00:00")  # when it came here
        assert b"1970-01-01" not in body
        # no two entries of the day share one midnight
        assert len({e.findtext(f"{ATOM}updated") for e in entries.values()}) == 3


def test_an_empty_store_has_a_real_feed_time(settings: Settings):
    with running_app(settings, []) as web:
        body = web.client.get("/feeds/daily.atom").content
    updated = etree.fromstring(body).findtext(f"{ATOM}updated")
    assert not updated.startswith("1970") and datetime.fromisoformat(updated).year >= 2026


def test_links_come_from_the_request_host_unless_base_url_is_set(settings: Settings):
    with running_app(settings, _records()) as web:
        other = web.browser("http://papers.example.test:8123")
        body = other.get("/feeds/daily.atom").content
        root = etree.fromstring(body)
        assert root.findtext(f"{ATOM}id") == "http://papers.example.test:8123/"
        links = [e.find(f"{ATOM}link").get("href") for e in root.findall(f"{ATOM}entry")]
        assert links and all(link.startswith("http://papers.example.test:8123/papers/") for link in links)
        ids = [e.findtext(f"{ATOM}id") for e in root.findall(f"{ATOM}entry")]
        assert all(i.startswith("tag:papers.example.test,2026:paper:") for i in ids)
        # the same URL on another host is another feed (the cache keeps them apart)
        assert b"http://testserver/papers/" in web.client.get("/feeds/daily.atom").content
    configured = settings.with_overrides(
        home=settings.home.parent / "configured", base_url="https://papers.example.org"
    )
    with running_app(configured, _records()) as web:
        body = web.browser("http://10.0.0.7:8000").get("/feeds/daily.atom").content
        assert b"https://papers.example.org/papers/2607.00101" in body and b"10.0.0.7" not in body


@pytest.mark.parametrize(
    "url", ["/feeds/daily.atom", "/feeds/trending.atom?window=all", "/api/daily_papers", "/api/papers/2607.00101"]
)
def test_conditional_get_on_store_backed_reads(settings: Settings, url: str):
    with running_app(settings, _records()) as web:
        first = web.client.get(url)
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert etag.startswith('W/"') and first.headers["vary"] == "Accept-Encoding"
        again = web.client.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert web.client.get(url, headers={"If-Modified-Since": modified}).status_code == 304
        assert web.client.get(url, headers={"If-None-Match": 'W/"something else"'}).status_code == 200
        # If-None-Match decides when both are sent (RFC 9110)
        both = web.client.get(url, headers={"If-None-Match": 'W/"other"', "If-Modified-Since": modified})
        assert both.status_code == 200
        time.sleep(1.1)  # HTTP dates count whole seconds
        client = web.browser()
        register(client, "voter")
        token = client.cookies.get("pb_csrf")
        client.post("/api/papers/2607.00101/vote", headers={"X-CSRF-Token": token})
        changed = web.client.get(url, headers={"If-None-Match": etag, "If-Modified-Since": modified})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        assert web.client.get(url, headers={"If-Modified-Since": modified}).status_code == 200
        assert web.client.get(url, headers={"If-Modified-Since": "not a date"}).status_code == 200


def test_search_reads_carry_an_etag_only(settings: Settings):
    """They also depend on the search index, which catches up after the store: a date could lie."""
    with running_app(settings, _records()) as web:
        for url in ("/api/papers/search?q=paper&mode=keyword", "/feeds/search.atom?q=paper", "/papers/2607.00101.md"):
            first = web.client.get(url)
            assert first.status_code == 200 and "last-modified" not in first.headers, url
            assert web.client.get(url, headers={"If-None-Match": first.headers["etag"]}).status_code == 304, url


@pytest.mark.parametrize("url", ["/feeds/daily.atom", "/api/daily_papers", "/api/papers/search?q=paper&mode=keyword"])
def test_gzip_when_the_client_takes_it(settings: Settings, url: str):
    with running_app(settings, _records()) as web:
        plain = web.client.get(url, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        packed = web.client.send(web.client.build_request("GET", url, headers={"Accept-Encoding": "gzip"}), stream=True)
        raw = b"".join(packed.iter_raw())
        assert packed.headers["content-encoding"] == "gzip" and len(raw) < len(plain.content)
        assert gzip.decompress(raw) == plain.content
        assert packed.headers["etag"] == plain.headers["etag"]  # one resource, one (weak) tag


# -- a real feed reader polling a real server ------------------------------------------------------------
@pytest.fixture
def served(settings: Settings) -> Iterator[tuple[str, Store]]:
    with Store.open(settings) as store:
        store.ingest("jsonl", "fixture", _records())
    port = free_port()
    app = create_app(settings.with_overrides(page_cache_seconds=0.2), semantic=False, index_at_start=True)
    with serving(app, port) as url:
        yield url, app.state.services.store


def test_feedparser_polls_with_etag_and_last_modified(served: tuple[str, Store]):
    site, store = served
    url = f"{site}/feeds/daily.atom"
    first = feedparser.parse(url)
    assert first.status == 200 and len(first.entries) == 3 and first.etag and first.modified
    assert first.entries[0].link.startswith(f"{site}/papers/")  # the port it was asked on
    assert feedparser.parse(url, etag=first.etag).status == 304
    assert feedparser.parse(url, modified=first.modified).status == 304
    time.sleep(1.1)
    store.ingest("jsonl", "later", [rec(id="2607.00104", title="A new paper today", announced=DAY)])
    time.sleep(0.5)  # the web process looks for store changes every page_cache_seconds
    later = feedparser.parse(url, etag=first.etag, modified=first.modified)
    assert later.status == 200 and len(later.entries) == 4 and later.etag != first.etag
    raw = httpx.get(url, headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip" and b"A new paper today" in raw.content
