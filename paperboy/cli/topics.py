"""``paperboy topics rebuild|list|show``: the topics, the map and key phrases from the command line."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from paperboy.cli.common import console, open_store

topics_app = typer.Typer(help="Topics of the papers, their trends, and the map.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _growth(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.0f} %"


@topics_app.command("rebuild")
def rebuild_command(
    ctx: typer.Context,
    k: Annotated[int, typer.Option("--k", help="Topics to make (0: about one per 800 papers).")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Group every embedded paper into topics, label them, lay out the map and pick key phrases (from scratch)."""
    from paperboy.services import topics as service

    with open_store(ctx) as store:
        settings = store.settings
        assert settings is not None
        model = service.configured_model(settings)
        if not store.library.vector_models().get(model):
            console.print(f"[red]error:[/red] no vectors of {model} yet: run `paperboy index` first")
            raise typer.Exit(1)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, disable=json_out) as bar:
            task = bar.add_task("reading vectors", total=9)
            report = service.rebuild(
                store,
                settings,
                model,
                k=k or None,
                progress=lambda step, i, n: bar.update(task, completed=i, description=step),
            )
            bar.update(task, completed=9, description="done")
    if json_out:
        typer.echo(orjson.dumps(report.__dict__).decode())
        return
    console.print(f"{report.topics:,} topics over {report.papers:,} papers in {report.seconds:.1f} s")
    for step, seconds in report.steps.items():
        console.print(f"  {step}: {seconds:.1f} s", highlight=False)


@topics_app.command("list")
def list_command(
    ctx: typer.Context,
    sort: Annotated[str, typer.Option("--sort", help="size, growth or label.")] = "size",
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many topics (0: all).")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Every topic: size, label, papers in the last 28 days and share growth against the 84 before."""
    from paperboy.services.topic_views import build_index

    with open_store(ctx) as store:
        index = build_index(store)
    topics = index.sorted(sort if sort in {"size", "growth", "label"} else "size")
    topics = topics[:limit] if limit > 0 else topics
    if json_out:
        typer.echo(orjson.dumps([t.as_json() for t in topics]).decode())
        return
    if not topics:
        console.print("no topics yet: `paperboy topics rebuild` (or `paperboy serve`, whose indexer builds them)")
        return
    table = Table(title=f"{len(index.topics)} topics", title_justify="left")
    for name in ("id", "label", "papers", "last 28 days", "growth"):
        table.add_column(name, justify="right" if name != "label" else "left", overflow="fold")
    for t in topics:
        table.add_row(str(t.id), t.label, f"{t.size:,}", f"{t.recent:,}", _growth(t.growth))
    console.print(table)


@topics_app.command("show")
def show_command(
    ctx: typer.Context,
    topic_id: Annotated[int, typer.Argument(help="A topic's id (see `paperboy topics list`).")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Papers to list.")] = 10,
    json_out: JsonOpt = False,
) -> None:
    """One topic: its phrases, trend, nearest topics and newest papers."""
    from paperboy.services.topic_views import build_index

    with open_store(ctx) as store:
        index = build_index(store)
        topic = index.by_id.get(topic_id)
        if topic is None:
            console.print(f"[red]error:[/red] no topic {topic_id}")
            raise typer.Exit(1)
        papers = store.get_papers(store.topics.topic_papers(topic_id, limit=max(1, limit)))
    nearest = index.nearest(topic_id, 5)
    if json_out:
        out = topic.as_json(index.weeks) | {
            "nearest": [{"id": t.id, "label": t.label, "similarity": round(s, 4)} for t, s in nearest],
            "papers": [{"id": p["id"], "title": p["title"], "announced": p["announced"]} for p in papers],
        }
        typer.echo(orjson.dumps(out).decode())
        return
    console.print(f"[bold]{topic.label}[/bold]  (topic {topic.id}, {topic.size:,} papers)", highlight=False)
    console.print("phrases: " + ", ".join(topic.terms), highlight=False)
    console.print(f"last 28 days: {topic.recent:,} papers, share growth {_growth(topic.growth)}", highlight=False)
    bars = " ▁▂▃▄▅▆▇█"
    recent = topic.weekly[-26:]
    top = max(recent, default=0) or 1
    console.print("weekly: " + "".join(bars[round(8 * n / top)] for n in recent), highlight=False)
    console.print("nearest: " + "; ".join(f"{t.label} ({t.id})" for t, _ in nearest), highlight=False)
    table = Table(title="newest papers", title_justify="left")
    for name in ("id", "day", "title"):
        table.add_column(name, overflow="fold")
    for p in papers:
        table.add_row(p["id"], p["announced"] or "", p["title"])
    console.print(table)
