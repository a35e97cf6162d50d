"""Digest benchmark (issue 6): 10,000 subscribers with personal sections over the 118k papers, every
digest built and delivered to a local SMTP server, goal 120 s or less on 2 cores.

Set-up (not timed): the embedded 118k home that ``bench.search_bench.prepared_home`` keeps is copied
into a temporary home (the store by SQLite's backup API; index and model folders linked, only read),
so nothing is ever written to the cache.  10,000 confirmed subscribers are added, 80 % daily and 20 %
weekly, each with every section: 1-3 categories among the 20 largest, 1-2 saved searches from a pool
of 400 (two or three words of real titles, as people type them), and an account under the same
address with 3-8 upvoted papers, so "papers like yours" ranks by their vectors; 300 of the newest
papers get votes as well, so trending is not just newest-first.  "Today" is the corpus's last
announcement day, so daily digests cover that day and weekly ones the last seven.

Timed: one ``send_digests`` run, exactly what ``paperboy digest send`` does: building every digest
(windows, rankings, keyword alerts through the tantivy index, similarity with numpy), rendering the
multipart mail, handing it over SMTP (one connection kept open), recording each in the send log.
The SMTP server is aiosmtpd on loopback in a separate process (it does not share our GIL); it
counts what it accepts, which must equal the digests the send log marks sent.  Run alone with
``PYTHONPATH=. python -m bench.digest_bench`` (``PAPERBOY_BENCH_DIGEST_SUBSCRIBERS`` changes the count).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import sqlite3
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

Row = tuple[str, str, str]
SUBSCRIBERS = int(os.environ.get("PAPERBOY_BENCH_DIGEST_SUBSCRIBERS", "10000"))
GOAL_SECONDS = 120.0
WEEKLY_SHARE = 0.2
SEARCH_POOL = 400
TRENDING_PAPERS = 300


# -- the SMTP server, in its own process --------------------------------------------------------------
class _Counter:
    """aiosmtpd handler: counts accepted messages and their bytes, keeps nothing."""

    def __init__(self, count: Any, size: Any) -> None:
        self.count = count
        self.size = size

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.count.get_lock():
            self.count.value += 1
            self.size.value += len(envelope.content)
        return "250 OK"


def _serve_smtp(port: int, count: Any, size: Any, ready: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_Counter(count, size), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


class SmtpServer:
    """aiosmtpd on a loopback port, in a spawned process."""

    def __init__(self) -> None:
        from bench.web_bench import _free_port

        ctx = multiprocessing.get_context("spawn")
        self.port = _free_port()
        self.count = ctx.Value("q", 0)
        self.size = ctx.Value("q", 0)
        ready, self._stop = ctx.Event(), ctx.Event()
        self.proc = ctx.Process(
            target=_serve_smtp, args=(self.port, self.count, self.size, ready, self._stop), daemon=True
        )
        self.proc.start()
        if not ready.wait(60):
            raise RuntimeError("the SMTP server did not start")

    def stop(self) -> None:
        self._stop.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


# -- subscribers ----------------------------------------------------------------------------------------
def _queries(db: sqlite3.Connection, rng: random.Random) -> list[str]:
    titles = [r[0] for r in db.execute("select title from papers order by random() limit 2000")]
    out: list[str] = []
    for title in titles:
        words = re.findall(r"[A-Za-z]{4,}", title)
        if len(words) >= 3:
            start = rng.randrange(0, len(words) - 2)
            out.append(" ".join(words[start : start + rng.choice((2, 3))]))
        if len(out) == SEARCH_POOL:
            break
    return out


def populate(home: Path, n: int, seed: int = 6) -> dict[str, Any]:
    """Add ``n`` subscribers with accounts, votes and every section (bulk SQL: set-up, not the subject)."""
    from paperboy.store.activity import hot_score

    rng = random.Random(seed)
    db = sqlite3.connect(home / "paperboy.db")
    last_day = db.execute("select max(announced) from papers").fetchone()[0]
    cats = [
        r[0]
        for r in db.execute(
            "select category from paper_categories where is_primary group by category order by count(*) desc limit 20"
        )
    ]
    queries = _queries(db, rng)
    liked_pool = [r[0] for r in db.execute("select paper_id from paper_vectors order by random() limit 20000")]
    recent = [
        r[0]
        for r in db.execute(
            "select id from papers where announced > date(?, '-7 days') order by random() limit ?",
            (last_day, TRENDING_PAPERS),
        )
    ]
    now = "2026-07-01T00:00:00Z"
    first_user = (db.execute("select coalesce(max(id), 0) from users").fetchone()[0] or 0) + 1
    users, votes, subscribers = [], [], []
    for i in range(n):
        email = f"reader{i:05d}@bench.example.org"
        uid = first_user + i
        users.append((uid, f"reader{i:05d}", f"reader{i:05d}", email, "x", False, now))
        for pid in rng.sample(liked_pool, rng.randint(3, 8)):
            votes.append((pid, uid, now))
        subscribers.append(
            (
                email,
                True,
                False,
                "weekly" if rng.random() < WEEKLY_SHARE else "daily",
                json.dumps(["trending", "categories", "searches", "similar"]),
                5,
                json.dumps(rng.sample(cats, rng.randint(1, 3))),
                json.dumps(rng.sample(queries, rng.randint(1, 2))),
                os.urandom(16).hex(),
                now,
                now,
            )
        )
    for pid in recent:
        for uid in rng.sample(range(first_user, first_user + n), rng.randint(1, 40)):
            votes.append((pid, uid, now))
    with db:
        db.executemany(
            "insert into users (id, username, username_key, email, password_hash, is_admin, created_at)"
            " values (?, ?, ?, ?, ?, ?, ?)",
            users,
        )
        db.executemany("insert or ignore into votes (paper_id, user_id, created_at) values (?, ?, ?)", votes)
        db.executemany(
            "insert into subscribers (email, confirmed, bounced, frequency, sections, items, categories, searches,"
            " link_key, created_at, confirmed_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            subscribers,
        )
        counts = db.execute(
            "select v.paper_id, count(*), coalesce(p.announced, substr(p.published, 1, 10)) from votes v"
            " join papers p on p.id = v.paper_id group by v.paper_id"
        ).fetchall()
        db.executemany(
            "insert or replace into paper_stats (paper_id, upvotes, num_comments, hot, hidden) values (?, ?, 0, ?, 0)",
            [(pid, k, hot_score(k, d)) for pid, k, d in counts],
        )
    db.close()
    return {"today": last_day, "categories": len(cats), "queries": len(queries), "votes": len(votes)}


def _keyword_index(source: Path, home: Path, store: Any) -> tuple[Any, str]:
    """The source's keyword index, read only, when it is level with the store; else one built here."""
    from paperboy.indices.keyword import KeywordIndex

    linked = home / "index" / "keyword"
    if linked.exists():
        index = KeywordIndex.open(linked)
        if index.last_seq >= store.max_seq() and len(index) == store.count_papers():
            return index, "the prepared home's keyword index"
    started = time.perf_counter()
    index = KeywordIndex.open(home / "bench-keyword")
    index.catch_up(store)
    return index, f"keyword index built for the bench ({time.perf_counter() - started:.0f} s, not timed)"


