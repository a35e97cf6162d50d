"""``paperboy digest send|preview`` (for cron and for looking) and ``paperboy subscribers add|list|remove``."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from paperboy.cli.common import console, open_store

digest_app = typer.Typer(help="Email digests: send the due ones, or preview one.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Manage digest subscribers from the command line.", no_args_is_help=True)

DateOption = Annotated[
    str | None,
    typer.Option("--date", help="The day to send for, YYYY-MM-DD (default: today in digest_timezone)."),
]


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        console.print(f"[red]error:[/red] not a date: {text!r} (expected YYYY-MM-DD)")
        raise typer.Exit(2) from exc


@digest_app.command("send")
def send_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Build every digest, send and record nothing.")] = False,
    to: Annotated[str | None, typer.Option("--to", help="Only this subscriber's digest.")] = None,
    day: DateOption = None,
) -> None:
    """Send every due digest once (safe to run again, and from cron beside ``paperboy serve``)."""
    from paperboy.services.delivery import ServerRefused, send_digests

    with open_store(ctx) as store:
        assert store.settings is not None
        try:
            report = send_digests(store, store.settings, _day(day), only=to, dry_run=dry_run)
        except ServerRefused as exc:
            console.print(f"[red]error:[/red] {exc} (nothing was marked bounced; fix the smtp_* settings)")
            raise typer.Exit(1) from exc
    table = Table(title=f"digests for {report.day}{' (dry run: nothing sent)' if dry_run else ''}")
    table.add_column("outcome")
    table.add_column("subscribers", justify="right")
    for name, n in report.summary().items():
        if n or name in ("sent", "empty"):
            table.add_row(name.replace("_", " "), str(n))
    console.print(table)
    for name in ("bounced", "deferred"):
        for email in getattr(report, name):
            console.print(f"[yellow]{name}:[/yellow] {email}")
    if report.deferred:
        raise typer.Exit(3)  # a cron wrapper can alert; the next run retries them


@digest_app.command("preview")
def preview_command(
    ctx: typer.Context,
    email: str,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File name without extension: writes .eml and .html.")
    ] = Path("digest-preview"),
    day: DateOption = None,
) -> None:
    """Write the digest EMAIL would get now to OUTPUT.eml and OUTPUT.html (nothing is sent or recorded)."""
    from paperboy.services.delivery import open_keyword, today_in
    from paperboy.services.digest import DigestBuilder
    from paperboy.services.digest_mail import message_id, render
    from paperboy.services.subscriptions import Subscribing

    with open_store(ctx) as store:
        settings = store.settings
        assert settings is not None
        subscriber = store.subscriptions.by_email(email)
        if subscriber is None:
            console.print(f"[red]error:[/red] {email} is not a subscriber (add it with `paperboy subscribers add`)")
            raise typer.Exit(1)
        today = _day(day) or today_in(settings)
        builder = DigestBuilder(store, settings, open_keyword(settings, store))
        digest = builder.build(subscriber, today)
        latest = store.activity.latest_day()
        if digest.empty and day is None and latest and latest < today.isoformat():
            # the store's newest papers are older than today (a snapshot, stopped imports): show that day
            console.print(f"no papers announced on {today}; previewing {latest}, the newest day in the store")
            today = date.fromisoformat(latest)
            digest = builder.build(subscriber, today)
        if digest.empty:
            console.print(f"nothing new for {email} on {today}: no digest would be sent")
            raise typer.Exit(0)
        links = Subscribing(store, settings).links(subscriber)
        msg = render(digest, settings, links, message_id(settings, subscriber, digest.period))
    output.parent.mkdir(parents=True, exist_ok=True)
    eml, html = output.with_suffix(".eml"), output.with_suffix(".html")
    eml.write_bytes(bytes(msg))
    html.write_text(msg.html)
    console.print(f"{len(digest.papers)} papers for {email} ({digest.period}): wrote {eml} and {html}")


# -- subscribers --------------------------------------------------------------------------------------
@subscribers_app.command("add")
def add_subscriber(
    ctx: typer.Context,
    email: str,
    confirmed: Annotated[bool, typer.Option("--confirmed", help="Skip the confirmation mail (admins).")] = False,
    frequency: Annotated[str | None, typer.Option(help="daily or weekly.")] = None,
    category: Annotated[list[str] | None, typer.Option("--category", help="A category (repeat).")] = None,
    search: Annotated[list[str] | None, typer.Option("--search", help="A saved search (repeat).")] = None,
    items: Annotated[int | None, typer.Option(help="Papers per section.")] = None,
) -> None:
    """Subscribe an address: a confirmation mail goes out unless --confirmed."""
    from paperboy.services.mail import MailError
    from paperboy.services.subscriptions import Subscribing, SubscriptionError

    with open_store(ctx) as store:
        assert store.settings is not None
        service = Subscribing(store, store.settings)
        try:
            if confirmed:
                sub = service.add_confirmed(
                    email, frequency=frequency, categories=category, searches=search, items=items
                )
            else:
                sub = service.subscribe(email)
                prefs = {"frequency": frequency, "categories": category, "searches": search, "items": items}
                sub = service.update(sub, **{k: v for k, v in prefs.items() if v is not None})
        except SubscriptionError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        except MailError as exc:
            console.print(f"[red]error:[/red] the confirmation mail could not be sent: {exc}")
            raise typer.Exit(1) from exc
    state = "confirmed" if sub["confirmed"] else "waiting for confirmation (mail sent)"
    console.print(f"{sub['email']}: {state}")


@subscribers_app.command("list")
def list_subscribers(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every subscriber with their state and preferences."""
    keys = ("email", "confirmed", "bounced", "frequency", "sections", "items", "categories", "searches")
    with open_store(ctx) as store:
        rows = store.subscriptions.every()
    if as_json:
        for row in rows:
            typer.echo(json.dumps({k: row[k] for k in (*keys, "created_at", "last_period")}))
        return
    table = Table(title=f"{len(rows)} subscribers")
    for name in ("email", "state", "frequency", "sections", "categories", "searches", "last digest"):
        table.add_column(name)
    for row in rows:
        state = "bounced" if row["bounced"] else "confirmed" if row["confirmed"] else "pending"
        table.add_row(
            row["email"],
            state,
            row["frequency"],
            " ".join(row["sections"]) + f" ×{row['items']}",
            " ".join(row["categories"]),
            "; ".join(row["searches"]),
            row["last_period"] or "",
        )
    console.print(table)


@subscribers_app.command("remove")
def remove_subscriber(ctx: typer.Context, email: str) -> None:
    """Unsubscribe an address (its send log and sent papers go too)."""
    with open_store(ctx) as store:
        sub = store.subscriptions.by_email(email)
        if sub is None or not store.subscriptions.delete(sub["id"]):
            console.print(f"[red]error:[/red] {email} is not a subscriber")
            raise typer.Exit(1)
    console.print(f"{email} unsubscribed")
