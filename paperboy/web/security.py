"""Who is asking and whether the request is theirs: sessions, CSRF, cookies, bounded ids, safe redirects.

CSRF uses the double-submit pattern: every visitor gets a random ``pb_csrf`` cookie (HttpOnly,
SameSite=Strict) and every form carries the same value in a hidden field (scripts send it as
``X-CSRF-Token``); a state-changing POST whose two copies differ is refused with 403.  Sessions
are random tokens in an HttpOnly, SameSite=Lax cookie whose hash the store keeps.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import HTTPException, Path, Request
from fastapi.responses import Response

from paperboy.web.context import services

#: The largest row id: a larger number cannot even reach the database (SQLite's integers are 64-bit).
MAX_ROW_ID = 2**63 - 1
#: A row id in a URL (comments, tokens, collections): out of range is a 422/400, not a crash.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
SESSION_COOKIE = "pb_session"
CSRF_COOKIE = "pb_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def secure_cookies(request: Request) -> bool:
    """Mark cookies Secure when the site is served over HTTPS."""
    base = services(request).settings.base_url
    return base.startswith("https://") if base else request.url.scheme == "https"


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


def safe_next(target: str | None, default: str = "/") -> str:
    """A same-site path to go back to (never another site: no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
