"""Email digests in the store: subscribers, the send log that makes each digest go out once, and
the papers already sent to each subscriber.

The send log holds one row per (subscriber, period).  A sender *claims* a row before it hands the
message to the SMTP server and marks it *sent* in the same transaction that records the papers it
carried and moves the subscriber's window on.  Claims are taken by a plain insert (the primary key
decides between two senders) or, for a row left ``failed`` or held by a sender that is gone, by a
compare-and-swap update on the old owner; both are single statements, so two senders (cron and
``paperboy serve``, two machines on one PostgreSQL) can never hold the same claim.  The service
layer (services/delivery.py) documents the resulting guarantee.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, insert, or_, select, union_all, update
from sqlalchemy.exc import IntegrityError

from paperboy.store import schema as t
from paperboy.store.dialect import CompiledStatement, in_values, insert_ignore, insert_ignore_statement
from paperboy.store.people import Conflict
from paperboy.store.rows import as_dict

sub, send, sent = t.subscribers.c, t.digest_sends.c, t.digest_papers.c
p = t.papers.c


def _liked_query() -> Any:
    """Votes and saves of the account with address ``:email``, the latest ``:limit``, with their vectors.

    Built once: constructing it per call cost more than running it (named subqueries, bound values).
    """
    u, v, pv, c, ci = t.users.c, t.votes.c, t.paper_vectors.c, t.collections.c, t.collection_items.c
    user = select(u.id).where(u.email == bindparam("email")).scalar_subquery()
    mine = union_all(
        select(v.paper_id.label("paper_id"), v.created_at.label("at")).where(v.user_id == user),
        select(ci.paper_id, ci.added_at)
        .select_from(t.collection_items.join(t.collections, c.id == ci.collection_id))
        .where(c.user_id == user),
    ).subquery("mine")
    latest = (
        select(mine.c.paper_id, func.max(mine.c.at).label("at"))
        .group_by(mine.c.paper_id)
        .order_by(func.max(mine.c.at).desc())
        .limit(bindparam("limit"))
        .subquery("latest")
    )
    return (
        select(latest.c.paper_id, p.title, pv.model, pv.vector)
        .select_from(
            latest.join(t.papers, p.id == latest.c.paper_id).outerjoin(
                t.paper_vectors, pv.paper_id == latest.c.paper_id
            )
        )
        .order_by(latest.c.at.desc())
    )


_LIKED = CompiledStatement(lambda conn: _liked_query())


def _excluded_query() -> Any:
    """Papers never to put in ``:subscriber``'s digest: already sent to them, or marked "not
    interested" by the account with their address ``:email``."""
    f, u = t.paper_feedback.c, t.users.c
    return union_all(
        select(sent.paper_id).where(sent.subscriber_id == bindparam("subscriber")),
        select(f.paper_id)
        .select_from(t.paper_feedback.join(t.users, u.id == f.user_id))
        .where(u.email == bindparam("email"), f.kind == "not_interested"),
    )


_EXCLUDED = CompiledStatement(lambda conn: _excluded_query())


_MARK_SENT = CompiledStatement(
    lambda conn: (
        update(t.digest_sends)
        .where(send.subscriber_id == bindparam("sid"), send.period == bindparam("period"))
        .values(state="sent", sent_at=bindparam("now"), error=None)
    )
)
_SENT_PAPERS = CompiledStatement(
    lambda conn: insert_ignore_statement(conn, t.digest_papers, ["subscriber_id", "paper_id"]),
    ("subscriber_id", "paper_id", "period"),
)
_MOVE_WINDOW = CompiledStatement(
    lambda conn: (
        update(t.subscribers)
        .where(sub.id == bindparam("sid"))
        .values(
            last_period=bindparam("period"),
            last_sent_at=bindparam("now"),
            covered_until=bindparam("until"),
            covered_seq=bindparam("seq"),
        )
    )
)

#: Preference columns a subscriber may change.
PREFERENCES = ("frequency", "sections", "items", "categories", "searches")


