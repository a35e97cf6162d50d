"""Two web replicas over one PostgreSQL database: real ``paperboy serve`` processes (each with its
own home, keyword index and indexer), 50 voters voting through both at once lose no vote, and a
paper imported through one replica's home is found by keyword search on both."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from support import backend
from support.servers import free_port
from support.web import corpus

from paperboy.config import load_settings
from paperboy.services.accounts import Accounts
from paperboy.store import Store

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        not backend.on_postgres(), reason="replicas share a PostgreSQL database: runs with --backend postgres"
    ),
]
VOTERS = 50
PAPERS = 10
NOW = "2026-07-10T12:00:00Z"


def _serve(home: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "PAPERBOY_DIGEST_SCHEDULE": "0", "PAPERBOY_PAGE_CACHE_SECONDS": "0.2"}
    return subprocess.Popen(
        [sys.executable, "-m", "paperboy", "--home", str(home), "serve", "--port", str(port), "--no-semantic"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,  # PAPERBOY_DATABASE_URL: this test's database, shared by both replicas
    )


def _wait_listening(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"{url}/status", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("a replica did not start")


@pytest.fixture
def replicas(tmp_path: Path, fast_hashes: None) -> Iterator[tuple[list[str], list[Path], list[str]]]:
    """Two replicas started over a store holding the corpus and 50 users with API tokens."""
    settings = load_settings(tmp_path / "setup")
    assert settings.database_url.startswith("postgresql")
    with Store.open(settings) as store:
        store.ingest("jsonl", "fixture", corpus())
        accounts = Accounts(store, settings)
        accounts.register("admin", "admin@example.org", "a long password")  # the first account is the admin
        tokens = []
        for i in range(VOTERS):
            user = accounts.register(f"voter{i:02d}", f"voter{i:02d}@example.org", "a long password")
            tokens.append(accounts.create_api_token(user, "votes"))
    homes = [tmp_path / "replica-a", tmp_path / "replica-b"]
    ports = [free_port(), free_port()]
    procs = [_serve(home, port) for home, port in zip(homes, ports, strict=True)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):
            _wait_listening(url, proc)
        yield urls, homes, tokens
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_fifty_voters_through_two_replicas_lose_no_vote(replicas):
    urls, _, tokens = replicas
    papers = [p.id for p in corpus()[:PAPERS]]
    errors: list[str] = []
    start = threading.Barrier(VOTERS)

    def voter(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        with httpx.Client(headers=headers, timeout=60) as a, httpx.Client(headers=headers, timeout=60) as b:
            start.wait()
            for n, pid in enumerate(papers):
                client, url = (a, urls[0]) if (i + n) % 2 == 0 else (b, urls[1])  # every voter uses both
                r = client.post(f"{url}/api/papers/{pid}/vote", json={"up": True})
                if r.status_code != 200:
                    errors.append(f"{r.status_code} {r.text[:200]}")

    threads = [threading.Thread(target=voter, args=(i,)) for i in range(VOTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for url in urls:  # both replicas show every vote (once their page cache has seen the change)
        deadline = time.monotonic() + 30
        while True:
            shown = {pid: httpx.get(f"{url}/api/papers/{pid}", timeout=30).json()["upvotes"] for pid in papers}
            if all(n == VOTERS for n in shown.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert shown == dict.fromkeys(papers, VOTERS), url
    with Store.open(load_settings(Path("/nonexistent"))) as store:
        assert [store.activity.vote_count(pid) for pid in papers] == [VOTERS] * PAPERS
        assert [p["upvotes"] for p in store.activity.listed(papers)] == [VOTERS] * PAPERS


def test_a_paper_imported_through_one_replica_is_found_on_both(replicas, tmp_path):
    urls, homes, _ = replicas
    new = tmp_path / "new.jsonl"
    new.write_bytes(
        orjson.dumps(
            {
                "id": "2607.09999",
                "title": "Zyxwvutsrqp resonators for replicated search",
                "abstract": "A paper that only the import made in this test contains.",
                "authors": ["Ada Lovelace"],
                "categories": ["cs.DC"],
                "date": "2026-07-10",
            }
        )
        + b"\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "paperboy", "--home", str(homes[0]), "ingest", "jsonl", str(new)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for url in urls:  # each replica's indexer catches its own keyword index up from the shared store
        deadline = time.monotonic() + 60
        found: list[str] = []
        while time.monotonic() < deadline:
            hits = httpx.get(f"{url}/api/papers/search", params={"q": "zyxwvutsrqp"}, timeout=30).json()
            found = [hit["paper"]["id"] for hit in hits]
            if found:
                break
            time.sleep(0.5)
        assert found == ["2607.09999"], url
