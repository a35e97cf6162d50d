"""PostgreSQL against SQLite (issue 16): the same 20,000 real papers imported by the real
``paperboy ingest jsonl`` command (a fresh process each time) into an empty SQLite home and into an
empty database on a throw-away PostgreSQL server started here (as the test suite starts its own),
the two alternating so both see the same machine; medians of 3, and their ratio.  The server
keeps PostgreSQL's default durability (fsync on); import batches commit without waiting for their
WAL to reach the disk, as SQLite's WAL mode does with ``synchronous=NORMAL``.

Then two imports of two halves of the corpus at once, on each backend: both must complete with
every paper stored once (they used to collide on ``seq``).

``PYTHONPATH=. python -m bench.postgres_bench`` (also in ``make bench``).
"""

from __future__ import annotations

import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
PAPERS = 20_000


def _server():  # noqa: ANN202 - tests/support/postgres.TempPostgres
    """The test suite's throw-away server (tests/support is not a package of paperboy's)."""
    sys.path.insert(0, str(REPO / "tests"))
    from support.postgres import TempPostgres

    return TempPostgres(durable=True)  # fsync and synchronous commits on, as an installation runs


def _sample(path: Path, n: int, skip: int = 0) -> Path:
    """The corpus's lines ``skip`` .. ``skip + n`` as a gzipped JSON-lines file."""
    with gzip.open(CORPUS, "rb") as fin, gzip.open(path, "wb", compresslevel=1) as fout:
        for i, line in enumerate(fin):
            if i >= skip + n:
                break
            if i >= skip:
                fout.write(line)
    return path


def _ingest(home: Path, path: Path, url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PAPERBOY_HOME": str(home), "PAPERBOY_DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "paperboy", "ingest", "jsonl", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait(proc: subprocess.Popen[bytes]) -> None:
    proc.wait()
    if proc.returncode:
        raise RuntimeError(f"ingest failed: {proc.stderr.read().decode() if proc.stderr else ''}")


def _timed(home: Path, path: Path, url: str) -> float:
    """Seconds the import takes, into a store created (migrated) beforehand: the schema's creation
    (a few seconds of DDL on PostgreSQL, a blink on SQLite) is not part of importing."""
    from paperboy.config import load_settings
    from paperboy.store import Store

    Store.open(load_settings(home, database_url=url)).close()
    start = time.perf_counter()
    _wait(_ingest(home, path, url))
    return time.perf_counter() - start


def _counts(url: str) -> tuple[int, int, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT count(*), count(DISTINCT id), count(DISTINCT seq) FROM papers")).one()
    engine.dispose()
    return tuple(row)  # type: ignore[return-value]


def run(repeats: int = 3) -> list[tuple[str, str, str]]:
    """Measure and return rows of (figure, value, goal)."""
    if not CORPUS.exists():
        return [("PostgreSQL benchmarks", "skipped: no ../shared/data corpus", "")]
    try:
        server = _server().start()
    except RuntimeError as exc:
        return [("PostgreSQL benchmarks", f"skipped: {exc}", "")]
    work = Path(tempfile.mkdtemp(prefix="paperboy-pg-bench-"))
    rows: list[tuple[str, str, str]] = []
    try:
        sample = _sample(work / "sample.jsonl.gz", PAPERS)
        lite, pg = [], []
        for i in range(repeats):
            lite.append(_timed(work / f"sqlite{i}", sample, ""))
            pg.append(_timed(work / f"pg{i}", sample, server.create_database(f"bench{i}")))
        s, p = statistics.median(lite), statistics.median(pg)
        rows.append(
            (
                f"import {PAPERS:,} papers: SQLite / PostgreSQL",
                f"{PAPERS / s:,.0f} / {PAPERS / p:,.0f} papers/s (runs: "
                f"{', '.join(f'{x:.1f}' for x in lite)} s / {', '.join(f'{x:.1f}' for x in pg)} s)",
                "",
            )
        )
        rows.append(("PostgreSQL import rate / SQLite's, side by side", f"{s / p:.2f}x", ">= 0.8x"))

        halves = [_sample(work / "a.jsonl.gz", PAPERS // 2), _sample(work / "b.jsonl.gz", PAPERS // 2, PAPERS // 2)]
        for name, url in (("SQLite", f"sqlite:///{work / 'both' / 'paperboy.db'}"), ("PostgreSQL", "")):
            url = url or server.create_database("both")
            (work / "both").mkdir(exist_ok=True)
            start = time.perf_counter()
            procs = [_ingest(work / f"both-{i}", half, url) for i, half in enumerate(halves)]
            for proc in procs:
                _wait(proc)
            seconds = time.perf_counter() - start
            n, ids, seqs = _counts(url)
            ok = n == ids == seqs == PAPERS
            rows.append(
                (
                    f"two imports of 10,000 papers at once, {name}",
                    f"{'both completed' if ok else 'WRONG'}: {n:,} papers, {seqs:,} distinct seq ({seconds:.1f} s)",
                    f"{PAPERS:,} papers, no error",
                )
            )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