class Subscriptions:
    """Reads and writes of subscribers, the digest send log and the sent papers."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- subscribers ---------------------------------------------------------------------
    def create(self, email: str, link_key: str, now: str, *, confirmed: bool = False, **prefs: Any) -> int:
        """A new subscription's id (``Conflict`` when the address is already subscribed)."""
        row = {
            "email": email.lower(),
            "confirmed": confirmed,
            "bounced": False,
            "frequency": prefs.get("frequency", "daily"),
            "sections": list(prefs.get("sections", [])),
            "items": int(prefs.get("items", 5)),
            "categories": list(prefs.get("categories", [])),
            "searches": list(prefs.get("searches", [])),
            "link_key": link_key,
            "created_at": now,
            "confirmed_at": now if confirmed else None,
        }
        try:
            with self.engine.begin() as conn:
                return conn.execute(insert(t.subscribers).values(row)).inserted_primary_key[0]
        except IntegrityError as exc:
            raise Conflict("email") from exc

    def get(self, subscriber_id: int) -> dict[str, Any] | None:
        """One subscriber by id."""
        return self._one(select(t.subscribers).where(sub.id == subscriber_id))

    def by_email(self, email: str) -> dict[str, Any] | None:
        """One subscriber by address (any case)."""
        return self._one(select(t.subscribers).where(sub.email == email.strip().lower()))

    def every(self, limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """Subscribers in the order they came."""
        query = select(t.subscribers).order_by(sub.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    def active(self, email: str | None = None) -> list[dict[str, Any]]:
        """Confirmed subscribers whose address has not bounced (only ``email``'s when given)."""
        query = select(t.subscribers).where(sub.confirmed == True, sub.bounced == False)  # noqa: E712
        if email is not None:
            query = query.where(sub.email == email.strip().lower())
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query.order_by(sub.id))]

    def counts(self) -> dict[str, int]:
        """How many subscribers are confirmed, waiting for confirmation, bounced."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(sub.confirmed, sub.bounced, func.count()).group_by(sub.confirmed, sub.bounced))
            out = {"confirmed": 0, "pending": 0, "bounced": 0}
            for confirmed, bounced, n in rows:
                out["bounced" if bounced else "confirmed" if confirmed else "pending"] += n
        return out

    def confirmation_sent(self, subscriber_id: int, now: str) -> None:
        """Note when a confirmation (or reminder) mail went out."""
        self._update(subscriber_id, confirm_sent_at=now)

    def confirm(self, subscriber_id: int, now: str) -> bool:
        """Confirm a subscription (clears a bounce: the address just proved it receives mail).

        False when it was already confirmed (nothing changed).
        """
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.subscribers)
                .where(sub.id == subscriber_id, or_(sub.confirmed == False, sub.bounced == True))  # noqa: E712
                .values(confirmed=True, confirmed_at=now, bounced=False, bounce_reason=None, bounced_at=None)
            )
            return done.rowcount == 1

    def restart(self, subscriber_id: int, link_key: str) -> None:
        """Make a bounced subscription wait for confirmation again, with new links."""
        self._update(subscriber_id, confirmed=False, link_key=link_key)

    def set_preferences(self, subscriber_id: int, **prefs: Any) -> None:
        """Change what a subscriber receives (only the keys in ``PREFERENCES``)."""
        values = {k: v for k, v in prefs.items() if k in PREFERENCES}
        if values:
            self._update(subscriber_id, **values)

    def delete(self, subscriber_id: int) -> bool:
        """Forget a subscriber with their send log and sent papers (unsubscribing)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.digest_papers).where(sent.subscriber_id == subscriber_id))
            conn.execute(delete(t.digest_sends).where(send.subscriber_id == subscriber_id))
            return conn.execute(delete(t.subscribers).where(sub.id == subscriber_id)).rowcount == 1

    # -- the send log --------------------------------------------------------------------
    def send_row(self, subscriber_id: int, period: str) -> dict[str, Any] | None:
        """The log row of one digest, if any."""
        return self._one(select(t.digest_sends).where(send.subscriber_id == subscriber_id, send.period == period))

    def send_rows(self, subscriber_ids: list[int], period_of: dict[int, str]) -> dict[int, dict[str, Any]]:
        """The log rows of many subscribers' current periods (``period_of``: subscriber -> period)."""
        out: dict[int, dict[str, Any]] = {}
        periods = sorted(set(period_of.values()))
        if not subscriber_ids or not periods:
            return out
        with self.engine.connect() as conn:
            query = select(t.digest_sends).where(
                in_values(conn, send.subscriber_id, subscriber_ids), send.period.in_(periods)
            )
            for row in conn.execute(query):
                if period_of.get(row.subscriber_id) == row.period:
                    out[row.subscriber_id] = as_dict(row)
        return out

    def claim(self, rows: list[dict[str, Any]], owner: str) -> set[tuple[int, str]]:
        """Insert new claims (``rows`` hold every column, ``owner`` theirs); the (subscriber, period)
        pairs this owner now holds.  One transaction for many: the primary key decides each row
        between two senders, and a row someone else inserted first is simply not ours."""
        if not rows:
            return set()
        with self.engine.begin() as conn:
            insert_ignore(conn, t.digest_sends, rows, ["subscriber_id", "period"])
            query = select(send.subscriber_id, send.period).where(
                send.owner == owner, in_values(conn, send.subscriber_id, [r["subscriber_id"] for r in rows])
            )
            return {(sid, period) for sid, period in conn.execute(query)}

    def take_over(
        self, subscriber_id: int, period: str, old_owner: str, old_state: str, owner: str, lease_until: str, now: str
    ) -> bool:
        """Take a ``failed`` claim or one whose sender is gone: compare-and-swap on its old owner and state."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t.digest_sends)
                .where(
                    send.subscriber_id == subscriber_id,
                    send.period == period,
                    send.owner == old_owner,
                    send.state == old_state,
                )
                .values(
                    state="claimed",
                    owner=owner,
                    lease_until=lease_until,
                    claimed_at=now,
                    error=None,
                    attempts=send.attempts + 1,
                )
            )
            return done.rowcount == 1

    def mark_sent(
        self, subscriber_id: int, period: str, paper_ids: Iterable[str], window: dict[str, Any], now: str
    ) -> None:
        """Record a delivered digest: the log row, its papers and the subscriber's window, in one transaction.

        The row is marked sent whoever holds the claim: the message has left, and the log must say so.
        """
        rows = [{"subscriber_id": subscriber_id, "paper_id": pid, "period": period} for pid in dict.fromkeys(paper_ids)]
        with self.engine.begin() as conn:
            _MARK_SENT.run(conn, {"sid": subscriber_id, "period": period, "now": now})
            _SENT_PAPERS.run(conn, rows)
            _MOVE_WINDOW.run(
                conn,
                {
                    "sid": subscriber_id,
                    "period": period,
                    "now": now,
                    "until": window.get("covered_until"),
                    "seq": window.get("covered_seq"),
                },
            )

    def release(self, subscriber_id: int, period: str, owner: str, error: str) -> None:
        """Give a claim up after a temporary failure: the next run tries again."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.digest_sends)
                .where(
                    send.subscriber_id == subscriber_id,
                    send.period == period,
                    send.owner == owner,
                    send.state == "claimed",
                )
                .values(state="failed", error=error[:2000])
            )

    def mark_bounced(self, subscriber_id: int, period: str | None, reason: str, now: str) -> None:
        """A permanent failure: no more mail to this address (its claim, if any, is never retried)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.subscribers)
                .where(sub.id == subscriber_id)
                .values(bounced=True, bounce_reason=reason[:2000], bounced_at=now)
            )
            if period is not None:
                conn.execute(
                    update(t.digest_sends)
                    .where(send.subscriber_id == subscriber_id, send.period == period)
                    .values(state="bounced", error=reason[:2000])
                )

    def sends(self, period: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        """Log rows (of one period, in one state), for the command line and the tests."""
        query = select(t.digest_sends).order_by(send.period, send.subscriber_id)
        if period is not None:
            query = query.where(send.period == period)
        if state is not None:
            query = query.where(send.state == state)
        with self.engine.connect() as conn:
            return [as_dict(r) for r in conn.execute(query)]

    # -- what a digest may contain ---------------------------------------------------------
    def sent_papers(self, subscriber_id: int) -> set[str]:
        """Every paper already sent to a subscriber."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(sent.paper_id).where(sent.subscriber_id == subscriber_id)).scalars())

    def liked(self, email: str, model: str, limit: int = 100) -> list[tuple[str, str, bytes | None]]:
        """(paper id, title, vector of ``model`` or None) of the papers the account with this address
        upvoted or saved in a collection, latest first: one query for the "papers like yours" section."""
        with self.engine.connect() as conn:
            rows = _LIKED.rows(conn, {"email": email.lower(), "limit": limit})
            return [(pid, title, vec if kind == model else None) for pid, title, kind, vec in rows]

    def excluded(self, subscriber_id: int, email: str) -> set[str]:
        """Papers a subscriber's digest must leave out: sent before, or marked "not interested"."""
        with self.engine.connect() as conn:
            return {row[0] for row in _EXCLUDED.rows(conn, {"subscriber": subscriber_id, "email": email.lower()})}

    def window_end(self, until: str) -> tuple[str | None, int]:
        """(The newest announcement day on or before ``until``, the store's change counter now)."""
        with self.engine.connect() as conn:
            seq = conn.execute(select(func.max(p.seq))).scalar() or 0
            day = conn.execute(select(func.max(p.announced)).where(p.announced <= until)).scalar()
        return day, seq

    def candidates(self, since: str, until: str, late_from: str, after_seq: int) -> list[str]:
        """Papers announced after ``since`` up to ``until``, and the ones of ``late_from``..``since``
        that reached the store after change ``after_seq`` (imported after the last digest was built)."""
        query = select(p.id).where(
            p.announced >= late_from,
            p.announced <= until,
            or_(p.announced > since, p.seq > after_seq),
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(p.announced.desc(), p.id.desc())).scalars())

    def vectors_of(self, model: str, ids: list[str]) -> dict[str, bytes]:
        """Stored vectors of ``model`` for some papers (stale ones included: close enough to rank by).

        Looked up by paper id alone and filtered by model here: given the model in SQL, SQLite
        prefers the (model, seq) index and reads every vector of the model.
        """
        if not ids:
            return {}
        v = t.paper_vectors.c
        out: dict[str, bytes] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 20000):
                query = select(v.paper_id, v.model, v.vector).where(
                    in_values(conn, v.paper_id, ids[start : start + 20000])
                )
                out.update((pid, vec) for pid, kind, vec in conn.execute(query) if kind == model)
        return out

    # -- internals -----------------------------------------------------------------------
    def _update(self, subscriber_id: int, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.subscribers).where(sub.id == subscriber_id).values(**values))

    def _one(self, query: Any) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return as_dict(row) if row else None
