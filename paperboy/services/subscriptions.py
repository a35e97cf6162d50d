"""Subscribing to email digests: double opt-in, preferences, unsubscribing, and the signed links.

Links in mail (confirm, preferences, unsubscribe) carry a token ``<id>-<signature>``: an HMAC-SHA256
of the link's purpose, the subscription's id and its random ``link_key``, under the installation's
secret (32 random bytes made on first use, kept in the store so that every web replica agrees).  So a token cannot be
guessed or forged without the secret, is checked without storing it, works only for its purpose
(the unsubscribe link a mail provider sees cannot open the preferences page), and dies with the
subscription (unsubscribing deletes it; a new subscription gets a new ``link_key``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from paperboy.config import Settings
from paperboy.services.accounts import EMAIL, stamp
from paperboy.services.errors import Invalid
from paperboy.services.mail import Mailer, new_message
from paperboy.store import Store
from paperboy.store.people import Conflict

FREQUENCIES = ("daily", "weekly")
SECTIONS = ("following", "trending", "categories", "searches", "similar")
SECTION_LABELS = {
    "following": "From the authors, categories and searches you follow (needs an account with this address)",
    "trending": "Trending: the most upvoted new papers",
    "categories": "New papers in your categories",
    "searches": "Saved searches (keyword alerts)",
    "similar": "Papers like the ones you saved or upvoted (needs an account with this address)",
}
MAX_ITEMS = 20
MAX_CATEGORIES = 20
MAX_SEARCHES = 10
MAX_SEARCH_CHARS = 200
#: A confirmation mail goes to the same address at most this often.
RESEND_AFTER = timedelta(minutes=10)
#: Confirmation links work this long after the last confirmation mail.
CONFIRM_DAYS = 7
PURPOSES = ("confirm", "manage", "unsubscribe")
_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z-]*(\.[A-Za-z][A-Za-z0-9-]*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TOKEN = re.compile(r"^(\d{1,12})-([A-Za-z0-9_-]{20,64})$")


class SubscriptionError(Invalid):
    """Input the subscriber can fix; ``field`` names the form field at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# -- the installation's secret -------------------------------------------------------------------
#: The secret's name in the store.
LINK_KEY = "link-signing"


def installation_secret(settings: Settings, store: Store) -> bytes:
    """The key that signs links: 32 random bytes made on first use and kept in the store, so every
    web replica of the installation signs and checks links alike.

    A home made before the key moved into the store (issue 16) has it in ``<home>/secret.key``:
    that value is adopted on first use, so links already mailed keep working.
    """

    def make() -> str:
        try:
            return bytes.fromhex((Path(settings.home) / "secret.key").read_text().strip()).hex()
        except (FileNotFoundError, ValueError):
            return secrets.token_hex(32)

    return bytes.fromhex(store.secrets.get_or_create(LINK_KEY, make, stamp(datetime.now(UTC))))


class Signer:
    """Signed, purpose-bound links for subscriptions."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, purpose: str, subscriber_id: int, link_key: str) -> str:
        message = f"paperboy-digest:{purpose}:{subscriber_id}:{link_key}".encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def token(self, purpose: str, subscriber: dict[str, Any]) -> str:
        """The token of one of a subscription's links."""
        return f"{subscriber['id']}-{self._mac(purpose, subscriber['id'], subscriber['link_key'])}"

    @staticmethod
    def subscriber_id(token: str) -> int | None:
        """The id a well-formed token names (not yet verified)."""
        match = _TOKEN.match(token or "")
        return int(match.group(1)) if match else None

    def verify(self, purpose: str, token: str, subscriber: dict[str, Any]) -> bool:
        """Whether ``token`` is this subscription's link for ``purpose`` (constant-time comparison)."""
        match = _TOKEN.match(token or "")
        if not match or int(match.group(1)) != subscriber["id"]:
            return False
        expected = self._mac(purpose, subscriber["id"], subscriber["link_key"])
        return hmac.compare_digest(expected.encode(), match.group(2).encode())


