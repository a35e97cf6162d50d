"""``paperboy serve`` (the web app and its background indexer) and ``paperboy users`` (accounts by hand)."""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import os
import signal
import socket
from pathlib import Path
from typing import Annotated, TextIO

import typer

from paperboy.cli.common import console, open_store, settings_from

users_app = typer.Typer(help="Manage accounts from the command line.", no_args_is_help=True)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Web worker processes (each holds its own search indices).")] = 1,
    index: Annotated[bool, typer.Option("--index/--no-index", help="Run the background indexer.")] = True,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Embeddings and semantic search.")] = True,
    proxy: Annotated[
        str,
        typer.Option(
            "--proxy",
            help="Addresses of the reverse proxies in front (comma-separated): their X-Forwarded-For and "
            "X-Forwarded-Proto give each visitor's address (for rate limits) and scheme.",
        ),
    ] = "",
) -> None:
    """Serve the web app and JSON API; index and embed new papers in the background meanwhile."""
    import uvicorn

    from paperboy.indices.keyword import KeywordIndex
    from paperboy.store import Store

    settings = settings_from(ctx)
    lock = claim_home(settings.home)  # held until we exit: one server (and so one indexer) per home
    check_port(host, port)
    with Store.open(settings):  # create and migrate the store before any worker opens it
        pass
    KeywordIndex.for_settings(settings)  # create the index once, before readers open it
    os.environ["PAPERBOY_HOME"] = str(settings.home)
    os.environ["PAPERBOY_SERVE_SEMANTIC"] = "1" if semantic else "0"
    os.environ["PAPERBOY_SERVED_URL"] = served_url(host, port)  # links in mail, when base_url is not set
    indexer = None
    if index:
        from paperboy.services.indexing import main as indexer_main

        indexer = multiprocessing.get_context("spawn").Process(
            target=indexer_main, args=(str(settings.home), semantic), name="paperboy-indexer", daemon=True
        )
        indexer.start()
    scheduler = None
    if settings.digest_schedule:  # one schedule process, however many workers: they never send
        from paperboy.services.digest_schedule import main as schedule_main

        # not a daemon: a big run starts helper processes, which daemons may not; it ends with us anyway
        scheduler = multiprocessing.get_context("spawn").Process(
            target=schedule_main, args=(str(settings.home),), name="paperboy-digests", daemon=False
        )
        scheduler.start()
    console.print(
        f"paperboy on [bold]{served_url(host, port)}[/bold] (home {settings.home}); indexing status at /status",
        highlight=False,
    )
    try:
        uvicorn.run(
            "paperboy.web.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=False,
            # Without a proxy in front, forwarded headers are the visitor's own words: ignored.
            proxy_headers=bool(proxy),
            forwarded_allow_ips=proxy or None,
        )
    finally:
        if indexer is not None and indexer.is_alive():
            os.kill(indexer.pid, signal.SIGTERM)
            indexer.join(timeout=10)
        if scheduler is not None and scheduler.is_alive():
            os.kill(scheduler.pid, signal.SIGTERM)
            scheduler.join(timeout=10)
        lock.close()


def claim_home(home: Path) -> TextIO:
    """Lock ``home`` for this server (an exclusive ``flock`` on ``home/serve.lock``), or exit
    with a clear message naming the server that holds it: two servers on one home would run two
    indexers writing the same index files."""
    home.mkdir(parents=True, exist_ok=True)
    handle = (home / "serve.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        console.print(
            f"[red]error:[/red] {home} is already served by {holder}; stop that server first, "
            "or give this one another --home",
            highlight=False,
        )
        raise typer.Exit(1) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"paperboy serve (pid {os.getpid()})\n")
    handle.flush()
    return handle


def check_port(host: str, port: int) -> None:
    """Exit with a clear message, before anything starts, if ``host:port`` cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            console.print(
                f"[red]error:[/red] port {port} on {host} {why}: stop what listens there, or choose another "
                "port with --port (make run PORT=…)",
                highlight=False,
            )
            raise typer.Exit(1) from None


def served_url(host: str, port: int) -> str:
    """The address people can open for a listening ``host``: a wildcard address means this machine's name."""
    name = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


@users_app.command("add")
def add_user(
    ctx: typer.Context,
    username: str,
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    admin: Annotated[bool, typer.Option("--admin", help="Give the admin role.")] = False,
) -> None:
    """Create an account (for installations with registration closed)."""
    from paperboy.services.accounts import AccountError, Accounts

    with open_store(ctx) as store:
        try:
            user = Accounts(store, store.settings).register(username, email, password, email_confirmed=True)
        except AccountError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        if admin and not user["is_admin"]:
            store.people.set_admin(user["id"], True)
    console.print(f"created {username}{' (admin)' if admin or user['is_admin'] else ''}")


@users_app.command("admin")
def set_admin(
    ctx: typer.Context,
    username: str,
    revoke: Annotated[bool, typer.Option("--revoke", help="Take the role away instead.")] = False,
) -> None:
    """Give a user the admin role (or take it away)."""
    with open_store(ctx) as store:
        user = store.people.user_by_name(username)
        if user is None:
            console.print(f"[red]error:[/red] no user {username!r}")
            raise typer.Exit(1)
        store.people.set_admin(user["id"], not revoke)
    console.print(f"{username} is {'no longer ' if revoke else ''}an admin")
