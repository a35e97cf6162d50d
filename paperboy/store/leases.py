"""Leases: work that one process at a time may do for the whole store (the indexer's embedding and
topic builds), claimed in the database so replicas on other machines agree on who does it.

A lease is a row (holder, heartbeat, expiry).  Taking it is one transaction: insert the row if
there is none, else take it over with a compare-and-set ``UPDATE … WHERE`` that only matches when
it has expired, is ours already, or names a process on this host that has ended (``owners.py``),
so two claimants can never both win.  The holder renews it well before expiry; a holder that
stops renewing (killed, frozen, cut off) loses it when it expires, and another takes over.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, or_, select, update

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore
from paperboy.store.owners import owner_gone
from paperboy.store.rows import as_dict

_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_FORMAT)


class Leases:
    """Claims on named pieces of work, shared by every process using the store."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def acquire(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew lease ``name`` for ``owner`` for ``ttl`` seconds; whether ``owner`` holds it now."""
        now = self.clock()
        row = {
            "name": name,
            "owner": owner,
            "acquired_at": _stamp(now),
            "heartbeat_at": _stamp(now),
            "expires_at": _stamp(now + timedelta(seconds=ttl)),
        }
        c = t.leases.c
        with self.engine.begin() as conn:
            if insert_ignore(conn, t.leases, [row], ["name"]) == 1:
                return True
            held = conn.execute(select(c.owner).where(c.name == name)).scalar()
            takeable = [c.owner == owner, c.expires_at <= _stamp(now)]
            if held is not None and held != owner and owner_gone(held):
                takeable.append(c.owner == held)  # its process has ended: no need to wait for expiry
            values = {k: v for k, v in row.items() if k != "name"}
            if held == owner:
                del values["acquired_at"]  # a renewal keeps when it was first taken
            taken = conn.execute(update(t.leases).where(c.name == name, or_(*takeable)).values(**values))
            return taken.rowcount == 1

    def renew(self, name: str, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s hold on ``name``; False if it no longer holds it (expired and taken)."""
        now = self.clock()
        c = t.leases.c
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(t.leases)
                .where(c.name == name, c.owner == owner)
                .values(heartbeat_at=_stamp(now), expires_at=_stamp(now + timedelta(seconds=ttl)))
            )
            return renewed.rowcount == 1

    def release(self, name: str, owner: str) -> None:
        """Give ``name`` up (if ``owner`` holds it), so another process may take it at once."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.leases).where(t.leases.c.name == name, t.leases.c.owner == owner))

    def holder(self, name: str) -> dict[str, Any] | None:
        """The lease row (owner, acquired_at, heartbeat_at, expires_at) if it is held and not expired."""
        with self.engine.connect() as conn:
            row = conn.execute(select(t.leases).where(t.leases.c.name == name)).first()
        if row is None or row.expires_at <= _stamp(self.clock()) or owner_gone(row.owner):
            return None
        return as_dict(row)
