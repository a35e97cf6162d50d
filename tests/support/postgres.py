"""A throw-away PostgreSQL server: ``initdb`` and ``pg_ctl`` in a temporary folder, on a free
loopback port, for the test suite run on PostgreSQL and for the benchmarks.

Why its own server rather than the machine's: CI starts from a clean machine (Debian's
``postgresql`` package installed, no cluster started), and nothing a test does may touch a
database somebody else uses.  As root, the server runs as the ``postgres`` user (PostgreSQL
refuses to run as root).  Durability is switched off (``fsync``, ``synchronous_commit``,
``full_page_writes``): the data is thrown away anyway, and it makes ``CREATE DATABASE`` cheap.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def _bindir() -> Path:
    """Where ``initdb`` and ``pg_ctl`` are: on the PATH, else Debian's newest server version."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise RuntimeError(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: apt-get install postgresql"
        )
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TempPostgres:
    """One PostgreSQL server in a temporary folder, started by ``start`` and removed by ``stop``."""

    def __init__(self, max_connections: int = 300, durable: bool = False) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="paperboy-pg-"))
        self.data = self.root / "data"
        self.port = 0
        self.max_connections = max_connections
        #: Keep PostgreSQL's default durability (the benchmarks: as a real installation runs it).
        self.durable = durable
        self._as_root = os.geteuid() == 0

    # -- running programs as the server's owner ----------------------------------------------
    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
        return done

    def start(self) -> TempPostgres:
        """initdb, then start the server on a free port (a few tries, should another take the port)."""
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
        settings: dict[str, object] = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.data),
            "max_connections": self.max_connections,
            "shared_buffers": "128MB",
            "max_wal_size": "2GB",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        options = " ".join(f"-c {k}={v}" for k, v in settings.items())
        for attempt in range(5):
            self.port = _free_port()
            try:
                self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.root / "log"),
                          "-o", f"-p {self.port} {options}", "start")  # fmt: skip
                return self
            except RuntimeError:
                if attempt == 4:
                    log = (self.root / "log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"PostgreSQL did not start:\n{log}") from None
                time.sleep(0.5)
        return self

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases ----------------------------------------------------------------------------
    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database of this server (psycopg 3)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> Any:
        """An autocommit connection to the ``postgres`` database, for creating and dropping others."""
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); its URL."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.admin() as conn:
            conn.execute(statement)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending whatever connections are still open to it."""
        from psycopg import sql

        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
