"""Topic benchmarks (issue 17): building topics, key phrases and the map for the 118k corpus, the
incremental update for a day's 1,000 papers, topic quality for two settings, the map's payload and
first paint in chromium, and ``/topics`` latency.

The home: the fully embedded 118k home of ``bench.search_bench.prepared_home`` when there is one
(copied, never written).  Without one (embedding the corpus takes 40 minutes or more), the corpus
is imported into ``/tmp/paperboy-bench-topics`` and every paper that has a real MiniLM vector in
``/tmp/pbfull`` (read only) gets it; the others get a **stand-in**: their TF-IDF row randomly
projected to 384 dimensions (Johnson-Lindenstrauss: cosines kept within a few per cent), so the
build runs on 118,024 vectors with the real texts.  Timings hold for either; quality figures are
measured on the real vectors only, and the output says how many there were.

* Build: ``services.topics.rebuild`` from the stored vectors: reading, k-means, phrase counts,
  c-TF-IDF labels, key phrases, UMAP, writing; one run (it takes minutes), its steps listed.
* Update: the 1,000 newest papers' placements and key phrases removed, then ``update`` (what the
  indexer does when a day's papers are embedded); median of 3.
* Quality, on the real vectors: NPMI of each topic's 10 top phrases over the corpus (document
  co-occurrence; -1 .. 1, higher is more coherent), and the share of 5,000 sampled papers whose
  nearest neighbour by cosine (not itself, not a duplicate at >= 0.985) is in the same topic.
  Settings: MiniBatchKMeans with the default k (one topic per 800 papers), with twice that k, and
  HDBSCAN (scikit-learn, leaf clusters, two minimum sizes) on the 2-D map as BERTopic does, which
  leaves noise points without a topic.
* Key phrases by embedding-ranked candidates (KeyBERT's recipe with the loaded MiniLM), timed on
  200 papers and scaled up, against the TF-IDF phrases' time.
* ``/map``: ``paperboy serve --no-index`` over the built home, chromium (Playwright) loading /map
  in a fresh context, five times: bytes transferred (page, script, style, JSON, points) and the
  time from navigation start to the map's first complete drawing (``performance.mark``).
* ``/topics``: 200 requests after a warm-up, p50 and p90, as served to visitors (from the page
  cache) and rendered each time (a new query string per request: the topic summaries warm, the
  page rendered anew).

Alone: ``PYTHONPATH=. python -m bench.topics_bench``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np

from paperboy.config import Settings, load_settings
from paperboy.indices import topic_model as tm
from paperboy.services import topics as topics_service
from paperboy.store import Store

Row = tuple[str, str, str]
CACHE = Path(tempfile.gettempdir()) / "paperboy-bench-topics"
SHARED_HOME = Path("/tmp/pbfull")
NEW_PAPERS = 1000
SAMPLE = 5000


def _settings(home: Path) -> Settings:
    return load_settings(home, page_cache_seconds=1.0)


def _copy_store(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(f"file:{source / 'paperboy.db'}?mode=ro", uri=True)) as src,
        closing(sqlite3.connect(target / "paperboy.db")) as dst,
    ):
        src.backup(dst)


def corpus() -> Path:
    """The sample corpus beside the checkout (``../shared``), or beside the folder of worktrees (``../../shared``)."""
    from bench.search_bench import CORPUS

    if CORPUS.exists():
        return CORPUS
    return Path(__file__).resolve().parents[3] / "shared" / "data" / CORPUS.name


def _stand_in_home() -> tuple[Path, int, str]:
    """The corpus with real vectors where /tmp/pbfull has them and stand-ins elsewhere; (home, real, note)."""
    sample_corpus = corpus()
    home = CACHE / "home"
    ready = CACHE / "ready.json"
    if ready.exists():
        info = json.loads(ready.read_text())
        return home, info["real"], info["note"]
    shutil.rmtree(CACHE, ignore_errors=True)
    home.mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "paperboy", "--home", str(home), "ingest", "jsonl", str(sample_corpus)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    settings = _settings(home)
    model = topics_service.configured_model(settings)
    real: dict[str, bytes] = {}
    if (SHARED_HOME / "paperboy.db").exists():
        with closing(sqlite3.connect(f"file:{SHARED_HOME / 'paperboy.db'}?mode=ro", uri=True)) as src:
            real = dict(src.execute("select paper_id, vector from paper_vectors where model = ?", (model,)))
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.random_projection import GaussianRandomProjection

    with Store.open(settings) as store:
        papers = [(p["id"], p["seq"], p["title"], p["abstract"]) for p in store.iter_papers()]
        missing = [p for p in papers if p[0] not in real]
        rows = [(pid, seq, real[pid]) for pid, seq, _, _ in papers if pid in real]
        if missing:
            tfidf = TfidfVectorizer(sublinear_tf=True, min_df=3, stop_words="english", max_features=200_000)
            matrix = tfidf.fit_transform([f"{t} {t} {a}" for _, _, t, a in missing])
            projected = GaussianRandomProjection(n_components=384, random_state=0).fit_transform(matrix)
            projected = projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-9)
            rows += [(p[0], p[1], projected[i].astype(np.float32).tobytes()) for i, p in enumerate(missing)]
        for start in range(0, len(rows), 20000):
            store.put_vectors(model, rows[start : start + 20000])
    note = f"{len(real):,} real MiniLM vectors from {SHARED_HOME}, {len(papers) - len(real):,} stand-ins"
    ready.write_text(json.dumps({"real": len(real), "note": note}))
    return home, len(real), note


def prepared() -> tuple[Path, int, str]:
    """A home with every paper and a vector for each, copied into a scratch folder; (home, real vectors, note)."""
    from bench import search_bench

    search_bench.CORPUS = corpus()  # in a worktree the corpus is one folder further up
    source, note = search_bench.prepared_home(build=False)
    real = -1
    if source is None:
        source, real, note = _stand_in_home()
    target = Path(tempfile.mkdtemp(prefix="paperboy-topics-bench-")) / "home"
    _copy_store(source, target)
    models = source / "models" if (source / "models").is_dir() else SHARED_HOME / "models"
    if models.is_dir():  # only read: the embedder is opened with export=False
        (target / "models").symlink_to(models)
    return target, real, note


# -- quality ---------------------------------------------------------------------------------------
def _vectors(store: Store, model: str, only: set[str] | None) -> tuple[list[str], np.ndarray]:
    rows = [r for page in store.topics.iter_all_vectors(model) for r in page if only is None or r[0] in only]
    return [r[0] for r in rows], topics_service._decode(rows)


def _nn_same(vectors: np.ndarray, labels: np.ndarray, sample: np.ndarray) -> float:
    """Share of sampled rows whose nearest other row (not a duplicate) has the same label (labels < 0 never match)."""
    same = 0
    for start in range(0, len(sample), 500):
        rows = sample[start : start + 500]
        sims = vectors[rows] @ vectors.T
        sims[np.arange(len(rows)), rows] = -2
        sims[sims >= 0.985] = -2
        best = sims.argmax(axis=1)
        same += int(((labels[best] == labels[rows]) & (labels[rows] >= 0)).sum())
    return same / len(sample)


def quality_rows(store: Store, model: str, real: int) -> list[Row]:
    """NPMI and nearest-neighbour agreement for k-means at the default k, at twice that, and HDBSCAN."""
    from sklearn.cluster import HDBSCAN

    only = None
    if real >= 0:  # a stand-in home: judge topics by the real vectors alone (those equal to /tmp/pbfull's)
        with closing(sqlite3.connect(f"file:{SHARED_HOME / 'paperboy.db'}?mode=ro", uri=True)) as src:
            shared = dict(src.execute("select paper_id, vector from paper_vectors where model = ?", (model,)))
        mine = {pid: blob for page in store.topics.iter_all_vectors(model) for pid, _, blob in page if pid in shared}
        only = {pid for pid, blob in mine.items() if shared[pid] == blob}
    ids, vectors = _vectors(store, model, only)
    if len(ids) < 1000:
        return [("topic quality", f"skipped: {len(ids)} real vectors", "")]
    texts = store.topics.texts(ids)
    docs = [(texts[i][1], texts[i][2]) for i in ids]
    counts, vocabulary = tm.count_phrases([tm.clean_text(t, a) for t, a in docs])
    rng = np.random.default_rng(0)
    sample = rng.choice(len(ids), size=min(SAMPLE, len(ids)), replace=False)
    k = tm.default_k(len(ids))
    from paperboy.indices.layout import layout

    rows: list[Row] = []
    settings: list[tuple[str, np.ndarray]] = []
    for name, kk in ((f"k-means, k = {k} (default: papers / 800)", k), (f"k-means, k = {2 * k}", 2 * k)):
        started = time.perf_counter()
        labels, _ = tm.cluster(vectors, kk)
        settings.append((f"{name}, {time.perf_counter() - started:.0f} s", labels))
    started = time.perf_counter()
    points = layout(vectors)
    laid = time.perf_counter() - started
    for size in (50, 200):  # BERTopic's recipe: HDBSCAN on a UMAP layout ("leaf": its finest clusters)
        started = time.perf_counter()
        hdb = HDBSCAN(min_cluster_size=size, min_samples=5, cluster_selection_method="leaf").fit_predict(points)
        took = laid + time.perf_counter() - started
        settings.append(
            (f"HDBSCAN (leaf, min_cluster_size {size}) on the 2-D map, UMAP + clustering {took:.0f} s", hdb)
        )
    for name, labels in settings:
        valid = labels >= 0
        used = np.unique(labels[valid])
        remap = {old: new for new, old in enumerate(used)}
        compact = np.asarray([remap.get(x, -1) for x in labels])
        weights = tm.distinctive(tm.class_tfidf(counts[valid], compact[valid], len(used)), vocabulary)
        terms = tm.top_terms(weights, vocabulary.terms)
        npmi = float(np.mean(tm.npmi(counts, vocabulary, [[t for t, _ in row] for row in terms])))
        nn = _nn_same(vectors, compact, sample)
        noise = 1 - valid.mean()
        rows.append(
            (
                f"topic quality, {name}",
                f"{len(used)} topics, NPMI {npmi:.3f}, nearest neighbour in the same topic {nn:.3f}"
                + (f", {100 * noise:.0f} % of papers in no topic" if noise else ""),
                "compare",
            )
        )
    rows.append(("topic quality measured on", f"{len(ids):,} papers with real MiniLM vectors", ""))
    return rows


def keybert_rows(store: Store, settings: Settings, tfidf_seconds: float, papers: int) -> list[Row]:
    """KeyBERT's recipe with the loaded model on 200 papers, scaled to the corpus, against TF-IDF's time."""
    try:
        from paperboy.indices.embedding import Embedder

        embedder = Embedder.open(settings, export=False)
    except Exception as exc:  # noqa: BLE001 - no exported model here: say so
        return [("key phrases by embedded candidates (KeyBERT)", f"skipped: {type(exc).__name__}", "")]
    if embedder is None:
        return [("key phrases by embedded candidates (KeyBERT)", "skipped: no exported model", "")]
    from sklearn.feature_extraction.text import CountVectorizer

    sample = [p for _, p in zip(range(200), store.iter_papers(), strict=False)]
    started = time.perf_counter()
    candidates = 0
    for paper in sample:
        text = tm.clean_text(paper["title"], paper["abstract"])
        try:
            phrases = CountVectorizer(ngram_range=(1, 2), stop_words="english").fit([text]).get_feature_names_out()
        except ValueError:
            continue
        candidates += len(phrases)
        doc = embedder.embed_documents([text])[0]
        emb = embedder.embed_documents(list(phrases))
        _ = np.argsort(-(emb @ doc))[:5]
    per_paper = (time.perf_counter() - started) / len(sample)
    return [
        (
            "key phrases by embedded candidates (KeyBERT recipe), 200 papers",
            f"{per_paper * 1000:.0f} ms a paper ({candidates / len(sample):.0f} candidates), "
            f"{per_paper * papers / 60:.0f} min for {papers:,}; TF-IDF phrases (the default): {tfidf_seconds:.0f} s",
            "",
        )
    ]


# -- the web --------------------------------------------------------------------------------------
def web_rows(home: Path) -> list[Row]:
    import httpx
    from playwright.sync_api import sync_playwright

    from bench.web_bench import Server

    server = Server(home, 1)
    rows: list[Row] = []
    try:
        loads = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--headless"])
            for _ in range(6):
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(server.url + "/map")
                page.wait_for_selector("#map[data-drawn]", timeout=60_000)
                timing = page.evaluate(
                    """() => { const nav = performance.getEntriesByType('navigation')[0];
                         const drawn = performance.getEntriesByName('map-drawn')[0].startTime;
                         const bytes = [nav, ...performance.getEntriesByType('resource')]
                           .reduce((s, e) => s + (e.transferSize || 0), 0);
                         return { drawn, bytes, points: Number(document.getElementById('map').dataset.drawn) }; }"""
                )
                loads.append(timing)
                context.close()
            browser.close()
        loads = loads[1:]  # the first load also warms the server's map payload
        paint = statistics.median(x["drawn"] for x in loads)
        size = statistics.median(x["bytes"] for x in loads)
        raw = httpx.get(server.url + "/api/map/points.bin", headers={"accept-encoding": "identity"}).content
        rows.append(
            (
                f"/map first paint, {loads[0]['points']:,} points (chromium, median of 5)",
                f"{paint / 1000:.2f} s; {size / 1e6:.2f} MB transferred (points {len(raw) / 1e6:.2f} MB, "
                f"{len(gzip.compress(raw)) / 1e6:.2f} MB gzipped)",
                "< 2 s",
            )
        )
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(20):
                client.get("/topics")
            cached = []
            for _ in range(200):
                started = time.perf_counter()
                client.get("/topics")
                cached.append(time.perf_counter() - started)
            rendered = []
            for i in range(200):
                started = time.perf_counter()
                client.get(f"/topics?sort=size&n={i}")
                rendered.append(time.perf_counter() - started)
        for name, times in (("as visitors get it (page cache)", cached), ("rendered each time", rendered)):
            times.sort()
            rows.append(
                (
                    f"/topics p50 / p90 warm, {name}",
                    f"{1000 * times[len(times) // 2]:.1f} / {1000 * times[int(len(times) * 0.9)]:.1f} ms",
                    "p50 <= 50 ms",
                )
            )
    finally:
        server.stop()
    return rows


def run() -> list[Row]:
    """Measure and return rows of (figure, value, goal)."""
    if not corpus().exists():
        return [("topic benchmarks", "skipped: no ../shared/data corpus", "")]
    load = os.getloadavg()[0]
    home, real, note = prepared()
    rows: list[Row] = [("topic benchmarks home", note, "")]
    settings = _settings(home)
    model = topics_service.configured_model(settings)
    try:
        with Store.open(settings) as store:
            report = topics_service.rebuild(store, settings, model)
            steps = ", ".join(f"{k} {v:.0f} s" for k, v in report.steps.items())
            rows.append(
                (
                    f"build topics, key phrases and map, {report.papers:,} papers, {report.topics} topics",
                    f"{report.seconds:.0f} s wall, {report.cpu_seconds:.0f} s CPU, "
                    f"load {os.getloadavg()[0]:.0f} ({steps})",
                    "<= 600 s",
                )
            )
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
            newest = [r[0] for r in store.topics.placements()[-NEW_PAPERS:]]
            times = []
            for _ in range(3):
                from sqlalchemy import delete

                from paperboy.store import schema as t
                from paperboy.store.dialect import in_values

                with store.engine.begin() as conn:
                    for table in (t.paper_topics, t.paper_keywords, t.keyword_papers):
                        conn.execute(delete(table).where(in_values(conn, table.c.paper_id, newest)))
                done = topics_service.update(store, settings, model)
                assert done.papers == NEW_PAPERS, done
                times.append(done.seconds)
            rows.append(
                (f"update for {NEW_PAPERS:,} new papers (median of 3)", f"{statistics.median(times):.1f} s", "<= 30 s")
            )
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)
            rows += keybert_rows(store, settings, report.steps.get("key phrases", 0.0), report.papers)
            try:
                rows += quality_rows(store, model, real)
            except Exception as exc:  # noqa: BLE001 - report and go on to the web figures
                rows.append(("topic quality", f"failed: {type(exc).__name__}: {exc}"[:200], ""))
        rows += web_rows(home)
    finally:
        shutil.rmtree(home.parent, ignore_errors=True)
    rows.append(("machine load (1-min average) before / after", f"{load:.1f} / {os.getloadavg()[0]:.1f}", ""))
    return rows


def quality_only() -> None:
    """Only the quality and KeyBERT figures, over the cached stand-in home (read, never written)."""
    home, real, note = _stand_in_home()
    settings = _settings(home)
    if not (home / "models").exists() and (SHARED_HOME / "models").is_dir():
        (home / "models").symlink_to(SHARED_HOME / "models")
    with Store.open(settings) as store:
        model = topics_service.configured_model(settings)
        for row in keybert_rows(store, settings, float(os.environ.get("TFIDF_SECONDS", "0")), 118_024):
            print(" | ".join(row), flush=True)
        for row in quality_rows(store, model, real):
            print(" | ".join(row), flush=True)


if __name__ == "__main__" and os.environ.get("PAPERBOY_BENCH_TOPICS_QUALITY_ONLY") == "1":
    quality_only()
elif __name__ == "__main__":
    for row in run():
        print(" | ".join(row), flush=True)
