"""Security headers on every answer: a Content-Security-Policy, no framing, no sniffing, no
leaking of paths to other sites.

The pages run only ``/static/app.js`` and use only ``/static/*.css``: no inline script, style or
handler, so the policy allows nothing inline and a script smuggled into the data cannot run even
if escaping ever failed.  The API documentation pages (Swagger UI and ReDoc, served from
``/static/api-docs`` with an inline start-up script each) get their own policy naming those
scripts by their hash; their bundles set styles at run time, so styles may be inline there.
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.types import Message, Receive, Scope, Send

from paperboy.web.middleware import HttpMiddleware

#: What the pages need: their own scripts, styles, images (and inline SVG), forms to themselves.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
}
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_policy(html: bytes) -> str:
    """The policy for an API documentation page: our own bundles, its inline scripts by SHA-256."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'" for body in _INLINE_SCRIPT.findall(html)
    )
    return (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


class SecurityHeaders(HttpMiddleware):
    """Pure ASGI middleware: adds the headers to every HTTP answer (a route may set its own policy)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", PAGE_POLICY.encode()))
                headers += [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
