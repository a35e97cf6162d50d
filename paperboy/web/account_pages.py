"""Account pages: register, sign in and out, password change and reset, API tokens, profiles."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from paperboy.services.accounts import AccountError, Busy, Session, TooManyAttempts
from paperboy.web.pages import voted_ids
from paperboy.web.render import (
    SESSION_COOKIE,
    RowId,
    check_csrf,
    current_user,
    redirect,
    render,
    require_user,
    safe_next,
    secure_cookies,
    services,
    session_token,
    set_csrf_cookie,
)

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Form(max_length=2000)]
Password = Annotated[str, Form(max_length=2000)]


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _signed_in(request: Request, session: Session, target: str) -> Response:
    response = redirect(target)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=services(request).settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
    )
    set_csrf_cookie(request, response, rotate=True)
    return response


def _refused(request: Request, template: str, exc: AccountError, **context: object) -> HTMLResponse:
    """The form again with what was wrong: 429 (too many attempts) or 503 (busy) with Retry-After, else 400."""
    code = 429 if isinstance(exc, TooManyAttempts) else 503 if isinstance(exc, Busy) else 400
    response = render(request, template, code=code, error=str(exc), **context)
    if code != 400:
        response.headers["Retry-After"] = str(getattr(exc, "retry_after", 5))
    return response


@router.get("/register", response_class=HTMLResponse)
def register_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(
        request, "register.html", next=safe_next(next), closed=not services(request).settings.registration_open
    )


@router.post("/register", dependencies=[Depends(check_csrf)])
def register(
    request: Request, username: Text = "", email: Text = "", password: Password = "", next: Text = "/"
) -> Response:
    svc = services(request)
    if not svc.settings.registration_open:
        raise HTTPException(403, "Registration is closed on this installation.")
    try:
        user = svc.accounts.register(username, email, password, _client(request))
    except AccountError as exc:
        return _refused(request, "register.html", exc, username=username, email=email, next=safe_next(next))
    return _signed_in(request, svc.accounts.start_session(user), safe_next(next))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", next=safe_next(next))


@router.post("/login", dependencies=[Depends(check_csrf)])
def login(request: Request, login: Text = "", password: Password = "", next: Text = "/") -> Response:
    svc = services(request)
    try:
        user = svc.accounts.authenticate(login, password, _client(request))
    except AccountError as exc:
        return _refused(request, "login.html", exc, login=login, next=safe_next(next))
    return _signed_in(request, svc.accounts.start_session(user), safe_next(next))


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    services(request).accounts.end_session(session_token(request))
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE)
    set_csrf_cookie(request, response, rotate=True)
    return response


# -- the account page --------------------------------------------------------------------------
def _account(request: Request, user: dict, status: int = 200, **extra: object) -> HTMLResponse:
    tokens = services(request).store.people.tokens(user["id"])
    return render(request, "account.html", code=status, tokens=tokens, **extra)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, user: dict = Depends(require_user)) -> HTMLResponse:
    return _account(request, user)


@router.post("/account/password", dependencies=[Depends(check_csrf)])
def change_password(
    request: Request, current: Password = "", new: Password = "", user: dict = Depends(require_user)
) -> Response:
    try:
        services(request).accounts.change_password(user, current, new, session_token(request))
    except (TooManyAttempts, Busy) as exc:
        raise HTTPException(429 if isinstance(exc, TooManyAttempts) else 503, str(exc)) from exc
    except AccountError as exc:
        return _account(request, user, status=400, error=str(exc))
    return _account(
        request,
        user,
        message="Password changed. Your other sessions were signed out, and your API tokens and feed link revoked.",
    )


@router.post("/account/tokens", dependencies=[Depends(check_csrf)])
def create_token(request: Request, name: Text = "", user: dict = Depends(require_user)) -> Response:
    token = services(request).accounts.create_api_token(user, name)
    return _account(request, user, new_token=token)


@router.post("/account/tokens/{token_id}/delete", dependencies=[Depends(check_csrf)])
def delete_token(request: Request, token_id: RowId, user: dict = Depends(require_user)) -> Response:
    if not services(request).store.people.delete_token(user["id"], token_id):
        raise HTTPException(404, "no such token of yours")
    return redirect("/account")


# -- password reset -----------------------------------------------------------------------------
@router.get("/forgot", response_class=HTMLResponse)
def forgot_form(request: Request) -> HTMLResponse:
    return render(request, "forgot.html")


@router.post("/forgot", dependencies=[Depends(check_csrf)])
def forgot(request: Request, email: Text = "") -> Response:
    """Send a reset link; the answer is the same, and as quick, whether or not the address has an account.

    The lookup and the mail happen off the request thread; a mail server that is down is logged
    there (answering 503 only for known addresses would tell which ones have an account).
    """
    svc = services(request)
    try:  # counts requests, so links cannot be sprayed
        svc.accounts.limiter.take(f"reset:{_client(request)}")
    except TooManyAttempts as exc:
        raise HTTPException(
            429, "Too many reset requests from here; try again later.", headers={"Retry-After": str(exc.retry_after)}
        ) from exc
    svc.accounts.request_reset_later(email)
    return render(request, "forgot.html", sent=True)


# -- confirming an address ------------------------------------------------------------------------
@router.get("/confirm-email/{token}", response_class=HTMLResponse)
def confirm_email_form(request: Request, token: str) -> HTMLResponse:
    valid = services(request).accounts.confirmation_valid(token)
    error = None if valid else "This confirmation link has expired or was already used."
    return render(request, "confirm_email.html", token=token, valid=valid, error=error)


@router.post("/confirm-email/{token}", dependencies=[Depends(check_csrf)])
def confirm_email(request: Request, token: str) -> Response:
    try:
        user = services(request).accounts.confirm_email(token)
    except AccountError as exc:
        return render(request, "confirm_email.html", code=400, token=token, valid=False, error=str(exc))
    return render(request, "confirm_email.html", token=token, confirmed=user["email"])


@router.post("/account/email/resend", dependencies=[Depends(check_csrf)])
def resend_confirmation(request: Request, user: dict = Depends(require_user)) -> Response:
    try:
        services(request).accounts.resend_confirmation(user)
    except TooManyAttempts as exc:
        return _account(request, user, status=429, error=str(exc))
    if not user.get("email_pending"):
        return _account(request, user, message="Your address is confirmed.")
    return _account(request, user, message=f"We sent the link to {user['email_pending']} again.")


@router.get("/reset/{token}", response_class=HTMLResponse)
def reset_form(request: Request, token: str) -> HTMLResponse:
    valid = services(request).accounts.reset_valid(token)
    error = None if valid else "This reset link has expired or was already used."
    return render(request, "reset.html", token=token, valid=valid, error=error)


@router.post("/reset/{token}", dependencies=[Depends(check_csrf)])
def reset(request: Request, token: str, password: Password = "") -> Response:
    svc = services(request)
    try:
        user = svc.accounts.reset_password(token, password)
    except Busy as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
    except AccountError as exc:
        valid = svc.accounts.reset_valid(token)
        return render(request, "reset.html", code=400, token=token, valid=valid, error=str(exc))
    return _signed_in(request, svc.accounts.start_session(user), "/account")


# -- profiles -------------------------------------------------------------------------------------
@router.get("/users/{username}", response_class=HTMLResponse)
def profile(request: Request, username: str) -> HTMLResponse:
    svc = services(request)
    person = svc.store.people.user_by_name(username[:40])
    if person is None:
        raise HTTPException(404, f"No user {username!r}.")
    activity = svc.store.activity
    votes = activity.user_votes(person["id"])
    submissions = activity.user_submissions(person["id"])
    comments = activity.user_comments(person["id"])
    viewer = current_user(request)
    shown = {k: v for k, v in person.items() if k != "email" or (viewer and viewer["id"] == person["id"])}
    return render(
        request,
        "profile.html",
        profile=shown,
        votes=votes,
        submissions=submissions,
        comments=comments,
        voted=voted_ids(request, votes + submissions),
    )
