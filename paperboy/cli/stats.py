"""``paperboy stats``: what the store holds and what the last imports did."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.columns import Columns
from rich.table import Table

from paperboy.cli.common import console, open_store


def _table(title: str, headers: tuple[str, ...], rows: list[tuple], fold: str | None = None) -> Table:
    """A table whose numbers and short fields are never cut; the ``fold`` column wraps to fit the screen."""
    table = Table(title=title, title_justify="left")
    cells = [[f"{v:,}" if isinstance(v, int) else str(v if v is not None else "") for v in row] for row in rows]
    for i, name in enumerate(headers):
        if name == fold:
            table.add_column(name, overflow="fold", ratio=1, min_width=8)
        else:
            width = max([len(name), *(len(row[i]) for row in cells)])
            table.add_column(name, justify="right" if i else "left", no_wrap=True, min_width=width)
    for row in cells:
        table.add_row(*row)
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
                    _table(
                        f"rejections of run {run}", ("where", "why"), [(r["place"], r["reason"]) for r in rows], "why"
                    )
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
    _print_runs(data["runs"])


#: Below this width the runs are listed one to a paragraph: nine columns do not fit 80.
WIDE = 110


def _print_runs(runs: list[dict]) -> None:
    """The last ingest runs: a table on a wide terminal, a short paragraph each on a narrow one."""
    if console.width < WIDE:
        console.print("[bold]last ingest runs[/bold]")
        for r in runs:
            started = (r["started_at"] or "")[:16].replace("T", " ")
            console.print(
                f"  run {r['id']} · {r['source']} · {started} · [bold]{r['status']}[/bold]: {r['new']:,} new, "
                f"{r['updated']:,} updated, {r['unchanged']:,} unchanged, {r['rejected']:,} rejected\n"
                f"    {r['target']}",
                highlight=False,
                soft_wrap=False,
            )
        return
    rows = [
        (
            r["id"],
            r["source"],
            r["target"],
            (r["started_at"] or "")[:16].replace("T", " "),
            r["status"],
            r["new"],
            r["updated"],
            r["unchanged"],
            r["rejected"],
        )
        for r in runs
    ]
    console.print(
        _table(
            "last ingest runs",
            ("run", "source", "target", "started", "status", "new", "updated", "unchanged", "rejected"),
            rows,
            fold="target",
        )
    )
