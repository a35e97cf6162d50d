"""Recommendation benchmarks (issue 5): the "for you" feed's latency over the 118k corpus, and the
recommenders compared by ``eval-recs`` on the author interaction set.

Set-up: the embedded 118k home that ``bench.search_bench.prepared_home`` keeps is copied (its store
by SQLite's backup API) into a temporary home, where a user is made: 30 saves spread over the
last 90 days from three authors' papers (three interests), 10 upvotes and 5 "not interested".

* Feed latency: ``Recommender.for_user`` plus the listing of the papers shown (what ``/for-you``
  computes), 30 papers, after one warm-up call that builds the window's features; ``RUNS`` calls,
  p50 and p90.  The default window is the 7 announcement days up to the corpus's newest
  (1,283 papers here: the sample corpus thins out at its end); the issue sizes a week at about
  5,000 papers, so the 28-day window (about 5,500 papers) is timed too.  The whole ``GET /for-you``
  page (rendering 30 cards) is timed in-process as well.
* Quality: ``paperboy eval-recs``'s code on ``bench/data/author-interactions-500.tsv`` (500
  authors with >= 5 papers, ``bench/make_author_interactions.py``): each author's papers split
  80/20 (seed 0), every method ranks all 118k papers from the 80 %, Recall@50 and nDCG@50 of the
  held-out 20 %.  The goal: the default method (``mix``) beats arxiv-sanity's SVM on Recall@50.

The SVM costs about 2.5 s per user (all 118k papers are its training set), so this part takes
about half an hour.  Run alone with ``PYTHONPATH=. python -m bench.recs_bench``
(``PAPERBOY_BENCH_RECS_USERS=N`` evaluates only N of the users, ``PAPERBOY_BENCH_RECS_METHODS=mix,svm``
only some methods; svm-emb only when named there).
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from paperboy.config import Settings, load_settings
from paperboy.services.recommend import Recommender
from paperboy.services.recs_eval import evaluate, load_interactions, split_users, store_features
from paperboy.services.taste import DEFAULT_METHOD, METHODS
from paperboy.store import Store

Row = tuple[str, str, str]
INTERACTIONS = Path(__file__).resolve().parent / "data" / "author-interactions-500.tsv"
RUNS = 50
#: svm-emb is left out by default: about 4 s per user, half an hour more (README has its figures).
BENCH_METHODS = [m for m in METHODS if m != "svm-emb"]
SHOWN = 30
NOW = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)


def _copy_store(source: Path, target: Path) -> None:
    """A writable copy of a home's store (the source is only read)."""
    target.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source / 'paperboy.db'}?mode=ro", uri=True)
    dst = sqlite3.connect(target / "paperboy.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def _settings(home: Path, **kw: object) -> Settings:
    return load_settings(home, page_cache_seconds=0, **kw)


def make_user(store: Store) -> int:
    """A user with 30 saves over three interests (three authors' papers), 10 votes, 5 "not interested"."""
    users = load_interactions(INTERACTIONS)
    known = store.library.known_ids(pid for papers in users.values() for pid in papers)
    libraries = [[p for p in papers if p in known] for _, papers in sorted(users.items())]
    big = [papers for papers in libraries if len(papers) >= 12]
    interests = big[:3]
    uid = store.people.create_user("bench", "bench@example.org", "x", "2026-01-01T00:00:00Z")
    saved = store.library.ensure_collection(uid, "Saved", "2026-01-01T00:00:00Z")
    for i, pid in enumerate(p for papers in interests for p in papers[:10]):
        when = (NOW - timedelta(days=3 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
        store.library.add_items(saved, [pid], when)
    for pid in [p for papers in interests for p in papers[10:12]] + big[3][:4]:
        store.activity.vote(pid, uid, True, "2026-06-20T00:00:00Z")
    recent = store.library.candidate_ids("2026-06-25", "2026-07-01")
    for pid in recent[:5]:
        store.library.set_feedback(uid, pid, "not_interested", "2026-06-30T00:00:00Z")
    return uid


def _timed(fn: object, runs: int = RUNS) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return times


def feed_rows(home: Path, uid: int) -> list[Row]:
    """p50/p90 of a user's "for you" ranking, for the 7-day and 28-day windows, and of the page."""
    rows: list[Row] = []
    for days, goal in ((7, "<= 50 ms"), (28, "")):
        settings = _settings(home, recs_window_days=days)
        with Store.open(settings) as store:
            rec = Recommender(store, settings, clock=lambda: NOW)
            start = time.perf_counter()
            found = rec.listed(rec.for_user(uid, limit=SHOWN))
            cold = (time.perf_counter() - start) * 1000
            times = _timed(lambda rec=rec: rec.listed(rec.for_user(uid, limit=SHOWN)))
            label = f'"for you" ({SHOWN} papers) over the last {days} days ({found.candidates:,} papers), warm'
            rows.append((f"{label}, p50", f"{statistics.median(times):.1f} ms", goal))
            rows.append((f"{label}, p90", f"{float(np.percentile(times, 90)):.1f} ms", ""))
            rows.append((f"  first call of the day (builds the window's features), {days} days", f"{cold:.0f} ms", ""))
    rows += page_rows(home, uid)
    return rows


def page_rows(home: Path, uid: int) -> list[Row]:
    """The whole GET /for-you page in-process (session cookie; 30 cards rendered)."""
    from fastapi.testclient import TestClient

    from paperboy.web.app import create_app

    settings = _settings(home)
    app = create_app(settings, semantic=False)
    svc = app.state.services
    user = svc.store.people.user(uid)
    session = svc.accounts.start_session(user)
    with TestClient(app) as client:
        client.cookies.set("pb_session", session.token)
        assert client.get("/for-you").status_code == 200
        times = _timed(lambda: client.get("/for-you"), runs=20)
    return [(f"GET /for-you page (7 days, {SHOWN} cards, in-process), p50", f"{statistics.median(times):.1f} ms", "")]


def eval_rows(home: Path) -> list[Row]:
    """Recall@50 and nDCG@50 of every method on the author interaction set."""
    settings = _settings(home)
    users = load_interactions(INTERACTIONS)
    limit = int(os.environ.get("PAPERBOY_BENCH_RECS_USERS", "0"))
    if limit:
        users = {u: users[u] for u in sorted(users)[:limit]}
    methods = [m for m in os.environ.get("PAPERBOY_BENCH_RECS_METHODS", ",".join(BENCH_METHODS)).split(",") if m]
    with Store.open(settings) as store:
        model = Recommender(store, settings).model()
        start = time.perf_counter()
        features = store_features(store, model, sanity="svm" in methods)
        built = time.perf_counter() - start
    index = {pid: i for i, pid in enumerate(features.ids)}
    splits, unknown = split_users(users, index, seed=0)
    scores = {}
    for method in methods:
        started = time.perf_counter()
        scores[method] = evaluate(features, splits, [method], k=50)[0]
        print(f"recs bench: {method} took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    data = f"{len(splits)} authors, 80/20 seed 0, ranked among {len(features):,} papers"
    rows: list[Row] = [(f"eval-recs data: {data}", f"features built in {built:.0f} s", "")]
    for method, s in scores.items():
        rows.append((f"eval-recs {method}: Recall@50 / nDCG@50", f"{s.recall:.4f} / {s.ndcg:.4f}", ""))
        rows.append((f"  {method}: time per user", f"{s.ms_per_user:.0f} ms", ""))
    if DEFAULT_METHOD in scores and "svm" in scores:
        ours, svm = scores[DEFAULT_METHOD].recall, scores["svm"].recall
        rows.append(
            (
                f"eval-recs Recall@50: {DEFAULT_METHOD} vs arxiv-sanity SVM",
                f"{ours:.4f} vs {svm:.4f} ({(ours / svm - 1) * 100:+.1f} %)" if svm else f"{ours:.4f} vs 0",
                "mix > svm",
            )
        )
    return rows


def run() -> list[Row]:
    """Measure and return rows of (figure, value, goal)."""
    from bench.search_bench import CORPUS, prepared_home

    if not CORPUS.exists():
        return [("recommendation benchmarks", "skipped: no ../shared/data corpus", "")]
    source, note = prepared_home(build=True)
    if source is None:
        return [("recommendation benchmarks", f"skipped: {note}", "")]
    rows: list[Row] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="paperboy-recs-bench-") as tmp:
        home = Path(tmp) / "home"
        _copy_store(source, home)
        with Store.open(_settings(home)) as store:
            uid = make_user(store)
        for name, part in (("feed", lambda: feed_rows(home, uid)), ("eval-recs", lambda: eval_rows(home))):
            started = time.perf_counter()
            try:
                rows += part()
            except Exception as exc:  # noqa: BLE001 - one part failing must still report the other
                rows.append((f"recommendations: {name}", f"failed: {type(exc).__name__}: {exc}"[:200], ""))
            print(f"recs bench: {name} took {time.perf_counter() - started:.0f} s", file=sys.stderr)
    rows.append(("machine load (1-min average) before / after", f"{load:.1f} / {os.getloadavg()[0]:.1f}", ""))
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
