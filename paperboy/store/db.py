"""Engine creation and migrations: the only place that knows which database is behind the store.

SQLite (the embedded default) gets WAL mode so readers never block the importer, and
``synchronous=NORMAL``, which in WAL mode still never corrupts the file on a crash.  Any other
SQLAlchemy URL (PostgreSQL, through psycopg 3) goes through the same code with no SQLite pragmas.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text

MIGRATIONS = Path(__file__).with_name("migrations")
WAL_CHECKPOINT_PAGES = 16384


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def make_engine(url: str) -> Engine:
    """An engine for ``url``, tuned for the backend it names."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        **({"connect_args": {"timeout": 30}} if is_sqlite else {"pool_pre_ping": True}),
    )
    if is_sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA page_size=8192")  # only takes effect on a new file
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Link tables are clustered by author/category, so SQLite could only check their
            # foreign keys by scanning; the data layer writes them in the paper's transaction.
            cur.execute("PRAGMA foreign_keys=OFF")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-32768")
            cur.execute("PRAGMA temp_store=MEMORY")
            # Checkpoint every 16,384 pages (128 MB) instead of 1,000: an import batch rewrites the
            # same B-tree pages of its random-order indexes, and a rarer checkpoint copies each
            # back once rather than once per commit.  The WAL is cut back to 64 MB afterwards.
            cur.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
            cur.execute("PRAGMA journal_size_limit=67108864")
            cur.close()

    return engine


def alembic_config(url: str) -> Config:
    """Alembic configuration built in code, so no alembic.ini has to sit beside the data."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is already there)."""
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    if current == head:
        return
    with engine.begin() as conn:
        # Processes opening a new store at once (two imports, replicas starting) migrate one at a
        # time, each in one transaction: the second finds the schema made and has nothing to do.
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # Python's sqlite3 would not begin before DDL
        else:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('paperboy:migrations', 0))"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
