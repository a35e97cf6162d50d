"""Follows in the store: which authors, categories, saved searches and topics a user follows, and
the reads built on them (follower counts, a followed author's or category's new papers, co-authors).

One table for every kind of thing followed (``kind``, ``target``): a new kind (topics) needs no
new table, only a way to find its papers in the service layer (services/follows.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, func, or_, select

from paperboy.store import schema as t
from paperboy.store.dialect import in_values, insert_ignore
from paperboy.store.rows import as_dict

f, p, pa, pc = t.follows.c, t.papers.c, t.paper_authors.c, t.paper_categories.c


def _visible() -> Any:
    return func.coalesce(t.paper_stats.c.hidden, False) == False  # noqa: E712 - SQL, not Python


class Follows:
    """Reads and writes of follows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def follow(self, user_id: int, kind: str, target: str, label: str, now: str, max_follows: int) -> bool | None:
        """Follow something; False when it was followed already (nothing changes), None when the
        user follows ``max_follows`` things (counted in the insert's transaction)."""
        row = {"user_id": user_id, "kind": kind, "target": target, "label": label, "created_at": now}
        with self.engine.begin() as conn:
            if self._has(conn, user_id, kind, target):
                return False
            if conn.execute(select(func.count()).where(f.user_id == user_id)).scalar_one() >= max_follows:
                return None
            insert_ignore(conn, t.follows, [row], ["user_id", "kind", "target"])
        return True

    def unfollow(self, user_id: int, kind: str, target: str) -> bool:
        with self.engine.begin() as conn:
            gone = conn.execute(delete(t.follows).where(f.user_id == user_id, f.kind == kind, f.target == target))
            return gone.rowcount > 0

    def count_for(self, user_id: int) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(f.user_id == user_id)).scalar_one()

    def of_user(self, user_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        """What a user follows, by kind then label."""
        query = select(f.kind, f.target, f.label, f.created_at).where(f.user_id == user_id)
        if kind is not None:
            query = query.where(f.kind == kind)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query.order_by(f.kind, func.lower(f.label)))]

    def of_email(self, email: str) -> list[dict[str, Any]]:
        """What the account with this address follows (digests are by address)."""
        u = t.users.c
        query = (
            select(f.kind, f.target, f.label)
            .join(t.users, u.id == f.user_id)
            .where(u.email == email.strip().lower())
            .order_by(f.kind, f.target)
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def following(self, user_id: int, kind: str, targets: Iterable[str]) -> set[str]:
        """Which of ``targets`` (of one kind) the user follows."""
        wanted = list(targets)
        if not wanted:
            return set()
        with self.engine.connect() as conn:
            query = select(f.target).where(f.user_id == user_id, f.kind == kind, in_values(conn, f.target, wanted))
            return set(conn.execute(query).scalars())

    def followers(self, kind: str, target: str) -> int:
        """How many users follow this."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(f.kind == kind, f.target == target)).scalar_one()

    # -- papers of followed things ---------------------------------------------------------
    def author_papers(self, keys: list[str], since: str | None, limit: int = 500) -> list[tuple[str, str]]:
        """``(paper_id, author key)`` of visible papers by these authors announced on or after
        ``since``, newest first (a paper by two followed authors appears once per author)."""
        if not keys:
            return []
        query = (  # the day in the select list: PostgreSQL orders a DISTINCT only by what it selects
            select(pa.paper_id, pa.author_key, p.announced)
            .distinct()
            .join(t.papers, p.id == pa.paper_id)
            .outerjoin(t.paper_stats, t.paper_stats.c.paper_id == p.id)
            .where(pa.author_key.in_(keys), _visible())
            .order_by(p.announced.desc(), pa.paper_id.desc())
            .limit(limit)
        )
        if since:
            query = query.where(p.announced >= since)
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query)]

    def category_papers(self, categories: list[str], since: str | None, limit: int = 500) -> list[tuple[str, str]]:
        """``(paper_id, followed category)`` of visible papers in these categories (``cs`` is every
        ``cs.*``, any case) announced on or after ``since``, newest first."""
        if not categories:
            return []
        out: list[tuple[str, str]] = []
        with self.engine.connect() as conn:
            for cat in categories:
                match = or_(func.lower(pc.category) == cat, func.lower(pc.category).like(cat + ".%"))
                if "." in cat:
                    match = func.lower(pc.category) == cat
                query = (
                    select(pc.paper_id, p.announced)
                    .distinct()
                    .join(t.papers, p.id == pc.paper_id)
                    .outerjoin(t.paper_stats, t.paper_stats.c.paper_id == p.id)
                    .where(match, _visible())
                    .order_by(p.announced.desc(), pc.paper_id.desc())
                    .limit(limit)
                )
                if since:
                    query = query.where(p.announced >= since)
                out.extend((pid, cat) for pid in conn.execute(query).scalars())
        return out

    def author_names(self, key: str, limit: int = 20) -> list[tuple[str, int]]:
        """The spellings under one author key, most used first: ``(name, papers)``."""
        query = select(p.authors, pa.position).join(t.papers, p.id == pa.paper_id).where(pa.author_key == key)
        counts: dict[str, int] = {}
        with self.engine.connect() as conn:
            for authors, position in conn.execute(query.limit(5000)):
                if isinstance(authors, list) and 0 <= position < len(authors):
                    name = str(authors[position])
                    counts[name] = counts.get(name, 0) + 1
        return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]

    def coauthors(self, key: str, limit: int = 20) -> list[tuple[str, int]]:
        """``(co-author key, papers together)`` of one author, most frequent first."""
        mine = select(pa.paper_id).where(pa.author_key == key).limit(5000).scalar_subquery()
        other = t.paper_authors.alias("other")
        query = (
            select(other.c.author_key, func.count(func.distinct(other.c.paper_id)).label("n"))
            .where(other.c.paper_id.in_(mine), other.c.author_key != key, other.c.author_key != "")
            .group_by(other.c.author_key)
            .order_by(func.count(func.distinct(other.c.paper_id)).desc(), other.c.author_key)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(query)]

    def display_names(self, keys: list[str]) -> dict[str, str]:
        """One spelling per author key (the one of its newest paper)."""
        if not keys:
            return {}
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            query = (
                select(pa.author_key, pa.position, p.authors)
                .join(t.papers, p.id == pa.paper_id)
                .where(in_values(conn, pa.author_key, keys))
                .order_by(p.announced.desc())
            )
            for key, position, authors in conn.execute(query):
                if key not in out and isinstance(authors, list) and 0 <= position < len(authors):
                    out[key] = str(authors[position])
        return out

    @staticmethod
    def _has(conn: Any, user_id: int, kind: str, target: str) -> bool:
        query = select(func.count()).where(f.user_id == user_id, f.kind == kind, f.target == target)
        return bool(conn.execute(query).scalar_one())
