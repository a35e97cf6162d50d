"""A signed-in user's library: collections, saving, "not interested", imports and exports, feed links.

Every write is checked here, whatever the page showed: collections belong to one user, papers
must be visible, names are short and unique per user.  Imports match each entry of a BibTeX, RIS
or Zotero CSV file to a stored paper by arXiv id, then DOI, then normalized title, and report the
entries that matched nothing with their place in the file.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from paperboy.config import Settings
from paperboy.services.accounts import stamp
from paperboy.services.errors import Conflict, Invalid, NotFound, TooLarge
from paperboy.sources.library_files import LibraryFileError, Reference, parse_library, to_bibtex
from paperboy.sources.normalize import title_key
from paperboy.store import Store
from paperboy.store.library import NOT_INTERESTED, DuplicateName

DEFAULT_COLLECTION = "Saved"
MAX_NAME = 100
MAX_COLLECTIONS = 200
#: Feed-link tokens start with this, so a leaked one is recognisable.
FEED_TOKEN_PREFIX = "pf_"


@dataclass
class Match:
    """An imported entry and the stored paper it matched (``how``: arXiv id, DOI or title)."""

    reference: Reference
    paper_id: str
    how: str


@dataclass
class ImportReport:
    """What an import did."""

    format: str
    collection: dict[str, Any]
    entries: int
    matched: list[Match] = field(default_factory=list)
    #: Papers newly put in the collection (matched ones already there are not counted).
    added: int = 0
    unmatched: list[Reference] = field(default_factory=list)
    #: Entries that could not be read: ``(place, reason)``.
    problems: list[tuple[str, str]] = field(default_factory=list)

    @property
    def by(self) -> dict[str, int]:
        """Matches per way of matching."""
        return dict(Counter(m.how for m in self.matched))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def clean_name(name: str | None) -> str:
    """A collection name as kept: white space collapsed; ``Invalid`` when empty or too long."""
    text = " ".join((name or "").split())
    if not text:
        raise Invalid("A collection needs a name.")
    if len(text) > MAX_NAME:
        raise Invalid(f"Collection names are limited to {MAX_NAME} characters.")
    return text


class LibraryService:
    """Collections, feedback, imports, exports and private feed links, with their rules."""

    def __init__(
        self, store: Store, settings: Settings, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.library = store.library
        self.settings = settings
        self.clock = clock

    def _now(self) -> str:
        return stamp(self.clock())

    # -- collections -----------------------------------------------------------------------------
    def collections(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        """The user's collections with their sizes."""
        return self.library.collections(user["id"])

    def collection(self, user: dict[str, Any], collection_id: int) -> dict[str, Any]:
        """One of the user's collections; ``NotFound`` for anybody else's (as if it did not exist)."""
        found = self.library.collection(user["id"], collection_id)
        if found is None:
            raise NotFound(f"no collection {collection_id} of yours")
        return found

    def create_collection(self, user: dict[str, Any], name: str) -> dict[str, Any]:
        """A new, empty collection."""
        name = clean_name(name)
        if len(self.library.collections(user["id"])) >= MAX_COLLECTIONS:
            raise Invalid(f"You have {MAX_COLLECTIONS} collections, the most there can be.")
        try:
            cid = self.library.create_collection(user["id"], name, self._now())
        except DuplicateName as exc:
            raise Conflict(f"You already have a collection called “{name}”.") from exc
        return self.collection(user, cid)

    def rename_collection(self, user: dict[str, Any], collection_id: int, name: str) -> dict[str, Any]:
        self.collection(user, collection_id)
        name = clean_name(name)
        try:
            self.library.rename_collection(collection_id, name)
        except DuplicateName as exc:
            raise Conflict(f"You already have a collection called “{name}”.") from exc
        return self.collection(user, collection_id)

    def delete_collection(self, user: dict[str, Any], collection_id: int) -> None:
        """Delete a collection (its papers stay in the store and in other collections)."""
        self.collection(user, collection_id)
        self.library.delete_collection(collection_id)

    def _target(self, user: dict[str, Any], collection_id: int | None, name: str | None) -> dict[str, Any]:
        """The collection a save goes to: by id, else by name (made if new), else the default one."""
        if collection_id:
            return self.collection(user, collection_id)
        name = clean_name(name) if name and name.strip() else DEFAULT_COLLECTION
        existing = self.library.collection_by_name(user["id"], name)
        if existing is None and len(self.library.collections(user["id"])) >= MAX_COLLECTIONS:
            raise Invalid(f"You have {MAX_COLLECTIONS} collections, the most there can be.")
        cid = existing["id"] if existing else self.library.ensure_collection(user["id"], name, self._now())
        return self.collection(user, cid)

    # -- saving and feedback -----------------------------------------------------------------------
    def _visible(self, user: dict[str, Any], paper_id: str) -> dict[str, Any]:
        found = self.store.activity.listed([paper_id], include_hidden=bool(user.get("is_admin")))
        if not found:
            raise NotFound(f"no paper {paper_id!r}")
        return found[0]

    def save(
        self, user: dict[str, Any], paper_id: str, collection_id: int | None = None, new_name: str | None = None
    ) -> dict[str, Any]:
        """Save a paper into a collection (the default "Saved" one unless told); returns the collection.

        Saving also withdraws a "not interested" mark on the paper: the user changed their mind.
        """
        paper = self._visible(user, paper_id)
        target = self._target(user, collection_id, new_name)
        self.library.add_items(target["id"], [paper["id"]], self._now())
        self.library.clear_feedback(user["id"], paper["id"])
        return target

    def unsave(self, user: dict[str, Any], paper_id: str, collection_id: int | None = None) -> int:
        """Take a paper out of one collection, or out of all of them; returns from how many."""
        if collection_id:
            self.collection(user, collection_id)
            return self.library.remove_items(collection_id, [paper_id])
        return self.library.unsave(user["id"], paper_id)

    def not_interested(self, user: dict[str, Any], paper_id: str, on: bool = True) -> bool:
        """Mark a paper "not interested" (never recommended again, and a negative example), or undo it."""
        if not on:
            return self.library.clear_feedback(user["id"], paper_id)
        paper = self._visible(user, paper_id)
        self.library.set_feedback(user["id"], paper["id"], NOT_INTERESTED, self._now())
        return True

    def marks(self, user: dict[str, Any], ids: list[str] | None = None) -> tuple[set[str], set[str]]:
        """(saved, "not interested") among ``ids`` (all of them when None): what the buttons show."""
        return self.library.saved_ids(user["id"], ids), self.library.feedback_ids(user["id"], NOT_INTERESTED, ids)

    def papers(self, user: dict[str, Any], collection_id: int, limit: int = 200, offset: int = 0) -> list[dict]:
        """A collection's papers (listed, with votes), latest saved first."""
        self.collection(user, collection_id)
        ids = self.library.collection_paper_ids(collection_id, limit, offset)
        return self.store.activity.listed(ids, include_hidden=bool(user.get("is_admin")))

    def dismissed(self, user: dict[str, Any], limit: int = 200) -> list[dict[str, Any]]:
        """Papers the user marked "not interested", latest first."""
        ids = [row["paper_id"] for row in self.library.feedback(user["id"], NOT_INTERESTED, limit)]
        return self.store.activity.listed(ids)

    # -- import and export -------------------------------------------------------------------------
    def match(self, references: list[Reference]) -> tuple[list[Match], list[Reference]]:
        """Match entries to stored papers: arXiv id, then DOI, then normalized title."""
        matched: list[Match] = []
        left: list[Reference] = []
        known = self.library.known_ids([r.arxiv_id for r in references if r.arxiv_id])
        for ref in references:
            if ref.arxiv_id and ref.arxiv_id in known:
                matched.append(Match(ref, ref.arxiv_id, "arXiv id"))
            else:
                left.append(ref)
        by_doi = self.library.ids_by_doi([r.doi for r in left if r.doi])
        rest: list[Reference] = []
        for ref in left:
            if ref.doi and ref.doi in by_doi:
                matched.append(Match(ref, by_doi[ref.doi], "DOI"))
            else:
                rest.append(ref)
        keys = {id(ref): title_key(ref.title) for ref in rest if ref.title}
        by_title = self.library.ids_by_title_key([k for k in keys.values() if k])
        unmatched = []
        for ref in rest:
            key = keys.get(id(ref))
            if key and key in by_title:
                matched.append(Match(ref, by_title[key], "title"))
            else:
                unmatched.append(ref)
        return matched, unmatched

    def import_file(
        self,
        user: dict[str, Any],
        data: bytes,
        filename: str = "",
        fmt: str | None = None,
        collection_id: int | None = None,
        collection_name: str | None = None,
    ) -> ImportReport:
        """Import a reference file into a collection (by id, by name, made if new, else "Imported")."""
        limit = int(self.settings.library_max_upload_mb * 1024 * 1024)
        if len(data) > limit:
            raise TooLarge(f"The file is larger than {self.settings.library_max_upload_mb:g} MB.")
        try:
            parsed = parse_library(data, filename, fmt)
        except LibraryFileError as exc:
            raise Invalid(f"Could not read {filename or 'the file'}: {exc}.") from exc
        if collection_id:
            target = self.collection(user, collection_id)
        else:
            target = self._target(user, None, collection_name or "Imported")
        matched, unmatched = self.match(parsed.references)
        if not user.get("is_admin"):  # a hidden paper is "not found here" for everybody else
            hidden = self.store.activity.hidden_ids()
            unmatched += [m.reference for m in matched if m.paper_id in hidden]
            matched = [m for m in matched if m.paper_id not in hidden]
        ids = list(dict.fromkeys(m.paper_id for m in matched))
        added = self.library.add_items(target["id"], ids, self._now())
        return ImportReport(parsed.format, target, len(parsed.references), matched, added, unmatched, parsed.problems)

    def export_bibtex(self, user: dict[str, Any], collection_id: int) -> tuple[str, str]:
        """(file name, BibTeX) of a collection, latest saved first."""
        found = self.collection(user, collection_id)
        ids = self.library.collection_paper_ids(collection_id, limit=100_000)
        if not user.get("is_admin"):
            hidden = self.store.activity.hidden_ids()
            ids = [pid for pid in ids if pid not in hidden]
        notes = self.store.notes.of_papers(user["id"], ids)
        papers = [{**paper, "note": notes.get(paper["id"])} for paper in self.store.get_papers(ids)]
        slug = re.sub(r"[^A-Za-z0-9]+", "-", found["name"]).strip("-").lower() or "collection"
        return f"{slug}.bib", to_bibtex(papers)

    # -- private feed links ------------------------------------------------------------------------
    def new_feed_token(self, user: dict[str, Any]) -> str:
        """A new secret for the user's private "for you" Atom feed (the previous link stops working)."""
        token = FEED_TOKEN_PREFIX + secrets.token_urlsafe(24)
        self.library.set_feed_token(user["id"], _hash(token), self._now())
        return token

    def feed_user(self, token: str | None) -> dict[str, Any] | None:
        """The user a feed token belongs to."""
        if not token or not token.startswith(FEED_TOKEN_PREFIX) or len(token) > 200:
            return None
        user_id = self.library.feed_token_user(_hash(token), self._now())
        return self.store.people.user(user_id) if user_id is not None else None
