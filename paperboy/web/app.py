"""The ASGI application: pages, JSON API and Atom feeds over one store.

``create_app(settings)`` builds everything; ``paperboy serve`` runs it under uvicorn (one or more
worker processes) beside the background indexer process.  Tests build it in-process with
``indexer="inline"``, which indexes synchronously at start-up instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.config import Settings, load_settings
from paperboy.services.accounts import Accounts
from paperboy.services.community import Community
from paperboy.services.feed import Feed
from paperboy.store import Store
from paperboy.web.live_search import LiveSearch
from paperboy.web.render import PageCache

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
#: Seconds between a web process's look at the store for new index data.
REFRESH_EVERY = 3.0


@dataclass
class Services:
    """Everything a request handler needs, built once per process."""

    settings: Settings
    store: Store
    accounts: Accounts
    community: Community
    feed: Feed
    search: LiveSearch


def build_services(settings: Settings, semantic: bool = True, embedder: Any = None) -> Services:
    """Open the store and the services over it."""
    store = Store.open(settings)
    return Services(
        settings=settings,
        store=store,
        accounts=Accounts(store, settings),
        community=Community(store, settings),
        feed=Feed(store, settings.page_size),
        search=LiveSearch(settings, store, semantic=semantic, embedder=embedder),
    )


def _refresher(services: Services, stop: threading.Event) -> None:
    """Keep this process's search level with the indexer and the store."""
    while not stop.is_set():
        try:
            services.search.refresh()
        except Exception:  # never let the refresher die: the next round retries
            log.exception("search refresh failed")
        stop.wait(REFRESH_EVERY)


def create_app(
    settings: Settings | None = None, *, semantic: bool = True, indexer: str = "process", embedder: Any = None
) -> FastAPI:
    """The web app.  ``indexer``: ``process`` (``paperboy serve`` runs it beside us), ``inline`` or ``none``."""
    settings = settings or load_settings()
    services = build_services(settings, semantic=semantic, embedder=embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if indexer == "inline":
            from paperboy.web.indexer import index_once

            index_once(settings, services.store, semantic=semantic, embedder=embedder)
            services.search.refresh()
        thread = threading.Thread(target=_refresher, args=(services, stop), name="search-refresh", daemon=True)
        thread.start()
        extra = AsyncExitStack()  # mounted apps' lifespans (the MCP session manager)
        for hook in getattr(app.state, "lifespans", []):
            await extra.enter_async_context(hook())
        if indexer == "process":  # a real server: have "for you" ready before its first visitor
            threading.Thread(target=app.state.recommender.warm, name="recs-warm", daemon=True).start()
        yield
        await extra.aclose()
        stop.set()
        thread.join(timeout=5)
        services.store.close()

    app = FastAPI(
        title="paperboy",
        summary="Self-hosted research-paper discovery: daily feed, trending, search, votes, comments.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served offline by api_docs
        redoc_url=None,
    )
    app.state.services = services
    app.state.page_cache = PageCache()
    from paperboy.web import api_docs

    api_docs.install(app)  # before /static: its assets live under /static/api-docs
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    from paperboy.web.lab_pages import install as install_lab
    from paperboy.web.library_pages import install as install_library

    install_lab(app)  # follows, groups, notes, webhooks (issue 18); before the paper pages too

    install_library(app)  # first: its routes extend /papers/{id}, which the paper pages would take
    if settings.mcp_http:
        from paperboy.web import mcp_http

        mcp_http.install(app)  # /mcp: the MCP server for agents, token-authenticated (issue 18)

    from paperboy.web import account_pages, api, feeds, pages, subscription_pages

    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(account_pages.router)
    app.include_router(subscription_pages.router)
    app.include_router(pages.router)
    _install_error_handlers(app)
    return app


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def _install_error_handlers(app: FastAPI) -> None:
    """JSON errors under /api, friendly pages elsewhere; every failure becomes a clear 4xx where it can."""
    from paperboy.web.render import render_error

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        location = (exc.headers or {}).get("Location")
        if 300 <= exc.status_code < 400 and location:
            return RedirectResponse(location, status_code=exc.status_code)
        if _wants_json(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return render_error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query', 'path'))}: {e.get('msg')}"
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"error": "invalid request", "details": problems}, status_code=422)
        return render_error(request, 400, "; ".join(problems) or "invalid request")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:  # pragma: no cover - a bug's last line
        log.exception("unhandled error on %s", request.url.path)
        if _wants_json(request):
            return JSONResponse({"error": "internal error"}, status_code=500)
        return HTMLResponse("<h1>Something broke</h1><p>The error was logged.</p>", status_code=500)


def app_from_env() -> FastAPI:
    """uvicorn factory for ``paperboy serve``: settings from ``PAPERBOY_HOME`` and the environment."""
    semantic = os.environ.get("PAPERBOY_SERVE_SEMANTIC", "1") == "1"
    return create_app(load_settings(), semantic=semantic, indexer="process")
