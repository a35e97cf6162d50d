"""``paperboy ingest SOURCE …``: one sub-command per paper source, each with a progress bar and a summary."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from paperboy.cli.common import console, open_store
from paperboy.sources.record import Item
from paperboy.store import RunSummary, Store
from paperboy.store.pipeline import in_reader_process

ingest_app = typer.Typer(help="Import papers from a file or a service.", no_args_is_help=True)


class GracefulStop:
    """The first Ctrl-C asks the import to stop after what it has read (written, recorded as
    interrupted); a second one stops at once, losing only the open batch."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the second Ctrl-C raises KeyboardInterrupt
        console.print("[yellow]stopping[/yellow]: saving what was read (Ctrl-C again to stop at once)")

    def __call__(self) -> bool:
        return self.requested


def run_import(store: Store, source: str, target: str, items: Iterable[Item]) -> RunSummary:
    """Feed items into the store under a live progress bar, then print the run's summary.

    Ends with exit code 130 after a Ctrl-C (what was read is saved and the message says how to
    go on), and warns when the source held no records at all.
    """
    started = time.monotonic()
    with (
        GracefulStop() as stop,
        Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as bar,
    ):
        task = bar.add_task(f"{source} {target}", total=None, counts="")

        def progress(s: RunSummary) -> None:
            rate = s.seen / max(time.monotonic() - started, 1e-6)
            counts = f"{s.seen:,} read · {s.new:,} new · {s.updated:,} updated · {s.rejected:,} rejected"
            bar.update(task, counts=f"{counts} · {rate:,.0f}/s")

        try:
            summary = store.ingest(source, target, items, progress=progress, stop=stop)
        except KeyboardInterrupt:
            console.print(
                "[yellow]interrupted[/yellow]: the batches written before the second Ctrl-C are saved; "
                "run the same command again to go on (what is already here is skipped)"
            )
            raise typer.Exit(130) from None
    print_summary(summary, time.monotonic() - started)
    if summary.status == "interrupted":
        console.print(
            f"[yellow]interrupted[/yellow]: {summary.seen:,} records read and saved; run the same command again "
            "to go on (what is already here is skipped)"
        )
        raise typer.Exit(130)
    if summary.seen == 0:
        console.print(f"[yellow]warning:[/yellow] {target} held no records: nothing was imported")
    return summary


def print_summary(s: RunSummary, seconds: float) -> None:
    """The table printed after every import, with the first rejected records."""
    table = Table(title=f"ingest run {s.run_id}: {s.source} {s.target}", title_justify="left")
    for name in ("new", "updated", "unchanged", "rejected", "seconds", "records/s"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{s.new:,}",
        f"{s.updated:,}",
        f"{s.unchanged:,}",
        f"{s.rejected:,}",
        f"{seconds:.1f}",
        f"{s.seen / max(seconds, 1e-6):,.0f}",
    )
    console.print(table)
    if s.sample_rejections:
        rej = Table(title="rejected records", title_justify="left", show_lines=False)
        rej.add_column("where")
        rej.add_column("why")
        for r in s.sample_rejections[:10]:
            rej.add_row(r.place, r.reason)
        console.print(rej)
        if s.rejected > 10:
            console.print(f"… and {s.rejected - 10:,} more: [bold]paperboy stats --run {s.run_id}[/bold]")


PathsArg = Annotated[list[Path], typer.Argument(help="Files to import (plain or .gz).", show_default=False)]


def import_files(ctx: typer.Context, source: str, read: Callable[[Path], Iterable[Item]], paths: list[Path]) -> None:
    """Import files one run each, parsing in a reader process beside the writer."""
    empty = []
    with open_store(ctx) as store:
        for path in paths:
            if path.is_file() and path.stat().st_size == 0:
                console.print(f"[yellow]warning:[/yellow] {path} is empty (0 bytes): nothing to import")
                empty.append(path)
                continue
            items = in_reader_process(read, path, lookup=store.source_hashes(source))
            if run_import(store, source, str(path), items).seen == 0:
                empty.append(path)
    if empty:  # a file with nothing in it is a mistake worth an exit code (a wrong path, a failed download)
        raise typer.Exit(1)


