"""Rendering pages, and the request-level security they depend on: the signed-in user and CSRF.

CSRF uses the double-submit pattern: every visitor gets a random ``pb_csrf`` cookie (HttpOnly,
SameSite=Strict) and every form carries the same value in a hidden field (scripts send it as
``X-CSRF-Token``); a state-changing POST whose two copies differ is refused with 403.  Sessions
are random tokens in an HttpOnly, SameSite=Lax cookie whose hash the store keeps.
"""

from __future__ import annotations

import contextvars
import gzip
import hashlib
import hmac
import secrets
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter
from starlette.types import ASGIApp, Receive, Scope, Send

from paperboy.sources.normalize import http_url
from paperboy.web import text

#: The largest row id: a larger number cannot even reach the database (SQLite's integers are 64-bit).
MAX_ROW_ID = 2**63 - 1
#: A row id in a URL (comments, tokens, collections): out of range is a 422/400, not a crash.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
SESSION_COOKIE = "pb_session"
CSRF_COOKIE = "pb_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).with_name("templates")))
env = templates.env
env.filters["readable"] = text.readable
env.filters["preview"] = text.preview
env.filters["markdown"] = text.render_markdown
env.filters["paragraphs"] = text.paragraphs
env.filters["author_links"] = text.author_links
#: Links from the store are checked again where they become hrefs: a store written before
#: importers checked them, or by hand, may still hold a ``javascript:`` URL.
env.filters["web_url"] = http_url
env.filters["urlquote"] = lambda value: quote(str(value), safe="")
env.globals["urlencode"] = urlencode


def paper_url(paper_id: str, action: str = "") -> str:
    """A paper's page (or one of its actions): ids may hold '/', ':' and, as DOIs, anything else."""
    return "/papers/" + quote(str(paper_id), safe="/:.-_~") + (f"/{action}" if action else "")


env.filters["purl"] = paper_url


def _day(value: Any) -> str:
    """``2026-07-01`` -> ``1 Jul 2026``."""
    try:
        moment = datetime.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value or "")
    return f"{moment.day} {moment:%b %Y}"


def _ago(value: Any) -> str:
    """A stored time as "3 hours ago"."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value or "")
    seconds = (datetime.now(UTC) - moment).total_seconds()
    for size, unit in ((86400 * 365, "year"), (86400 * 30, "month"), (86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return "just now"


env.filters["day"] = _day
env.filters["ago"] = _ago


_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("paperboy_request_scope", default=None)


class RequestScope:
    """Pure ASGI middleware: remembers the current request's scope for template globals (the card
    macros, imported without their context, ask ``library_marks(id)`` and ``paper_topics(id)``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _scope.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _scope.reset(token)


def current_scope() -> Scope | None:
    """The ASGI scope of the request being served (None outside one)."""
    return _scope.get()


def services(request: Request) -> Any:
    """The process's ``Services``."""
    return request.app.state.services


def secure_cookies(request: Request) -> bool:
    """Mark cookies Secure when the site is served over HTTPS."""
    base = services(request).settings.base_url
    return base.startswith("https://") if base else request.url.scheme == "https"


def site_url(request: Request) -> str:
    """This site's address for absolute links in pages and feeds: ``base_url`` when set, else the
    address this request came to (so ``make run PORT=18800`` links to port 18800)."""
    return services(request).settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")


# -- the signed-in user ----------------------------------------------------------------
def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def current_user(request: Request) -> dict[str, Any] | None:
    """The user of this request's session cookie (looked up once per request)."""
    if not hasattr(request.state, "user"):
        request.state.user = services(request).accounts.session_user(session_token(request))
    return request.state.user


def require_user(request: Request) -> dict[str, Any]:
    """The signed-in user, or a redirect to the sign-in page that comes back here."""
    user = current_user(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "sign in first", headers={"Location": f"/login?{urlencode({'next': target})}"})
    return user


# -- CSRF -------------------------------------------------------------------------------
def csrf_token(request: Request) -> str:
    """This visitor's CSRF token (a new one when the cookie is missing or malformed)."""
    if not hasattr(request.state, "csrf"):
        token = request.cookies.get(CSRF_COOKIE, "")
        if not (20 <= len(token) <= 100 and token.replace("-", "").replace("_", "").isalnum()):
            token = secrets.token_urlsafe(32)
            request.state.new_csrf = True
        request.state.csrf = token
    return request.state.csrf


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose CSRF token does not match the cookie's (403)."""
    cookie = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise HTTPException(403, "This form has expired or did not come from this site. Reload the page and try again.")


def set_csrf_cookie(request: Request, response: Response, rotate: bool = False) -> None:
    """Send the visitor's CSRF cookie if it is new, or a fresh one with ``rotate`` (at sign-in and
    sign-out: a token learnt before signing in is worth nothing after)."""
    if rotate:
        request.state.csrf, request.state.new_csrf = secrets.token_urlsafe(32), True
    if getattr(request.state, "new_csrf", False):
        response.set_cookie(
            CSRF_COOKIE,
            request.state.csrf,
            max_age=365 * 86400,
            httponly=True,
            samesite="strict",
            secure=secure_cookies(request),
        )


# -- responses --------------------------------------------------------------------------
def render(request: Request, name: str, /, code: int = 200, **context: Any) -> HTMLResponse:
    """A page from a template, with the user, the CSRF token and the settings in its context.

    ``request`` and ``name`` are positional-only, so templates may have variables of those names.
    """
    context |= {
        "user": current_user(request),
        "csrf_token": context.pop("_csrf", None) or csrf_token(request),
        "settings": services(request).settings,
        "path": request.url.path,
    }
    response = templates.TemplateResponse(request, name, context, status_code=code)
    response.headers["Cache-Control"] = "private, no-cache"
    set_csrf_cookie(request, response)
    return response


def render_error(request: Request, status: int, message: str) -> Response:
    """An error page that says what went wrong and where to go."""
    titles = {400: "Bad request", 403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Slow down"}
    return render(request, "error.html", code=status, title=titles.get(status, "Error"), message=message)


def community_error(exc: Exception) -> HTTPException:
    """The HTTP answer to a refused community action (pages and API alike); re-raises anything else."""
    from paperboy.services.community import NotAllowed, NotFound, Refused

    if isinstance(exc, NotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, NotAllowed):
        return HTTPException(403, str(exc))
    if isinstance(exc, Refused):
        return HTTPException(exc.status, str(exc))
    raise exc


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: see the result with a GET (post/redirect/get)."""
    return RedirectResponse(url, status_code=303)


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to (never another site: no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


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
