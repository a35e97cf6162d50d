"""What every sub-command needs: the settings for ``--home`` and an open store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from paperboy.config import Settings, load_settings
from paperboy.store import Store

console = Console()


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    """Settings for the ``--home`` given to the root command (or the environment's)."""
    home: Path | None = None
    node: typer.Context | None = ctx
    while node is not None:
        if isinstance(node.obj, dict) and node.obj.get("home"):
            home = node.obj["home"]
            break
        node = node.parent
    return load_settings(home, **overrides)


@contextmanager
def open_store(ctx: typer.Context, **overrides: Any) -> Iterator[Store]:
    """The store of the current home, closed afterwards."""
    settings = settings_from(ctx, **overrides)
    store = Store.open(settings)
    try:
        yield store
    finally:
        store.close()
