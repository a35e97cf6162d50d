"""Email digest pages: subscribe (from any page's footer), confirm, preferences and unsubscribe.

Nobody signs in here: the signed link in the mail is the authorization (services/subscriptions.py).
Every form carries the CSRF token, with one exception: the RFC 8058 one-click unsubscribe, a POST
of ``List-Unsubscribe=One-Click`` that a mail provider sends on its user's behalf, with no cookie by
design.  That is safe because the unguessable token in the URL authorizes it and only ever comes
from the subscriber's own mail: a forged cross-site request cannot name a token its author does not
know, and unsubscribing is all the URL can do.  GET never changes anything, except confirming a
subscription (idempotent, and only possible with the link mailed to that address: that proof is
what double opt-in asks for).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from paperboy.services.accounts import TooManyAttempts
from paperboy.services.digest import WEEKDAYS, weekday_number
from paperboy.services.mail import MailError
from paperboy.services.subscriptions import SECTION_LABELS, SECTIONS, Subscribing, SubscriptionError
from paperboy.web.render import check_csrf, redirect, render, services

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=4000)]
#: Subscription requests allowed per client address within the accounts limiter's window.
SUBSCRIBE_LIMIT_KEY = "subscribe:"


def subscribing(request: Request) -> Subscribing:
    """The process's subscription service."""
    return services(request).subscribing


def _not_found() -> HTTPException:
    return HTTPException(404, "This link is not valid (any more). If you unsubscribed, you are not subscribed now.")


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


# -- subscribing ----------------------------------------------------------------------------------
@router.get("/subscribe", response_class=HTMLResponse)
def subscribe_form(request: Request) -> HTMLResponse:
    return render(request, "subscribe.html")


@router.post("/subscribe", dependencies=[Depends(check_csrf)])
def subscribe(request: Request, email: Text = "") -> Response:
    """Start a double opt-in; the answer is the same whether or not the address was subscribed."""
    try:  # counts requests, so nobody can mail-bomb addresses through the form
        services(request).accounts.limiter.take(SUBSCRIBE_LIMIT_KEY + _client(request))
    except TooManyAttempts as exc:
        raise HTTPException(
            429,
            "Too many subscription requests from here; try again later.",
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    try:
        subscribing(request).subscribe(email)
    except SubscriptionError as exc:
        return render(request, "subscribe.html", code=400, error=str(exc), email=email[:255])
    except MailError as exc:
        raise HTTPException(503, "The mail server is not answering; try again in a few minutes.") from exc
    return render(request, "subscribe.html", sent=True)


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse)
def confirm(request: Request, token: str) -> Response:
    subscriber = subscribing(request).confirm(token[:200])
    if subscriber is None:
        raise HTTPException(404, "This confirmation link is not valid or has expired. Subscribe again for a new one.")
    return redirect(f"/subscriptions/{subscribing(request).signer.token('manage', subscriber)}?confirmed=1")


# -- preferences ----------------------------------------------------------------------------------
def _preferences(request: Request, token: str, subscriber: dict, code: int = 200, **extra: object) -> HTMLResponse:
    settings = services(request).settings
    weekday = WEEKDAYS[weekday_number(settings.digest_weekday)].capitalize()
    return render(
        request,
        "subscription.html",
        code=code,
        token=token,
        subscriber=subscriber,
        sections=[(name, SECTION_LABELS[name]) for name in SECTIONS],
        weekday=weekday,
        unsubscribe_token=subscribing(request).signer.token("unsubscribe", subscriber),
        **extra,
    )


@router.get("/subscriptions/{token}", response_class=HTMLResponse)
def preferences(request: Request, token: str, confirmed: int = 0) -> HTMLResponse:
    subscriber = subscribing(request).lookup("manage", token[:200])
    if subscriber is None:
        raise _not_found()
    message = "Your subscription is confirmed. Choose what you want to receive." if confirmed else None
    return _preferences(request, token, subscriber, message=message)


@router.post("/subscriptions/{token}", dependencies=[Depends(check_csrf)])
async def save_preferences(request: Request, token: str) -> Response:
    service = subscribing(request)
    subscriber = service.lookup("manage", token[:200])
    if subscriber is None:
        raise _not_found()
    form = await request.form()
    values = {
        "frequency": str(form.get("frequency") or ""),
        "sections": [str(v) for v in form.getlist("sections")][:10],
        "items": str(form.get("items") or "")[:10],
        "categories": str(form.get("categories") or "")[:2000],
        "searches": str(form.get("searches") or "")[:4000],
    }
    try:
        subscriber = service.update(subscriber, **values)
    except SubscriptionError as exc:
        draft = {
            **subscriber,
            "frequency": values["frequency"],
            "sections": values["sections"],
            "categories": values["categories"].split(),
            "searches": values["searches"].splitlines(),
        }
        return _preferences(request, token, draft, code=400, error=str(exc), field=exc.field)
    return _preferences(request, token, subscriber, message="Saved. The next digest follows these choices.")


# -- unsubscribing -------------------------------------------------------------------------------
@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_form(request: Request, token: str) -> HTMLResponse:
    """A button to press: GET never unsubscribes (link scanners and prefetchers follow links)."""
    subscriber = subscribing(request).lookup("unsubscribe", token[:200])
    if subscriber is None:
        raise _not_found()
    return render(request, "unsubscribe.html", token=token, email=subscriber["email"])


@router.post("/unsubscribe/{token}")
async def unsubscribe(request: Request, token: str) -> Response:
    """Unsubscribe: the page's form (CSRF-checked) or a mail provider's RFC 8058 one-click POST."""
    one_click = False
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        one_click = form.get("List-Unsubscribe") == "One-Click"
    if not one_click:
        await check_csrf(request)
    if not subscribing(request).unsubscribe(token[:200]):
        raise _not_found()
    if one_click:
        return PlainTextResponse("Unsubscribed. No more digests will be sent to this address.\n")
    return render(request, "unsubscribe.html", done=True)
