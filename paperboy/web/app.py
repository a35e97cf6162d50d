"""The ASGI application: pages, JSON API and Atom feeds over one store.

``create_app(settings)`` builds the services (``services/wiring.py``) and the routes; ``paperboy
serve`` runs it under uvicorn (one or more worker processes) beside the background indexer process
(``services/indexing.py``).  Tests build it in-process, with ``index_at_start=True`` to index
synchronously at start-up.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.config import Settings, load_settings
from paperboy.services.errors import ServiceError
from paperboy.services.wiring import Services, build_services
from paperboy.web.context import RequestScope
from paperboy.web.page_cache import PageCache

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
#: Seconds between a web process's look at the store for new index data.
REFRESH_EVERY = 3.0


def _refresher(services: Services, stop: threading.Event) -> None:
    """Keep this process's search level with the indexer and the store."""
    while not stop.is_set():
        try:
            services.search.refresh()
        except Exception:  # never let the refresher die: the next round retries
            log.exception("search refresh failed")
        stop.wait(REFRESH_EVERY)


def create_app(
    settings: Settings | None = None,
    *,
    semantic: bool = True,
    embedder: Any = None,
    clock: Callable[[], datetime] | None = None,
    index_at_start: bool = False,
    warm: bool = False,
) -> FastAPI:
    """The web app.

    ``index_at_start``: bring the indices level with the store before serving (tests; ``paperboy
    serve`` has its indexer process for that).  ``warm``: build the "for you" window in a thread at
    start, so its first visitor does not wait for it (a real server).
    """
    settings = settings or load_settings()
    services = build_services(settings, semantic=semantic, embedder=embedder, **({"clock": clock} if clock else {}))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if index_at_start:
            from paperboy.services.indexing import index_once

            index_once(settings, services.store, semantic=semantic, embedder=embedder)
            services.search.refresh()
        thread = threading.Thread(target=_refresher, args=(services, stop), name="search-refresh", daemon=True)
        thread.start()
        extra = AsyncExitStack()  # mounted apps' lifespans (the MCP session manager)
        for hook in getattr(app.state, "lifespans", []):
            await extra.enter_async_context(hook())
        if warm:
            threading.Thread(target=services.recommender.warm, name="recs-warm", daemon=True).start()
        yield
        await extra.aclose()
        stop.set()
        thread.join(timeout=5)
        services.close()

    app = FastAPI(
        title="paperboy",
        summary="Self-hosted research-paper discovery: daily feed, trending, search, votes, comments.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served offline by api_docs, with a Content-Security-Policy of its own
        redoc_url=None,
    )
    app.state.services = services
    app.state.page_cache = PageCache()

    from paperboy.web import (
        account_pages,
        agent_pages,
        api,
        api_docs,
        feeds,
        lab_api,
        lab_pages,
        library_pages,
        pages,
        recs_api,
        subscription_pages,
        topic_pages,
        topics_api,
    )

    api_docs.install(app)  # before /static: its assets live under /static/api-docs
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if settings.mcp_http:
        from paperboy.web import mcp_http

        mcp_http.install(app)  # /mcp: the MCP server for agents, token-authenticated
    # In this order: the lab's and the library's routes extend /papers/{id}, and /papers/{id}.md is
    # not a paper id, so they come before the paper pages (and the API's /papers routes), which would take them.
    routers = (lab_api, lab_pages, recs_api, library_pages, agent_pages, topics_api, topic_pages, api, feeds)
    routers += (account_pages,)
    routers += (subscription_pages, pages)
    for module in routers:
        app.include_router(module.router)
    app.add_middleware(RequestScope)
    from paperboy.web.nul import RefuseNul

    app.add_middleware(RefuseNul)  # a NUL never reaches a route, nor the database
    _install_error_handlers(app)
    from paperboy.web.headers import SecurityHeaders

    app.add_middleware(SecurityHeaders)  # last added: outermost, so error pages get the headers too
    return app


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def _install_error_handlers(app: FastAPI) -> None:
    """JSON errors under /api, friendly pages elsewhere; every failure becomes a clear 4xx where it can."""
    from paperboy.web.errors import http_status
    from paperboy.web.render import render_error

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        location = (exc.headers or {}).get("Location")
        if 300 <= exc.status_code < 400 and location:
            return RedirectResponse(location, status_code=exc.status_code)
        if _wants_json(request):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
        return render_error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(ServiceError)
    async def refused(request: Request, exc: ServiceError) -> Response:
        """A service's refusal, answered once for every route: its kind gives the status."""
        status = http_status(exc.kind)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        if _wants_json(request):
            return JSONResponse({"error": str(exc)}, status_code=status, headers=headers)
        response = render_error(request, status, str(exc))
        if headers:
            response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query', 'path'))}: {e.get('msg')}"
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"error": "invalid request", "details": problems}, status_code=422)
        return render_error(request, 400, "; ".join(problems) or "invalid request")

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> Response:
        """A value the database refused as data (SQLSTATE class 22: out of range, bad text) that no
        check caught before: the request's fault, answered as any invalid request (nothing was written)."""
        log.warning("refused data on %s: %s", request.url.path, exc.orig)
        message = "the request holds a value that cannot be stored (out of range or not valid text)"
        if _wants_json(request):
            return JSONResponse({"error": message}, status_code=400)
        return render_error(request, 400, message)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:  # pragma: no cover - a bug's last line
        log.exception("unhandled error on %s", request.url.path)
        if _wants_json(request):
            return JSONResponse({"error": "internal error"}, status_code=500)
        return HTMLResponse("<h1>Something broke</h1><p>The error was logged.</p>", status_code=500)


def app_from_env() -> FastAPI:
    """uvicorn factory for ``paperboy serve``: settings from ``PAPERBOY_HOME`` and the environment."""
    semantic = os.environ.get("PAPERBOY_SERVE_SEMANTIC", "1") == "1"
    return create_app(load_settings(), semantic=semantic, warm=True)
