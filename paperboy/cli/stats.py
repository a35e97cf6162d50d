"""``paperboy stats``: what the store holds and what the last imports did."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.columns import Columns
from rich.table import Table

from paperboy.cli.common import console, open_store


def _table(title: str, headers: tuple[str, ...], rows: list[tuple]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(headers):
        table.add_column(name, justify="right" if i else "left")
    for row in rows:
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v if v is not None else "") for v in row))
    return table


def stats_command(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="How many recent announcement days to list.")] = 14,
    run: Annotated[int | None, typer.Option("--run", help="List every rejected record of this run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Papers by announcement day, category and source; the last ingest runs with their counts."""
    with open_store(ctx) as store:
        if run is not None:
            rows = store.rejections(run)
            if as_json:
                typer.echo(orjson.dumps(rows).decode())
            else:
                console.print(
                    _table(f"rejections of run {run}", ("where", "why"), [(r["place"], r["reason"]) for r in rows])
                )
            return
        data = store.stats(days=days)
    if as_json:
        typer.echo(orjson.dumps(data).decode())
        return
    console.print(
        f"[bold]{data['papers']:,}[/bold] papers by [bold]{data['authors']:,}[/bold] authors over "
        f"[bold]{data['days']:,}[/bold] announcement days ({data['first_day'] or '-'} … {data['last_day'] or '-'})"
    )
    console.print(
        Columns(
            [
                _table("by announcement day", ("day", "papers"), data["by_day"]),
                _table("by primary category", ("category", "papers"), data["by_category"]),
                _table("by source", ("source", "papers"), data["by_source"]),
            ]
        )
    )
    runs = [
        (
            r["id"],
            r["source"],
            r["target"][-40:],
            r["started_at"],
            r["status"],
            r["new"],
            r["updated"],
            r["unchanged"],
            r["rejected"],
        )
        for r in data["runs"]
    ]
    console.print(
        _table(
            "last ingest runs",
            ("run", "source", "target", "started", "status", "new", "updated", "unchanged", "rejected"),
            runs,
        )
    )
