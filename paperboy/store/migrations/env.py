"""Alembic environment: runs migrations on the connection the store hands over (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from paperboy.store.schema import metadata

config = context.config


def _run(connection) -> None:  # noqa: ANN001 - SQLAlchemy connection
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).begin() as conn:
        _run(conn)
