"""Answers for visitors who are not signed in, kept until what they show changes; conditional GET and gzip."""

from __future__ import annotations

import gzip
import hashlib
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import TypeAdapter

from paperboy.web.context import services
from paperboy.web.security import SESSION_COOKIE, csrf_token, current_user, set_csrf_cookie

# -- the anonymous page cache ---------------------------------------------------------------
#: Stands for the visitor's CSRF token in cached pages.  Random per process and never sent to
#: anybody, so no imported title, abstract or link can carry it (a fixed marker inside an
#: abstract's URL became a link holding each visitor's token).
_CSRF_MARK = f"\x00csrf-{secrets.token_hex(16)}\x00"
#: Memory one web process may spend on cached pages, keys (URLs) and values alike.
PAGE_CACHE_BYTES = 96 * 1024 * 1024
#: URLs longer than this are answered but not cached: no real page needs one, and the cache
#: would otherwise hold whatever an attacker puts into a query string.
MAX_CACHED_KEY = 4096


def _footprint(key: str, page: str | bytes) -> int:
    """Bytes an entry holds: its URL and its page as Python objects, plus the dict's slot for it."""
    return sys.getsizeof(key) + sys.getsizeof(page) + 100


class PageCache:
    """Rendered anonymous pages of one app, by URL, valid while the store's generation holds.

    The generation (papers' change counter, activity counter) is read at most every
    ``page_cache_seconds``; when it moves, every page is dropped.  Least recently used pages go
    first when the cache outgrows ``PAGE_CACHE_BYTES``, counting each entry's URL as well as its
    page (9,000 URLs of 60 KB with small pages once grew a server by 500 MB within its "96 MB").
    """

    def __init__(self) -> None:
        self.pages: OrderedDict[str, str | bytes] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()
        self.generation: Any = None
        self.checked = -1e9
        #: The store's last change for the current generation (``store_changed_at``), read lazily.
        self.changed_at: str | None = None

    def sync(
        self, read_generation: Callable[[], Any], every: float, read_changed: Callable[[], str | None] | None = None
    ) -> None:
        """Drop every page if the store changed since the last look (looking at most every ``every`` s).

        ``read_changed`` (the store's last change time) is read before the generation: a change
        between the two then leaves ``changed_at`` older than the pages, never newer (a newer
        ``Last-Modified`` than the content would make clients keep a stale copy).
        """
        now = time.monotonic()
        if now - self.checked < every:
            return
        changed = read_changed() if read_changed is not None else None
        generation = read_generation()
        with self.lock:
            self.checked = now
            if generation != self.generation:
                self.generation = generation
                self.changed_at = changed
                self.pages.clear()
                self.size = 0

    def get(self, key: str) -> str | bytes | None:
        with self.lock:
            page = self.pages.get(key)
            if page is not None:
                self.pages.move_to_end(key)
            return page

    def put(self, key: str, page: str | bytes) -> None:
        if len(key) > MAX_CACHED_KEY:
            return
        with self.lock:
            old = self.pages.pop(key, None)
            self.size += _footprint(key, page) - (_footprint(key, old) if old is not None else 0)
            self.pages[key] = page
            while self.size > PAGE_CACHE_BYTES and self.pages:
                self.size -= _footprint(*self.pages.popitem(last=False))


def _fresh_cache(request: Request) -> PageCache | None:
    """This app's page cache, emptied if the store changed since it last looked; None when caching is off."""
    svc = services(request)
    every = svc.settings.page_cache_seconds
    if every <= 0:
        return None
    cache: PageCache = request.app.state.page_cache
    cache.sync(svc.store.activity.generation, every, svc.store.activity.last_change)
    return cache


def _cache_key(request: Request, prefix: str, on_search: bool) -> str:
    """The cache key of this request's answer: its URL, and the search generation when the answer
    is built from search (results, similar papers), so a new vector or a rebuilt keyword index is
    seen at once while the store itself has not changed."""
    key = f"{prefix}{request.url.path}?{request.url.query}"
    return f"search#{services(request).search.generation} {key}" if on_search else key


def cached_page(request: Request, build: Callable[[str], Response], on_search: bool = False) -> Response:
    """A page for visitors who are not signed in, from the cache while nothing it shows changed.

    ``build(csrf)`` renders the page with the given CSRF token.  Signed-in users, whose pages
    show their own votes, always get a fresh page.  Cached pages hold a mark where the CSRF token
    goes, replaced by each visitor's own token, so no visitor ever gets another's token.  A vote,
    comment or import shows to anonymous visitors within ``page_cache_seconds`` (1 s).
    ``on_search``: the page shows search answers (similar papers), which change with the indices.
    """
    if request.cookies.get(SESSION_COOKIE) and current_user(request) is not None:
        return build(csrf_token(request))
    cache = _fresh_cache(request)
    if cache is None:
        return build(csrf_token(request))
    key = _cache_key(request, "", on_search)
    page = cache.get(key)
    if not isinstance(page, str):
        response = build(_CSRF_MARK)
        if response.status_code != 200:
            return build(csrf_token(request))
        page = bytes(response.body).decode()
        cache.put(key, page)
    response = HTMLResponse(page.replace(_CSRF_MARK, csrf_token(request)))
    response.headers["Cache-Control"] = "private, no-cache"
    set_csrf_cookie(request, response)
    return response


