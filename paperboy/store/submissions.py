"""Submissions of papers by arXiv id, as rows: the daily cap counts them, fetches report on them.

A submission row is added (and the submitter's rows of the day counted) in one transaction, so
simultaneous submissions cannot pass the cap together; a fetch that fails keeps its row, so
failed fetches count toward the cap as well.  A row "fetching" names the process doing it; one
whose process died is read as failed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from paperboy.store import schema as t
from paperboy.store.dialect import lock
from paperboy.store.owners import owner_gone
from paperboy.store.rows import as_dict

c = t.submissions.c
#: Why a fetch that will never finish is shown as failed.
DIED = "The fetch was interrupted (the server stopped). Submit the paper again."


class CapReached(Exception):
    """The submitter has used up the day's submissions."""


class BeingFetched(Exception):
    """Another submission of the same paper is being fetched right now."""


class Submissions:
    """Reads and writes of the ``submissions`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(
        self,
        user_id: int,
        paper_id: str,
        now: str,
        day_start: str,
        cap: int,
        state: str,
        owner: str | None = None,
        stale_before: str | None = None,
    ) -> int:
        """A new submission's id; ``CapReached`` or ``BeingFetched`` (nothing is written then).

        ``state`` is ``fetching`` (the paper is fetched in the background; no two fetches of one
        paper at once) or ``claimed`` (the paper is here and is being submitted now).  A
        ``fetching`` row older than ``stale_before``, or whose owner is gone, does not block.
        """
        row = {"user_id": user_id, "paper_id": paper_id, "created_at": now, "state": state, "owner": owner}
        with self.engine.begin() as conn:  # raising rolls the row back: nothing counted
            lock(conn, f"submissions:user:{user_id}", f"submissions:paper:{paper_id}")
            sub_id = conn.execute(insert(t.submissions).values(row)).inserted_primary_key[0]
            today = select(func.count()).where(c.user_id == user_id, c.created_at >= day_start)
            if conn.execute(today).scalar_one() > cap:
                raise CapReached
            if state == "fetching":
                others = conn.execute(
                    select(c.owner, c.created_at).where(c.paper_id == paper_id, c.state == "fetching", c.id != sub_id)
                )
                for other_owner, created in others:
                    if not owner_gone(other_owner) and (stale_before is None or created >= stale_before):
                        raise BeingFetched
            return sub_id

    def finish(self, sub_id: int, state: str, kind: str | None, message: str | None, now: str) -> None:
        """Record how a submission ended: ``done``, or ``refused`` / ``failed`` with the error's kind."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.submissions)
                .where(c.id == sub_id)
                .values(state=state, kind=kind, message=message, finished_at=now)
            )

    def withdraw(self, sub_id: int) -> None:
        """Remove a submission that never got going (so it does not count toward the cap)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.submissions).where(c.id == sub_id))

    def get(self, sub_id: int, stale_before: str | None = None) -> dict[str, Any] | None:
        """One submission; a fetch whose process died (or older than ``stale_before``) reads as failed."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.submissions).where(c.id == sub_id)).first()
        if row is None:
            return None
        sub = as_dict(row)
        if sub["state"] == "fetching" and (
            owner_gone(sub["owner"]) or (stale_before is not None and sub["created_at"] < stale_before)
        ):
            sub.update(state="failed", kind="unavailable", message=DIED)
        return sub

    def of_user(self, user_id: int, since: str, limit: int = 20) -> list[dict[str, Any]]:
        """A user's submissions since a time, newest first."""
        query = select(t.submissions).where(c.user_id == user_id, c.created_at >= since).order_by(c.id.desc())
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query.limit(limit))]

    def count_since(self, user_id: int, since: str) -> int:
        """How many submissions (whatever became of them) a user made since a time."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(c.user_id == user_id, c.created_at >= since)).scalar_one()
