"""Pages from templates: the Jinja2 environment with its filters, rendering, error pages, redirects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from paperboy.services.text import preview, readable
from paperboy.sources.normalize import http_url
from paperboy.web import text
from paperboy.web.context import services
from paperboy.web.security import csrf_token, current_user, set_csrf_cookie

templates = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).with_name("templates")))
env = templates.env
env.filters["readable"] = readable
env.filters["preview"] = preview
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


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: see the result with a GET (post/redirect/get)."""
    return RedirectResponse(url, status_code=303)
