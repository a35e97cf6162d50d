"""Building and keeping up the topics, the map and the papers' key phrases.

``rebuild`` makes everything from the stored vectors and texts (``indices/topic_model.py`` for
topics, labels and key phrases, ``indices/layout.py`` for the map) and writes it in one
transaction.  ``update`` places papers embedded since: each joins its nearest topic, gets a point
among its nearest neighbours on the map, and key phrases weighed by the build's vocabulary.
``refresh`` is what the background indexer calls after embedding: a rebuild when one is due (none
yet, the papers grew by ``topics_rebuild_growth``, or the build is ``topics_rebuild_days`` old and
papers arrived since), else an update, else nothing (one cheap query).

Topic ids survive rebuilds: a new topic whose centroid is close to an old one's (cosine at least
``KEEP_ID``) takes its id, matched one to one (Hungarian assignment), so topic pages, feeds and
links keep pointing at the same subject.  The previous map starts the new layout, so it moves little.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from paperboy.config import Settings
from paperboy.indices import layout as layout_module
from paperboy.indices import topic_model as tm
from paperboy.indices.embedding import model_label
from paperboy.store import Store

log = logging.getLogger(__name__)
#: Cosine between an old and a new centroid above which the new topic keeps the old id.
KEEP_ID = 0.8
#: Colours on the map (the palette itself is in static/map.js and topics.css).
PALETTE = 12
Progress = Callable[[str, int, int], None]


def configured_model(settings: Settings) -> str:
    """The name stored vectors of the configured model carry (as ``Embedder.model_name``), without loading it."""
    return f"{model_label(settings.embedding_model)}/{'int8' if settings.embedding_quantized else 'fp32'}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode(rows: list[tuple[str, int, bytes]]) -> np.ndarray:
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), -1).copy()
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


@dataclass
class BuildReport:
    """What a rebuild or an update did, and how long each step took (seconds)."""

    kind: str
    papers: int = 0
    topics: int = 0
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    build_id: int | None = None
    #: CPU seconds of this process (all its threads) over the whole run: on a machine shared with
    #: other work the wall-clock time says more about the others than about the build.
    cpu_seconds: float = 0.0


class _Timer:
    def __init__(self, report: BuildReport, progress: Progress | None) -> None:
        self.report, self.progress = report, progress
        self.started = self.last = time.perf_counter()
        self.cpu = time.process_time()

    def step(self, name: str, done: int = 0, total: int = 0) -> None:
        now = time.perf_counter()
        self.report.steps[name] = round(now - self.last, 3)
        self.last = now
        if self.progress:
            self.progress(name, done, total)

    def finish(self) -> None:
        self.report.seconds = round(time.perf_counter() - self.started, 3)
        self.report.cpu_seconds = round(time.process_time() - self.cpu, 3)


def rebuild(
    store: Store,
    settings: Settings,
    model: str | None = None,
    k: int | None = None,
    progress: Progress | None = None,
    seed: int = 0,
    epochs: int | None = None,
) -> BuildReport:
    """Topics, map and key phrases of every embedded paper, from scratch (written in one transaction)."""
    model = model or configured_model(settings)
    report = BuildReport("rebuild")
    timer = _Timer(report, progress)
    started = _now()
    if progress:
        progress("reading vectors", 0, 9)
    rows = [row for page in store.topics.iter_all_vectors(model) for row in page]
    texts = store.topics.texts([r[0] for r in rows])
    rows = [r for r in rows if r[0] in texts]
    ids = [r[0] for r in rows]
    vectors = _decode(rows)
    timer.step("reading vectors", 1, 9)

    k = k if k else (settings.topics_k or tm.default_k(len(ids)))
    labels, centroids = tm.cluster(vectors, k, seed=seed)
    labels, centroids = _compact(vectors, labels)
    timer.step("clustering", 2, 9)

    docs = [(texts[i][1], texts[i][2]) for i in ids]
    counts, vocabulary = tm.count_phrases([tm.clean_text(title, abstract) for title, abstract in docs])
    timer.step("counting phrases", 3, 9)
    terms = tm.top_terms(tm.distinctive(tm.class_tfidf(counts, labels, len(centroids)), vocabulary), vocabulary.terms)
    timer.step("labelling topics", 4, 9)
    phrases = tm.keywords(counts, vocabulary, docs)
    del counts
    timer.step("key phrases", 5, 9)

    previous = store.topics.latest_build()
    old_topics = store.topics.topics(with_centroids=True)
    init = _previous_positions(store, ids, vectors) if previous else None
    points = layout_module.layout(vectors, init=init, seed=seed, epochs=epochs)
    timer.step("map layout", 6, 9)

    topic_ids, next_id = _stable_ids(centroids, old_topics, (previous or {}).get("params", {}).get("next_id", 0))
    scores = np.einsum("nd,nd->n", vectors, centroids[labels])
    centres = _centres(points, labels, len(centroids))
    colors = _colors(centres, np.bincount(labels, minlength=len(centroids)))
    topics = [
        {
            "id": int(topic_ids[c]),
            "label": tm.label(terms[c]),
            "terms": [[term, round(weight, 6)] for term, weight in terms[c]],
            "size": int((labels == c).sum()),
            "centroid": centroids[c].astype(np.float32).tobytes(),
            "x": float(centres[c][0]),
            "y": float(centres[c][1]),
            "color": int(colors[c]),
        }
        for c in range(len(centroids))
    ]
    placements = [
        (pid, int(topic_ids[labels[i]]), rows[i][1], float(points[i][0]), float(points[i][1]), float(scores[i]))
        for i, pid in enumerate(ids)
    ]
    keyword_rows = [(pid, texts[pid][0], phrases[i], _keys(phrases[i])) for i, pid in enumerate(ids)]
    timer.step("topics and colours", 7, 9)
    timer.finish()
    build = {
        "model": model,
        "params": {
            "clustering": "MiniBatchKMeans",
            "k": len(centroids),
            "seed": seed,
            "layout": "UMAP",
            "neighbours": layout_module.NEIGHBOURS,
            "next_id": next_id,
            "steps": report.steps,
        },
        "started_at": started,
        "finished_at": _now(),
        "papers": len(ids),
        "topics": len(topics),
        "seconds": report.seconds,
        "vocabulary": vocabulary.dumps(),
    }
    report.build_id = store.topics.write_build(build, topics, placements, keyword_rows)
    timer.step("writing", 9, 9)
    timer.finish()
    report.papers, report.topics = len(ids), len(topics)
    log.info("topics rebuilt: %d papers, %d topics in %.1f s", report.papers, report.topics, report.seconds)
    return report


def _keys(phrases: list[str]) -> list[str]:
    """What ``topic:"…"`` finds a paper by: each key phrase, and the runs of two or more of its words
    ("error correction" finds "quantum error correction")."""
    keys: set[str] = set()
    for phrase in phrases:
        words = tm.normalize_key(phrase).split()
        keys.update(" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 2, len(words) + 1))
        if len(words) == 1:
            keys.add(words[0])
    return sorted(k for k in keys if k)


def _compact(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels renumbered without empty clusters, and each cluster's unit mean vector."""
    used, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64), tm.centroids_of(vectors, labels, len(used))


