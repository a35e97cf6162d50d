"""Chat webhooks in the store: the hooks, their send log and the papers each one already posted.

The send log works as the digests' does (store/subscriptions.py): a sender *claims* the row of
(hook, period) by a plain insert (the primary key decides between two senders) or takes over a
row left ``failed`` or held by a gone sender by a compare-and-swap on its old owner, and marks it
*sent* together with the papers it carried in one transaction right after the chat service's 2xx.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, delete, func, insert, or_, select, update

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore
from paperboy.store.rows import as_dict

w, s, wp = t.webhooks.c, t.webhook_sends.c, t.webhook_papers.c


class Webhooks:
    """Reads and writes of webhooks and their send log."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- hooks -----------------------------------------------------------------------------
    def create(self, row: dict[str, Any], max_hooks: int) -> int | None:
        """A new hook's id; None when its owner (user or group) has ``max_hooks`` already."""
        owner = w.group_id == row["group_id"] if row.get("group_id") else w.user_id == row["user_id"]
        with self.engine.begin() as conn:
            if conn.execute(select(func.count()).where(owner)).scalar_one() >= max_hooks:
                return None
            return conn.execute(insert(t.webhooks).values(row)).inserted_primary_key[0]

    def get(self, hook_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.webhooks).where(w.id == hook_id)).first()
        return as_dict(row) if row else None

    def of_owner(self, user_id: int | None = None, group_id: int | None = None) -> list[dict[str, Any]]:
        """The hooks of a user (their own) or of a group."""
        where = w.group_id == group_id if group_id is not None else (w.user_id == user_id) & w.group_id.is_(None)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(select(t.webhooks).where(where).order_by(w.id))]

    def every(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(select(t.webhooks).order_by(w.id))]

    def delete(self, hook_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(t.webhook_papers).where(wp.webhook_id == hook_id))
            conn.execute(delete(t.webhook_sends).where(s.webhook_id == hook_id))
            conn.execute(delete(t.webhooks).where(w.id == hook_id))

    def note_result(self, hook_id: int, now: str | None, error: str | None) -> None:
        """What the hook's last attempt did (shown on its owner's page; never the URL)."""
        values: dict[str, Any] = {"last_error": error[:500] if error else None}
        if now is not None:
            values["last_sent_at"] = now
        with self.engine.begin() as conn:
            conn.execute(update(t.webhooks).where(w.id == hook_id).values(**values))

    # -- the send log ----------------------------------------------------------------------
    def send_row(self, hook_id: int, period: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.webhook_sends).where(s.webhook_id == hook_id, s.period == period)).first()
        return as_dict(row) if row else None

    def sends(self, hook_id: int | None = None) -> list[dict[str, Any]]:
        query = select(t.webhook_sends).order_by(s.webhook_id, s.period)
        if hook_id is not None:
            query = query.where(s.webhook_id == hook_id)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def claim(self, row: dict[str, Any]) -> bool:
        """Insert a claim; True when this owner holds it (another sender's earlier insert wins)."""
        with self.engine.begin() as conn:
            insert_ignore(conn, t.webhook_sends, [row], ["webhook_id", "period"])
            holder = conn.execute(
                select(s.owner).where(s.webhook_id == row["webhook_id"], s.period == row["period"])
            ).scalar()
            return holder == row["owner"]

    def take_over(
        self, hook_id: int, period: str, old_owner: str, old_state: str, owner: str, lease_until: str, now: str
    ) -> bool:
        """Compare-and-swap a ``failed`` claim, or one of a gone sender, to this owner."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.webhook_sends)
                .where(s.webhook_id == hook_id, s.period == period, s.owner == old_owner, s.state == old_state)
                .values(
                    state="claimed",
                    owner=owner,
                    lease_until=lease_until,
                    claimed_at=now,
                    error=None,
                    attempts=s.attempts + 1,
                )
            )
            return done.rowcount == 1

    def mark_sent(self, hook_id: int, period: str, paper_ids: Iterable[str], now: str) -> None:
        """The message left: its log row and its papers, in one transaction."""
        rows = [{"webhook_id": hook_id, "paper_id": pid, "period": period} for pid in dict.fromkeys(paper_ids)]
        with self.engine.begin() as conn:
            conn.execute(
                update(t.webhook_sends)
                .where(s.webhook_id == hook_id, s.period == period)
                .values(state="sent", sent_at=now, error=None)
            )
            if rows:
                insert_ignore(conn, t.webhook_papers, rows, ["webhook_id", "paper_id"])
            conn.execute(update(t.webhooks).where(w.id == hook_id).values(last_sent_at=now, last_error=None))

    def release(self, hook_id: int, period: str, owner: str, error: str, state: str = "failed") -> None:
        """Give a claim up (``failed``: the next run retries; ``dead``: refused for good)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.webhook_sends)
                .where(s.webhook_id == hook_id, s.period == period, s.owner == owner, s.state == "claimed")
                .values(state=state, error=error[:2000])
            )
            conn.execute(update(t.webhooks).where(w.id == hook_id).values(last_error=error[:500]))

    def posted(self, hook_id: int) -> set[str]:
        """Every paper the hook already posted."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(wp.paper_id).where(wp.webhook_id == hook_id)).scalars())

    def open_rows(self, hook_ids: list[int]) -> list[dict[str, Any]]:
        """Log rows not sent yet (claimed or failed) of these hooks: older periods to finish first."""
        if not hook_ids:
            return []
        query = select(t.webhook_sends).where(
            s.webhook_id.in_(hook_ids), or_(s.state == "claimed", s.state == "failed")
        )
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query.order_by(s.period))]
