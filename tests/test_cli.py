"""The command line: imports, stats, export round trip, one-line errors, and kill -9 then resume."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from support.backend import on_sqlite, store_url

PAPERBOY = [sys.executable, "-m", "paperboy"]


def run(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PAPERBOY, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def write_corpus(path: Path, n: int, start: int = 0) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for i in range(start, start + n):
            fh.write(
                json.dumps(
                    {
                        "id": f"2503.{i:05d}",
                        "title": f"Paper number {i} on $\\alpha$-things",
                        "abstract": f"We study thing {i}.\nCode: https://github.com/lab/thing{i}.",
                        "authors": [f"Author {i % 50}", "Shared Person"],
                        "categories": ["cs.LG", "cs.AI"] if i % 2 else ["cs.CV"],
                        "comment": "10 pages" if i % 3 else None,
                        "announce_date": f"2025-03-{18 + i % 5:02d}",
                    }
                )
                + "\n"
            )


def test_ingest_stats_and_export_round_trip(tmp_path):
    corpus = tmp_path / "c.jsonl.gz"
    write_corpus(corpus, 300)
    first = run(tmp_path / "h1", "ingest", "jsonl", str(corpus))
    assert first.returncode == 0, first.stderr
    assert "300" in first.stdout and "new" in first.stdout
    stats = run(tmp_path / "h1", "stats", "--json")
    data = json.loads(stats.stdout)
    assert data["papers"] == 300 and data["by_source"] == [["jsonl", 300]]
    assert data["runs"][0]["new"] == 300

    # export, import the export into a fresh store, export again: identical papers
    out1, out2 = tmp_path / "e1.jsonl", tmp_path / "e2.jsonl.gz"
    assert run(tmp_path / "h1", "export", "--format", "jsonl", "-o", str(out1)).returncode == 0
    assert run(tmp_path / "h2", "ingest", "jsonl", str(out1)).returncode == 0
    assert run(tmp_path / "h2", "export", "-o", str(out2)).returncode == 0
    a = [json.loads(line) for line in out1.read_text().splitlines()]
    b = [json.loads(line) for line in gzip.open(out2, "rt").read().splitlines()]
    assert len(a) == 300 and a == b
    assert a[1]["code_url"] == "https://github.com/lab/thing1"

    again = run(tmp_path / "h2", "ingest", "jsonl", str(out1))
    assert json.loads(run(tmp_path / "h2", "stats", "--json").stdout)["runs"][0]["unchanged"] == 300, again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "jsonl", "/nonexistent/file.jsonl"], "no such file"),
        (["ingest", "kaggle", "/nonexistent/snap.json"], "no such file"),
        (["ingest", "jsonl", "/"], "is a directory"),
        (["export", "--format", "xml"], "unknown export format"),
    ],
)
def test_user_errors_are_one_line(tmp_path, args, message):
    result = run(tmp_path / "h", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreadable_file_and_unknown_source(tmp_path):
    if os.geteuid() == 0:
        locked = tmp_path / "locked.jsonl"
        locked.write_text("{}\n")
        locked.chmod(0)
        # root can read anything: check the error path with a file that vanishes instead
        locked.unlink()
        result = run(tmp_path / "h", "ingest", "jsonl", str(locked))
    else:  # pragma: no cover - CI runs as root
        locked = tmp_path / "locked.jsonl"
        locked.write_text("{}\n")
        locked.chmod(0)
        result = run(tmp_path / "h", "ingest", "jsonl", str(locked))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    unknown = run(tmp_path / "h", "ingest", "mystery", "x")
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_not_jsonl_gets_one_line(tmp_path):
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2000))
    result = run(tmp_path / "h", "ingest", "jsonl", str(binary))
    assert result.returncode == 1
    assert "not a JSON-lines file" in result.stderr and "Traceback" not in result.stderr


def _committed(engine: Engine) -> int:
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM papers")).scalar_one()
    except DBAPIError:  # no file or no table yet
        return 0


def test_kill_9_mid_import_then_resume(tmp_path):
    corpus = tmp_path / "big.jsonl.gz"
    write_corpus(corpus, 30000)
    home = tmp_path / "h"
    env = {**os.environ, "PAPERBOY_BATCH_SIZE": "500"}
    proc = subprocess.Popen(
        [*PAPERBOY, "--home", str(home), "ingest", "jsonl", str(corpus)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = create_engine(store_url(home), connect_args={"timeout": 1} if on_sqlite() else {})
    deadline = time.monotonic() + 60
    while _committed(engine) < 2000 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _committed(engine)
    assert 0 < done < 30000, "the import should have been killed midway"
    with engine.connect() as conn:
        if on_sqlite():
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        assert done % 500 == 0  # whole batches only
        linked = conn.execute(text("SELECT count(DISTINCT paper_id) FROM paper_authors")).scalar()
        assert linked == done  # no paper without its authors, no orphan links
        status = conn.execute(text("SELECT status FROM ingest_runs")).scalar()
        assert status == "running"  # killed: it never got to say otherwise

    result = run(home, "ingest", "jsonl", str(corpus), env={"PAPERBOY_BATCH_SIZE": "500"})
    assert result.returncode == 0, result.stderr
    with engine.connect() as conn:
        assert tuple(conn.execute(text("SELECT count(*), count(DISTINCT id) FROM papers")).one()) == (30000, 30000)
        new, unchanged = conn.execute(text("SELECT new, unchanged FROM ingest_runs ORDER BY id DESC")).first()
    engine.dispose()
    assert (new, unchanged) == (30000 - done, done)


def test_two_imports_at_once_into_one_store(tmp_path):
    """Two `paperboy ingest` processes into the same store at the same moment, with 1,000 papers in
    common: both complete, every paper is stored once with a seq of its own (they used to take the
    same ``max(seq) + 1``: a UNIQUE error on SQLite, a UniqueViolation on PostgreSQL)."""
    first, second = tmp_path / "a.jsonl.gz", tmp_path / "b.jsonl.gz"
    write_corpus(first, 3000)
    write_corpus(second, 3000, start=2000)
    home = tmp_path / "h"
    run(home, "stats")  # the store exists before the race (opening a new store at once is tested below)
    env = {**os.environ, "PAPERBOY_BATCH_SIZE": "250"}  # many batches, so the two interleave
    procs = [
        subprocess.Popen(
            [*PAPERBOY, "--home", str(home), "ingest", "jsonl", str(path)], env=env, stderr=subprocess.PIPE
        )
        for path in (first, second)
    ]
    errors = [proc.communicate(timeout=240)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    engine = create_engine(store_url(home))
    with engine.connect() as conn:
        counts = conn.execute(text("SELECT count(*), count(DISTINCT id), count(DISTINCT seq) FROM papers")).one()
        runs = conn.execute(text("SELECT new + unchanged + updated FROM ingest_runs WHERE source = 'jsonl'")).all()
    engine.dispose()
    assert tuple(counts) == (5000, 5000, 5000)
    assert sorted(r[0] for r in runs) == [3000, 3000]


def test_two_processes_opening_a_new_store_at_once(tmp_path):
    """Both create the schema's tables if nobody else is faster: migrations are serialized."""
    corpus = tmp_path / "c.jsonl.gz"
    write_corpus(corpus, 50)
    home = tmp_path / "h"
    procs = [
        subprocess.Popen([*PAPERBOY, "--home", str(home), "ingest", "jsonl", str(corpus)], stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    errors = [proc.communicate(timeout=240)[1].decode() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
