"""Which database the suite runs on, and a fresh database for each test on PostgreSQL.

``pytest --backend postgres`` (or ``PAPERBOY_TEST_DATABASE=postgres``, read once when pytest
starts, so the fixture that hides ``PAPERBOY_*`` variables from tests does not hide it) runs the
whole suite against a real PostgreSQL server that the suite starts itself (``support.postgres``).
Each test then gets a database of its own, copied from a migrated template with ``CREATE
DATABASE … TEMPLATE``, and sees it as ``PAPERBOY_DATABASE_URL``, so every ``load_settings`` in the
test, and every process it starts, opens that database.  On SQLite (the default) nothing changes:
each test's home holds its own ``paperboy.db``.
"""

from __future__ import annotations

import atexit
import itertools
import os
import queue
import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from support.postgres import TempPostgres

#: ``sqlite`` or ``postgres``; set by ``conftest.pytest_configure``.
BACKEND = "sqlite"
#: A migrated, empty store: every test's database is a copy of it.
TEMPLATE = "paperboy_template"

_server: TempPostgres | None = None
_lock = threading.Lock()
_names = itertools.count(1)
#: Databases copied from templates ahead of need (per template), and databases to drop: a thread
#: of their own does both, so a test neither waits for its copy (0.1-0.5 s) nor for a drop.
_ready: dict[str, queue.Queue[str]] = {}
_doomed: queue.Queue[str] = queue.Queue()
#: Why the thread stopped making databases, for the tests waiting for one.
_failed: list[BaseException] = []


def on_postgres() -> bool:
    return BACKEND == "postgres"


def on_sqlite() -> bool:
    return BACKEND == "sqlite"


def server() -> TempPostgres:
    """The suite's PostgreSQL server, started (and its template migrated) on first use."""
    global _server
    with _lock:
        if _server is None:
            from paperboy.store.db import make_engine, migrate

            started = TempPostgres().start()
            atexit.register(started.stop)
            engine = make_engine(started.create_database(TEMPLATE))
            migrate(engine)
            engine.dispose()
            _server = started
            _ready[TEMPLATE] = queue.Queue(maxsize=2)
            threading.Thread(target=_keeper, args=(started,), name="test-databases", daemon=True).start()
        return _server


def pool(template: str) -> None:
    """Keep copies of ``template`` ready too (it must be complete, and nobody connected to it)."""
    server()
    with _lock:
        _ready.setdefault(template, queue.Queue(maxsize=2))


def _keeper(pg: TempPostgres) -> None:
    """Keep a copy or two of each template ready; drop what tests are done with meanwhile."""
    try:
        while True:
            while not _doomed.empty():
                pg.drop_database(_doomed.get_nowait())
            hungry = [(name, ready) for name, ready in list(_ready.items()) if not ready.full()]
            if not hungry:
                try:
                    pg.drop_database(_doomed.get(timeout=0.05))
                except queue.Empty:
                    pass
                continue
            for template, ready in hungry:
                name = f"test_{next(_names)}"
                pg.create_database(name, template)
                ready.put(name)
    except Exception as exc:  # noqa: BLE001 - told to whoever waits (or the server is gone: the session is over)
        _failed.append(exc)


def _take(ready: queue.Queue[str]) -> str:
    while True:
        try:
            return ready.get(timeout=1)
        except queue.Empty:
            if _failed:
                raise RuntimeError("the test databases could not be made") from _failed[0]


def fresh_url(template: str = TEMPLATE) -> str:
    """A new empty store's URL on PostgreSQL (a copy of ``template``); ``""`` (the home's SQLite file) on SQLite."""
    if not on_postgres():
        return ""
    pg = server()
    ready = _ready.get(template)
    if ready is not None:
        return pg.url(_take(ready))
    return pg.create_database(f"test_{next(_names)}", template)


def blank_url() -> str:
    """A database with no schema yet, for tests of the migrations themselves (PostgreSQL); ``""``
    on SQLite, whose file in a new home starts blank."""
    if not on_postgres():
        return ""
    return server().create_database(f"blank_{next(_names)}")


def drop(url: str) -> None:
    """Drop a database ``fresh_url`` made (no-op for SQLite), soon."""
    if url:
        server()
        _doomed.put(make_url(url).database or "")


def replace(url: str, template: str) -> None:
    """Make the database at ``url`` a fresh copy of ``template`` (connections to it are ended):
    a ready copy renamed into its place when ``template`` is pooled."""
    name = make_url(url).database or ""
    pg = server()
    pg.drop_database(name)
    ready = _ready.get(template)
    if ready is None:
        pg.create_database(name, template)
        return
    from psycopg import sql

    with pg.admin() as conn:
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(_take(ready)), sql.Identifier(name))
        )


def store_url(home: Path) -> str:
    """The URL of the store a home's processes open in this test: this test's PostgreSQL database,
    else the home's SQLite file."""
    return os.environ.get("PAPERBOY_DATABASE_URL") or f"sqlite:///{home / 'paperboy.db'}"


def stop() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


#: For a test that only means something on SQLite (WAL mode, the database file itself).
def sqlite_only(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(on_postgres(), reason=f"SQLite only: {reason}")
