"""``paperboy export``: every paper as JSON lines that ``paperboy ingest jsonl`` reads back unchanged."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path
from typing import IO, Annotated, Any

import orjson
import typer

from paperboy.cli.common import console, open_store
from paperboy.sources.record import SourceError

FORMATS = ("jsonl",)


def export_record(row: dict[str, Any]) -> dict[str, Any]:
    """A stored paper in the export shape (the JSONL importer's keys)."""
    return {
        "id": row["id"],
        "version": row["version"],
        "versions": row["versions"],
        "title": row["title"],
        "abstract": row["abstract"],
        "authors": row["authors"],
        "affiliations": row["affiliations"],
        "categories": row["categories"],
        "comment": row["comment"],
        "journal_ref": row["journal_ref"],
        "doi": row["doi"],
        "dois": row["dois"],
        "license": row["license"],
        "abs_url": row["abs_url"],
        "pdf_url": row["pdf_url"],
        "code_url": row["code_url"],
        "project_url": row["project_url"],
        "published": row["published"],
        "updated": row["updated"],
        "announce_date": row["announced"],
        "upvotes": row["source_upvotes"],
        "hf": row["hf"],
        "sources": row["sources"],
    }


def export_command(
    ctx: typer.Context,
    fmt: Annotated[str, typer.Option("--format", help="Output format: jsonl.")] = "jsonl",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (.gz compresses); default stdout.")
    ] = None,
) -> None:
    """Write every paper as JSON lines (round-trips through ``paperboy ingest jsonl``)."""
    if fmt not in FORMATS:
        raise SourceError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    with open_store(ctx) as store:
        if output is None:
            count = _write(store.iter_papers(), sys.stdout.buffer)
        else:
            tmp = output.with_name(output.name + ".part")
            try:
                with gzip.open(tmp, "wb") if output.suffix == ".gz" else tmp.open("wb") as fh:
                    count = _write(store.iter_papers(), fh)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise SourceError(f"{output}: cannot write ({exc.strerror or exc})") from None
            os.replace(tmp, output)  # never leave a half-written export under the real name
    if output is not None:
        console.print(f"exported {count:,} papers to {output}")


def _write(rows: Any, fh: IO[bytes]) -> int:
    count = 0
    for row in rows:
        fh.write(orjson.dumps(export_record(row)) + b"\n")
        count += 1
    return count