def _previous_positions(store: Store, ids: list[str], vectors: np.ndarray) -> np.ndarray | None:
    """The previous map's points for ``ids``, papers new since placed among their neighbours; None without one."""
    old: dict[str, tuple[float, float]] = {pid: (x, y) for pid, x, y, _ in store.topics.placements()}
    if len(old) < max(10, len(ids) // 4):  # too little of the old map survives to steer the new one
        return None
    known = np.asarray([pid in old for pid in ids])
    init = np.zeros((len(ids), 2), dtype=np.float32)
    init[known] = [old[pid] for pid, k in zip(ids, known, strict=True) if k]
    if (~known).any():
        init[~known], _ = layout_module.place(vectors[~known], vectors[known], init[known])
    rng = np.random.default_rng(0)  # a little noise, so papers placed on one spot can separate
    return init + rng.normal(scale=1e-3, size=init.shape).astype(np.float32)


def _stable_ids(centroids: np.ndarray, old: list[dict[str, Any]], next_id: int) -> tuple[list[int], int]:
    """An id for each new topic: the matching old topic's, else a number never used before."""
    from scipy.optimize import linear_sum_assignment

    next_id = max([next_id, *[t["id"] + 1 for t in old]])
    ids: list[int | None] = [None] * len(centroids)
    if old and len(centroids):
        previous = np.stack([np.frombuffer(t["centroid"], dtype=np.float32) for t in old])
        if previous.shape[1] == centroids.shape[1]:
            sims = centroids @ previous.T
            rows, cols = linear_sum_assignment(-sims)
            for r, c in zip(rows, cols, strict=True):
                if sims[r, c] >= KEEP_ID:
                    ids[r] = int(old[c]["id"])
    out = []
    for topic_id in ids:
        if topic_id is None:
            topic_id, next_id = next_id, next_id + 1
        out.append(topic_id)
    return out, next_id


def _centres(points: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Where each topic's label goes: the member point nearest the members' median (on the points, not between)."""
    centres = np.zeros((k, 2), dtype=np.float32)
    for c in range(k):
        members = points[labels == c]
        if len(members):
            median = np.median(members, axis=0)
            centres[c] = members[np.argmin(((members - median) ** 2).sum(axis=1))]
    return centres


def _colors(centres: np.ndarray, sizes: np.ndarray) -> list[int]:
    """A palette colour per topic, largest first, each the colour whose nearest same-coloured topic is farthest."""
    colors = [0] * len(centres)
    taken: list[list[int]] = [[] for _ in range(PALETTE)]
    for c in np.argsort(-sizes, kind="stable"):
        best, distance = 0, -1.0
        for color in range(PALETTE):
            if not taken[color]:
                best, distance = color, float("inf")
                break
            d = float(np.min(((centres[taken[color]] - centres[c]) ** 2).sum(axis=1)))
            if d > distance:
                best, distance = color, d
        colors[c] = best
        taken[best].append(int(c))
    return colors


def update(store: Store, settings: Settings, model: str | None = None, progress: Progress | None = None) -> BuildReport:
    """Place the papers embedded since the last build (or whose vectors changed): topic, point, key phrases."""
    model = model or configured_model(settings)
    report = BuildReport("update")
    timer = _Timer(report, progress)
    build = store.topics.latest_build()
    pending = store.topics.pending(model)
    if build is None or not pending:
        return report
    texts = store.topics.texts([r[0] for r in pending])
    pending = [r for r in pending if r[0] in texts]
    vectors = _decode(pending)
    topics = store.topics.topics(with_centroids=True)
    if not topics or not len(vectors):
        return report
    centroids = np.stack([np.frombuffer(t["centroid"], dtype=np.float32) for t in topics])
    if centroids.shape[1] != vectors.shape[1]:  # another model's topics: only a rebuild can help
        return report
    best, scores = tm.assign(vectors, centroids)
    timer.step("assigning topics")
    pending_ids = {r[0] for r in pending}
    placed_ids: list[str] = []
    placed_xy: list[tuple[float, float]] = []
    placed_rows: list[tuple[str, int, bytes]] = []
    for page in store.topics.placed_vectors(model):
        for pid, x, y, _, blob in page:
            if pid not in pending_ids:
                placed_ids.append(pid)
                placed_xy.append((x, y))
                placed_rows.append((pid, 0, blob))
    placed = _decode(placed_rows)
    del placed_rows
    timer.step("reading the map")
    if len(placed):
        points, _ = layout_module.place(vectors, placed, np.asarray(placed_xy, dtype=np.float32))
    else:
        points = np.asarray([[t["x"], t["y"]] for t in topics], dtype=np.float32)[best]
    timer.step("placing on the map")
    blob = store.topics.vocabulary(build["id"])
    vocabulary = tm.Vocabulary.loads(blob) if blob else tm.Vocabulary([], np.zeros(0, dtype=np.int64), 0)
    docs = [(texts[r[0]][1], texts[r[0]][2]) for r in pending]
    if vocabulary.terms:
        counts = vocabulary.vectorizer().transform([tm.clean_text(t, a) for t, a in docs]).tocsr()
        phrases = tm.keywords(counts, vocabulary, docs)
    else:
        phrases = [[] for _ in docs]
    timer.step("key phrases")
    placements = [
        (r[0], int(topics[best[i]]["id"]), r[1], float(points[i][0]), float(points[i][1]), float(scores[i]))
        for i, r in enumerate(pending)
    ]
    keyword_rows = [(r[0], texts[r[0]][0], phrases[i], _keys(phrases[i])) for i, r in enumerate(pending)]
    store.topics.write_update(placements, keyword_rows)
    timer.step("writing")
    timer.finish()
    report.papers, report.topics = len(pending), len(topics)
    return report


def due(store: Store, settings: Settings, model: str, now: datetime | None = None) -> str | None:
    """Why a rebuild is due now ("first build", "grew 31 %", "7 days old", "new model"), or None."""
    vectors = store.library.vector_models().get(model, 0)
    build = store.topics.latest_build()
    if build is None:
        return "first build" if vectors >= settings.topics_min_papers else None
    if build["model"] != model and vectors >= settings.topics_min_papers:
        return "new model"
    grown = vectors - build["papers"]
    if grown > 0 and build["papers"] and grown / build["papers"] >= settings.topics_rebuild_growth:
        return f"grew {100 * grown / build['papers']:.0f} %"
    now = now or datetime.now(UTC)
    try:
        age = (now - datetime.fromisoformat(build["finished_at"].replace("Z", "+00:00"))).total_seconds() / 86400
    except ValueError:
        age = 0.0
    if grown > 0 and age >= settings.topics_rebuild_days:
        return f"{age:.0f} days old"
    return None


#: The vector mark (count, newest seq) each store's topics were last brought level with, by store URL.
_LEVEL: dict[str, tuple[Any, ...]] = {}
#: The mark and time of a failed attempt, by store URL: not retried on the same vectors for a while.
_FAILED: dict[str, tuple[tuple[Any, ...], float]] = {}
RETRY_AFTER = 3600.0


def refresh(
    settings: Settings, store: Store, model: str | None = None, report: Callable[..., None] | None = None
) -> BuildReport | None:
    """The background indexer's step: rebuild when due, else place new papers; None when nothing changed."""
    model = model or configured_model(settings)
    key = str(store.engine.url)
    mark = (model, *store.library.vector_mark(model))
    reason = due(store, settings, model)
    if reason is None and _LEVEL.get(key) == mark:
        return None
    say = report or (lambda **values: None)
    failed = _FAILED.get(key)
    if failed is not None and failed[0] == mark and time.monotonic() - failed[1] < RETRY_AFTER:
        return None  # it failed on these very vectors a moment ago: the next try waits
    try:
        store.topics.remove_missing()
        if reason is not None:
            say(force=True, phase=f"building topics and the map ({reason})")
            done = rebuild(store, settings, model, progress=lambda step, i, n: say(phase=f"topics: {step}"))
        else:
            done = update(store, settings, model)
    except Exception as exc:  # keep indexing and searching; say so on the status page, retry later
        log.exception("building topics failed")
        _FAILED[key] = (mark, time.monotonic())
        say(force=True, topics_error=f"{type(exc).__name__}: {exc}")
        return None
    _FAILED.pop(key, None)
    _LEVEL[key] = (model, *store.library.vector_mark(model))
    say(force=True, topics=done.topics or len(store.topics.topics()))
    return done
