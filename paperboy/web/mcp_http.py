"""The MCP server over streamable HTTP at ``/mcp`` inside ``paperboy serve``.

Every request must carry a personal API token (``Authorization: Bearer pb_…``, made on the
account page): without a valid one the answer is 401 and the MCP server never sees the request.
The token's user is put where the tools find it (services/mcp_server.current_user) for the
request's duration.  Stateless mode: any worker process can answer any request.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from paperboy.services.mcp_server import Backend, build_server, current_user
from paperboy.web.middleware import HttpMiddleware


class _Current:
    """The MCP app of the running lifespan (503 before it starts or after it ends)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            await JSONResponse({"error": "the MCP server is not running"}, status_code=503)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TokenGate(HttpMiddleware):
    """ASGI wrapper: a valid API token or 401; the token's user for the tools."""

    def __init__(self, app: ASGIApp, accounts: Any) -> None:
        super().__init__(app)
        self.accounts = accounts

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        user = self.accounts.api_user(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if user is None:
            answer = JSONResponse(
                {"error": "send a personal API token: Authorization: Bearer pb_…"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
            await answer(scope, receive, send)
            return
        mark = current_user.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            current_user.reset(mark)


def install(app: FastAPI) -> None:
    """Mount /mcp and register its session manager with the app's lifespan."""
    svc = app.state.services
    backend = Backend(
        store=svc.store,
        settings=svc.settings,
        search=svc.search,
        feed=svc.feed,
        library=svc.library,
        notes=app.state.services.notes,
        recommender=svc.recommender,
        community=svc.community,
    )
    current = _Current()
    app.mount("/mcp", TokenGate(current, svc.accounts))

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        # a session manager runs once: each start of the app (tests start one app many times) gets its own
        server = build_server(backend)
        current.app = server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True)
        async with server.session_manager.run():
            yield
        current.app = None

    app.state.lifespans = [*getattr(app.state, "lifespans", []), running]
