"""Requests holding a NUL character are refused with 400 before any route sees them: under
``/api`` with the API's error body (every route's document lists this 400), elsewhere a page.

Why: PostgreSQL cannot store U+0000 in text (SQLite can), so ``/api/papers/%00`` or a comment
with a NUL in it reached the database and answered 500 there.  A NUL is never meaningful in a
URL, a form or a JSON body, so both backends refuse it alike, here.  Bodies are looked at when
they are forms or JSON (small, and read whole anyway); file uploads are parsed by their own rules.
"""

from __future__ import annotations

import re

import orjson
from starlette.types import Message, Receive, Scope, Send

from paperboy.web.middleware import HttpMiddleware

#: A NUL as a URL or form would carry it (raw or percent-encoded), or as JSON escapes it (an odd
#: number of backslashes before ``u0000``, so a literal ``\\u0000`` in a text is not one).
_URL_NUL = re.compile(rb"\x00|%00")
_JSON_NUL = re.compile(rb"\x00|(?<!\\)(?:\\\\)*\\u0000")
MESSAGE = "the request holds a NUL character (U+0000), which no field may contain"


class RefuseNul(HttpMiddleware):
    """Pure ASGI middleware: a NUL in the path, the query string or a form or JSON body is refused."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        if "\x00" in scope["path"] or _URL_NUL.search(raw_path) or _URL_NUL.search(scope.get("query_string", b"")):
            await _refuse(scope, send)
            return
        kind = dict(scope.get("headers", [])).get(b"content-type", b"").split(b";")[0].strip().lower()
        pattern = _URL_NUL if kind == b"application/x-www-form-urlencoded" else None
        if kind == b"application/json" or kind.endswith(b"+json"):
            pattern = _JSON_NUL
        if pattern is None:
            await self.app(scope, receive, send)
            return
        messages: list[Message] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        if pattern.search(body):
            await _refuse(scope, send)
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _refuse(scope: Scope, send: Send) -> None:
    path = scope.get("path", "")
    if path == "/api" or path.startswith("/api/"):
        status, kind = 400, b"application/json"
        body = orjson.dumps({"error": MESSAGE})
    else:
        status, kind = 400, b"text/html; charset=utf-8"
        body = f"<!doctype html><title>Bad request</title><h1>Bad request</h1><p>{MESSAGE}.</p>".encode()
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
