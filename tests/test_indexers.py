"""Real indexer processes sharing a store: one embeds (the lease), the others follow; two on one
home never fight over its index files or its status file; a killed indexer loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from paperboy.cli.main import app
from paperboy.config import load_settings
from paperboy.services.indexing import HomeLock
from paperboy.sources.base import finish
from paperboy.sources.record import PaperRecord
from paperboy.store import Store

#: Far above what a pass takes here (seconds); only a stuck or fighting indexer crosses it.
PATIENCE = 240


def make_home(root: Path, name: str, database: Path) -> Path:
    home = root / name
    home.mkdir(parents=True)
    (home / "settings.toml").write_text(
        f'database_url = "sqlite:///{database}"\nindex_interval = 0.3\nindex_lease_seconds = 30\n'
        "topics_min_papers = 100000\n"  # no topic build: not what these tests are about
    )
    return home


def add_papers(home: Path, start: int, n: int) -> None:
    records = [
        finish(
            PaperRecord(title=f"Paper {i} on graph learning", id=f"2501.{i:05d}", abstract=f"Text {i}.", source="jsonl")
        )
        for i in range(start, start + n)
    ]
    with Store.open(load_settings(home)) as store:
        store.ingest("jsonl", "x", records)


def start_indexer(home: Path, log: Path) -> subprocess.Popen:
    code = f"from paperboy.services.indexing import main; main({str(home)!r})"
    return subprocess.Popen([sys.executable, "-c", code], stdout=log.open("w"), stderr=subprocess.STDOUT)


def status(home: Path) -> dict:
    try:
        return json.loads((home / "index" / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(predicate, what: str, procs=()) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if predicate():
            return
        for proc in procs:
            assert proc.poll() is None, f"an indexer ended (code {proc.returncode}) while waiting for {what}"
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def level(home: Path, n: int) -> bool:
    s = status(home)
    return s.get("phase") == "idle" and s.get("vector_docs") == n and s.get("keyword_docs") == n


def vector_changes(home: Path) -> int:
    with Store.open(load_settings(home)) as store:
        return store.vector_change()


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_replicas_share_one_embedder_and_the_other_follows(tmp_path, embedder, procs):
    db = tmp_path / "shared" / "paperboy.db"
    db.parent.mkdir()
    a, b = make_home(tmp_path, "a", db), make_home(tmp_path, "b", db)
    add_papers(a, 0, 40)
    procs += [start_indexer(a, tmp_path / "a.log"), start_indexer(b, tmp_path / "b.log")]
    wait_for(lambda: level(a, 40) and level(b, 40), "both homes level with 40 papers", procs)
    roles = {status(a)["role"], status(b)["role"]}
    assert roles == {"embedding", "following"}
    leader, follower = (a, b) if status(a)["role"] == "embedding" else (b, a)
    assert status(follower)["leader"] == status(leader)["leader"]
    assert vector_changes(a) == 40  # every paper embedded once: the follower embedded none

    add_papers(b, 40, 10)  # imported through either replica: both find it
    wait_for(lambda: level(a, 50) and level(b, 50), "both homes level with 50 papers", procs)
    assert vector_changes(a) == 50

    index_of = {a: procs[0], b: procs[1]}
    index_of[leader].send_signal(signal.SIGKILL)  # the embedding replica dies mid-flight
    index_of[leader].wait()
    add_papers(follower, 50, 10)
    wait_for(lambda: level(follower, 60) and status(follower).get("role") == "embedding", "the follower to take over")
    assert vector_changes(a) == 60
    for log in (tmp_path / "a.log", tmp_path / "b.log"):
        assert "Traceback" not in log.read_text()


def test_two_indexers_on_one_home_take_turns_not_fight(tmp_path, embedder, procs):
    home = make_home(tmp_path, "home", tmp_path / "paperboy.db")
    add_papers(home, 0, 30)
    procs += [start_indexer(home, tmp_path / "1.log"), start_indexer(home, tmp_path / "2.log")]
    wait_for(lambda: level(home, 30), "the home level with 30 papers", procs)
    first = status(home)["pid"]
    assert first in {p.pid for p in procs}
    add_papers(home, 30, 5)
    wait_for(lambda: level(home, 35), "the home level with 35 papers", procs)
    for _ in range(10):  # the other one never writes the status file meanwhile
        assert status(home).get("pid") in (first, None)
        time.sleep(0.2)
    holder = next(p for p in procs if p.pid == first)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    add_papers(home, 35, 5)
    second = next(p for p in procs if p.pid != first)
    wait_for(lambda: status(home).get("pid") == second.pid and level(home, 40), "the second indexer to take over")
    with Store.open(load_settings(home)) as store:
        assert store.vector_change() == 40
    for log in (tmp_path / "1.log", tmp_path / "2.log"):
        assert "Traceback" not in log.read_text() and "LockBusy" not in log.read_text()


def test_paperboy_index_refuses_a_home_another_indexer_keeps(tmp_path):
    home = tmp_path / "home"
    settings = load_settings(home)
    with HomeLock(settings, who="the indexer of paperboy serve") as lock:
        assert lock.acquire()
        result = CliRunner().invoke(app, ["--home", str(home), "index", "--no-embed"])
    assert result.exit_code == 1
    assert f"the indexer of paperboy serve (pid {os.getpid()}) is indexing" in result.output
    result = CliRunner().invoke(app, ["--home", str(home), "index", "--no-embed"])  # free again
    assert result.exit_code == 0, result.output
