"""The daily feed by day, ISO week and month, and trending papers.

Periods are named as in the URLs: ``2026-07-01``, ``2026-W27``, ``2026-07``.  Previous and next
jump to the nearest period that has papers, so paging never lands on an empty weekend.
Trending windows count back from the newest announcement day in the store (for a live install
that is today; for an archive such as the sample corpus, its last day).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from paperboy.store import Store

#: ``published`` (newest v1 first) is Hugging Face's own order; the pages offer the other three.
SORTS = ("votes", "trending", "new", "published")
WINDOWS = {"day": 0, "week": 6, "month": 29, "all": None}
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BadPeriod(ValueError):
    """A date, week or month that does not exist (a 404 for pages, a 400 for the API)."""


@dataclass(frozen=True)
class Period:
    """A span of announcement days that a feed page shows."""

    kind: str  # day, week or month
    first: date
    last: date

    @property
    def slug(self) -> str:
        """The period as it appears in URLs."""
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return self.first.strftime("%Y-%m")
        return self.first.isoformat()

    @property
    def label(self) -> str:
        """The period for people to read."""
        if self.kind == "week":
            year, week, _ = self.first.isocalendar()
            return f"Week {week}, {year} ({self.first:%b} {self.first.day} – {self.last:%b} {self.last.day})"
        if self.kind == "month":
            return self.first.strftime("%B %Y")
        return f"{self.first:%A}, {self.first.day} {self.first:%B %Y}"

    @property
    def path(self) -> str:
        """The page's path."""
        return f"/papers/{'date' if self.kind == 'day' else self.kind}/{self.slug}"


def day_period(day: date) -> Period:
    return Period("day", day, day)


def week_period(day: date) -> Period:
    start = day - timedelta(days=day.weekday())
    return Period("week", start, start + timedelta(days=6))


def month_period(day: date) -> Period:
    last = calendar.monthrange(day.year, day.month)[1]
    return Period("month", day.replace(day=1), day.replace(day=last))


_MAKERS = {"day": day_period, "week": week_period, "month": month_period}


def parse_period(kind: str, text: str) -> Period:
    """A period from its URL form; ``BadPeriod`` for anything malformed or impossible."""
    text = (text or "").strip()
    try:
        if kind == "day" and (m := _DAY.match(text)):
            return day_period(date(int(m[1]), int(m[2]), int(m[3])))
        if kind == "week" and (m := _WEEK.match(text)):
            return week_period(date.fromisocalendar(int(m[1]), int(m[2]), 1))
        if kind == "month" and (m := _MONTH.match(text)):
            return month_period(date(int(m[1]), int(m[2]), 1))
    except (ValueError, OverflowError) as exc:  # OverflowError: a week ending after 9999-12-31
        raise BadPeriod(f"no such {kind}: {text!r}") from exc
    examples = {"day": "2026-07-01", "week": "2026-W27", "month": "2026-07"}
    raise BadPeriod(f"not a {kind}: {text!r} (expected the form {examples.get(kind, '?')})")


@dataclass
class FeedPage:
    """One page of a period's papers and the way around it."""

    period: Period | None
    papers: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    sort: str
    previous: Period | None = None
    next: Period | None = None
    #: Papers per day in the period (weeks and months show a small calendar).
    day_counts: dict[str, int] = field(default_factory=dict)


class Feed:
    """Feed pages over one store."""

    def __init__(self, store: Store, page_size: int = 50) -> None:
        self.store = store
        self.activity = store.activity
        self.page_size = page_size

    def latest(self) -> Period | None:
        """The newest announcement day, or None for an empty store."""
        day = self.activity.latest_day()
        return day_period(date.fromisoformat(day)) if day else None

    def page(
        self,
        period: Period | None,
        sort: str = "votes",
        page: int = 1,
        limit: int | None = None,
        submitter: str | None = None,
    ) -> FeedPage:
        """One page of a period's papers (the latest day when ``period`` is None).

        ``submitter`` keeps only the papers that user put on the list (here, or on Hugging Face
        for imported ones); without a period that is all of them, not only the latest day's.
        """
        sort = sort if sort in SORTS else "votes"
        size = max(1, min(limit or self.page_size, 500))
        page = max(1, page)
        if submitter and period is None:
            papers, total = self.activity.announced_between(
                "0000-01-01", "9999-12-31", sort, size, (page - 1) * size, submitter=submitter
            )
            return FeedPage(None, papers, total, page, max(1, -(-total // size)), sort)
        period = period or self.latest()
        if period is None:
            return FeedPage(None, [], 0, 1, 1, sort)
        first, last = period.first.isoformat(), period.last.isoformat()
        papers, total = self.activity.announced_between(first, last, sort, size, (page - 1) * size, submitter=submitter)
        before, after = self.activity.adjacent_days(first, last)
        make = _MAKERS[period.kind]
        counts = self.activity.day_counts(first, last) if period.kind != "day" else {}
        return FeedPage(
            period,
            papers,
            total,
            page,
            max(1, -(-total // size)),
            sort,
            make(date.fromisoformat(before)) if before else None,
            make(date.fromisoformat(after)) if after else None,
            counts,
        )

    def trending(self, window: str = "week", limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Papers by hot score within ``window`` (day, week, month, all).

        Hot scores only separate papers that have votes; where a first page has room left (a new
        install, a quiet day), it goes on with the window's newest unvoted papers, marked
        ``unvoted``, so the page is never empty while the store has papers.
        """
        size = max(1, min(limit or self.page_size, 500))
        days = WINDOWS.get(window, WINDOWS["week"])
        latest = self.activity.latest_day()
        if latest is None:
            return []
        since = (date.fromisoformat(latest) - timedelta(days=days)).isoformat() if days is not None else None
        papers = self.activity.trending(since, size, offset)
        if len(papers) < size and offset == 0:
            newest, _ = self.activity.announced_between(since or "0000-00-00", latest, "new", 2 * size, 0)
            papers += [{**p, "unvoted": True} for p in newest if p["upvotes"] == 0][: size - len(papers)]
        return papers
