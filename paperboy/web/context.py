"""What every part of the web layer asks of a request: the process's services, this site's address,
and the request being served (for template globals that have no request of their own)."""

from __future__ import annotations

import contextvars
from typing import Any

from fastapi import Request
from starlette.types import Receive, Scope, Send

from paperboy.web.middleware import HttpMiddleware

_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("paperboy_request_scope", default=None)


class RequestScope(HttpMiddleware):
    """Pure ASGI middleware: remembers the current request's scope for template globals (the card
    macros, imported without their context, ask ``library_marks(id)`` and ``paper_topics(id)``)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
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


def site_url(request: Request) -> str:
    """This site's address for absolute links in pages and feeds: ``base_url`` when set, else the
    address this request came to (so ``make run PORT=18800`` links to port 18800)."""
    return services(request).settings.base_url.rstrip("/") or str(request.base_url).rstrip("/")
