"""Following authors, categories, saved searches and topics, and the papers that come of it.

Every followable thing is a *kind* (``KINDS``): how a value typed or linked is checked and turned
into the stored ``(target, label)``, where its page is, and how its papers are found.  Authors are
followed by their author key (so every spelling of one person counts, as on the author page),
categories in lower case (``cs`` is every ``cs.*``), searches by their text (run through the
keyword index, as the digests' keyword alerts are) and topics by their id.  Adding a kind is adding
one ``Kind`` here; nothing in the store changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from paperboy.config import Settings
from paperboy.indices.query import parse_query
from paperboy.services.accounts import stamp
from paperboy.services.errors import Conflict, Invalid, NotFound, ServiceError
from paperboy.sources.normalize import author_key
from paperboy.store import Store

#: Most things one user may follow.
MAX_FOLLOWS = 500
MAX_LABEL = 200
#: Days of papers the Following page and feed show.
WINDOW_DAYS = 30
#: Keyword hits read per followed search.
SEARCH_DEPTH = 200
_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z-]*(\.[A-Za-z][A-Za-z0-9-]*)?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACES = re.compile(r"\s+")


def _text(value: str | None, what: str) -> str:
    text = _SPACES.sub(" ", _CONTROL.sub(" ", value or "")).strip()
    if not text:
        raise Invalid(f"Say which {what} to follow.")
    if len(text) > MAX_LABEL:
        raise Invalid(f"A {what} to follow is at most {MAX_LABEL} characters.")
    return text


@dataclass(frozen=True)
class Kind:
    """One kind of followable thing."""

    name: str
    #: Shown in lists: "Authors", "Categories".
    title: str
    #: ``value -> (target, label)``; raises ``ServiceError`` for values that cannot be followed.
    normalize: Callable[[str], tuple[str, str]]
    #: ``(target, label) -> the thing's page``.
    url: Callable[[str, str], str]


def _author(value: str) -> tuple[str, str]:
    label = _text(value, "author")
    key = author_key(label)
    if not key:
        raise Invalid("That author name has no letters or digits to go by.")
    return key, label


def _category(value: str) -> tuple[str, str]:
    label = _text(value, "category")
    if not _CATEGORY.match(label) or len(label) > 32:
        raise Invalid(f"“{label[:40]}” is not an arXiv category (like cs.LG, or cs for all of cs).")
    return label.lower(), label


def _search(value: str) -> tuple[str, str]:
    label = _text(value, "search")
    return label, label


def _topic(value: str) -> tuple[str, str]:
    label = _text(value, "topic")
    if not label.isdigit() or len(label) > 9:
        raise Invalid("A topic is followed by its number.")
    return str(int(label)), label


KINDS: dict[str, Kind] = {
    "author": Kind("author", "Authors", _author, lambda target, label: "/authors/" + quote(label, safe="")),
    "category": Kind("category", "Categories", _category, lambda target, label: "/search?" + urlencode({"cat": label})),
    "search": Kind("search", "Saved searches", _search, lambda target, label: "/search?" + urlencode({"q": label})),
}
#: Topics (issue 17): followed by id, shown by the label they had when followed.
KINDS["topic"] = Kind("topic", "Topics", _topic, lambda target, label: f"/topics/{target}")


def kind(name: str) -> Kind:
    """The kind called ``name``; ``ServiceError`` for anything else."""
    found = KINDS.get(name)
    if found is None:
        raise ServiceError(f"Only {', '.join(sorted(KINDS))} can be followed.")
    return found


@dataclass
class Found:
    """A paper that came from what a user follows, and why (the followed things it matched)."""

    paper: dict[str, Any]
    why: list[str]


class FollowService:
    """Follow and unfollow with their rules, and the papers of what a user follows.

    ``keyword``: a callable giving the keyword index (or None), for followed searches.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        keyword: Callable[[], Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.follows = store.follows
        self.settings = settings
        self.keyword = keyword or (lambda: None)
        self.clock = clock

    # -- following ------------------------------------------------------------------------
    def follow(self, user: dict[str, Any], kind_name: str, value: str) -> dict[str, Any]:
        """Follow a thing; returns ``{kind, target, label, url, new}``."""
        k = kind(kind_name)
        target, label = k.normalize(value)
        if k.name == "author" and not self.store.papers_by_author(label, limit=1):
            raise NotFound(f"no papers by {label!r} here")
        if k.name == "topic":
            topic = next((x for x in self.store.topics.topics() if str(x["id"]) == target), None)
            if topic is None:
                raise NotFound(f"no topic {target}")
            label = str(topic["label"])[:MAX_LABEL] or f"topic {target}"
        made = self.follows.follow(user["id"], k.name, target, label, stamp(self.clock()), MAX_FOLLOWS)
        if made is None:
            raise Conflict(f"You follow {MAX_FOLLOWS} things, the most there can be. Unfollow some first.")
        return {"kind": k.name, "target": target, "label": label, "url": k.url(target, label), "new": made}

    def unfollow(self, user: dict[str, Any], kind_name: str, value: str) -> bool:
        k = kind(kind_name)
        target, _ = k.normalize(value)
        return self.follows.unfollow(user["id"], k.name, target)

    def is_following(self, user: dict[str, Any] | None, kind_name: str, value: str) -> bool:
        if user is None:
            return False
        try:
            k = kind(kind_name)
            target, _ = k.normalize(value)
        except ServiceError:
            return False
        return bool(self.follows.following(user["id"], k.name, [target]))

    def followers(self, kind_name: str, value: str) -> int:
        """How many users follow this (0 for what cannot be followed)."""
        try:
            k = kind(kind_name)
            target, _ = k.normalize(value)
        except ServiceError:
            return 0
        return self.follows.followers(k.name, target)

    def listing(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        """What the user follows, each with its page: ``{kind, title, items: [{target, label, url}]}``."""
        rows = self.follows.of_user(user["id"])
        out = []
        for k in KINDS.values():
            items = [{**r, "url": k.url(r["target"], r["label"])} for r in rows if r["kind"] == k.name]
            if items:
                out.append({"kind": k.name, "title": k.title, "items": items})
        return out

    # -- their papers ----------------------------------------------------------------------
    def since_day(self) -> str:
        """The first announcement day the Following page shows (counted from the newest day held)."""
        latest = self.store.activity.latest_day()
        end = date.fromisoformat(latest) if latest else self.clock().date()
        return (end - timedelta(days=WINDOW_DAYS)).isoformat()

    def papers(self, user: dict[str, Any], limit: int = 50, since: str | None = None) -> list[Found]:
        """New papers from what the user follows, newest first, each with the followed things it matched."""
        rows = self.follows.of_user(user["id"])
        hits = matches(self.store, rows, since or self.since_day(), self.keyword())
        ids = sorted(hits, key=lambda pid: hits[pid][0], reverse=True)[: max(limit * 2, limit)]
        papers = self.store.activity.listed(ids)
        papers.sort(key=lambda p: (p.get("announced") or "", p["id"]), reverse=True)
        return [Found(p, hits[p["id"]][1]) for p in papers[:limit]]


def matches(store: Store, rows: list[dict[str, Any]], since: str, keyword: Any) -> dict[str, tuple[str, list[str]]]:
    """``{paper id: (announced, [why])}`` of visible papers announced on or after ``since`` that
    match any followed thing in ``rows`` (``{kind, target, label}``); shared by the Following page,
    its feed and the digests' "from what you follow" section."""
    out: dict[str, tuple[str, list[str]]] = {}
    labels = {(r["kind"], r["target"]): r["label"] for r in rows}

    def add(pid: str, why: str) -> None:
        day, reasons = out.get(pid, ("", []))
        if why not in reasons:
            reasons.append(why)
        out[pid] = (day, reasons)

    authors = [r["target"] for r in rows if r["kind"] == "author"]
    for pid, key in store.follows.author_papers(authors, since):
        add(pid, labels[("author", key)])
    categories = [r["target"] for r in rows if r["kind"] == "category"]
    for pid, cat in store.follows.category_papers(categories, since):
        add(pid, labels[("category", cat)])
    if keyword is not None:
        for r in rows:
            if r["kind"] == "search":
                for hit in keyword.search(parse_query(r["target"], since=since), limit=SEARCH_DEPTH, every_word=True):
                    add(hit.id, f"“{r['label']}”")
    for r in rows:
        if r["kind"] == "topic":
            for pid in _topic_papers(store, r["target"], since):
                add(pid, r["label"])
    days = {p["id"]: p.get("announced") or "" for p in store.get_papers(list(out))}
    return {pid: (days[pid], why) for pid, (_, why) in out.items() if pid in days and days[pid] >= since}


def _topic_papers(store: Store, target: str, since: str) -> list[str]:
    """A topic's newest papers (the caller keeps those announced since ``since``)."""
    return store.topics.topic_papers(int(target), limit=SEARCH_DEPTH)