def run() -> list[Row]:
    """Measure and return rows of (figure, value, goal)."""
    from bench.search_bench import prepared_home

    source, how = prepared_home(build=True)
    if source is None:
        return [("digest benchmark", f"skipped: {how}", "")]
    return measure(source, SUBSCRIBERS)


def measure(source: Path, subscribers: int) -> list[Row]:
    """The figures for ``subscribers`` subscribers over a copy of the home ``source``."""
    from bench.web_bench import _copy_home
    from paperboy.config import load_settings
    from paperboy.services.delivery import send_digests
    from paperboy.store import Store

    rows: list[Row] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="paperboy-digest-bench-") as tmp:
        home = Path(tmp) / "home"
        _copy_home(source, home)
        server = SmtpServer()
        try:
            settings = load_settings(
                home,
                smtp_host="127.0.0.1",
                smtp_port=server.port,
                mail_from="paperboy <digest@bench.example.org>",
                base_url="https://papers.example.org",
                digest_rate_per_minute=0,
                digest_weekday="monday",
            )
            with Store.open(settings) as store:  # migrates the copy (adds the digest tables)
                papers = store.count_papers()
            setup = populate(home, subscribers)
            today = date.fromisoformat(setup["today"])
            with Store.open(settings) as store:
                keyword, index_note = _keyword_index(source, home, store)
                started = time.perf_counter()
                report = send_digests(store, settings, today, keyword=keyword, write_index=False)
                seconds = time.perf_counter() - started
                rows_sent = store.subscriptions.sends(state="sent")
                logged = len(rows_sent)
                shares: dict[str, int] = {}
                papers_per = 0
                for row in rows_sent:
                    for section in row["content"]["sections"]:
                        shares[section["name"]] = shares.get(section["name"], 0) + 1
                        papers_per += len(section["ids"])
            time.sleep(0.5)  # the server's last replies are in; its counter is final
            delivered = server.count.value
            kb = server.size.value / max(delivered, 1) / 1024
        finally:
            server.stop()
    summary = report.summary()
    sent = summary["sent"]
    rows.append(
        (
            f"{subscribers:,} digests with personal sections over {papers:,} papers: built and delivered",
            f"{seconds:.1f} s ({sent / seconds:,.0f} digests/s)",
            f"<= {GOAL_SECONDS:.0f} s" + ("" if seconds <= GOAL_SECONDS else ": **short**"),
        )
    )
    rows.append(
        (
            "digests accepted by the SMTP server / marked sent in the send log",
            f"{delivered:,} / {logged:,} (empty: {summary['empty']}, deferred: {summary['deferred']})",
            f"{sent:,} / {sent:,}",
        )
    )
    share = ", ".join(f"{name} {100 * n / max(logged, 1):.0f} %" for name, n in sorted(shares.items()))
    rows.append(
        (
            "average digest",
            f"{kb:.0f} KB, {papers_per / max(logged, 1):.1f} papers; digests with each section: {share}",
            "",
        )
    )
    rows.append(("digest bench set-up", f"today {setup['today']}; {setup['votes']:,} votes; {index_note}", ""))
    rows.append(("machine load (1-min average) before / after", f"{load_before:.1f} / {os.getloadavg()[0]:.1f}", ""))
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
