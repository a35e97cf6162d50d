"""The few statements whose SQL differs between backends; everything else is portable Core."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, ColumnElement, Connection, Table, bindparam, func, literal_column, select


def _insert_for(conn: Connection) -> Any:
    name = conn.dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upsert is not implemented for {name}")
    return insert


def upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], keep: Sequence[str] = ()
) -> None:
    """Insert rows, or update the existing ones with the same ``keys`` (columns in ``keep`` stay)."""
    if not rows:
        return
    stmt = _insert_for(conn)(table)
    cols = [c for c in rows[0] if c not in keys and c not in keep]
    stmt = (
        stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols})
        if cols
        else stmt.on_conflict_do_nothing(index_elements=list(keys))
    )
    conn.execute(stmt, list(rows))


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> int:
    """Insert rows, silently skipping those whose ``keys`` already exist; how many were inserted."""
    if not rows:
        return 0
    stmt = _insert_for(conn)(table).on_conflict_do_nothing(index_elements=list(keys))
    return conn.execute(stmt, list(rows)).rowcount


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows through the driver's ``executemany``, skipping SQLAlchemy's per-row work.

    Why: an import writes about a million author and category rows; per-row parameter
    processing cost more than SQLite itself.  JSON columns are serialized here with orjson.
    """
    if not rows:
        return
    columns = list(rows[0])
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=columns)
    order = list(compiled.positiontup) if compiled.positional else columns
    getter = itemgetter(*order) if len(order) > 1 else (lambda r: (r[order[0]],))
    json_at = [i for i, c in enumerate(order) if c in json_cols]
    dumps = orjson.dumps
    params: list[Any] = []
    if json_at:
        for r in rows:
            values = list(getter(r))
            for i in json_at:
                values[i] = dumps(values[i]).decode()
            params.append(tuple(values))
    else:
        params = [getter(r) for r in rows]
    if not compiled.positional:
        params = [dict(zip(order, values, strict=True)) for values in params]
    conn.exec_driver_sql(str(compiled), params)


def insert_tuples(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows given as tuples in ``columns`` order (no JSON columns), through ``executemany``."""
    if not rows:
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(columns))
    if compiled.positional and list(compiled.positiontup) == list(columns):
        params: Sequence[Any] = rows
    elif compiled.positional:
        at = [list(columns).index(name) for name in compiled.positiontup]
        params = [tuple(r[i] for i in at) for r in rows]
    else:
        params = [dict(zip(columns, r, strict=True)) for r in rows]
    conn.exec_driver_sql(str(compiled), list(params))


def in_values(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` for a long list: one JSON parameter on SQLite, a plain list elsewhere.

    Why: compiling an expanding ``IN`` with thousands of parameters costs more than the query.
    """
    if conn.dialect.name == "sqlite":
        table = func.json_each(bindparam(None, orjson.dumps(list(values)).decode())).table_valued("value")
        return column.in_(select(literal_column("value")).select_from(table))
    return column.in_(list(values))
