"""What people do with papers: votes, comments, submissions, hiding; and the listings built on them.

Every change recomputes the paper's ``paper_stats`` row (counts and hot score) inside the same
transaction, from the rows themselves rather than by incrementing, so the counts can never drift;
and it counts while holding that row's lock, so concurrent voters can never lose a vote.  SQLite:
each writing transaction starts with its write, so it holds the database's write lock before it
reads.  PostgreSQL (READ COMMITTED): ``SELECT … FOR UPDATE`` of the stats row makes a second voter
wait for the first to commit, and its count (a new statement) then sees the first one's vote.
Locks are always taken in one order (the vote or comment, the stats rows by id, the counters
last), so two writers never wait for each other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, literal, select, update
from sqlalchemy.sql import Select

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore, lock
from paperboy.store.rows import as_dict

#: The hot score's zero point and its decay: every ``HOT_DECAY`` seconds of age cost as much as a
#: tenfold difference in votes (Reddit uses 45,000 s for links; papers are announced once a day
#: and read over days, so two days per order of magnitude).  The score only depends on votes and
#: the paper's date, never on "now", so it is stored and indexed, and changes only with votes.
HOT_EPOCH = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
HOT_DECAY = 2 * 86400.0

p, s, u = t.papers.c, t.paper_stats.c, t.users.c

#: What a listing returns for each paper: its fields plus the activity around it.
_LISTED = (
    p.seq,
    p.id,
    p.is_arxiv,
    p.version,
    p.versions,
    p.title,
    p.abstract,
    p.authors,
    p.affiliations,
    p.categories,
    p.primary_category,
    p.comment,
    p.journal_ref,
    p.doi,
    p.dois,
    p.license,
    p.abs_url,
    p.pdf_url,
    p.code_url,
    p.project_url,
    p.published,
    p.updated,
    p.announced,
    p.source_upvotes,
    p.hf,
    p.sources,
    p.first_seen,
    p.last_changed,
    (func.coalesce(s.upvotes, 0) + func.coalesce(p.source_upvotes, 0)).label("upvotes"),
    func.coalesce(s.num_comments, 0).label("num_comments"),
    func.coalesce(s.hidden, False).label("hidden"),
    s.submitted_at,
    u.username.label("submitted_by"),
)
_TOTAL_VOTES = func.coalesce(s.upvotes, 0) + func.coalesce(p.source_upvotes, 0)


class TooManyComments(Exception):
    """A user's comment limit for the window is used up."""


def paper_day(paper: dict[str, Any]) -> str | None:
    """The day a paper counts from: announced, else published, else first seen."""
    for key in ("announced", "published", "first_seen"):
        value = paper.get(key)
        if value:
            return str(value)[:10]
    return None


def hot_score(votes: int, day: str | None) -> float:
    """Reddit-style hot score: ``log10(votes) + age term``; more votes or a newer day rank higher."""
    seconds = HOT_EPOCH
    if day:
        try:
            seconds = datetime.fromisoformat(day[:10]).replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    return round(math.log10(max(votes, 1)) + (seconds - HOT_EPOCH) / HOT_DECAY, 7)


def _listing() -> Select:
    return (
        select(*_LISTED)
        .select_from(t.papers)
        .outerjoin(t.paper_stats, s.paper_id == p.id)
        .outerjoin(t.users, u.id == s.submitted_by)
    )


def _visible() -> Any:
    return func.coalesce(s.hidden, False) == False  # noqa: E712 - SQL, not Python


def _bump(conn: Any) -> None:
    """Count one more change to what pages show (see ``Activity.generation``), and note when."""
    counter = t.counters.c
    conn.execute(update(t.counters).where(counter.name == "activity").values(value=counter.value + 1))
    seconds = int(datetime.now(UTC).timestamp())
    conn.execute(update(t.counters).where(counter.name == "activity_at").values(value=seconds))


