"""Run every benchmark and print one table of figures."""

from __future__ import annotations

import platform
import time

from rich.console import Console
from rich.table import Table

from bench import (
    digest_bench,
    embed_bench,
    index_bench,
    ingest_bench,
    judged_bench,
    postgres_bench,
    recs_bench,
    search_bench,
    topics_bench,
    web_bench,
)


def main() -> None:
    """Run the suites in order and print their figures as they come."""
    console = Console()
    console.print(f"paperboy benchmarks on {platform.node()} ({platform.processor() or platform.machine()})")
    table = Table(title="figures (medians of repeated runs)", title_justify="left")
    for name in ("figure", "measured", "goal"):
        table.add_column(name)
    suites = (
        ingest_bench,
        postgres_bench,
        embed_bench,
        index_bench,
        search_bench,
        judged_bench,
        web_bench,
        recs_bench,
        digest_bench,
        topics_bench,
    )
    for suite in suites:
        started = time.perf_counter()
        rows = suite.run()
        for row in rows:
            console.print(f"  {row[0]}: {row[1]}  (goal {row[2]})")
            table.add_row(*row)
        console.print(f"[dim]{suite.__name__} took {time.perf_counter() - started:.0f} s[/dim]")
    console.print(table)


if __name__ == "__main__":
    main()
