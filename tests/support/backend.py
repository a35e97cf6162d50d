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
        return _server


def fresh_url(template: str = TEMPLATE) -> str:
    """A new empty store's URL on PostgreSQL (a copy of ``template``); ``""`` (the home's SQLite file) on SQLite."""
    if not on_postgres():
        return ""
    return server().create_database(f"test_{next(_names)}", template)


def drop(url: str) -> None:
    """Drop a database ``fresh_url`` made (no-op for SQLite)."""
    if url:
        server().drop_database(make_url(url).database or "")


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
