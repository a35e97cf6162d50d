"""Change numbers that readers can follow with a watermark and never miss a commit.

Why: a watermark (``WHERE change > last``) only works if rows become visible in the order of their
numbers.  A number taken from a sequence, or derived from the row (``papers.seq`` for vectors),
does not guarantee that: two writers take 1 and 2, the second commits first, a reader sees 2 and
moves its watermark past 1 before 1 is committed, and never reads it.  ``allocate`` takes the
numbers by updating a ``counters`` row in the writer's own transaction: the row stays locked until
that transaction commits (a row lock on PostgreSQL, the database write lock on SQLite), so the next
writer gets its numbers only after the previous one is visible.  Numbers therefore become visible
in order, as a prefix, on both backends; the price is that writers of one counter commit one at a
time, which for pages of vectors (a few milliseconds of writing each) costs nothing measurable.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore


def allocate(conn: Connection, name: str, count: int) -> int:
    """Take ``count`` numbers from counter ``name`` inside the caller's transaction; the first one.

    Must be the transaction's first write (so SQLite takes its write lock here, before any read
    could make the transaction's snapshot stale), and the transaction must commit soon after.
    """
    c = t.counters.c
    stmt = update(t.counters).where(c.name == name).values(value=c.value + count).returning(c.value)
    top = conn.execute(stmt).scalar()
    if top is None:  # a counter nobody made yet (the migration makes ``vectors``)
        insert_ignore(conn, t.counters, [{"name": name, "value": 0}], ["name"])
        top = conn.execute(stmt).scalar_one()
    return int(top) - count + 1


def current(conn: Connection, name: str) -> int:
    """The last number counter ``name`` handed out (0 before the first)."""
    return conn.execute(select(t.counters.c.value).where(t.counters.c.name == name)).scalar() or 0