@ingest_app.command("jsonl")
def ingest_jsonl(ctx: typer.Context, paths: PathsArg) -> None:
    """JSON lines: the sample corpus's shape, the generic shape, or a paperboy export."""
    from paperboy.sources import jsonl

    import_files(ctx, "jsonl", jsonl.read, paths)


@ingest_app.command("kaggle")
def ingest_kaggle(ctx: typer.Context, paths: PathsArg) -> None:
    """The Kaggle arXiv metadata snapshot (arxiv-metadata-oai-snapshot.json), streamed."""
    from paperboy.sources import kaggle

    import_files(ctx, "kaggle", kaggle.read, paths)


@ingest_app.command("arxiv")
def ingest_arxiv(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Option("--query", "-q", help='search_query, e.g. "cat:cs.LG AND submittedDate:[…]".')
    ] = None,
    ids: Annotated[list[str] | None, typer.Option("--id", help="An arXiv id (repeatable).")] = None,
    max_results: Annotated[int | None, typer.Option("--max", help="Stop after this many entries.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="API endpoint (default: arXiv's).")] = None,
) -> None:
    """The arXiv API: a search query or a list of ids, paged and rate-limited."""
    from paperboy.sources import arxiv_api

    if not query and not ids:
        raise typer.BadParameter("give --query or at least one --id")
    with open_store(ctx, arxiv_api_url=base_url) as store:
        target = query or ",".join(ids or [])
        run_import(
            store, "arxiv", target, arxiv_api.read(store.settings, query=query, id_list=ids, max_results=max_results)
        )


@ingest_app.command("oai")
def ingest_oai(
    ctx: typer.Context,
    set_spec: Annotated[str | None, typer.Option("--set", help="OAI set, e.g. cs or cs:cs:LG.")] = None,
    from_date: Annotated[
        str | None, typer.Option("--from", help="YYYY-MM-DD; default: where the last harvest stopped.")
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="YYYY-MM-DD.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="OAI-PMH endpoint (default: arXiv's).")] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="Metadata format: arXivRaw (every version with its date; default) or arXiv."),
    ] = None,
) -> None:
    """arXiv OAI-PMH ListRecords, incremental: resumes where the last harvest stopped (or crashed)."""
    from paperboy.sources import oai

    with open_store(ctx, arxiv_oai_url=base_url) as store:
        state = store.get_state(oai.state_key(store.settings, set_spec))
        items = oai.read(
            store.settings, set_spec=set_spec, from_date=from_date, until=until, state=state, metadata_prefix=fmt
        )
        run_import(store, "oai", f"{store.settings.arxiv_oai_url} set={set_spec or '*'}", items)


@ingest_app.command("rss")
def ingest_rss(
    ctx: typer.Context,
    categories: Annotated[
        list[str] | None, typer.Argument(help="Categories, e.g. cs.LG cs.CL (default: the settings').")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A saved RSS/Atom listing instead of fetching.")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Listing base URL (default: arXiv's).")] = None,
) -> None:
    """The daily arXiv listing (RSS or Atom) for one or more categories."""
    from paperboy.sources import rss

    with open_store(ctx, arxiv_rss_url=base_url) as store:
        if file is not None:
            run_import(store, "rss", str(file), rss.read_file(file))
            return
        cats = list(categories or store.settings.categories)
        run_import(store, "rss", "+".join(cats), rss.read(store.settings, cats))


@ingest_app.command("hf")
def ingest_hf(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Saved Daily Papers pages (.txt) or API JSON (.json).")
    ] = None,
    date: Annotated[str | None, typer.Option("--date", help="Fetch /api/daily_papers for YYYY-MM-DD.")] = None,
    fetch: Annotated[bool, typer.Option("--fetch", help="Fetch today's /api/daily_papers.")] = False,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="The daily_papers endpoint (default: Hugging Face's).")
    ] = None,
) -> None:
    """Hugging Face Daily Papers: saved page text, API JSON files, or the live API (every page of it)."""
    from paperboy.sources import hf

    if not paths and not date and not fetch:
        raise typer.BadParameter("give files, --date or --fetch")
    with open_store(ctx, hf_api_url=base_url) as store:
        for path in paths or []:
            reader = hf.read_json if path.suffix.lower() == ".json" else hf.read_page
            run_import(store, "hf", str(path), reader(path))
        if date or fetch:
            run_import(store, "hf", f"daily_papers {date or 'latest'}", hf.fetch_daily(store.settings, date))
