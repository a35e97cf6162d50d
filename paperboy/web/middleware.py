"""The base of paperboy's pure ASGI middlewares (NUL refusal, security headers, the request scope,
the MCP token gate).

Why pure ASGI rather than Starlette's ``BaseHTTPMiddleware``: that one runs the app in a task of
its own and wraps every answer's stream, costing each request and the MCP server's streamed answers.
Each middleware acts on HTTP requests only; lifespan and websocket messages pass through as they are.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Calls ``handle`` for HTTP requests; everything else goes straight to the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (subclasses say how)."""
        raise NotImplementedError
