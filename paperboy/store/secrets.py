"""Values every process of an installation must share, such as the key that signs mailed links.

Kept in the store rather than in a file of one home: web replicas on several machines share the
database, not a folder, and a link mailed by one replica must open on every other.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine, select

from paperboy.store import schema as t
from paperboy.store.dialect import insert_ignore


class Secrets:
    """Reads and writes of the ``secrets`` table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def get(self, name: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(select(t.secrets.c.value).where(t.secrets.c.name == name)).scalar()

    def get_or_create(self, name: str, make: Callable[[], str], now: str) -> str:
        """The stored value of ``name``, storing ``make()`` first when there is none.

        Processes starting together may each make a value: the first insert wins, and every
        process then reads the same one (the insert is ignored for the others).
        """
        found = self.get(name)
        if found is not None:
            return found
        with self.engine.begin() as conn:
            insert_ignore(conn, t.secrets, [{"name": name, "value": make(), "created_at": now}], ["name"])
            return conn.execute(select(t.secrets.c.value).where(t.secrets.c.name == name)).scalar_one()
