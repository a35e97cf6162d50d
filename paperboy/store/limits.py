"""Rate limits that hold under concurrency: each attempt is a row, counted in the transaction
that adds it.

The transaction first takes a lock on its keys (``dialect.lock``: SQLite's write lock, a
PostgreSQL advisory lock), so it counts every attempt committed before it: of many simultaneous
attempts exactly ``limit`` get through, however they interleave, and however many web replicas
share the store.  (An in-memory counter checked before slow work and updated after it let 30
simultaneous wrong passwords all be checked.)
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, select

from paperboy.store import schema as t
from paperboy.store.dialect import lock

a = t.attempts.c


class _Full(Exception):
    def __init__(self, oldest: str | None) -> None:
        self.oldest = oldest


class Limits:
    """Reads and writes of the ``attempts`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def take(self, keys: list[str], limit: int, since: str, now: str) -> tuple[list[int], str | None]:
        """Count one attempt for every key, unless a key already has ``limit`` attempts since ``since``.

        Returns (the new attempts' ids, None) when allowed, or ([], the oldest attempt time of a
        key that is full) when refused, in which case nothing is counted.
        """
        try:
            with self.engine.begin() as conn:
                lock(conn, *(f"attempts:{k}" for k in keys))
                add = insert(t.attempts)
                ids = [conn.execute(add.values(key=k, created_at=now)).inserted_primary_key[0] for k in keys]
                for key in keys:
                    recent = (a.key == key, a.created_at > since)
                    if conn.execute(select(func.count()).where(*recent)).scalar_one() > limit:
                        raise _Full(conn.execute(select(func.min(a.created_at)).where(*recent)).scalar())
                if ids and ids[0] % 1000 == 0:  # now and then, forget attempts older than a day
                    conn.execute(delete(t.attempts).where(a.created_at < _day_before(now)))
                return ids, None
        except _Full as full:  # the transaction was rolled back: nothing counted
            return [], full.oldest

    def count(self, key: str, since: str) -> int:
        """Attempts of a key since a time."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).where(a.key == key, a.created_at > since)).scalar_one()

    def forget(self, key: str | None = None, ids: list[int] | None = None) -> None:
        """Drop every attempt of a key (its owner got in), and/or the attempts with these ids."""
        with self.engine.begin() as conn:
            if key is not None:
                conn.execute(delete(t.attempts).where(a.key == key))
            if ids:
                conn.execute(delete(t.attempts).where(a.id.in_(ids)))


def _day_before(stamp: str) -> str:
    from datetime import datetime, timedelta

    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(days=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
