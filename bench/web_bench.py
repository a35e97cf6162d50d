"""Web benchmarks (issue 4): throughput and tail latency of ``paperboy serve`` under wrk, and votes
from 50 concurrent users.

Set-up: the embedded 118k-paper home that ``bench.search_bench.prepared_home`` keeps is copied
(store by SQLite's backup API; index and model folders linked, read-only here) into a temporary
home, so votes cast by the benchmark never reach the cache.  ``paperboy serve --no-index`` runs
it on a loopback port; wrk (Debian's package) drives it from a separate process with 32
connections for ``DURATION`` seconds, ``RUNS`` times per page kind; medians are reported.
Each run rotates over many URLs (every announcement day and sort, 2,000 random papers, 200
queries), so the figures are not those of one cached page.  Anonymous pages are micro-cached
for a few seconds (signed-in users are never served from the cache): the figures include that,
as a real deployment would.

Votes: 50 users with API tokens vote from 50 threads at once on the same 10 papers (each user
votes for all of them, some withdraw and vote again); afterwards every count must equal the
number of users whose last action was a vote, in the API and in the store, with no error.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

Row = tuple[str, str, str]
DURATION = int(os.environ.get("PAPERBOY_BENCH_WEB_SECONDS", "15"))
RUNS = 3
CONNECTIONS = 32
VOTERS = 50
VOTED_PAPERS = 10


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_home(source: Path, target: Path) -> None:
    """A writable copy of the store beside links to the (read-only here) index and model folders."""
    target.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source / 'paperboy.db'}?mode=ro", uri=True)
    dst = sqlite3.connect(target / "paperboy.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
    for name in ("index", "models"):
        if (source / name).exists():
            (target / name).symlink_to(source / name)


class Server:
    """``paperboy serve`` in a subprocess, ready when its first page answers."""

    def __init__(self, home: Path, workers: int) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "paperboy.cli.main", "--home", str(home), "serve", "--port", str(self.port)]
        cmd += ["--workers", str(workers), "--no-index"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        self.proc = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if httpx.get(self.url + "/api/daily_papers?limit=1", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
            if self.proc.poll() is not None:
                raise RuntimeError(f"paperboy serve died: {self.proc.stderr.read().decode()[-2000:]}")
        raise RuntimeError("paperboy serve did not answer within 180 s")

    def wait_semantic(self, timeout: float = 240) -> None:
        """Wait until the workers have loaded the vectors (semantic search joins in the background)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            page = httpx.get(self.url + "/status", timeout=10).text
            loaded = re.search(r"([\d,]+) vectors loaded", page)
            if loaded and int(loaded.group(1).replace(",", "")) > 100_000:
                return
            time.sleep(2)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


_LUA = """
local paths = {%s}
local n = 0
init = function(args) n = math.random(#paths) end
request = function()
  n = n %% #paths + 1
  return wrk.format("GET", paths[n])
end
"""
_LATENCY = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, paths: list[str], workdir: Path) -> tuple[float, float, int]:
    """(requests/s, p99 ms, errors) of one wrk run rotating over ``paths``."""
    script = workdir / "paths.lua"
    script.write_text(_LUA % ",".join('"' + p.replace('"', '\\"') + '"' for p in paths))
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    match = _LATENCY.search(out)
    p99 = float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")
    errors = 0
    for pattern in (
        r"Non-2xx or 3xx responses: (\d+)",
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
    ):
        found = re.search(pattern, out)
        if found:
            errors += sum(int(g) for g in found.groups())
    return rate, p99, errors


def _targets(home: Path) -> dict[str, list[str]]:
    """URLs per page kind, drawn from the store."""
    db = sqlite3.connect(f"file:{home / 'paperboy.db'}?mode=ro", uri=True)
    days = [r[0] for r in db.execute("select distinct announced from papers where announced is not null")]
    ids = [r[0] for r in db.execute("select id from papers order by random() limit 2000")]
    titles = [r[0] for r in db.execute("select title from papers order by random() limit 200")]
    db.close()
    rng = random.Random(7)
    queries = []
    for title in titles:  # two or three words of a real title: what people type
        words = [w for w in re.findall(r"[A-Za-z]{4,}", title)]
        if len(words) >= 2:
            start = rng.randrange(0, max(1, len(words) - 2))
            queries.append("+".join(words[start : start + rng.choice((2, 3))]))
    return {
        "daily page": ["/"] + [f"/papers/date/{d}" for d in days] + [f"/papers/date/{d}?sort=new" for d in days[:50]],
        "paper page": [f"/papers/{pid}" for pid in ids],
        "/api/papers/search": [f"/api/papers/search?q={q}&limit=10" for q in queries],
    }


