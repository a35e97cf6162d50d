"""The ``paperboy`` command: Typer for parsing, Rich for tables and progress bars.

Every command takes ``--home DIR`` (else ``PAPERBOY_HOME``, else ``~/.paperboy``).  Errors a
person can fix (wrong path, unknown format, unreachable server) end as one red line and exit
code 1 or 2, never as a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from typer.core import TyperOption

from paperboy.cli.digest import digest_app, subscribers_app
from paperboy.cli.export import export_command
from paperboy.cli.ingest import ingest_app
from paperboy.cli.lab import mcp_command, webhooks_app
from paperboy.cli.migrate import migrate_store_command
from paperboy.cli.recommend import IdListCommand, eval_recs_command, recommend_command
from paperboy.cli.search import eval_command, index_command, search_command, similar_command
from paperboy.cli.serve import serve_command, users_app
from paperboy.cli.stats import stats_command
from paperboy.cli.topics import topics_app

app = typer.Typer(
    name="paperboy",
    help="Self-hosted research-paper discovery: ingest, browse, search and deliver papers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",  # docstrings' ``code`` shows as code, not as literal backticks
)
app.add_typer(ingest_app, name="ingest")
app.command("stats")(stats_command)
app.command("export")(export_command)
app.command("index")(index_command)
app.command("search")(search_command)
app.command("similar")(similar_command)
app.command("eval")(eval_command)
app.command("recommend", cls=IdListCommand)(recommend_command)
app.command("eval-recs")(eval_recs_command)
app.command("serve")(serve_command)
app.add_typer(users_app, name="users")
app.add_typer(digest_app, name="digest")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(webhooks_app, name="webhooks")
app.command("mcp")(mcp_command)
app.add_typer(topics_app, name="topics")
app.command("migrate-store")(migrate_store_command)

err = Console(stderr=True)


def _flag_type(self: TyperOption, ctx: click.Context) -> str | None:
    """Flags take no value, so their help shows no type (Typer 0.29 prints ``<bool>`` beside each)."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]


@app.callback()
def _root(
    ctx: typer.Context,
    home: Annotated[
        Path | None, typer.Option("--home", help="Data directory (default: $PAPERBOY_HOME or ~/.paperboy).")
    ] = None,
) -> None:
    """Remember the home directory for the sub-command."""
    ctx.obj = {"home": home}


def main() -> None:
    """Entry point: run the app, turning expected failures into one-line errors."""
    from paperboy.sources.record import SourceError

    try:
        app()
    except SourceError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]: finished batches are saved; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