def cached_json(
    request: Request, shape: TypeAdapter[Any], build: Callable[[], Any], on_search: bool = False
) -> Response:
    """A JSON answer that shows nobody's own data, from the page cache while the store holds still.

    ``build()`` makes the value, ``shape`` validates and serializes it (once per store change,
    not per request: for a page of search results that was most of the request's time).
    ``on_search`` as for ``cached_page``.  The answer is conditional and compressed
    (``conditional``); answers built from search carry only an ETag, since the indices catch up
    after the store and a ``Last-Modified`` taken from the store could then hold a stale copy.
    """
    return cached_bytes(
        request,
        "json ",
        lambda: shape.dump_json(shape.validate_python(build()), by_alias=True),
        "application/json",
        on_search=on_search,
    )


def cached_bytes(
    request: Request,
    prefix: str,
    build: Callable[[], bytes],
    media_type: str,
    on_search: bool = False,
    per_host: bool = False,
    cache_control: str = "no-cache",
) -> Response:
    """Bytes nobody's own (an API answer, a feed) from the page cache while the store holds still,
    answered by ``conditional``; their gzip form is cached beside them.  ``per_host``: the body
    holds absolute links to the address asked for (``site_url``), so each host has its own copy;
    ``on_search``: built from search, so cached per search generation and sent without a date."""
    cache = _fresh_cache(request)
    key = _cache_key(request, f"{prefix}{request.url.netloc} " if per_host else prefix, on_search)
    modified = None if on_search else store_changed_at(request)  # before the body: never newer than it
    body = cache.get(key) if cache is not None else None
    if not isinstance(body, bytes):
        body = build()
        if cache is not None:
            cache.put(key, body)
    return conditional(request, body, media_type, modified, cache_control, cache, key)


# -- conditional GET and compression ---------------------------------------------------------------
#: Bodies shorter than this go out uncompressed: gzip would save less than its own overhead.
GZIP_MIN = 512


def _etag(body: bytes) -> str:
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def _http_date(stamp: str) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC), usegmt=True)


def _not_modified(request: Request, etag: str, modified: str | None) -> bool:
    """RFC 9110: If-None-Match decides when sent (weak comparison); else If-Modified-Since."""
    sent = request.headers.get("if-none-match")
    if sent is not None:
        tags = {tag.strip().removeprefix("W/") for tag in sent.split(",")}
        return "*" in tags or etag.removeprefix("W/") in tags
    since = request.headers.get("if-modified-since")
    if since and modified:
        try:
            then = parsedate_to_datetime(since)
            now = datetime.fromisoformat(modified.replace("Z", "+00:00"))
        except (TypeError, ValueError, IndexError):
            return False
        if then.tzinfo is None:
            then = then.replace(tzinfo=UTC)
        return now.replace(microsecond=0) <= then
    return False


def conditional(
    request: Request,
    body: bytes,
    media_type: str,
    modified: str | None = None,
    cache_control: str = "no-cache",
    cache: PageCache | None = None,
    key: str = "",
) -> Response:
    """An answer with an ETag (and ``Last-Modified`` when ``modified``, the store's last change,
    is given): 304 when the client's copy is current, gzip when the client takes it.

    Feed readers and scripts poll every few minutes; a 304 costs them and us almost nothing.
    """
    etag = _etag(body)
    headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": cache_control}
    if modified:
        headers["Last-Modified"] = _http_date(modified)
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    accepts = request.headers.get("accept-encoding", "")
    if len(body) >= GZIP_MIN and "gzip" in accepts.lower():
        packed = cache.get(key + "\x00gzip") if cache is not None and key else None
        if not isinstance(packed, bytes):
            packed = gzip.compress(body, compresslevel=6, mtime=0)
            if cache is not None and key:
                cache.put(key + "\x00gzip", packed)
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=media_type, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def store_changed_at(request: Request) -> str:
    """When anything the pages and API show last changed (read with the cache's generation when
    caching is on, so it is never newer than the cached pages)."""
    cache = _fresh_cache(request)
    changed = cache.changed_at if cache is not None else services(request).store.activity.last_change()
    return changed or _STARTED


#: Stands in for "last changed" in an empty store that nothing has touched yet.
_STARTED = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
