"""Copying a whole store to another database (``paperboy migrate-store``): SQLite to PostgreSQL
and back.

Every table is copied in dependency order (a table after those it refers to), in batches through
the bulk paths (COPY on PostgreSQL), inside one transaction on the target: a copy that fails or is
interrupted leaves the target as it was.  The source is read from one snapshot.  Rows that refer
to a row no longer there (SQLite runs with foreign keys off, so a re-keyed paper can leave a vote
or a comment behind) cannot go into a database that checks them: they are counted and reported,
never silently dropped.  PostgreSQL's id sequences are then set past the largest copied id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, func, or_, select, text

from paperboy.store import schema as t
from paperboy.store.dialect import bulk_insert

BATCH = 5000


class TargetNotEmpty(Exception):
    """The target store holds data already (``replace`` was not asked for)."""


@dataclass
class Copied:
    """What a copy did, table by table."""

    #: rows copied, per table, in copy order
    rows: dict[str, int] = field(default_factory=dict)
    #: rows left out because they refer to a row that is not in the store, per table
    orphans: dict[str, int] = field(default_factory=dict)


def tables() -> list[Table]:
    """Every table of the store, each after the tables it refers to."""
    return list(t.metadata.sorted_tables)


def _links(table: Table, dialect: str) -> list[tuple[Any, Any]]:
    """(column, referenced column) of the foreign keys ``table`` has on ``dialect``."""
    pairs = []
    for constraint in table.foreign_key_constraints:
        if table.name in t.SQLITE_ONLY_FOREIGN_KEYS and dialect != "sqlite":
            continue
        for element in constraint.elements:
            pairs.append((element.parent, element.column))
    return pairs


def _kept(table: Table, target_dialect: str) -> Any:
    """The rows of ``table`` whose references all exist (what a checking target accepts)."""
    conditions = [
        or_(column.is_(None), column.in_(select(referenced)))
        for column, referenced in _links(table, target_dialect)
        if referenced.table is not table
    ]
    return and_(*conditions) if conditions else None


def _ordered(table: Table) -> list[Any]:
    return list(table.primary_key.columns) or list(table.columns)


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection that reads the whole source as of one moment."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # Python's sqlite3 would read each statement on its own
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            conn.rollback()


def is_empty(engine: Engine) -> bool:
    """Whether a store holds nothing but what its migrations put there."""
    with engine.connect() as conn:
        for table in tables():
            query = select(func.count()).select_from(table)
            if table is t.counters:  # migrations seed the activity counter
                query = query.where(t.counters.c.name != "activity", t.counters.c.value != 0)
            if conn.execute(query).scalar_one():
                return False
    return True


def count_rows(engine: Engine) -> dict[str, int]:
    """Rows per table."""
    with engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one() for table in tables()}


def copy_store(
    source: Engine,
    target: Engine,
    replace: bool = False,
    progress: Callable[[str, int], None] | None = None,
) -> Copied:
    """Copy every row of ``source`` into ``target`` (both migrated to the same revision).

    ``TargetNotEmpty`` when the target holds data, unless ``replace``: then its rows are deleted
    first, in the same transaction.  ``progress(table, rows)`` is called after every batch.
    """
    if not replace and not is_empty(target):
        raise TargetNotEmpty("the target store is not empty")
    done = Copied()
    dialect = target.dialect.name
    with _snapshot(source) as reader, target.begin() as writer:
        for table in reversed(tables()):
            writer.execute(delete(table))
        for table in tables():
            kept = _kept(table, dialect)
            query = select(table).order_by(*_ordered(table))
            total = reader.execute(select(func.count()).select_from(table)).scalar_one()
            if kept is not None:
                query = query.where(kept)
            copied = 0
            result = reader.execution_options(yield_per=BATCH).execute(query)
            for batch in result.mappings().partitions(BATCH):
                bulk_insert(writer, table, [dict(row) for row in batch])
                copied += len(batch)
                if progress:
                    progress(table.name, len(batch))
            done.rows[table.name] = copied
            if total > copied:
                done.orphans[table.name] = total - copied
                if progress:
                    progress(table.name, total - copied)
        if dialect == "postgresql":
            _reset_sequences(writer)
    return done


def _reset_sequences(conn: Connection) -> None:
    """Set each id sequence past the largest id copied (COPY does not move them)."""
    for table in tables():
        for column in table.primary_key.columns:
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:table, :column)"), {"table": table.name, "column": column.name}
            ).scalar()
            if sequence:
                largest = conn.execute(select(func.max(column))).scalar()
                conn.execute(text("SELECT setval(:seq, :value, :called)"),
                             {"seq": sequence, "value": largest or 1, "called": largest is not None})  # fmt: skip