class Activity:
    """Reads and writes of votes, comments, submissions and paper listings."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- listings ------------------------------------------------------------------------
    def listed(self, ids: list[str], include_hidden: bool = False) -> list[dict[str, Any]]:
        """Papers with their activity, in the order of ``ids`` (unknown or hidden ids left out)."""
        found: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 5000):
                query = _listing().where(p.id.in_(ids[start : start + 5000]))
                if not include_hidden:
                    query = query.where(_visible())
                found.update((r.id, as_dict(r)) for r in conn.execute(query))
        return [found[i] for i in ids if i in found]

    def announced_between(
        self,
        first: str,
        last: str,
        sort: str = "votes",
        limit: int = 50,
        offset: int = 0,
        submitter: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """(one page of the papers announced on days ``first``..``last``, how many there are in all).

        ``sort``: ``votes`` (most upvoted first, as Hugging Face's daily page), ``trending`` (hot
        score), ``new`` (latest announcement first) or ``published`` (newest v1 first, Hugging
        Face's API order).  ``submitter``: only papers that user submitted here, or that Hugging
        Face says they submitted (for papers nobody submitted here), whatever the case.
        """
        where = and_(p.announced >= first, p.announced <= last, _visible())
        if submitter:
            name = submitter.lower()
            on_hf = func.lower(p.hf[("daily_by", "user")].as_string())
            where = and_(where, (u.username_key == name) | (s.submitted_by.is_(None) & (on_hf == name)))
        order = {
            "new": (p.announced.desc(), p.id.desc()),
            "published": (func.coalesce(p.published, p.announced).desc(), p.id.desc()),
            "trending": (func.coalesce(s.hot, 0).desc(), p.announced.desc(), p.id.desc()),
        }.get(sort, (_TOTAL_VOTES.desc(), p.announced.desc(), p.id.desc()))
        with self.engine.connect() as conn:
            rows = conn.execute(_listing().where(where).order_by(*order).limit(limit).offset(offset))
            papers = [as_dict(r) for r in rows]
            counted = t.papers.outerjoin(t.paper_stats, s.paper_id == p.id)
            if submitter:
                counted = counted.outerjoin(t.users, u.id == s.submitted_by)
            count_query = select(func.count()).select_from(counted).where(where)
            total = conn.execute(count_query).scalar_one()
        return papers, total

    def trending(self, since: str | None, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """Voted papers by hot score, announced on or after ``since`` (all time when None)."""
        query = (
            select(*_LISTED)
            .select_from(t.paper_stats)
            .join(t.papers, p.id == s.paper_id)
            .outerjoin(t.users, u.id == s.submitted_by)
            .where(s.hidden == False, _TOTAL_VOTES > 0)  # noqa: E712
            .order_by(s.hot.desc(), p.id.desc())
            .limit(limit)
            .offset(offset)
        )
        if since:
            query = query.where(p.announced >= since)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def generation(self) -> tuple[int, int]:
        """(papers' change counter, activity counter): equal values mean pages about papers are unchanged."""
        with self.engine.connect() as conn:
            activity = conn.execute(select(t.counters.c.value).where(t.counters.c.name == "activity")).scalar() or 0
            return conn.execute(select(func.max(p.seq))).scalar() or 0, activity

    def last_change(self) -> str | None:
        """When anything pages show last changed (a paper, a vote, a comment), ``YYYY-MM-DDTHH:MM:SSZ``.

        Two indexed lookups: the row with the newest change counter, and the activity clock.
        """
        with self.engine.connect() as conn:
            newest = conn.execute(select(p.last_changed).order_by(p.seq.desc()).limit(1)).scalar()
            seconds = conn.execute(select(t.counters.c.value).where(t.counters.c.name == "activity_at")).scalar()
        activity = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if seconds else None
        return max(filter(None, (newest, activity)), default=None)

    def latest_day(self) -> str | None:
        """The newest announcement day in the store."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(p.announced))).scalar()

    def adjacent_days(self, first: str, last: str) -> tuple[str | None, str | None]:
        """The nearest announcement day before ``first`` and after ``last`` that has papers."""
        with self.engine.connect() as conn:
            before = conn.execute(select(func.max(p.announced)).where(p.announced < first)).scalar()
            after = conn.execute(select(func.min(p.announced)).where(p.announced > last)).scalar()
        return before, after

    def day_counts(self, first: str, last: str) -> dict[str, int]:
        """Papers per announcement day in a range (for calendars and week/month pages)."""
        query = select(p.announced, func.count()).where(p.announced >= first, p.announced <= last).group_by(p.announced)
        with self.engine.connect() as conn:
            return {day: n for day, n in conn.execute(query)}

    def hidden_ids(self) -> set[str]:
        """Papers an admin hid (few; searches filter them out)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(s.paper_id).where(s.hidden == True)).scalars())  # noqa: E712

    # -- votes ---------------------------------------------------------------------------
    def vote(self, paper_id: str, user_id: int, up: bool, now: str) -> int:
        """Add (``up``) or withdraw a user's vote; returns the paper's paperboy vote count after it."""
        with self.engine.begin() as conn:
            if up:
                insert_ignore(
                    conn,
                    t.votes,
                    [{"paper_id": paper_id, "user_id": user_id, "created_at": now}],
                    ["paper_id", "user_id"],
                )
            else:
                conn.execute(delete(t.votes).where(t.votes.c.paper_id == paper_id, t.votes.c.user_id == user_id))
            return self._refresh(conn, paper_id)["upvotes"]

    def voted(self, user_id: int, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` the user has voted for."""
        ids = list(ids)
        if not ids:
            return set()
        v = t.votes.c
        with self.engine.connect() as conn:
            return set(conn.execute(select(v.paper_id).where(v.user_id == user_id, v.paper_id.in_(ids))).scalars())

    def vote_count(self, paper_id: str) -> int:
        """paperboy votes for one paper, counted from the votes themselves."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(t.votes.c.paper_id == paper_id)).scalar_one()

    def user_votes(self, user_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """Papers a user voted for, latest vote first."""
        v = t.votes.c
        query = _listing().join(t.votes, v.paper_id == p.id).where(v.user_id == user_id, _visible())
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query.order_by(v.created_at.desc()).limit(limit))]

    # -- submissions ---------------------------------------------------------------------
    def submit(self, paper_id: str, user_id: int, now: str) -> bool:
        """Record ``user_id`` as the paper's submitter; False when somebody already submitted it."""
        with self.engine.begin() as conn:
            insert_ignore(conn, t.paper_stats, [self._blank(paper_id)], ["paper_id"])
            done = conn.execute(
                update(t.paper_stats)
                .where(s.paper_id == paper_id, s.submitted_by.is_(None))
                .values(submitted_by=user_id, submitted_at=now)
            )
            _bump(conn)
            return done.rowcount == 1

    def submissions_since(self, user_id: int, since: str) -> int:
        """How many papers a user submitted at or after ``since`` (for the daily cap)."""
        query = select(func.count()).where(s.submitted_by == user_id, s.submitted_at >= since)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def user_submissions(self, user_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """Papers a user submitted, latest first."""
        query = _listing().where(s.submitted_by == user_id, _visible()).order_by(s.submitted_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    # -- hiding --------------------------------------------------------------------------
    def set_hidden(self, paper_id: str, hidden: bool) -> None:
        """Hide a paper from feeds, search and the API (admins), or show it again."""
        with self.engine.begin() as conn:
            insert_ignore(conn, t.paper_stats, [self._blank(paper_id)], ["paper_id"])
            conn.execute(update(t.paper_stats).where(s.paper_id == paper_id).values(hidden=hidden))
            _bump(conn)

    # -- comments ------------------------------------------------------------------------
    def add_comment(
        self, paper_id: str, user_id: int, body: str, now: str, limit: int | None = None, since: str = ""
    ) -> int:
        """A new comment's id; ``TooManyComments`` if the user already wrote ``limit`` since ``since``.

        The limit is counted in the insert's transaction, so simultaneous comments cannot slip past it.
        """
        row = {"paper_id": paper_id, "user_id": user_id, "body": body, "created_at": now, "hidden": False}
        c = t.comments.c
        with self.engine.begin() as conn:
            if limit is not None:
                lock(conn, f"comments:user:{user_id}")
            comment_id = conn.execute(insert(t.comments).values(row)).inserted_primary_key[0]
            if limit is not None:
                recent = conn.execute(select(func.count()).where(c.user_id == user_id, c.created_at > since))
                if recent.scalar_one() > limit:
                    raise TooManyComments  # rolls the comment back
            self._refresh(conn, paper_id)
            return comment_id

    def comment(self, comment_id: int) -> dict[str, Any] | None:
        """One comment with its author's name."""
        with self.engine.connect() as conn:
            row = conn.execute(self._comments().where(t.comments.c.id == comment_id)).first()
        return as_dict(row) if row else None

    def comments(self, paper_id: str, include_hidden: bool = False, limit: int = 500) -> list[dict[str, Any]]:
        """A paper's comments, oldest first."""
        c = t.comments.c
        query = self._comments().where(c.paper_id == paper_id)
        if not include_hidden:
            query = query.where(c.hidden == False)  # noqa: E712
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query.order_by(c.id).limit(limit))]

    def user_comments(self, user_id: int, limit: int = 100) -> list[dict[str, Any]]:
        """A user's visible comments on visible papers, newest first, with the paper's title."""
        c = t.comments.c
        query = (
            self._comments()
            .add_columns(p.title.label("paper_title"))
            .join(t.papers, p.id == c.paper_id)
            .outerjoin(t.paper_stats, s.paper_id == c.paper_id)
            .where(c.user_id == user_id, c.hidden == False, _visible())  # noqa: E712
            .order_by(c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def edit_comment(self, comment_id: int, body: str, now: str) -> None:
        """Replace a comment's text."""
        with self.engine.begin() as conn:
            conn.execute(update(t.comments).where(t.comments.c.id == comment_id).values(body=body, edited_at=now))
            _bump(conn)

    def delete_comment(self, comment_id: int) -> None:
        """Remove a comment for good."""
        with self.engine.begin() as conn:
            paper_id = conn.execute(
                delete(t.comments).where(t.comments.c.id == comment_id).returning(t.comments.c.paper_id)
            ).scalar()
            if paper_id:
                self._refresh(conn, paper_id)

    def set_comment_hidden(self, comment_id: int, hidden: bool) -> None:
        """Hide a comment from everyone but admins (moderation keeps the text), or show it again."""
        with self.engine.begin() as conn:
            paper_id = conn.execute(
                update(t.comments)
                .where(t.comments.c.id == comment_id)
                .values(hidden=hidden)
                .returning(t.comments.c.paper_id)
            ).scalar()
            if paper_id:
                self._refresh(conn, paper_id)

    def refresh_source_votes(self, after_seq: int) -> int:
        """Store hot scores for papers changed after ``after_seq`` that a source gave votes to.

        Called after every import: a paper with Hugging Face upvotes is trending before anybody
        here votes for it.  Returns how many papers were refreshed.
        """
        with self.engine.begin() as conn:
            ids = sorted(
                conn.execute(select(p.id).where(p.seq > after_seq, func.coalesce(p.source_upvotes, 0) > 0)).scalars()
            )
            for paper_id in ids:  # in id order, the counters once at the end: see the module's lock order
                self._refresh(conn, paper_id, bump=False)
            if ids:
                _bump(conn)
        return len(ids)

    # -- internals -----------------------------------------------------------------------
    @staticmethod
    def _comments() -> Select:
        c = t.comments.c
        return select(c.id, c.paper_id, c.user_id, c.body, c.created_at, c.edited_at, c.hidden, u.username).join(
            t.users, u.id == c.user_id
        )

    @staticmethod
    def _blank(paper_id: str) -> dict[str, Any]:
        return {"paper_id": paper_id, "upvotes": 0, "num_comments": 0, "hot": 0.0, "hidden": False}

    def _refresh(self, conn: Any, paper_id: str, bump: bool = True) -> dict[str, Any]:
        """Recount a paper's votes and visible comments and store them with its hot score, holding
        the paper's stats row locked from the count to the commit."""
        insert_ignore(conn, t.paper_stats, [self._blank(paper_id)], ["paper_id"])
        conn.execute(select(s.paper_id).where(s.paper_id == paper_id).with_for_update()).first()
        votes = conn.execute(select(func.count()).where(t.votes.c.paper_id == paper_id)).scalar_one()
        c = t.comments.c
        n_comments = conn.execute(
            select(func.count()).where(c.paper_id == paper_id, c.hidden == False)  # noqa: E712
        ).scalar_one()
        paper = conn.execute(
            select(p.announced, p.published, p.first_seen, func.coalesce(p.source_upvotes, literal(0))).where(
                p.id == paper_id
            )
        ).first()
        day = paper_day(dict(zip(("announced", "published", "first_seen"), paper[:3], strict=True))) if paper else None
        total = votes + (paper[3] if paper else 0)
        row = {"upvotes": votes, "num_comments": n_comments, "hot": hot_score(total, day)}
        conn.execute(update(t.paper_stats).where(s.paper_id == paper_id).values(**row))
        if bump:
            _bump(conn)
        return {"paper_id": paper_id, **row}
