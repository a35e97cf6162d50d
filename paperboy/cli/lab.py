"""Commands of a lab's layer: ``paperboy webhooks send|list`` and ``paperboy mcp`` (stdio)."""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Annotated

import typer
from rich.table import Table

from paperboy.cli.common import console, open_store, settings_from

webhooks_app = typer.Typer(help="Chat webhooks (Slack, Mattermost, Discord, Teams, Matrix).", no_args_is_help=True)


@webhooks_app.command("send")
def send_command(
    ctx: typer.Context,
    day: Annotated[str | None, typer.Option("--date", help="The day to post for (YYYY-MM-DD; default today).")] = None,
) -> None:
    """Post every webhook's message for the day once (safe to repeat; ``paperboy serve`` does it daily)."""
    from paperboy.services.delivery import open_keyword
    from paperboy.services.webhooks import WebhookService

    try:
        when = date.fromisoformat(day) if day else None
    except ValueError as exc:
        console.print(f"[red]error:[/red] --date {day!r} is not YYYY-MM-DD")
        raise typer.Exit(2) from exc
    with open_store(ctx) as store:
        assert store.settings is not None
        index = open_keyword(store.settings, store)
        run = WebhookService(store, store.settings, keyword=lambda: index).send_all(when)
    table = Table("outcome", "webhooks")
    for name, n in run.summary().items():
        table.add_row(name, str(n))
    console.print(table)
    if run.failed:
        raise typer.Exit(3)


@webhooks_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """Every webhook, with its URL masked."""
    from paperboy.services.webhooks import mask

    with open_store(ctx) as store:
        table = Table("id", "owner", "service", "posts", "url", "last sent", "last error")
        for h in store.webhooks.every():
            owner = f"group {h['group_id']}" if h["group_id"] else f"user {h['user_id']}"
            what = h["kind"] + (f": {h['target']}" if h["target"] else "")
            table.add_row(
                str(h["id"]), owner, h["service"], what, mask(h["url"]), h["last_sent_at"] or "", h["last_error"] or ""
            )
    console.print(table)


def mcp_command(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Act as this account (library, notes, for you).")] = None,
    semantic: Annotated[bool, typer.Option("--semantic/--no-semantic", help="Search by meaning too.")] = True,
) -> None:
    """Serve paperboy to an MCP client over stdio (Claude Desktop and others start this command)."""
    from paperboy.services.mcp_server import Backend, build_server
    from paperboy.services.notes import NoteService
    from paperboy.services.wiring import build_services

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout carries the protocol only
    settings = settings_from(ctx)
    svc = build_services(settings, semantic=semantic)
    try:
        svc.search.refresh()
        me = svc.store.people.user_by_name(user) if user else None
        if user and me is None:
            print(f"error: no account called {user!r}", file=sys.stderr)
            raise typer.Exit(1)
        backend = Backend(
            store=svc.store,
            settings=settings,
            search=svc.search,
            feed=svc.feed,
            library=svc.library,
            notes=NoteService(svc.store),
            recommender=svc.recommender,
            community=svc.community,
            default_user=me,
        )
        build_server(backend).run("stdio")
    finally:
        svc.store.close()
