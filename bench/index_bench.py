"""Indexing benchmarks (issue 16): ``paperboy index``'s embedding pipeline against the bare embedding
function, ``--workers 2`` against one process with and without other load on the machine, a
2-worker local Dask cluster against ``--workers 2``, and vectors committed out of order reaching a
follower's index.

All on the same papers (the corpus's first ``DOCS``, title + abstract at the configured embedding
length) in one run, the methods interleaved round by round so the machine's changing load falls on
each alike; figures are medians over the rounds, ratios of those medians.

* bare: ``Embedder.embed_documents`` over every text at once (no store at all), one process with
  onnxruntime's default threads (one per core);
* pipeline: ``embed_pending``, what ``paperboy index`` runs: reading the store, embedding, writing
  the vectors, bookkeeping (reader and writer threads around the model);
* workers 2: ``embed_with_workers`` (``--workers 2``): two single-threaded processes started for
  the job (their start-up counted), committing their own pages;
* cluster: ``embed_on_cluster(local:2)`` (``--cluster local:2``): a Dask cluster of two workers
  started for the job and the model shipped to them (both counted), the workers committing;
* under load: the one-process pipeline and ``--workers 2`` again while ``BURNERS`` processes
  spin on the CPU at the same priority (as other work on a shared machine does).
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import delete

from paperboy.config import load_settings
from paperboy.indices.embed_job import embed_pending
from paperboy.indices.embed_pool import embed_with_workers
from paperboy.indices.embed_worker import texts_of
from paperboy.indices.embedding import Embedder
from paperboy.indices.vector import VectorIndex
from paperboy.sources import jsonl
from paperboy.store import Store
from paperboy.store import schema as t

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
DOCS = int(os.environ.get("PAPERBOY_BENCH_INDEX_DOCS", "1024"))
ROUNDS = int(os.environ.get("PAPERBOY_BENCH_INDEX_ROUNDS", "3"))
#: Only the single-process comparison (bare, before, pipeline): PAPERBOY_BENCH_INDEX_QUICK=1.
QUICK = os.environ.get("PAPERBOY_BENCH_INDEX_QUICK") == "1"
#: Spinning processes beside the job for the under-load figures (PAPERBOY_BENCH_INDEX_BURNERS).
BURNERS = int(os.environ.get("PAPERBOY_BENCH_INDEX_BURNERS", "2"))

Row = tuple[str, str, str]


def _burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    """Spin on a core until told to stop: the other work of a shared machine."""
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _clear(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(delete(t.paper_vectors))


def _timed(store: Store, run) -> tuple[float, int]:
    """(papers/s, papers) of one run from an empty vector table."""
    _clear(store)
    start = time.perf_counter()
    done = run()
    return done / (time.perf_counter() - start), done


def _out_of_order(store: Store, model: str) -> int:
    """Vectors committed after a vector of a later paper (by seq): what a seq watermark would miss."""
    seqs = [seq for page in store.iter_vectors(model) for seq in _seqs(store, [pid for pid, _, _ in page])]
    top, late = 0, 0
    for seq in seqs:
        late += seq < top
        top = max(top, seq)
    return late


def _seqs(store: Store, ids: list[str]) -> list[int]:
    by_id = {p["id"]: p["seq"] for p in store.get_papers(ids)}
    return [by_id[i] for i in ids]


def _follow_out_of_order(settings, store: Store, embedder: Embedder, tmp: Path) -> tuple[int, int]:
    """(vectors committed after a later paper's, vectors missing from a follower's index): a replica's
    index catching up in a loop while two workers commit small pages in whatever order they finish."""
    _clear(store)
    follower = VectorIndex(tmp / "follower", embedder.model_name, embedder.dim)
    stop = threading.Event()

    def follow() -> None:
        while not stop.is_set():
            follower.catch_up(store)
            time.sleep(0.02)

    watcher = threading.Thread(target=follow)
    watcher.start()
    try:
        embed_with_workers(settings, store, embedder, 2, page=16)
    finally:
        stop.set()
        watcher.join()
    follower.catch_up(store)
    return _out_of_order(store, embedder.model_name), store.count_papers() - len(follower)


def run() -> list[Row]:
    """Measure and return rows of (figure, value, goal)."""
    if not CORPUS.exists():
        return [("indexing benchmarks", "skipped: no ../shared/data corpus", "")]
    try:
        from paperboy.indices.embed_cluster import embed_on_cluster
    except ImportError:
        embed_on_cluster = None  # type: ignore[assignment]
    tmp = Path(tempfile.mkdtemp(prefix="paperboy-index-bench-"))
    rows: list[Row] = []
    try:
        with gzip.open(CORPUS, "rb") as fh, (tmp / "papers.jsonl").open("wb") as out:
            for i, line in enumerate(fh):
                if i >= DOCS:
                    break
                out.write(line)
        settings = load_settings(tmp / "home")
        store = Store.open(settings)
        store.ingest("jsonl", "bench", jsonl.read(tmp / "papers.jsonl"))
        embedder = Embedder.open(settings)
        model = embedder.model_name
        texts = texts_of([r for page in store.iter_papers_to_embed(model, batch=DOCS) for r in page])
        embedder.embed_documents(texts[:64])  # warm-up

        def bare() -> int:
            embedder.embed_documents(texts)
            return len(texts)

        def before() -> int:  # the job as it was: query, embed, write, count, one after another
            done = 0
            while papers := store.papers_to_embed(model, limit=256):
                vectors = embedder.embed_documents(
                    texts_of([(p["id"], p["seq"], p["title"], p["abstract"]) for p in papers])
                )
                store.put_vectors(model, [(p["id"], p["seq"], vectors[i].tobytes()) for i, p in enumerate(papers)])
                store.vector_counts(model)
                done += len(papers)
            return done

        methods = {
            "bare": lambda: _timed(store, bare),
            "before": lambda: _timed(store, before),
            "pipeline": lambda: _timed(store, lambda: embed_pending(store, embedder)),
            "workers2": lambda: _timed(store, lambda: embed_with_workers(settings, store, embedder, 2)),
        }
        running = None
        if QUICK:
            del methods["workers2"]
        elif embed_on_cluster is not None:
            from paperboy.indices.embed_cluster import connect

            methods["cluster"] = lambda: _timed(store, lambda: embed_on_cluster(settings, store, embedder, "local:2"))
            running = connect("local:2")  # a cluster that is up already: the engine's cost per job alone
            address = running.__enter__().scheduler.address
            methods["cluster_up"] = lambda: _timed(store, lambda: embed_on_cluster(settings, store, embedder, address))
        rates: dict[str, list[float]] = {name: [] for name in methods}
        loads: list[float] = []
        try:
            for _ in range(ROUNDS):
                for name, method in methods.items():
                    loads.append(os.getloadavg()[0])
                    rate, done = method()
                    assert done == len(texts), (name, done)
                    rates[name].append(rate)
            late, missing = (0, 0) if QUICK else _follow_out_of_order(settings, store, embedder, tmp)
        finally:
            if running is not None:
                running.__exit__(None, None, None)
        med = {name: statistics.median(values) for name, values in rates.items()}
        tokens = settings.embedding_max_tokens
        load = f"load {min(loads):.1f}-{max(loads):.1f}"
        each = "; ".join(f"{name} " + "/".join(f"{r:.1f}" for r in values) for name, values in rates.items())
        rows.append(
            (
                f"bare embedding function, {len(texts):,} papers, {tokens} tokens, 1 process",
                f"{med['bare']:.1f} papers/s ({load})",
                "",
            )
        )
        rows.append(
            (
                "paperboy index pipeline (read, embed, write)",
                f"{med['pipeline']:.1f} papers/s = {med['pipeline'] / med['bare']:.2f}x bare",
                ">= 0.95x bare",
            )
        )
        rows.append(
            (
                "the job before (query, embed, write, count in turn; pages of 256)",
                f"{med['before']:.1f} papers/s = {med['before'] / med['bare']:.2f}x bare",
                "",
            )
        )
        if QUICK:
            rows.append(("papers/s of each round", each, ""))
            return rows
        rows.append(
            (
                "--workers 2 (no added load; pool start counted)",
                f"{med['workers2']:.1f} papers/s = {med['workers2'] / med['bare']:.2f}x bare",
                "",
            )
        )
        if "cluster" in med:
            rows.append(
                (
                    "--cluster local:2 (Dask; cluster start and model shipping counted)",
                    f"{med['cluster']:.1f} papers/s = {med['cluster'] / med['workers2']:.2f}x --workers 2",
                    ">= 0.9x --workers 2",
                )
            )
            rows.append(
                (
                    "--cluster at a running 2-worker Dask cluster (the engine's cost per job)",
                    f"{med['cluster_up']:.1f} papers/s = {med['cluster_up'] / med['workers2']:.2f}x --workers 2",
                    ">= 0.9x --workers 2",
                )
            )
        rows.append(("papers/s of each round", each, ""))
        rows.append(
            (
                "vectors committed out of seq order (--workers 2, pages of 16), reaching a follower's index",
                f"{len(texts) - missing:,} of {len(texts):,} ({late:,} committed after a later paper's)",
                "all",
            )
        )

        # Under load: BURNERS spinning processes beside the job, same priority.
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        burners = [ctx.Process(target=_burn, args=(stop,), daemon=True) for _ in range(BURNERS)]
        for proc in burners:
            proc.start()
        loaded: dict[str, list[float]] = {"pipeline": [], "workers2": []}
        loads = []
        try:
            time.sleep(2.0)
            for _ in range(max(1, ROUNDS - 1)):
                for name in loaded:
                    loads.append(os.getloadavg()[0])
                    loaded[name].append(methods[name]()[0])
        finally:
            stop.set()
            for proc in burners:
                proc.join(timeout=5)
                if proc.is_alive():
                    proc.kill()
        one, two = statistics.median(loaded["pipeline"]), statistics.median(loaded["workers2"])
        rows.append(
            (
                f"under load ({BURNERS} spinners, load {min(loads):.1f}-{max(loads):.1f}): one process / --workers 2",
                f"{one:.1f} / {two:.1f} papers/s = {two / one:.2f}x",
                ">= 2x",
            )
        )
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
