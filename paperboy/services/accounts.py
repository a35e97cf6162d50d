"""Accounts: registration, sign-in with rate limits, sessions, API tokens and password resets.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, rehashed when they change).
Session, API and reset tokens are 256-bit random values from ``secrets``; the store keeps only
their SHA-256, so reading the database gives nobody a way in.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from paperboy.config import Settings
from paperboy.services.background import Background
from paperboy.services.mail import Mailer, new_message
from paperboy.store import Store
from paperboy.store.people import Conflict

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,39}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: API tokens start with this, so a leaked one is recognisable in logs and scanners.
TOKEN_PREFIX = "pb_"

_hasher = PasswordHasher()
#: Verified against when the account does not exist, so timing does not reveal which names exist.
_DUMMY_HASH = _hasher.hash("not a real password")


class AccountError(ValueError):
    """A request the user can fix: ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TooManyAttempts(AccountError):
    """Refused for a while after too many attempts (sign-ins, sign-ups, reset requests)."""

    def __init__(self, retry_after: int, what: str = "failed sign-ins") -> None:
        super().__init__(f"Too many {what}. Try again in {max(-(-retry_after // 60), 1)} minute(s).")
        self.retry_after = retry_after


def stamp(moment: datetime) -> str:
    """A time as the store keeps it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_hash(token: str) -> str:
    """What the store keeps of a random token."""
    return hashlib.sha256(token.encode()).hexdigest()


class Busy(AccountError):
    """Every password-hashing slot is taken for longer than a request should wait (503)."""

    def __init__(self) -> None:
        super().__init__("The server is busy checking passwords. Try again in a few seconds.")
        self.retry_after = 5


#: Password hashes computed at once, process-wide: each argon2id hash takes 64 MiB and a core
#: for about half a second, so 40 simultaneous sign-ins could take gigabytes and every core.
_hash_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
#: Seconds a request waits for a hashing slot before it is told the server is busy.
HASH_WAIT = 20.0


def _hashing() -> Any:
    """Hold a hashing slot (``Busy`` when none frees up in time)."""
    slots = _hash_slots

    class _Slot:
        def __enter__(self) -> None:
            if not slots.acquire(timeout=HASH_WAIT):
                raise Busy

        def __exit__(self, *exc: object) -> None:
            slots.release()

    return _Slot()


def hash_password(password: str) -> str:
    """An argon2id hash, computed in one of the bounded hashing slots."""
    with _hashing():
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether a password matches a hash (in a hashing slot); never raises for a wrong one."""
    with _hashing():
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class Limiter:
    """Attempts per key in a sliding window, counted in the store before the work they guard.

    Each attempt is a row added and counted in one transaction (``store.limits``), so of many
    simultaneous attempts only ``limit`` get through, and every process of the server shares
    the count.  ``clock`` is the accounts' clock.
    """

    def __init__(self, store: Store, limit: int, window: int, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.limit = limit
        self.window = window
        self.clock = clock

    def take(self, *keys: str, limit: int | None = None) -> list[int]:
        """Count an attempt for every key (their ids), or raise ``TooManyAttempts`` counting nothing."""
        now = self.clock()
        since = stamp(now - timedelta(seconds=self.window))
        hashed = [_limit_key(k) for k in keys]
        ids, oldest = self.store.limits.take(hashed, self.limit if limit is None else limit, since, stamp(now))
        if oldest is not None or not ids:
            first = datetime.fromisoformat(oldest.replace("Z", "+00:00")) if oldest else now
            wait = self.window - (now - first).total_seconds()
            raise TooManyAttempts(max(1, int(wait) + (1 if wait % 1 else 0)))
        return ids

    def forget(self, key: str | None = None, ids: list[int] | None = None) -> None:
        """Drop a key's attempts (its owner got in) and/or particular attempts (that succeeded)."""
        self.store.limits.forget(_limit_key(key) if key is not None else None, ids)


def _limit_key(key: str) -> str:
    """What the store keeps of a limit's key: its SHA-256, so no address or email sits in the table."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Session:
    """A new sign-in: the cookie value and when it expires."""

    token: str
    expires: datetime
    user: dict[str, Any]


class Accounts:
    """Everything about users that needs a secret or a rule."""

    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.people = store.people
        self.settings = settings
        self.clock = clock
        #: Sign-ins per account and per address; also used for reset and subscription requests.
        self.limiter = Limiter(store, settings.login_max_failures, settings.login_window, self._clock)
        self.mailer = Mailer(settings)
        #: Account mail, sent off the request threads (see ``services.background``).
        self.later = Background("account-mail")

    def _clock(self) -> datetime:
        return self.clock()

    def _now(self) -> str:
        return stamp(self.clock())

    # -- registration and sign-in ---------------------------------------------------------
    def register(
        self, username: str, email: str, password: str, address: str = "", email_confirmed: bool = False
    ) -> dict[str, Any]:
        """Create an account (the very first one is an admin); raises ``AccountError``.

        The address is the account's only once its emailed link is followed (``email_confirmed``:
        an admin adding the account vouches for it).  Until then it claims nothing, so signing up
        with an address that has an account looks exactly like any other sign-up: that owner
        is mailed a note instead of a link, off the request thread, and nothing tells the two
        apart.  Sign-ups per client ``address`` and per email are limited
        (``register_max_attempts`` per ``login_window``), counted before the password is hashed.
        """
        username, email = (username or "").strip(), (email or "").strip()
        if not USERNAME.match(username):
            raise AccountError(
                "User names are 2-40 letters, digits, '.', '_' or '-', starting with a letter or digit.", "username"
            )
        if not EMAIL.match(email) or len(email) > 255:
            raise AccountError("That does not look like an email address.", "email")
        self._check_password(password)
        if self.people.user_by_name(username):  # user names are public (profiles): no need to hash first
            raise AccountError("That user name is already registered.", "username")
        keys = [f"register-email:{email.lower()}"] + ([f"register-address:{address}"] if address else [])
        try:
            self.limiter.take(*keys, limit=self.settings.register_max_attempts)
        except TooManyAttempts as exc:
            raise TooManyAttempts(exc.retry_after, "sign-ups from here") from None
        password_hash = hash_password(password)
        try:  # whether this is the first account (the admin) is decided inside the insert
            user_id = self.people.create_user(
                username, email, password_hash, self._now(), first_is_admin=True, email_confirmed=email_confirmed
            )
        except Conflict as exc:
            field = str(exc)
            raise AccountError(
                f"That {'email address' if field == 'email' else 'user name'} is already registered.", field
            ) from exc
        if not email_confirmed:
            self.later.put(lambda: self.send_confirmation(user_id, email))
        user = self.people.user(user_id)
        assert user is not None
        return user

    # -- email confirmation ---------------------------------------------------------------
    def send_confirmation(self, user_id: int, email: str) -> str | None:
        """Mail a confirmation link for an address an account gave; returns its token.

        When another account already has the address, its owner gets a note instead (and no
        token is made): the sign-up's page never says which happened.
        """
        user = self.people.user(user_id)
        if user is None:
            return None
        site = self.settings.site_url
        owner = self.people.user_by_email(email)
        if owner is not None and owner["id"] != user_id:
            text = (
                f"Hello {owner['username']},\n\nsomebody signed up at {site} with this address, which is already "
                f"the address of your account {owner['username']}. Nothing was changed.\n\nIf it was you: sign in at "
                f"{site}/login, or choose a new password at {site}/forgot.\n"
            )
            self.mailer.send(new_message(self.settings, owner["email"], "Somebody used your address at paperboy", text))
            return None
        token = secrets.token_urlsafe(32)
        expires = self.clock() + timedelta(hours=self.settings.confirm_hours)
        self.people.create_confirmation(token_hash(token), user_id, email, stamp(expires))
        text = (
            f"Hello {user['username']},\n\nplease confirm that this is your address at {site}: open this link "
            f"within {self.settings.confirm_hours} hours:\n\n{site}/confirm-email/{token}\n\n"
            "Until then the address is not used for sign-in, password resets or digests.\n"
            "If you did not sign up, ignore this message.\n"
        )
        self.mailer.send(new_message(self.settings, email, "Confirm your address at paperboy", text))
        return token

    def resend_confirmation(self, user: dict[str, Any]) -> None:
        """Mail the pending address's link again (limited like sign-ins), off the request thread."""
        pending = user.get("email_pending")
        if not pending:
            return
        self.limiter.take(f"confirm:{user['id']}", limit=3)
        self.later.put(lambda: self.send_confirmation(user["id"], pending))

    def confirmation_valid(self, token: str) -> bool:
        """Whether a confirmation link can still be used."""
        return (
            bool(token) and len(token) <= 200 and self.people.confirmation(token_hash(token), self._now()) is not None
        )

    def confirm_email(self, token: str) -> dict[str, Any]:
        """Follow a confirmation link: the address becomes the account's; the user."""
        try:
            user_id = self.people.confirm_email(token_hash(token or ""), self._now()) if token else None
        except Conflict as exc:
            raise AccountError("This address was confirmed for another account in the meantime.") from exc
        if user_id is None:
            raise AccountError("This confirmation link has expired or was already used.")
        user = self.people.user(user_id)
        assert user is not None
        return user

    def authenticate(self, login: str, password: str, address: str = "") -> dict[str, Any]:
        """The user whose name or email and password these are; rate-limited per account and address.

        The attempt is counted before the password is checked (in the store, in one transaction),
        so simultaneous guesses cannot all get through; a success forgets the account's failures.
        """
        account_key = f"account:{(login or '').strip().lower()}"
        keys = [account_key] + ([f"address:{address}"] if address else [])
        attempt = self.limiter.take(*keys)
        record = self.people.login_record(login or "") if login else None
        if not verify_password(record["password_hash"] if record else _DUMMY_HASH, password or "") or record is None:
            raise AccountError("Wrong user name or password.", "password")
        self.limiter.forget(account_key, attempt)
        if _hasher.check_needs_rehash(record["password_hash"]):
            self.people.rehash(record["id"], hash_password(password))
        return {k: v for k, v in record.items() if k != "password_hash"}

    def start_session(self, user: dict[str, Any]) -> Session:
        """A new session for a signed-in user."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        expires = now + timedelta(days=self.settings.session_days)
        self.people.create_session(token_hash(token), user["id"], stamp(now), stamp(expires))
        return Session(token, expires, user)

    def session_user(self, token: str | None) -> dict[str, Any] | None:
        """The user behind a session cookie, if it is valid."""
        if not token or len(token) > 200:
            return None
        return self.people.session_user(token_hash(token), self._now())

    def end_session(self, token: str | None) -> None:
        """Sign out."""
        if token:
            self.people.delete_session(token_hash(token))

    def change_password(self, user: dict[str, Any], current: str, new: str, session_token: str | None) -> None:
        """Change a password after checking the current one; other sessions, API tokens, the feed link
        and reset links are revoked."""
        record = self.people.login_record(user["username"])
        attempt = self.limiter.take(f"account:{user['username'].lower()}")  # a stolen session cannot guess on
        if not verify_password(record["password_hash"] if record else _DUMMY_HASH, current or ""):
            raise AccountError("The current password is wrong.", "current")
        self.limiter.forget(ids=attempt)
        self._check_password(new, "new")
        keep = token_hash(session_token) if session_token else None
        self.people.set_password(user["id"], hash_password(new), keep_session=keep)

    @staticmethod
    def _check_password(password: str, field: str = "password") -> None:
        if not password or len(password) < MIN_PASSWORD:
            raise AccountError(f"Passwords need at least {MIN_PASSWORD} characters.", field)
        if len(password) > MAX_PASSWORD:
            raise AccountError("That password is too long.", field)

    # -- password reset -------------------------------------------------------------------
    def request_reset_later(self, email: str) -> None:
        """``request_reset`` off the request thread: the answer takes the same time for every address."""
        self.later.put(lambda: self.request_reset(email))

    def request_reset(self, email: str) -> str | None:
        """Email a reset link if the address has an account; returns the token (None if no account).

        Callers must answer the same either way, so the form does not reveal who is registered.
        """
        user = self.people.user_by_email((email or "").strip()) if email else None
        if not user:
            return None
        token = secrets.token_urlsafe(32)
        expires = self.clock() + timedelta(hours=self.settings.reset_hours)
        self.people.create_reset(token_hash(token), user["id"], stamp(expires))
        link = f"{self.settings.site_url}/reset/{token}"
        text = (
            f"Hello {user['username']},\n\nsomebody (hopefully you) asked to reset your paperboy password.\n"
            f"Open this link within {self.settings.reset_hours} hours to choose a new one:\n\n{link}\n\n"
            "If it was not you, ignore this message: your password stays as it is.\n"
        )
        self.mailer.send(new_message(self.settings, user["email"], "Reset your paperboy password", text))
        return token

    def reset_valid(self, token: str) -> bool:
        """Whether a reset link can still be used."""
        return bool(token) and self.people.reset_user(token_hash(token), self._now()) is not None

    def reset_password(self, token: str, new: str) -> dict[str, Any]:
        """Set a new password with a reset token (works once); every session, API token, feed link and
        other reset link is revoked."""
        self._check_password(new)
        if not self.reset_valid(token):  # no hash for a dead link
            raise AccountError("This reset link has expired or was already used. Ask for a new one.")
        user_id = self.people.use_reset(token_hash(token or ""), hash_password(new), self._now())
        if user_id is None:
            raise AccountError("This reset link has expired or was already used. Ask for a new one.")
        user = self.people.user(user_id)
        assert user is not None
        return user

    # -- API tokens -----------------------------------------------------------------------
    def create_api_token(self, user: dict[str, Any], name: str) -> str:
        """A new personal API token; shown once, only its hash is kept."""
        name = (name or "").strip()[:80] or "token"
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.people.create_token(user["id"], name, token_hash(token), token[:10], self._now())
        return token

    def api_user(self, token: str | None) -> dict[str, Any] | None:
        """The user a bearer token belongs to."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        return self.people.token_user(token_hash(token), self._now())
