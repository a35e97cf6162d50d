"""Accounts in the store: users, sign-in sessions, API tokens and password-reset tokens.

Only hashes of secrets are stored (argon2 for passwords, SHA-256 for random tokens); making
and checking them is the accounts service's job, so this module never sees a secret.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore
from paperboy.store.rows import as_dict

_PUBLIC = (
    t.users.c.id,
    t.users.c.username,
    t.users.c.email,
    t.users.c.email_pending,
    t.users.c.is_admin,
    t.users.c.created_at,
)


class Conflict(ValueError):
    """A unique value (user name, email) is already taken."""


def _revoke(conn: Any, user_id: int, keep_session: str | None) -> None:
    """End a user's sessions (but ``keep_session``), API tokens, feed link and unused reset links.

    Why all of them: whoever knew the old password may have made any of them, and the owner
    changing or resetting it is how they take the account back.
    """
    sessions = delete(t.sessions).where(t.sessions.c.user_id == user_id)
    if keep_session:
        sessions = sessions.where(t.sessions.c.token_hash != keep_session)
    conn.execute(sessions)
    conn.execute(delete(t.api_tokens).where(t.api_tokens.c.user_id == user_id))
    conn.execute(delete(t.feed_tokens).where(t.feed_tokens.c.user_id == user_id))
    conn.execute(delete(t.password_resets).where(t.password_resets.c.user_id == user_id))


class People:
    """Reads and writes of the account tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- users ---------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        email: str,
        password_hash: str,
        now: str,
        is_admin: bool = False,
        first_is_admin: bool = False,
        email_confirmed: bool = True,
    ) -> int:
        """A new user's id; ``Conflict`` names the field already taken.

        ``email_confirmed=False`` keeps the address as ``email_pending`` until its link is
        followed: it then claims nothing, so it can never conflict (nor tell who has it).

        ``first_is_admin``: the account becomes an admin if it is the store's first.  That is
        decided in the insert's transaction by claiming the ``first_user`` counter row (a primary
        key, so exactly one account ever wins it, however many sign up at the same moment).
        """
        row = {
            "username": username,
            "username_key": username.lower(),
            "email": email.lower() if email_confirmed else None,
            "email_pending": None if email_confirmed else email.lower(),
            "password_hash": password_hash,
            "is_admin": is_admin,
            "created_at": now,
        }
        try:
            with self.engine.begin() as conn:
                user_id = conn.execute(insert(t.users).values(row)).inserted_primary_key[0]
                if first_is_admin and not is_admin:
                    claim = {"name": "first_user", "value": user_id}
                    if insert_ignore(conn, t.counters, [claim], ["name"]) == 1:
                        conn.execute(update(t.users).where(t.users.c.id == user_id).values(is_admin=True))
                return user_id
        except IntegrityError as exc:
            text = str(exc.orig).lower()
            raise Conflict("email" if "email" in text else "username") from exc

    def count_users(self) -> int:
        """How many accounts exist (the first one becomes the admin)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.users)).scalar_one()

    def user(self, user_id: int) -> dict[str, Any] | None:
        """A user's public fields by id."""
        return self._one(select(*_PUBLIC).where(t.users.c.id == user_id))

    def user_by_name(self, username: str) -> dict[str, Any] | None:
        """A user's public fields by user name (any case)."""
        return self._one(select(*_PUBLIC).where(t.users.c.username_key == username.lower()))

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        """A user's public fields by email (any case)."""
        return self._one(select(*_PUBLIC).where(t.users.c.email == email.lower()))

    def login_record(self, name_or_email: str) -> dict[str, Any] | None:
        """The user (with password hash) a sign-in form names, by user name or email."""
        key = name_or_email.strip().lower()
        column = t.users.c.email if "@" in key else t.users.c.username_key
        return self._one(select(t.users).where(column == key))

    def set_password(self, user_id: int, password_hash: str, keep_session: str | None = None) -> None:
        """Replace a password and revoke every credential made under the old one but ``keep_session``
        (the session that changed it): other sessions, API tokens, the private feed link, reset links."""
        with self.engine.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash))
            _revoke(conn, user_id, keep_session)

    def rehash(self, user_id: int, password_hash: str) -> None:
        """Store the same password's hash with newer parameters (nothing is revoked)."""
        with self.engine.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash))

    def set_admin(self, user_id: int, is_admin: bool) -> None:
        """Grant or withdraw the admin role."""
        with self.engine.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(is_admin=is_admin))

    # -- sessions ------------------------------------------------------------------------
    def create_session(self, token_hash: str, user_id: int, now: str, expires_at: str) -> None:
        """Record a signed-in session (and drop this user's expired ones)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.user_id == user_id, t.sessions.c.expires_at < now))
            row = {"token_hash": token_hash, "user_id": user_id, "created_at": now, "expires_at": expires_at}
            conn.execute(insert(t.sessions).values(row))

    def session_user(self, token_hash: str, now: str) -> dict[str, Any] | None:
        """The user an unexpired session belongs to."""
        s = t.sessions.c
        query = (
            select(*_PUBLIC)
            .join(t.sessions, s.user_id == t.users.c.id)
            .where(s.token_hash == token_hash, s.expires_at > now)
        )
        return self._one(query)

    def delete_session(self, token_hash: str) -> None:
        """Sign a session out."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.sessions).where(t.sessions.c.token_hash == token_hash))

    # -- API tokens ----------------------------------------------------------------------
    def create_token(self, user_id: int, name: str, token_hash: str, prefix: str, now: str) -> int:
        """Store a new personal API token; returns its id."""
        row = {"user_id": user_id, "name": name, "token_hash": token_hash, "prefix": prefix, "created_at": now}
        with self.engine.begin() as conn:
            return conn.execute(insert(t.api_tokens).values(row)).inserted_primary_key[0]

    def tokens(self, user_id: int) -> list[dict[str, Any]]:
        """A user's tokens (without hashes), newest first."""
        c = t.api_tokens.c
        query = (
            select(c.id, c.name, c.prefix, c.created_at, c.last_used_at)
            .where(c.user_id == user_id)
            .order_by(c.id.desc())
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def delete_token(self, user_id: int, token_id: int) -> bool:
        """Revoke one of a user's tokens; False when it is not theirs."""
        c = t.api_tokens.c
        with self.engine.begin() as conn:
            return conn.execute(delete(t.api_tokens).where(c.id == token_id, c.user_id == user_id)).rowcount > 0

    def token_user(self, token_hash: str, now: str) -> dict[str, Any] | None:
        """The user an API token belongs to (noting when it was last used)."""
        c = t.api_tokens.c
        user = self._one(
            select(*_PUBLIC).join(t.api_tokens, c.user_id == t.users.c.id).where(c.token_hash == token_hash)
        )
        if user:
            with self.engine.begin() as conn:
                conn.execute(update(t.api_tokens).where(c.token_hash == token_hash).values(last_used_at=now))
        return user

    # -- email confirmation ----------------------------------------------------------------
    def create_confirmation(self, token_hash: str, user_id: int, email: str, expires_at: str) -> None:
        """Remember an emailed confirmation link's token."""
        row = {"token_hash": token_hash, "user_id": user_id, "email": email.lower(), "expires_at": expires_at}
        with self.engine.begin() as conn:
            conn.execute(insert(t.email_confirmations).values(row))

    def confirmation(self, token_hash: str, now: str) -> dict[str, Any] | None:
        """An unused, unexpired confirmation: ``{user_id, email}``."""
        c = t.email_confirmations.c
        query = select(c.user_id, c.email).where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
        return self._one(query)

    def confirm_email(self, token_hash: str, now: str) -> int | None:
        """Make a confirmation's address its account's (once); the user id, or None if not valid.

        ``Conflict`` when another account confirmed the same address first.
        """
        c, u = t.email_confirmations.c, t.users.c
        try:
            with self.engine.begin() as conn:
                spent = conn.execute(
                    update(t.email_confirmations)
                    .where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
                    .values(used_at=now)
                )
                if spent.rowcount != 1:
                    return None
                user_id, email = conn.execute(select(c.user_id, c.email).where(c.token_hash == token_hash)).one()
                mine = update(t.users).where(u.id == user_id)
                conn.execute(mine.values(email=email))
                conn.execute(mine.where(u.email_pending == email).values(email_pending=None))
                return user_id
        except IntegrityError as exc:
            raise Conflict("email") from exc

    # -- password resets -----------------------------------------------------------------
    def create_reset(self, token_hash: str, user_id: int, expires_at: str) -> None:
        """Remember a reset link's token until it expires or is used."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(t.password_resets).values(token_hash=token_hash, user_id=user_id, expires_at=expires_at)
            )

    def reset_user(self, token_hash: str, now: str) -> int | None:
        """The user an unused, unexpired reset token is for."""
        c = t.password_resets.c
        query = select(c.user_id).where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()

    def use_reset(self, token_hash: str, password_hash: str, now: str) -> int | None:
        """Spend a reset token on a new password, ending every session; the user id, or None if not valid.

        The token is marked used in the same transaction as the password change, so it works once.
        """
        c = t.password_resets.c
        with self.engine.begin() as conn:
            spent = conn.execute(
                update(t.password_resets)
                .where(c.token_hash == token_hash, c.used_at.is_(None), c.expires_at > now)
                .values(used_at=now)
            )
            if spent.rowcount != 1:
                return None
            user_id = conn.execute(select(c.user_id).where(c.token_hash == token_hash)).scalar_one()
            conn.execute(update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash))
            _revoke(conn, user_id, None)
            return user_id

    def _one(self, query: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return as_dict(row) if row else None
