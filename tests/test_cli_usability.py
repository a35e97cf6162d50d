"""The command line as a new user meets it: Ctrl-C and empty inputs during an import (a clear message,
the right exit code, nothing lost), help without noise, tables that fit the terminal."""

from __future__ import annotations

import gzip
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from test_cli import run, write_corpus

from paperboy.cli.ingest import run_import
from paperboy.sources.base import finish
from paperboy.sources.record import Item, PaperRecord


def _records(n: int, interrupt_after: int | None = None) -> Iterator[Item]:
    """``n`` records; after ``interrupt_after`` of them the process gets a real SIGINT, as from Ctrl-C."""
    for i in range(n):
        if i == interrupt_after:
            os.kill(os.getpid(), signal.SIGINT)
        yield finish(PaperRecord(id=f"2503.{i:05d}", title=f"Paper {i}", source="jsonl", announced="2025-03-18"))


def test_first_ctrl_c_saves_what_was_read_and_says_how_to_go_on(store, capsys):
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN under a background shell
    with pytest.raises(typer.Exit) as stopped:
        run_import(store, "jsonl", "test", _records(500, interrupt_after=120))
    assert stopped.value.exit_code == 130
    out = capsys.readouterr().out
    assert "stopping" in out and "120 records read and saved" in out and "run the same command again" in out
    assert store.count_papers() == 120
    assert store.runs(1)[0]["status"] == "interrupted"
    assert signal.getsignal(signal.SIGINT) is before  # the handler is put back
    run_import(store, "jsonl", "test", _records(500))  # the same command again completes the work
    assert store.count_papers() == 500 and store.runs(1)[0]["status"] == "completed"


def test_a_second_ctrl_c_stops_at_once_with_a_message(store, capsys):
    def twice() -> Iterator[Item]:
        for i, record in enumerate(_records(300, interrupt_after=100)):
            if i == 150:
                os.kill(os.getpid(), signal.SIGINT)
            yield record

    with pytest.raises(typer.Exit) as stopped:
        run_import(store, "jsonl", "test", twice())
    assert stopped.value.exit_code == 130
    assert "interrupted" in capsys.readouterr().out
    assert store.runs(1)[0]["status"] == "interrupted"


@pytest.mark.parametrize(
    "name, content",
    [("empty.jsonl", b""), ("empty.jsonl.gz", b""), ("blank.jsonl", b"\n\n  \n"), ("nothing.jsonl.gz", None)],
)
def test_an_empty_file_is_a_warning_and_exit_code_1(tmp_path, name, content):
    path = tmp_path / name
    if content is None:
        with gzip.open(path, "wb"):
            pass  # a valid gzip stream holding nothing
    else:
        path.write_bytes(content)
    done = run(tmp_path / "home", "ingest", "jsonl", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "warning" in done.stdout and str(path) in done.stdout.replace("\n", "")
    assert "Traceback" not in done.stderr


def test_a_good_file_beside_an_empty_one_is_imported(tmp_path: Path):
    good, empty = tmp_path / "good.jsonl.gz", tmp_path / "empty.jsonl"
    write_corpus(good, 20)
    empty.write_bytes(b"")
    done = run(tmp_path / "home", "ingest", "jsonl", str(empty), str(good))
    assert done.returncode == 1 and "20" in done.stdout
    assert "papers" in run(tmp_path / "home", "stats").stdout


def test_help_shows_no_type_for_flags_and_no_literal_backticks(tmp_path):
    for args in ([], ["export"], ["serve"], ["index"], ["search"]):
        shown = run(tmp_path / "home", *args, "--help")
        assert shown.returncode == 0 and "Usage" in shown.stdout
        assert "<bool>" not in shown.stdout and "``" not in shown.stdout, args
    assert "round-trips through paperboy ingest jsonl" in run(tmp_path / "home", "--help").stdout


def test_stats_keep_every_number_whole_on_an_80_column_terminal(tmp_path):
    corpus = tmp_path / "c.jsonl.gz"
    write_corpus(corpus, 1234)
    home = tmp_path / "home"
    assert run(home, "ingest", "jsonl", str(corpus)).returncode == 0
    for columns in ("80", "200"):
        shown = run(home, "stats", env={"COLUMNS": columns})
        assert shown.returncode == 0
        assert "1,234" in shown.stdout and "completed" in shown.stdout and "…" not in shown.stdout.split("runs")[-1]
        assert str(corpus) in shown.stdout.replace("\n", "").replace("│", "").replace(" ", "")
