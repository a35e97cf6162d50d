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
#: Databases copied from the template ahead of need, and databases to drop: a thread of their own
#: does both, so a test neither waits for its copy (0.1-0.5 s) nor for the last test's drop.
_ready: queue.Queue[str] = queue.Queue(maxsize=2)
_doomed: queue.Queue[str] = queue.Queue()


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
            threading.Thread(target=_keeper, args=(started,), name="test-databases", daemon=True).start()
        return _server


def _keeper(pg: TempPostgres) -> None:
    """Keep a copy or two of the template ready; drop what tests are done with meanwhile."""
    while True:
        while not _doomed.empty():
            try:
                pg.drop_database(_doomed.get_nowait())
            except Exception:  # noqa: BLE001 - the server is gone at the session's end
                return
        if _ready.full():
            try:
                pg.drop_database(_doomed.get(timeout=0.05))
            except queue.Empty:
                pass
            except Exception:  # noqa: BLE001
                return
            continue
        try:
            name = f"test_{next(_names)}"
            pg.create_database(name, TEMPLATE)
        except Exception:  # noqa: BLE001
            return
        _ready.put(name)


def fresh_url(template: str = TEMPLATE) -> str:
    """A new empty store's URL on PostgreSQL (a copy of ``template``); ``""`` (the home's SQLite file) on SQLite."""
    if not on_postgres():
        return ""
    pg = server()
    if template == TEMPLATE:
        return pg.url(_ready.get(timeout=120))
    return pg.create_database(f"test_{next(_names)}", template)


def drop(url: str) -> None:
    """Drop a database ``fresh_url`` made (no-op for SQLite)."""
    if url:
        server()
        _doomed.put(make_url(url).database or "")


def replace(url: str, template: str) -> None:
    """Make the database at ``url`` a fresh copy of ``template`` (connections to it are ended)."""
    name = make_url(url).database or ""
    pg = server()
    pg.drop_database(name)
    pg.create_database(name, template)


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
