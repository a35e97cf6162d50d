"""``paperboy migrate-store --to URL``: move a home's store to another database (SQLite to
PostgreSQL, or back), with a progress bar and a table of what was copied."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from paperboy.cli.common import console, open_store


def migrate_store_command(
    ctx: typer.Context,
    to: Annotated[
        str, typer.Option("--to", help="SQLAlchemy URL of the target, e.g. postgresql+psycopg://user@host/db.")
    ],
    replace: Annotated[
        bool, typer.Option("--replace", help="Delete what the target holds first (it is refused otherwise).")
    ] = False,
) -> None:
    """Copy every table of this home's store to another database, in one transaction.

    Stop `paperboy serve` and imports first; afterwards set `database_url` in settings.toml to the
    new URL.  The link-signing key goes along, so mailed links keep working.
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from paperboy.services.subscriptions import installation_secret
    from paperboy.store.db import make_engine, migrate
    from paperboy.store.transfer import TargetNotEmpty, copy_store, count_rows

    with open_store(ctx) as store:
        installation_secret(store.settings, store)  # an old home's secret.key joins the store first
        source_url = store.engine.url.render_as_string(hide_password=False)
        if source_url == to:
            console.print("[red]error:[/red] the target is this home's store itself")
            raise typer.Exit(1)
        try:
            target = make_engine(to)
            migrate(target)
        except (ArgumentError, DBAPIError, ImportError) as exc:
            console.print(f"[red]error:[/red] cannot open the target {target_label(to)}: {exc}", highlight=False)
            raise typer.Exit(1) from None
        try:
            before = count_rows(store.engine)
            with Progress(
                TextColumn("{task.description:<22}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("copying", total=sum(before.values()))

                def advance(table: str, rows: int) -> None:
                    bar.update(task, advance=rows, description=table)

                copied = copy_store(store.engine, target, replace=replace, progress=advance)
            after = count_rows(target)
        except TargetNotEmpty:
            console.print(
                f"[red]error:[/red] {target_label(to)} already holds a store; "
                "--replace deletes what it holds and copies this one over it",
                highlight=False,
            )
            raise typer.Exit(1) from None
        finally:
            target.dispose()
    table = Table(title=f"copied to {target_label(to)}", title_justify="left")
    for name in ("table", "rows here", "rows there", "left out"):
        table.add_column(name, justify="right" if name != "table" else "left")
    for name, rows in before.items():
        if rows or after.get(name):
            table.add_row(name, f"{rows:,}", f"{after.get(name, 0):,}", f"{copied.orphans.get(name, 0):,}")
    console.print(table)
    if copied.orphans:
        console.print(
            f"{sum(copied.orphans.values()):,} rows referred to rows no longer in the store "
            "(left behind by re-keyed papers) and were not copied.",
            highlight=False,
        )
    console.print(f"Now set [bold]database_url[/bold] in {store.settings.home / 'settings.toml'} to the new URL.")


def target_label(url: str) -> str:
    """A URL as shown to people: without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given
        return url
