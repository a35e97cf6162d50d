"""Private notes in the store: one Markdown note per user and saved paper."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, Text, delete, func, or_, select

from paperboy.store import schema as t
from paperboy.store.dialect import in_values, upsert
from paperboy.store.rows import as_dict

n, p, c, ci = t.notes.c, t.papers.c, t.collections.c, t.collection_items.c


class Notes:
    """Reads and writes of notes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, user_id: int, paper_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.notes).where(n.user_id == user_id, n.paper_id == paper_id)).first()
        return as_dict(row) if row else None

    def put(self, user_id: int, paper_id: str, body: str, now: str) -> None:
        """Write (or replace) a note, keeping when it was first written."""
        with self.engine.begin() as conn:
            created = conn.execute(select(n.created_at).where(n.user_id == user_id, n.paper_id == paper_id)).scalar()
            row = {
                "user_id": user_id,
                "paper_id": paper_id,
                "body": body,
                "created_at": created or now,
                "updated_at": now,
            }
            upsert(conn, t.notes, [row], ["user_id", "paper_id"])

    def delete(self, user_id: int, paper_id: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(delete(t.notes).where(n.user_id == user_id, n.paper_id == paper_id)).rowcount > 0

    def of_papers(self, user_id: int, ids: Iterable[str]) -> dict[str, str]:
        """``{paper id: note}`` of the user's notes among ``ids``."""
        wanted = list(ids)
        if not wanted:
            return {}
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 5000):
                query = select(n.paper_id, n.body).where(
                    n.user_id == user_id, in_values(conn, n.paper_id, wanted[start : start + 5000])
                )
                out.update((pid, body) for pid, body in conn.execute(query))
        return out

    def search(self, user_id: int, words: list[str], limit: int = 200) -> list[str]:
        """Ids of the user's saved papers whose note, title or authors hold every word (any case),
        latest saved first."""
        saved = (
            select(ci.paper_id, func.max(ci.added_at).label("at"))
            .join(t.collections, c.id == ci.collection_id)
            .where(c.user_id == user_id)
            .group_by(ci.paper_id)
            .subquery("saved")
        )
        note = t.notes.alias("mine")
        query = (
            select(saved.c.paper_id)
            .select_from(
                saved.join(t.papers, p.id == saved.c.paper_id).outerjoin(
                    note, (note.c.paper_id == saved.c.paper_id) & (note.c.user_id == user_id)
                )
            )
            .order_by(saved.c.at.desc(), saved.c.paper_id)
            .limit(limit)
        )
        for word in words:
            pattern = "%" + word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                or_(
                    func.lower(func.coalesce(note.c.body, "")).like(pattern, escape="\\"),
                    func.lower(p.title).like(pattern, escape="\\"),
                    func.lower(func.cast(p.authors, Text)).like(pattern, escape="\\"),
                )
            )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())
