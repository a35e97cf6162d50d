"""paperboy as an MCP server (the official ``mcp`` SDK's ``MCPServer``), for agents and scripts.

Tools: ``search``, ``get_paper``, ``similar_papers``, ``daily_papers``, ``trending``, ``for_you``,
``library``, ``save_paper`` and ``set_note``; resources: ``paper://{id}``, a paper as Markdown
(services/paper_markdown.py).  The same server runs over stdio (``paperboy mcp``, acting as the
user named with ``--user``, as a local program on the owner's own machine) and over streamable
HTTP at ``/mcp`` inside ``paperboy serve``, where every request carries a personal API token
(``Authorization: Bearer pb_…``) and acts as its user.  Tools that need a user say so when
there is none; a bad argument is a tool error with a clear message, never a crash.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import MCPServer

from paperboy.services.errors import NotFound, ServiceError
from paperboy.services.feed import WINDOWS, BadPeriod, parse_period
from paperboy.services.paper_markdown import page_url, paper_markdown

#: The user of the current HTTP request (set by the web layer's token check).
current_user: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("paperboy_mcp_user", default=None)
MAX_LIMIT = 50


@dataclass
class Backend:
    """What the tools read and write: built once per process by the interface that serves them."""

    store: Any
    settings: Any
    search: Any  # search(text, mode, limit, offset, **filters) and similar(id, limit)
    feed: Any
    library: Any  # services/library.LibraryService
    notes: Any  # services/notes.NoteService
    recommender: Any
    community: Any
    #: The user when there is no HTTP request (stdio: ``--user``).
    default_user: dict[str, Any] | None = None


def _limit(n: int) -> int:
    return max(1, min(int(n), MAX_LIMIT))


def build_server(backend: Backend, site: Callable[[], str] | None = None) -> MCPServer:
    """The MCP server over a backend (``site``: the address links point at)."""
    site_of = site or (lambda: backend.settings.site_url)
    mcp = MCPServer(
        "paperboy",
        instructions=(
            "Research papers from this paperboy installation: search (keywords, phrases, author:, cat:, since:), "
            "read a paper, its similar papers, a day's papers, trending, your recommendations and your library."
        ),
    )

    def user() -> dict[str, Any]:
        found = current_user.get() or backend.default_user
        if found is None:
            raise ValueError("This tool needs a user: send a personal API token (HTTP) or start with --user (stdio).")
        return found

    def brief(paper: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": paper["id"],
            "title": paper["title"],
            "authors": paper["authors"][:20],
            "categories": paper["categories"],
            "announced": paper.get("announced"),
            "upvotes": paper.get("upvotes") or 0,
            "url": page_url(site_of(), paper["id"]),
            "abstract": (paper.get("abstract") or "")[:600],
        }

    def visible(paper_id: str) -> dict[str, Any]:
        try:
            return backend.community.visible_paper(paper_id)
        except NotFound:
            raise ValueError(f"No paper {paper_id!r} here.") from None

    @mcp.tool()
    def search(query: str, limit: int = 10, mode: str = "hybrid") -> list[dict[str, Any]]:
        """Search papers with paperboy's syntax: words, "phrases", -exclusions, author:, cat:, since:, until:."""
        if mode not in ("hybrid", "keyword", "semantic"):
            raise ValueError("mode is hybrid, keyword or semantic")
        page = backend.search.search(query[:2000], mode, _limit(limit))
        listed = {p["id"]: p for p in backend.store.activity.listed([r.id for r in page.results])}
        return [{**brief(listed[r.id]), "score": round(r.score, 4)} for r in page.results if r.id in listed]

    @mcp.tool()
    def get_paper(paper_id: str) -> dict[str, Any]:
        """One paper: title, authors, whole abstract, links, categories, votes."""
        paper = visible(paper_id)
        return {
            **brief(paper),
            "abstract": paper.get("abstract") or "",
            "pdf": paper.get("pdf_url"),
            "code": paper.get("code_url"),
            "comment": paper.get("comment"),
        }

    @mcp.tool()
    def similar_papers(paper_id: str, limit: int = 5) -> list[dict[str, Any]]:
        """Papers nearest in meaning to a paper (its embedding's neighbours)."""
        paper = visible(paper_id)
        found = backend.search.similar(paper["id"], limit=_limit(limit))
        return [brief(p) for p in backend.store.activity.listed([r.id for r in found])]

    @mcp.tool()
    def daily_papers(date: str = "", limit: int = 20) -> list[dict[str, Any]]:
        """The papers announced on a day (YYYY-MM-DD; the latest day when empty), most upvoted first."""
        try:
            period = parse_period("day", date) if date.strip() else None
        except BadPeriod as exc:
            raise ValueError(str(exc)) from None
        return [brief(p) for p in backend.feed.page(period, "votes", 1, _limit(limit)).papers]

    @mcp.tool()
    def trending(window: str = "week", limit: int = 20) -> list[dict[str, Any]]:
        """Papers ranked by votes that fade with age, over a window: day, week, month or all."""
        if window not in WINDOWS:
            raise ValueError(f"window is one of {', '.join(WINDOWS)}")
        return [brief(p) for p in backend.feed.trending(window, _limit(limit))]

    @mcp.tool()
    def for_you(limit: int = 20) -> list[dict[str, Any]]:
        """Recent papers ranked by the user's taste (saves, votes, "not interested"), each with why."""
        me = user()
        found = backend.recommender.listed(backend.recommender.for_user(me["id"], limit=_limit(limit)))
        return [{**brief(r.paper), "score": round(float(r.score), 4)} for r in found.results if r.paper]

    @mcp.tool()
    def library(collection: str = "", limit: int = 50) -> dict[str, Any]:
        """The user's collections, and the papers (with the user's notes) of one of them by name."""
        me = user()
        collections = backend.library.collections(me)
        out: dict[str, Any] = {"collections": [{"name": c["name"], "count": c["count"]} for c in collections]}
        if collection.strip():
            chosen = next((c for c in collections if c["name"].lower() == collection.strip().lower()), None)
            if chosen is None:
                raise ValueError(f"You have no collection called {collection.strip()!r}.")
            papers = backend.library.papers(me, chosen["id"], limit=_limit(limit))
            notes = backend.notes.of_papers(me, [p["id"] for p in papers])
            out["papers"] = [{**brief(p), "note": notes.get(p["id"])} for p in papers]
        return out

    @mcp.tool()
    def save_paper(paper_id: str, collection: str = "") -> dict[str, Any]:
        """Save a paper into one of the user's collections (by name; made if new; "Saved" by default)."""
        me = user()
        try:
            target = backend.library.save(me, paper_id, None, collection.strip() or None)
        except (NotFound, ServiceError) as exc:
            raise ValueError(str(exc)) from None
        return {"saved": paper_id, "collection": target["name"]}

    @mcp.tool()
    def set_note(paper_id: str, text: str) -> dict[str, Any]:
        """Write the user's private Markdown note on a saved paper (empty text deletes it)."""
        me = user()
        try:
            kept = backend.notes.put(me, paper_id, text)
        except (NotFound, ServiceError) as exc:
            raise ValueError(str(exc)) from None
        return {"paper": paper_id, "note": kept}

    @mcp.resource("paper://{paper_id}", name="paper", mime_type="text/markdown", description="A paper as Markdown.")
    def paper_resource(paper_id: str) -> str:
        paper = visible(paper_id)
        found = backend.search.similar(paper["id"], limit=5)
        similar = backend.store.activity.listed([r.id for r in found])
        me = current_user.get() or backend.default_user
        note = backend.notes.get(me, paper["id"]) if me else None
        return paper_markdown(paper, similar, site_of(), note)

    return mcp
