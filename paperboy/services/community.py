"""Votes, submissions, comments and moderation, with the rules about who may do what.

Every write is authorized here, on the server, whatever the page showed: a comment is edited
only by its author or an admin; hiding is for admins; submissions follow rules like Hugging
Face's (no duplicates, a daily cap per user, a maximum paper age).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from paperboy.config import Settings
from paperboy.services.accounts import stamp
from paperboy.services.submitting import FetchQueue
from paperboy.sources.normalize import parse_arxiv_id
from paperboy.sources.record import SourceError
from paperboy.store import Store
from paperboy.store.activity import TooManyComments, paper_day
from paperboy.store.owners import this_owner
from paperboy.store.submissions import BeingFetched, CapReached

MAX_COMMENT = 10_000
log = logging.getLogger(__name__)


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


def _reason(exc: Exception) -> str:
    """A fetch failure in a few words a submitter understands."""
    if not isinstance(exc, SourceError):
        return type(exc).__name__
    text = str(exc)
    low = text.lower()
    if "request slot" in low:
        return "arXiv is busy: its request rate is taken by other requests"
    if "refused" in low or "connection failed" in low:
        return "arXiv cannot be reached"
    if "timed out" in low:
        return "arXiv did not answer in time"
    status = re.search(r"HTTP \d{3}", text)
    return f"arXiv answered {status.group(0)}" if status else text.rsplit(": ", 1)[-1][:200]


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
        #: Fetches of submitted papers, bounded, in threads of their own.
        self.fetches = FetchQueue(settings.submit_fetch_workers, settings.submit_fetch_queue)

    def close(self) -> None:
        """Stop taking fetches (those running end within their time bound)."""
        self.fetches.close()

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
        """Submit a paper by arXiv id or URL: found in the store, else fetched from arXiv in the background.

        Returns the submission (``get_submission``'s shape): ``done`` with the listed ``paper``
        when the store had it, ``fetching`` when it is being fetched (the fetch ends it ``done``,
        ``refused`` or ``failed``).  Raises ``Refused`` with a reason a person can act on.  Every
        submission counts toward the daily cap, also one whose fetch fails.
        """
        parsed = parse_arxiv_id((text or "").strip()[:500])
        if not parsed:
            raise Refused("Give an arXiv id such as 2506.01234 or an arxiv.org/abs/… link.")
        paper_id = parsed[0]
        now = self.clock()
        paper = self.store.get_paper(paper_id)
        if paper is None:
            return self._start_fetch(user, paper_id, now)
        self._check(user, paper_id, paper, now)
        sub_id = self._start(user, paper_id, now, "claimed")
        try:
            listed = self._accept(user, paper_id, now)
        except Refused:
            self.store.submissions.withdraw(sub_id)  # lost a race to another submitter: not counted
            raise
        self.store.submissions.finish(sub_id, "done", 201, None, stamp(now))
        return self.get_submission(user, sub_id) | {"paper": listed}

    def _start(self, user: dict[str, Any], paper_id: str, now: datetime, state: str) -> int:
        """A new submission row, counted against the cap in the same transaction."""
        day_start = f"{now.astimezone(UTC).date().isoformat()}T00:00:00Z"
        cap = self.settings.submit_daily_cap
        try:
            return self.store.submissions.start(
                user["id"], paper_id, stamp(now), day_start, cap, state, this_owner(), self._stale_before(now)
            )
        except CapReached as exc:
            raise Refused(f"You have submitted {cap} papers today, the daily limit. Come back tomorrow.", 429) from exc
        except BeingFetched as exc:
            raise Refused(f"{paper_id} is being fetched from arXiv for another submission right now.", 409) from exc

    def _stale_before(self, now: datetime) -> str:
        """Fetches started before this are over, whatever their row says (each is bounded in time)."""
        s = self.settings
        longest = (s.submit_fetch_retries + 1) * (s.submit_fetch_timeout + s.submit_fetch_max_wait) + 60
        return stamp(now - timedelta(seconds=longest))

    def _check(self, user: dict[str, Any], paper_id: str, paper: dict[str, Any], now: datetime) -> dict[str, Any]:
        """The rules for a paper in the store: visible, not submitted yet, recent enough."""
        try:
            listed = self.visible_paper(paper_id, user)
        except NotFound as exc:  # hidden by an admin: as if it were not here (callers only expect Refused)
            raise Refused(f"{paper_id} cannot be submitted here.", 404) from exc
        if listed.get("submitted_by"):
            raise Refused(f"This paper was already submitted by {listed['submitted_by']}.", 409)
        day = paper_day(paper)
        max_age = self.settings.submit_max_age_days
        today = now.astimezone(UTC).date()
        if day and date.fromisoformat(day) < self.feed_day(today) - timedelta(days=max_age):
            raise Refused(f"Only papers from the last {max_age} days can be submitted (this one is from {day}).")
        return listed

    def _accept(self, user: dict[str, Any], paper_id: str, now: datetime) -> dict[str, Any]:
        """Record the submission (and the submitter's vote); the listed paper."""
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

    def _start_fetch(self, user: dict[str, Any], paper_id: str, now: datetime) -> dict[str, Any]:
        sub_id = self._start(user, paper_id, now, "fetching")
        if not self.fetches.offer(lambda: self._fetch(user, sub_id, paper_id)):
            self.store.submissions.withdraw(sub_id)
            raise Refused("Too many papers are being fetched from arXiv right now. Try again in a minute.", 429)
        return self.get_submission(user, sub_id)

    def _fetch(self, user: dict[str, Any], sub_id: int, paper_id: str) -> None:
        """Fetch a submitted paper (in a fetch thread) and end its submission, whatever happens."""
        s = self.settings
        bounded = s.with_overrides(
            http_timeout=s.submit_fetch_timeout,
            http_retries=s.submit_fetch_retries,
            http_max_wait=s.submit_fetch_max_wait,
        )
        end = self.store.submissions.finish
        try:
            self.store.ingest("arxiv", f"submit:{paper_id}", self.fetch(bounded, [paper_id]))
        except Exception as exc:  # network failures of every kind end the same way for the user
            log.info("fetching submission %s failed: %s", paper_id, exc)
            message = f"Could not fetch {paper_id} from arXiv right now ({_reason(exc)}). Try again later."
            end(sub_id, "failed", 502, message, stamp(self.clock()))
            return
        now = self.clock()
        paper = self.store.get_paper(paper_id)
        if paper is None:
            end(sub_id, "failed", 404, f"arXiv has no paper {paper_id}.", stamp(now))
            return
        try:
            self._check(user, paper_id, paper, now)
            self._accept(user, paper_id, now)
        except Refused as exc:
            end(sub_id, "refused", exc.status, str(exc), stamp(now))
            return
        end(sub_id, "done", 201, None, stamp(now))

    def get_submission(self, user: dict[str, Any], sub_id: int) -> dict[str, Any]:
        """A submission of this user's: ``{id, paper_id, state, status, message, paper}``; ``NotFound`` otherwise.

        ``paper`` is the listed paper once the submission is ``done`` (None before, or if hidden since).
        """
        sub = self.store.submissions.get(sub_id, self._stale_before(self.clock()))
        if sub is None or sub["user_id"] != user["id"]:
            raise NotFound(f"no submission {sub_id} of yours")
        paper = None
        if sub["state"] == "done":
            try:
                paper = self.visible_paper(sub["paper_id"], user)
            except NotFound:
                paper = None
        keys = ("id", "paper_id", "state", "status", "message", "created_at", "finished_at")
        return {k: sub[k] for k in keys} | {"paper": paper}

    def recent_submissions(self, user: dict[str, Any]) -> list[dict[str, Any]]:
        """The user's submissions of today (what counts toward the cap), newest first."""
        now = self.clock()
        day_start = f"{now.astimezone(UTC).date().isoformat()}T00:00:00Z"
        stale = self._stale_before(now)
        subs = self.store.submissions.of_user(user["id"], day_start)
        return [self.store.submissions.get(s["id"], stale) or s for s in subs]

    # -- comments ------------------------------------------------------------------------
    def add_comment(self, user: dict[str, Any], paper_id: str, body: str) -> dict[str, Any]:
        """Comment on a paper (plain text or Markdown)."""
        paper = self.visible_paper(paper_id, user)
        body = self._clean(body)
        now = self.clock()
        limit, window = self.settings.comment_limit, self.settings.comment_window
        since = stamp(now - timedelta(seconds=window))
        try:
            comment_id = self.activity.add_comment(paper["id"], user["id"], body, stamp(now), limit, since)
        except TooManyComments as exc:
            minutes = max(1, window // 60)
            raise Refused(f"You can post {limit} comments every {minutes} minutes. Try again in a while.", 429) from exc
        comment = self.activity.comment(comment_id)
        assert comment is not None
        return comment

    def own_comment(self, user: dict[str, Any], comment_id: int) -> dict[str, Any]:
        """A comment the user may change (theirs, or any for an admin) on a paper they can see."""
        comment = self.activity.comment(comment_id)
        if comment is None or (comment["hidden"] and not user.get("is_admin")):
            raise NotFound(f"no comment {comment_id}")
        self.visible_paper(comment["paper_id"], user)  # on a hidden paper: as if it were not there
        if comment["user_id"] != user["id"] and not user.get("is_admin"):
            raise NotAllowed("Only the comment's author or an admin can change it.")
        return comment

    def edit_comment(self, user: dict[str, Any], comment_id: int, body: str) -> dict[str, Any]:
        """Change a comment's text (its author or an admin)."""
        self.own_comment(user, comment_id)
        self.activity.edit_comment(comment_id, self._clean(body), stamp(self.clock()))
        comment = self.activity.comment(comment_id)
        assert comment is not None
        return comment

    def delete_comment(self, user: dict[str, Any], comment_id: int) -> str:
        """Delete a comment (its author or an admin); returns the paper's id."""
        comment = self.own_comment(user, comment_id)
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
