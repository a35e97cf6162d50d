"""Private notes on saved papers: Markdown only its author sees, searchable in their library and
exported with BibTeX (the ``note`` field).

A note needs the paper to be in one of the user's collections: notes belong to the library.
Taking a paper out of every collection keeps its note (saving it again brings it back).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from paperboy.services.accounts import stamp
from paperboy.services.errors import Conflict, NotFound, ServiceError
from paperboy.store import Store

MAX_NOTE = 20_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_note(body: str | None) -> str:
    """A note as kept (control characters dropped, ends trimmed); ``ServiceError`` when too long."""
    text = _CONTROL.sub("", (body or "").replace("\r\n", "\n")).strip()
    if len(text) > MAX_NOTE:
        raise ServiceError(f"A note is at most {MAX_NOTE:,} characters (this one has {len(text):,}).")
    return text


class NoteService:
    """Read, write, delete and search a user's notes."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.notes = store.notes
        self.clock = clock

    def get(self, user: dict[str, Any], paper_id: str) -> str | None:
        found = self.notes.get(user["id"], paper_id)
        return found["body"] if found else None

    def put(self, user: dict[str, Any], paper_id: str, body: str | None) -> str | None:
        """Write the user's note on a saved paper (an empty note deletes it); returns what is kept."""
        text = clean_note(body)
        paper = self.store.activity.listed([paper_id], include_hidden=bool(user.get("is_admin")))
        if not paper:
            raise NotFound(f"no paper {paper_id!r}")
        if not self.store.library.saved_ids(user["id"], [paper_id]):
            raise Conflict("Save the paper to your library first: notes are kept with saved papers.")
        if not text:
            self.notes.delete(user["id"], paper_id)
            return None
        self.notes.put(user["id"], paper_id, text, stamp(self.clock()))
        return text

    def delete(self, user: dict[str, Any], paper_id: str) -> bool:
        return self.notes.delete(user["id"], paper_id)

    def of_papers(self, user: dict[str, Any], ids: list[str]) -> dict[str, str]:
        return self.notes.of_papers(user["id"], ids)

    def search(self, user: dict[str, Any], text: str, limit: int = 200) -> list[dict[str, Any]]:
        """The user's saved papers whose note, title or authors hold every word, latest saved first."""
        words = [w for w in re.split(r"\s+", _CONTROL.sub(" ", text or "")) if w][:20]
        if not words:
            return []
        ids = self.notes.search(user["id"], [w[:100] for w in words], limit)
        return self.store.activity.listed(ids, include_hidden=bool(user.get("is_admin")))
