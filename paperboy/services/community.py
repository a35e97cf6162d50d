"""Votes, submissions, comments and moderation, with the rules about who may do what.

Every write is authorized here, on the server, whatever the page showed: a comment is edited
only by its author or an admin; hiding is for admins; submissions follow rules like Hugging
Face's (no duplicates, a daily cap per user, a maximum paper age).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paperboy.config import Settings
from paperboy.services.accounts import stamp
from paperboy.sources.normalize import parse_arxiv_id
from paperboy.store import Store
from paperboy.store.activity import paper_day

MAX_COMMENT = 10_000


class NotAllowed(PermissionError):
    """The user may not do this (403)."""


class NotFound(LookupError):
    """No such paper or comment (404)."""


class Refused(ValueError):
    """A request that breaks a rule the user can read about (400/409/429)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


Fetcher = Callable[[Settings, list[str]], Any]


def _fetch_from_arxiv(settings: Settings, ids: list[str]) -> Any:
    from paperboy.sources import arxiv_api

    return arxiv_api.fetch_ids(settings, ids)


class Community:
    """What signed-in people do to papers."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        fetch: Fetcher = _fetch_from_arxiv,
    ) -> None:
        self.store = store
        self.activity = store.activity
        self.settings = settings
        self.clock = clock
        self.fetch = fetch

    def visible_paper(self, paper_id: str, user: dict[str, Any] | None = None) -> dict[str, Any]:
        """A paper with its activity; hidden ones only for admins.  ``NotFound`` otherwise.

        A versioned id, ``arXiv:`` form or arXiv URL finds the paper too (its ``id`` then differs
        from ``paper_id``, so pages can redirect to the canonical address).
        """
        admin = bool(user and user.get("is_admin"))
        found = self.activity.listed([paper_id], include_hidden=admin)
        if not found:
            parsed = parse_arxiv_id(paper_id)
            if parsed and parsed[0] != paper_id:
                found = self.activity.listed([parsed[0]], include_hidden=admin)
        if not found:
            raise NotFound(f"no paper {paper_id!r}")
        return found[0]

    # -- votes ---------------------------------------------------------------------------
    def vote(self, user: dict[str, Any], paper_id: str, up: bool = True) -> dict[str, Any]:
        """Vote for a paper (or withdraw the vote); returns ``{"upvotes", "voted"}``."""
        paper = self.visible_paper(paper_id, user)
        own = self.activity.vote(paper["id"], user["id"], up, stamp(self.clock()))
        return {"upvotes": own + (paper.get("source_upvotes") or 0), "voted": up}

    # -- submissions ---------------------------------------------------------------------
    def submit(self, user: dict[str, Any], text: str) -> dict[str, Any]:
        """Submit a paper by arXiv id or URL: found in the store, else fetched from arXiv.

        Raises ``Refused`` with a reason a person can act on.
        """
        parsed = parse_arxiv_id((text or "").strip()[:500])
        if not parsed:
            raise Refused("Give an arXiv id such as 2506.01234 or an arxiv.org/abs/… link.")
        paper_id = parsed[0]
        now = self.clock()
        today = now.astimezone(UTC).date()
        cap = self.settings.submit_daily_cap
        if self.activity.submissions_since(user["id"], f"{today.isoformat()}T00:00:00Z") >= cap:
            raise Refused(f"You have submitted {cap} papers today, the daily limit. Come back tomorrow.", 429)
        paper = self.store.get_paper(paper_id)
        if paper is None:
            paper = self._fetch(paper_id)
        try:
            listed = self.visible_paper(paper_id, user)
        except NotFound as exc:  # hidden by an admin: as if it were not here (callers only expect Refused)
            raise Refused(f"{paper_id} cannot be submitted here.", 404) from exc
        if listed.get("submitted_by"):
            raise Refused(f"This paper was already submitted by {listed['submitted_by']}.", 409)
        day = paper_day(paper)
        max_age = self.settings.submit_max_age_days
        if day and date.fromisoformat(day) < self.feed_day(today) - timedelta(days=max_age):
            raise Refused(f"Only papers from the last {max_age} days can be submitted (this one is from {day}).")
        if not self.activity.submit(paper_id, user["id"], stamp(now)):
            raise Refused("This paper was just submitted by somebody else.", 409)
        self.activity.vote(paper_id, user["id"], True, stamp(now))  # submitting is an endorsement
        return self.visible_paper(paper_id, user)

    def feed_day(self, today: date) -> date:
        """The day a paper's age is counted from: today, or the store's newest announcement day when
        that is older (a store imported from a snapshot, or one whose imports stopped), so "papers of
        the last 30 days" means the last 30 days of the feed people see."""
        latest = self.activity.latest_day()
        try:
            return min(today, date.fromisoformat(latest)) if latest else today
        except ValueError:
            return today

    def _fetch(self, paper_id: str) -> dict[str, Any]:
        try:
            self.store.ingest("arxiv", f"submit:{paper_id}", self.fetch(self.settings, [paper_id]))
        except Exception as exc:  # network failures of every kind end the same way for the user
            raise Refused(
                f"Could not fetch {paper_id} from arXiv right now ({type(exc).__name__}). Try again later.", 502
            ) from exc
        paper = self.store.get_paper(paper_id)
        if paper is None:
            raise Refused(f"arXiv has no paper {paper_id}.", 404)
        return paper

    # -- comments ------------------------------------------------------------------------
    def add_comment(self, user: dict[str, Any], paper_id: str, body: str) -> dict[str, Any]:
        """Comment on a paper (plain text or Markdown)."""
        paper = self.visible_paper(paper_id, user)
        body = self._clean(body)
        comment_id = self.activity.add_comment(paper["id"], user["id"], body, stamp(self.clock()))
        comment = self.activity.comment(comment_id)
        assert comment is not None
        return comment

    def _own_comment(self, user: dict[str, Any], comment_id: int) -> dict[str, Any]:
        comment = self.activity.comment(comment_id)
        if comment is None or (comment["hidden"] and not user.get("is_admin")):
            raise NotFound(f"no comment {comment_id}")
        if comment["user_id"] != user["id"] and not user.get("is_admin"):
            raise NotAllowed("Only the comment's author or an admin can change it.")
        return comment

    def edit_comment(self, user: dict[str, Any], comment_id: int, body: str) -> dict[str, Any]:
        """Change a comment's text (its author or an admin)."""
        self._own_comment(user, comment_id)
        self.activity.edit_comment(comment_id, self._clean(body), stamp(self.clock()))
        comment = self.activity.comment(comment_id)
        assert comment is not None
        return comment

    def delete_comment(self, user: dict[str, Any], comment_id: int) -> str:
        """Delete a comment (its author or an admin); returns the paper's id."""
        comment = self._own_comment(user, comment_id)
        self.activity.delete_comment(comment_id)
        return comment["paper_id"]

    def hide_comment(self, user: dict[str, Any], comment_id: int, hidden: bool = True) -> str:
        """Hide or show a comment (admins); returns the paper's id."""
        self._admin(user)
        comment = self.activity.comment(comment_id)
        if comment is None:
            raise NotFound(f"no comment {comment_id}")
        self.activity.set_comment_hidden(comment_id, hidden)
        return comment["paper_id"]

    def hide_paper(self, user: dict[str, Any], paper_id: str, hidden: bool = True) -> None:
        """Hide or show a paper everywhere (admins)."""
        self._admin(user)
        if self.store.get_paper(paper_id) is None:
            raise NotFound(f"no paper {paper_id!r}")
        self.activity.set_hidden(paper_id, hidden)

    @staticmethod
    def _admin(user: dict[str, Any]) -> None:
        if not user.get("is_admin"):
            raise NotAllowed("Only admins can do this.")

    @staticmethod
    def _clean(body: str) -> str:
        body = (body or "").replace("\r\n", "\n").strip()
        if not body:
            raise Refused("A comment needs some text.")
        if len(body) > MAX_COMMENT:
            raise Refused(f"Comments are limited to {MAX_COMMENT:,} characters.")
        return body