def _vote_storm(url: str, home: Path) -> list[Row]:
    """50 users voting at once on the same papers; every count checked afterwards."""
    from paperboy.config import load_settings
    from paperboy.services.accounts import Accounts
    from paperboy.store import Store

    settings = load_settings(home)
    with Store.open(settings) as store:
        accounts = Accounts(store, settings)
        tokens = []
        for i in range(VOTERS):
            user = accounts.register(f"voter{i:02d}", f"voter{i:02d}@example.org", "a long password")
            tokens.append(accounts.create_api_token(user, "bench"))
        papers = [r["id"] for r in store.activity.announced_between("0000", "9999", "new", VOTED_PAPERS, 0)[0]]
    rng = random.Random(11)
    withdraws = {i: set(rng.sample(papers, 3)) for i in range(0, VOTERS, 5)}  # every fifth user changes their mind
    errors: list[str] = []
    barrier = threading.Barrier(VOTERS)

    def voter(i: int) -> None:
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            barrier.wait()
            for pid in rng.sample(papers, len(papers)):
                actions = [True, False, True] if pid in withdraws.get(i, ()) else [True, True]
                for up in actions:
                    response = client.post(f"/api/papers/{pid}/vote", json={"up": up})
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:100]}")

    started = time.perf_counter()
    threads = [threading.Thread(target=voter, args=(i,)) for i in range(VOTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    wrong = []
    for pid in papers:
        shown = httpx.get(f"{url}/api/papers/{pid}", timeout=30).json()["paper"]["upvotes"]
        with Store.open(settings) as store:
            stored = store.activity.vote_count(pid)
        if shown != VOTERS or stored != VOTERS:
            wrong.append(f"{pid}: api {shown}, store {stored}, expected {VOTERS}")
    requests = sum(len(papers) * 2 + len(w) for w in withdraws.values()) + (VOTERS - len(withdraws)) * len(papers) * 2
    verdict = (
        "all counts right, no errors"
        if not wrong and not errors
        else f"{len(wrong)} wrong counts, {len(errors)} errors"
    )
    return [
        (
            f"{VOTERS} concurrent voters on {VOTED_PAPERS} papers ({requests:,} vote requests)",
            verdict,
            "no vote lost, no error",
        ),
        ("vote requests/s during the storm", f"{requests / seconds:,.0f}", ""),
    ]


def run() -> list[Row]:
    """Measure and return rows of (figure, value, goal)."""
    if shutil.which("wrk") is None:
        return [("web benchmarks", "skipped: wrk is not installed (apt-get install wrk)", "")]
    from bench.search_bench import prepared_home

    source, note = prepared_home(build=True)
    if source is None:
        return [("web benchmarks", f"skipped: {note}", "")]
    rows: list[Row] = []
    workers = int(os.environ.get("PAPERBOY_BENCH_WEB_WORKERS", "2"))
    with tempfile.TemporaryDirectory(prefix="paperboy-web-bench-") as tmp:
        home = Path(tmp) / "home"
        _copy_home(source, home)
        targets = _targets(home)
        server = Server(home, workers)
        try:
            server.wait_semantic()
            for kind, paths in targets.items():
                _wrk(server.url, paths, Path(tmp))  # warm-up run, not counted
                results = [_wrk(server.url, paths, Path(tmp)) for _ in range(RUNS)]
                rate = statistics.median(r[0] for r in results)
                p99 = statistics.median(r[1] for r in results)
                errors = sum(r[2] for r in results)
                rows.append(
                    (f"{kind}: requests/s ({CONNECTIONS} connections, {workers} workers)", f"{rate:,.0f}", ">= 300")
                )
                rows.append((f"{kind}: p99 latency", f"{p99:.1f} ms", "<= 100 ms"))
                rows.append((f"{kind}: errors", str(errors), "0"))
            rows += _vote_storm(server.url, home)
        finally:
            server.stop()
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
