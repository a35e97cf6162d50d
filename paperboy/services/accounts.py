"""Accounts: registration, sign-in with rate limits, sessions, API tokens and password resets.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults, rehashed when they change).
Session, API and reset tokens are 256-bit random values from ``secrets``; the store keeps only
their SHA-256, so reading the database gives nobody a way in.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from paperboy.config import Settings
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
    """Sign-in refused for a while after repeated failures."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed sign-ins. Try again in {max(retry_after // 60, 1)} minute(s).")
        self.retry_after = retry_after


def stamp(moment: datetime) -> str:
    """A time as the store keeps it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_hash(token: str) -> str:
    """What the store keeps of a random token."""
    return hashlib.sha256(token.encode()).hexdigest()


class LoginLimiter:
    """Counts failed sign-ins per key (account, address) in a sliding window; thread-safe.

    Kept in memory: the embedded install is one process, and a restart forgetting the count
    costs an attacker a restart per five guesses, which they cannot cause.
    """

    def __init__(self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, *keys: str) -> int:
        """Seconds until ``keys`` may try again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if not times:
                    continue
                while times and now - times[0] > self.window:
                    times.popleft()
                if len(times) >= self.max_failures:
                    wait = max(wait, self.window - (now - times[0]))
        return int(wait) + (1 if wait else 0)

    def failed(self, *keys: str) -> None:
        """Note one failure for each key."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > 100_000:  # bound memory under a spray of names
                self._failures.clear()
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """Forget an account's failures once its owner gets in."""
        with self._lock:
            self._failures.pop(key, None)


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
        self.limiter = LoginLimiter(settings.login_max_failures, settings.login_window)
        self.mailer = Mailer(settings)

    def _now(self) -> str:
        return stamp(self.clock())

    # -- registration and sign-in ---------------------------------------------------------
    def register(self, username: str, email: str, password: str) -> dict[str, Any]:
        """Create an account (the very first one is an admin); raises ``AccountError``."""
        username, email = (username or "").strip(), (email or "").strip()
        if not USERNAME.match(username):
            raise AccountError(
                "User names are 2-40 letters, digits, '.', '_' or '-', starting with a letter or digit.", "username"
            )
        if not EMAIL.match(email) or len(email) > 255:
            raise AccountError("That does not look like an email address.", "email")
        self._check_password(password)
        try:  # whether this is the first account (the admin) is decided inside the insert
            user_id = self.people.create_user(username, email, _hasher.hash(password), self._now(), first_is_admin=True)
        except Conflict as exc:
            field = str(exc)
            raise AccountError(
                f"That {'email address' if field == 'email' else 'user name'} is already registered.", field
            ) from exc
        user = self.people.user(user_id)
        assert user is not None
        return user

    def authenticate(self, login: str, password: str, address: str = "") -> dict[str, Any]:
        """The user whose name or email and password these are; rate-limited per account and address."""
        account_key = f"account:{(login or '').strip().lower()}"
        keys = [account_key] + ([f"address:{address}"] if address else [])
        wait = self.limiter.retry_after(*keys)
        if wait:
            raise TooManyAttempts(wait)
        record = self.people.login_record(login or "") if login else None
        try:
            _hasher.verify(record["password_hash"] if record else _DUMMY_HASH, password or "")
        except (VerificationError, InvalidHashError):
            record = None
        if record is None:
            self.limiter.failed(*keys)
            raise AccountError("Wrong user name or password.", "password")
        self.limiter.succeeded(account_key)
        if _hasher.check_needs_rehash(record["password_hash"]):
            self.people.set_password(record["id"], _hasher.hash(password), keep_session=None)
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
        """Change a password after checking the current one; other sessions are signed out."""
        record = self.people.login_record(user["username"])
        try:
            _hasher.verify(record["password_hash"] if record else _DUMMY_HASH, current or "")
        except (VerificationError, InvalidHashError) as exc:
            raise AccountError("The current password is wrong.", "current") from exc
        self._check_password(new, "new")
        keep = token_hash(session_token) if session_token else None
        self.people.set_password(user["id"], _hasher.hash(new), keep_session=keep)

    @staticmethod
    def _check_password(password: str, field: str = "password") -> None:
        if not password or len(password) < MIN_PASSWORD:
            raise AccountError(f"Passwords need at least {MIN_PASSWORD} characters.", field)
        if len(password) > MAX_PASSWORD:
            raise AccountError("That password is too long.", field)

    # -- password reset -------------------------------------------------------------------
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
        link = f"{self.settings.base_url.rstrip('/')}/reset/{token}"
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
        """Set a new password with a reset token (works once); every session is signed out."""
        self._check_password(new)
        user_id = self.people.use_reset(token_hash(token or ""), _hasher.hash(new), self._now())
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
