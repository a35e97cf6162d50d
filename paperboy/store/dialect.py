"""The few statements whose SQL differs between backends, and statements compiled once per backend;
everything else is portable Core."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    text,
)


def insert_for(conn: Connection) -> Any:
    """The backend's ``insert`` construct (the one with ``on_conflict_…``)."""
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
    stmt = insert_for(conn)(table)
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
    stmt = insert_for(conn)(table).on_conflict_do_nothing(index_elements=list(keys))
    # SQLAlchemy reports an INSERT's row count only when asked to (on psycopg it is -1 otherwise)
    return conn.execute(stmt.execution_options(preserve_rowcount=True), list(rows)).rowcount


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows through the driver's ``executemany`` (SQLite) or ``COPY`` (PostgreSQL),
    skipping SQLAlchemy's per-row work.

    Why: an import writes about a million author and category rows; per-row parameter
    processing cost more than SQLite itself.  JSON columns are serialized here with orjson.
    """
    if not rows:
        return
    columns = list(rows[0])
    json_cols = {c.name for c in table.columns if isinstance(c.type, JSON)}
    if conn.dialect.name == "postgresql":
        getter = itemgetter(*columns) if len(columns) > 1 else (lambda r: (r[columns[0]],))
        at = [i for i, c in enumerate(columns) if c in json_cols]
        dumps = orjson.dumps
        values = []
        for r in rows:
            row = list(getter(r))
            for i in at:
                row[i] = dumps(row[i]).decode()
            values.append(row)
        _copy(conn, table, columns, values)
        return
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
    """Insert rows given as tuples in ``columns`` order (no JSON columns), through ``executemany``
    (SQLite) or ``COPY`` (PostgreSQL)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, rows)
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


def _copy_text(value: Any) -> str:
    """One value as COPY's text format writes it (a backslash, tab, newline or carriage return
    inside a value escaped)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        if "\\" in value:  # (str.replace is several times faster than str.translate here)
            value = value.replace("\\", "\\\\")
        if "\t" in value or "\n" in value or "\r" in value:
            return value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        return value
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\\\x" + bytes(value).hex()
    return str(value)


def _copy(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """PostgreSQL: ``COPY … FROM STDIN`` in the connection's transaction, the rows formatted here.

    Why: psycopg's ``executemany`` still runs one INSERT per row, and its ``write_row`` adapts
    each value on its own; formatting COPY's text format here took a quarter of the time.
    """
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    raw = conn.connection.driver_connection
    text_of = _copy_text
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            copy.write("".join("\t".join(map(text_of, row)) + "\n" for row in chunk).encode())


def in_values(conn: Connection, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` for a long list (of strings or of ints): one JSON parameter on SQLite, one array
    parameter on PostgreSQL (``= ANY(…)``).

    Why: compiling an expanding ``IN`` with thousands of parameters costs more than the query
    (on PostgreSQL, 10,000 ids took 0.6 s to bind and plan, the array a few milliseconds).
    """
    if conn.dialect.name == "sqlite":
        table = func.json_each(bindparam(None, orjson.dumps(list(values)).decode())).table_valued("value")
        return column.in_(select(literal_column("value")).select_from(table))
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        values = list(values)
        kind = BigInteger() if values and isinstance(values[0], int) else Text()
        return column == any_(bindparam(None, values, type_=ARRAY(kind)))
    return column.in_(list(values))


def lock(conn: Connection, *names: str) -> None:
    """Serialize the transactions that decide on the same thing (a count under a limit, the next
    ``seq``) until this one ends.

    PostgreSQL (READ COMMITTED) lets two transactions count the same rows and both act on the
    count; a transaction-scoped advisory lock per name (in sorted order, so two transactions
    never wait for each other) makes the second wait and count again.  SQLite has one writer at
    a time: a write that changes nothing takes that lock now, before the reads the decision rests
    on (Python's sqlite3 begins a transaction only at the first write).
    """
    if conn.dialect.name == "postgresql":
        for name in sorted(set(names)):
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"), {"name": name})
    else:
        conn.execute(text("UPDATE counters SET value = value WHERE name = '#lock'"))


def batch_commit(conn: Connection) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL).

    For import batches only: SQLite's WAL mode with ``synchronous=NORMAL`` does the same for
    every commit.  A crash of the machine may then lose the last batches committed, never
    corrupt anything; running the import again restores them (as after ``kill -9``).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL synchronous_commit TO off"))


def insert_ignore_statement(conn: Connection, table: Any, keys: list[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` for the connection's backend."""
    return insert_for(conn)(table).on_conflict_do_nothing(index_elements=keys)


class CompiledStatement:
    """A Core statement compiled once per backend and run through the driver directly.

    Why: recording a sent digest happens 10,000 times a run, and SQLAlchemy's work per execution
    (cache keys, parameter processing, ``insertmanyvalues``) cost more than SQLite's.  Only for
    statements whose values need no conversion (no JSON, dates as strings).
    """

    def __init__(self, make: Callable[[Connection], Any], columns: tuple[str, ...] | None = None) -> None:
        self.make = make
        self.columns = columns
        self._compiled: dict[str, tuple[str, list[str] | None, dict[str, Any]]] = {}

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows a query returns, as plain tuples."""
        sql, order, defaults = self._compile(conn)
        values = {**defaults, **params}
        return conn.exec_driver_sql(sql, tuple(values[k] for k in order) if order is not None else values).all()

    def _compile(self, conn: Connection) -> tuple[str, list[str] | None, dict[str, Any]]:
        name = conn.dialect.name
        if name not in self._compiled:
            kw = {"column_keys": list(self.columns)} if self.columns else {}
            compiled = self.make(conn).compile(dialect=conn.dialect, **kw)
            order = list(compiled.positiontup) if compiled.positional else None
            defaults = {key: bind.value for key, bind in compiled.binds.items() if not bind.required}
            self._compiled[name] = (str(compiled), order, defaults)
        return self._compiled[name]

    def run(self, conn: Connection, params: dict[str, Any] | list[dict[str, Any]]) -> None:
        sql, order, defaults = self._compile(conn)
        many = isinstance(params, list)
        rows = params if many else [params]
        if not rows:
            return
        values = [
            tuple({**defaults, **row}[key] for key in order) if order is not None else {**defaults, **row}
            for row in rows
        ]
        conn.exec_driver_sql(sql, values if many else values[0])