# -- preferences ------------------------------------------------------------------------------------
def _split(values: str | Iterable[str] | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = re.split(r"[\s,]+", values)
    return [v.strip() for v in values if v and v.strip()]


def clean_preferences(
    frequency: str | None = None,
    sections: Iterable[str] | None = None,
    items: int | str | None = None,
    categories: str | Iterable[str] | None = None,
    searches: str | Iterable[str] | None = None,
) -> dict[str, Any]:
    """Validated preferences (only the ones given); raises ``SubscriptionError`` naming the field."""
    out: dict[str, Any] = {}
    if frequency is not None:
        if frequency not in FREQUENCIES:
            raise SubscriptionError("Choose daily or weekly.", "frequency")
        out["frequency"] = frequency
    if sections is not None:
        chosen = set(sections)
        unknown = chosen - set(SECTIONS)
        if unknown:
            raise SubscriptionError(f"Unknown section: {sorted(unknown)[0][:40]}", "sections")
        if not chosen:
            raise SubscriptionError("Choose at least one section (or unsubscribe).", "sections")
        out["sections"] = [s for s in SECTIONS if s in chosen]
    if items is not None:
        try:
            n = int(items)
        except (TypeError, ValueError) as exc:
            raise SubscriptionError("The number of papers must be a number.", "items") from exc
        if not 1 <= n <= MAX_ITEMS:
            raise SubscriptionError(f"Choose between 1 and {MAX_ITEMS} papers per section.", "items")
        out["items"] = n
    if categories is not None:
        cats = list(dict.fromkeys(_split(categories)))
        bad = [c for c in cats if len(c) > 32 or not _CATEGORY.match(c)]
        if bad:
            example = "e.g. cs.LG, or cs for all of cs"
            raise SubscriptionError(f"Not an arXiv category: {bad[0][:40]!r} ({example}).", "categories")
        if len(cats) > MAX_CATEGORIES:
            raise SubscriptionError(f"At most {MAX_CATEGORIES} categories.", "categories")
        out["categories"] = cats
    if searches is not None:
        lines = searches.splitlines() if isinstance(searches, str) else list(searches)
        kept = list(dict.fromkeys(_CONTROL.sub(" ", line).strip() for line in lines if line and line.strip()))
        if any(len(s) > MAX_SEARCH_CHARS for s in kept):
            raise SubscriptionError(f"Saved searches are at most {MAX_SEARCH_CHARS} characters.", "searches")
        if len(kept) > MAX_SEARCHES:
            raise SubscriptionError(f"At most {MAX_SEARCHES} saved searches.", "searches")
        out["searches"] = kept
    return out


def default_preferences(settings: Settings) -> dict[str, Any]:
    """What a new subscription receives until its owner says otherwise."""
    return {
        "frequency": "daily",
        "sections": list(SECTIONS),
        "items": max(1, min(settings.digest_items, MAX_ITEMS)),
        "categories": [],
        "searches": [],
    }


def normalize_email(email: str) -> str:
    """An address as stored (trimmed, lower case); ``SubscriptionError`` when it is not one."""
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 255:
        raise SubscriptionError("That does not look like an email address.", "email")
    if not email.isascii():  # digests go out without SMTPUTF8
        raise SubscriptionError("Please use the ASCII form of your address (xn--… for the domain).", "email")
    return email


# -- the service ------------------------------------------------------------------------------------
@dataclass
class Links:
    """A subscription's signed links, as absolute URLs."""

    confirm: str
    manage: str
    unsubscribe: str


class Subscribing:
    """Everything about subscriptions that needs a rule, a secret or a mail."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        mailer: Mailer | None = None,
    ) -> None:
        self.store = store
        self.subs = store.subscriptions
        self.settings = settings
        self.clock = clock
        self.mailer = mailer or Mailer(settings)
        self.signer = Signer(installation_secret(settings, store))

    def links(self, subscriber: dict[str, Any]) -> Links:
        """The confirmation, preferences and unsubscribe URLs of a subscription."""
        base = self.settings.site_url
        return Links(
            confirm=f"{base}/subscribe/confirm/{self.signer.token('confirm', subscriber)}",
            manage=f"{base}/subscriptions/{self.signer.token('manage', subscriber)}",
            unsubscribe=f"{base}/unsubscribe/{self.signer.token('unsubscribe', subscriber)}",
        )

    def lookup(self, purpose: str, token: str) -> dict[str, Any] | None:
        """The subscription a link is for, when its signature is right."""
        subscriber_id = Signer.subscriber_id(token)
        if subscriber_id is None:
            return None
        subscriber = self.subs.get(subscriber_id)
        if subscriber is None or not self.signer.verify(purpose, token, subscriber):
            return None
        return subscriber

    # -- double opt-in ------------------------------------------------------------------------
    def subscribe(self, email: str) -> dict[str, Any]:
        """Start (or restart) a subscription and mail its confirmation link.

        Whatever the address's state, the caller answers the same ("check your inbox"), so the form
        tells nobody who is subscribed: a pending address gets the link again, a confirmed one a
        note with its preferences link, at most once every ``RESEND_AFTER``.
        """
        email = normalize_email(email)
        now = self.clock()
        subscriber = self.subs.by_email(email)
        if subscriber is None:
            try:
                self.subs.create(email, secrets.token_hex(16), stamp(now), **default_preferences(self.settings))
            except Conflict:  # created meanwhile by a second request: treat as existing
                pass
            subscriber = self.subs.by_email(email)
            assert subscriber is not None
        elif subscriber["bounced"]:
            self.subs.restart(subscriber["id"], secrets.token_hex(16))
            subscriber = self.subs.get(subscriber["id"]) or subscriber
        last = subscriber.get("confirm_sent_at")
        if last and now - _parse(last) < RESEND_AFTER:
            return subscriber
        self.mailer.send(self._confirmation_mail(subscriber))
        self.subs.confirmation_sent(subscriber["id"], stamp(now))
        return subscriber

    def _confirmation_mail(self, subscriber: dict[str, Any]) -> Any:
        links = self.links(subscriber)
        if subscriber["confirmed"]:
            subject = "Your paperboy digest subscription"
            text = (
                "Hello,\n\nsomebody (hopefully you) asked to subscribe this address to paperboy's paper digests.\n"
                "It is already subscribed. To change what you receive, or to unsubscribe, open:\n\n"
                f"{links.manage}\n\nIf it was not you, you can ignore this message.\n"
            )
        else:
            subject = "Confirm your paperboy digest subscription"
            text = (
                "Hello,\n\nsomebody (hopefully you) asked to send paperboy's paper digests to this address.\n"
                f"To confirm, open this link within {CONFIRM_DAYS} days:\n\n{links.confirm}\n\n"
                "If it was not you, ignore this message: nothing will be sent without confirmation.\n"
            )
        return new_message(self.settings, subscriber["email"], subject, text)

    def confirm(self, token: str) -> dict[str, Any] | None:
        """Confirm by a link (idempotent); the subscription, or None when the link is wrong or expired."""
        subscriber = self.lookup("confirm", token)
        if subscriber is None:
            return None
        if not subscriber["confirmed"] or subscriber["bounced"]:
            sent_at = subscriber.get("confirm_sent_at")
            if sent_at and self.clock() - _parse(sent_at) > timedelta(days=CONFIRM_DAYS):
                return None
            self.subs.confirm(subscriber["id"], stamp(self.clock()))
            subscriber = self.subs.get(subscriber["id"])
        return subscriber

    # -- preferences and leaving --------------------------------------------------------------
    def update(self, subscriber: dict[str, Any], **prefs: Any) -> dict[str, Any]:
        """Change preferences (validated); the subscription as it is now."""
        self.subs.set_preferences(subscriber["id"], **clean_preferences(**prefs))
        updated = self.subs.get(subscriber["id"])
        assert updated is not None
        return updated

    def unsubscribe(self, token: str) -> bool:
        """Delete the subscription a valid unsubscribe link names; False when the link is not valid."""
        subscriber = self.lookup("unsubscribe", token)
        return subscriber is not None and self.subs.delete(subscriber["id"])

    def add_confirmed(self, email: str, **prefs: Any) -> dict[str, Any]:
        """A confirmed subscription without the opt-in mail (admins, from the command line)."""
        email = normalize_email(email)
        values = {**default_preferences(self.settings), **clean_preferences(**prefs)}
        now = stamp(self.clock())
        existing = self.subs.by_email(email)
        if existing is None:
            self.subs.create(email, secrets.token_hex(16), now, confirmed=True, **values)
        else:
            self.subs.confirm(existing["id"], now)
            self.subs.set_preferences(existing["id"], **clean_preferences(**prefs))
        subscriber = self.subs.by_email(email)
        assert subscriber is not None
        return subscriber


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
