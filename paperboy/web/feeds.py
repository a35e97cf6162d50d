"""Atom feeds (RFC 4287): the daily papers, trending papers, and any search as a feed.

Built with feedgen, which writes the required ``id``, ``title`` and ``updated`` of the feed and of
every entry; entry ids are tag URIs of the paper id, so readers never show a paper twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from feedgen.entry import FeedEntry
from feedgen.feed import FeedGenerator
from lxml import etree

from paperboy.services.feed import WINDOWS
from paperboy.sources.normalize import http_url
from paperboy.web import text
from paperboy.web.errors import page_errors
from paperboy.web.render import cached_bytes, paper_url, services, site_url, store_changed_at

router = APIRouter(prefix="/feeds", tags=["feeds"])
ATOM = "application/atom+xml; charset=utf-8"
FEED_SIZE = 50
#: Readers may keep a feed five minutes, then ask again with If-None-Match / If-Modified-Since.
CACHE_CONTROL = "public, max-age=300"


class AtomResponse(Response):
    """An Atom document (so the OpenAPI document names its media type)."""

    media_type = ATOM


#: Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF); arXiv
#: metadata and search queries hold them now and then, and lxml refuses the whole feed for one.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(value: str | None) -> str:
    """Text with the characters XML cannot hold left out."""
    return _NOT_XML.sub("", value or "")


class _Entry(FeedEntry):
    """feedgen's entry with its links' ``rel`` and ``type`` written out: feedgen 1.0 drops them, so
    a PDF link became a second ``rel="alternate"`` link of the entry, which RFC 4287 forbids."""

    def atom_entry(self, extensions: bool = True) -> Any:
        entry = super().atom_entry(extensions)
        elements = [e for e in entry if isinstance(e.tag, str) and etree.QName(e).localname == "link"]
        for element, data in zip(elements, self.link() or [], strict=True):
            for key in ("rel", "type", "hreflang", "title", "length"):
                if data.get(key):
                    element.set(key, str(data[key]))
        return entry


def _moment(value: str | None) -> datetime | None:
    if value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    return None


def atom_body(
    request: Request, feed_id: str, title: str, subtitle: str, path: str, papers: list[dict[str, Any]]
) -> bytes:
    base = site_url(request)
    gen = FeedGenerator()
    gen.id(f"{base}{path}")
    gen.title(_xml(title))
    gen.subtitle(_xml(subtitle))
    gen.link(href=f"{base}{path}", rel="alternate", type="text/html")
    query = f"?{request.url.query}" if request.url.query else ""
    gen.link(href=f"{base}{request.url.path}{query}", rel="self", type="application/atom+xml")
    gen.author({"name": "paperboy"})
    gen.generator("paperboy")
    store_time = _moment(store_changed_at(request))
    updated = max((_entry_time(p) for p in papers), default=store_time)
    gen.updated(updated)
    host = base.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0] or "localhost"
    for paper in reversed(papers):  # feedgen prepends: add in reverse to keep our order
        entry = gen.add_entry(_Entry())
        entry.id(_xml(f"tag:{host},2026:paper:{paper['id']}"))
        entry.title(_xml(text.readable(paper["title"])) or _xml(paper["id"]))
        entry.link(href=f"{base}{paper_url(paper['id'])}", rel="alternate", type="text/html")
        pdf = http_url(paper.get("pdf_url"))
        if pdf:  # only http(s): a javascript: link in a feed reader is as bad as on a page
            entry.link(href=pdf, rel="related", type="application/pdf", title="PDF")
        for name in [_xml(a) for a in paper["authors"][:50]] or ["unknown"]:
            if name.strip():
                entry.author({"name": name})
        entry.updated(_entry_time(paper))
        published = _moment(paper.get("published"))
        if published is not None:
            entry.published(published)
        for cat in filter(None, map(_xml, paper["categories"])):
            entry.category(term=cat)
        votes = paper.get("upvotes") or 0
        entry.summary(_xml(f"{text.readable(paper['abstract'])} ({votes} upvote{'' if votes == 1 else 's'})"))
    return gen.atom_str(pretty=False)


def _entry_time(paper: dict[str, Any]) -> datetime:
    """The entry's own time: its latest version, else its first; a paper without any date counts
    from when it came here (never 1970, never one midnight shared by a whole day)."""
    for key in ("updated", "published", "first_seen", "last_changed"):
        moment = _moment(paper.get(key))
        if moment is not None:
            return moment
    return datetime.now(UTC)


def atom_response(request: Request, make: Callable[[], bytes], on_search: bool = False) -> Response:
    """A feed from the page cache (per URL and host: its links are the request's own when
    ``base_url`` is not set), conditional and compressed."""
    return cached_bytes(request, "feed ", make, ATOM, on_search=on_search, per_host=True, cache_control=CACHE_CONTROL)


@router.get("/daily.atom", response_class=AtomResponse)
def daily(request: Request) -> Response:
    """The latest announcement day's papers, most upvoted first."""

    def make() -> bytes:
        page = services(request).feed.page(None, "votes", 1, FEED_SIZE)
        label = page.period.label if page.period else "no papers yet"
        return atom_body(request, "daily", "paperboy: daily papers", label, "/", page.papers)

    return atom_response(request, make)


@router.get("/trending.atom", response_class=AtomResponse, responses=page_errors())
def trending(request: Request, window: str = "week") -> Response:
    """Trending papers of a window (day, week, month, all)."""
    window = window if window in WINDOWS else "week"

    def make() -> bytes:
        papers = services(request).feed.trending(window, FEED_SIZE)
        return atom_body(
            request,
            f"trending-{window}",
            f"paperboy: trending papers ({window})",
            "Votes that fade with age",
            f"/trending?window={window}",
            papers,
        )

    return atom_response(request, make)


@router.get("/search.atom", response_class=AtomResponse, responses=page_errors())
def search(request: Request, q: Annotated[str, Query(max_length=10_000)] = "") -> Response:
    """A saved search as a feed: the newest papers matching ``q`` come first."""
    svc = services(request)

    def make() -> bytes:
        found = svc.search.search(q, "hybrid", FEED_SIZE) if q.strip() else None
        ids = [r.id for r in found.results] if found else []
        papers = svc.store.activity.listed(ids)
        papers.sort(key=lambda p: (p.get("announced") or "", p["id"]), reverse=True)
        return atom_body(
            request,
            "search",
            f"paperboy: {q.strip()[:100] or 'search'}",
            "Papers matching a saved search",
            f"/search?{urlencode({'q': q})}",
            papers,
        )

    return atom_response(request, make, on_search=True)
