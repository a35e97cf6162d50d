"""Personal recommendations: the "for you" feed, the stateless recommendation API and the CLI.

Candidates are the recent papers: the ``recs_window_days`` (7) announcement days up to the newest
one in the store (as trending counts, so an archive such as the sample corpus has a "this week"),
or any range asked for.  They are scored by a model of the user's taste (``services/taste.py``)
learnt from positives (saves and upvotes; a save counts more than a vote, and each fades by half
every ``recs_half_life_days``) and negatives ("not interested").  Papers the user saved, voted for
or was already mailed in a digest are left out unless asked; "not interested" ones always are.

Each recommendation says why: the user's papers it is closest to and the words it shares with
them.  The candidates' features (embeddings read from the store, TF-IDF fitted on the window) are
built once per window and kept until the store gains papers or vectors, so a warm feed costs a
few small reads, one matrix product and the listing of the papers shown.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from scipy import sparse

from paperboy.config import Settings
from paperboy.indices.embedding import vector_model_name
from paperboy.services.taste import (
    DEFAULT_METHOD,
    METHODS,
    Examples,
    Features,
    Taste,
    closest_positives,
    decode_vectors,
    fit_tfidf,
    paper_text,
    shared_terms,
)
from paperboy.sources.normalize import parse_arxiv_id
from paperboy.store import Store

logger = logging.getLogger(__name__)

#: A vote says less about taste than a deliberate save.
VOTE_WEIGHT = 0.6
#: Only the latest positives and negatives count (bounds the work for very large libraries).
MAX_POSITIVES = 500
MAX_NEGATIVES = 500
MAX_LIMIT = 500
#: Candidate windows kept in memory.
POOLS = 3


_blas: Any = None


def one_blas_thread() -> Any:
    """A context in which BLAS runs on one thread.

    Why: the feed's matrix products are small (a few thousand rows), and OpenBLAS waking its
    threads on a busy two-core machine made a 0.07 ms product take 7 ms (measured).
    """
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


class BadRequest(ValueError):
    """Input a caller can fix (a 400 for the API, one red line for the CLI)."""


@dataclass(frozen=True)
class Why:
    """Why a paper is recommended: the user's papers nearest to it, and the words it shares with them."""

    #: ``{"id", "title", "similarity"}``, nearest first.
    closest: list[dict[str, Any]]
    terms: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"closestPapers": self.closest, "terms": self.terms}

    def text(self) -> str:
        """One line for people."""
        parts = []
        if self.closest:
            parts.append("like " + "; ".join(f"“{c['title']}”" for c in self.closest[:2]))
        if self.terms:
            parts.append("shares " + ", ".join(self.terms))
        return " · ".join(parts)


@dataclass
class Recommendation:
    id: str
    score: float
    why: Why
    #: The listed paper (with votes), filled by ``listed``.
    paper: dict[str, Any] | None = None


@dataclass
class Recommendations:
    """One ranking and what it was made from."""

    results: list[Recommendation]
    #: The announcement days the candidates came from (None: every paper).
    first: str | None
    last: str | None
    candidates: int
    positives: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    #: Ids asked for that the store does not hold.
    unknown: list[str] = field(default_factory=list)
    method: str = DEFAULT_METHOD
    #: "embeddings + tf-idf", "tf-idf" or "none".
    features: str = "none"

    @property
    def cold(self) -> bool:
        """No positives yet: nothing to learn a taste from."""
        return not self.positives


@dataclass
class Pool:
    """The candidates of one window with their features, built once and shared by every request."""

    first: str | None
    last: str | None
    mark: tuple[Any, ...]
    features: Features
    vectorizer: Any
    row: dict[str, int]
    checked: float = 0.0
    #: TF-IDF rows of papers outside the pool (positives), by id.
    extra_rows: OrderedDict[str, Any] = field(default_factory=OrderedDict)


def _day(value: str | None, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError as exc:
        raise BadRequest(f"{name} must be a date, YYYY-MM-DD (got {value!r})") from exc


class Recommender:
    """Recommendations over one store (one per process: it caches the candidate windows)."""

    def __init__(
        self,
        store: Store,
        settings: Settings | None = None,
        method: str = DEFAULT_METHOD,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        check_every: float = 2.0,
        background: bool = False,
    ) -> None:
        self.store = store
        self.library = store.library
        self.settings = settings or store.settings or Settings()
        if method not in METHODS:
            raise BadRequest(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
        self.method = method
        self.clock = clock
        #: Seconds between checks of whether the store changed under a cached window.
        self.check_every = check_every
        self._pools: OrderedDict[tuple[str | None, str | None], Pool] = OrderedDict()
        self._lock = threading.Lock()
        self._model: tuple[float, str | None] = (-1e9, None)
        #: Rebuild stale windows in a thread and answer from the old one meanwhile (the web app:
        #: a rebuild takes seconds, and while papers are being embedded the store changes every few).
        self.background = background
        self._rebuilding: set[tuple[str | None, str | None]] = set()

    # -- what to rank --------------------------------------------------------------------------
    def window(self, since: str | None = None, until: str | None = None) -> tuple[str | None, str | None]:
        """The announcement days to rank: ``since``..``until``, by default the window up to the newest day.

        ``since="all"`` (or a store with no announcement days) means every paper.
        """
        if since == "all":
            return None, _day(until, "until")
        latest = self.store.activity.latest_day()
        last = _day(until, "until") or latest
        first = _day(since, "since")
        if first is None:
            if last is None:
                return None, None
            days = max(1, self.settings.recs_window_days)
            first = (date.fromisoformat(last) - timedelta(days=days - 1)).isoformat()
        if last is not None and first > last:
            raise BadRequest(f"since ({first}) is after the last day ({last})")
        return first, last

    def model(self) -> str | None:
        """The embedding model whose vectors to use: the configured one, else the one with the most vectors."""
        checked, name = self._model
        if time.monotonic() - checked < 30:
            return name
        settings = self.settings
        wanted = vector_model_name(settings)
        counts = self.library.vector_models()
        name = wanted if counts.get(wanted) else (max(counts, key=counts.__getitem__) if counts else None)
        self._model = (time.monotonic(), name)
        return name

    def warm(self) -> None:
        """Build the default window now (a server calls this in a thread at start), so the first
        visitor of "for you" does not wait the seconds its features take."""
        try:
            self.pool(*self.window())
        except Exception:  # noqa: BLE001 - warming is an optimization: a failure is retried on use
            logger.exception("warming the recommendation window failed")

    def pool(self, first: str | None, last: str | None) -> Pool:
        """The window's candidates with their features (cached until the store gains papers or vectors)."""
        key = (first, last)
        now = time.monotonic()
        pool = self._pools.get(key)
        if pool is not None and now - pool.checked < self.check_every:
            return pool
        model = self.model()
        mark = (self.store.max_seq(), model, self.library.vector_mark(model) if model else None)
        if pool is not None and pool.mark == mark:
            pool.checked = now
            return pool
        if pool is not None and self.background:
            pool.checked = now
            self._rebuild_soon(key, model, mark)
            return pool
        with self._lock:
            pool = self._pools.get(key)
            if pool is None or pool.mark != mark:
                pool = self._build(first, last, model, mark)
                self._pools[key] = pool
                while len(self._pools) > POOLS:
                    self._pools.popitem(last=False)
            pool.checked = time.monotonic()
            self._pools.move_to_end(key)
            return pool

    def _rebuild_soon(self, key: tuple[str | None, str | None], model: str | None, mark: tuple[Any, ...]) -> None:
        """Build a window again in a thread (one at a time per window), then put it in place."""
        with self._lock:
            if key in self._rebuilding:
                return
            self._rebuilding.add(key)

        def rebuild() -> None:
            try:
                fresh = self._build(key[0], key[1], model, mark)
                fresh.checked = time.monotonic()
                with self._lock:
                    self._pools[key] = fresh
                    while len(self._pools) > POOLS:
                        self._pools.popitem(last=False)
            except Exception:  # noqa: BLE001 - a failed rebuild leaves the old window; the next check retries
                logger.exception("rebuilding the recommendation window %s failed", key)
            finally:
                with self._lock:
                    self._rebuilding.discard(key)

        threading.Thread(target=rebuild, name="paperboy-recs-window", daemon=True).start()

    def _build(self, first: str | None, last: str | None, model: str | None, mark: tuple[Any, ...]) -> Pool:
        ids = self.library.candidate_ids(first, last)
        texts = self.library.texts(ids)
        ids = [i for i in ids if i in texts]
        vectorizer, tfidf = fit_tfidf([paper_text(*texts[i]) for i in ids]) if ids else (None, None)
        blobs = self.library.vectors(model, ids) if model and ids else {}
        dense, has = decode_vectors([blobs.get(i) for i in ids], None)
        terms = vectorizer.get_feature_names_out() if vectorizer is not None else None
        features = Features(ids, dense, has, tfidf, terms)
        return Pool(first, last, mark, features, vectorizer, {pid: i for i, pid in enumerate(ids)})

    # -- the user's side -------------------------------------------------------------------------
    def _examples(self, pool: Pool, ids: list[str], weights: list[float]) -> Examples:
        """Positives or negatives in the pool's feature spaces (vectors from the store, TF-IDF by the pool's words)."""
        texts = self.library.texts(ids)
        keep = [i for i, pid in enumerate(ids) if pid in texts]
        ids = [ids[i] for i in keep]
        w = np.asarray([weights[i] for i in keep], dtype=np.float32)
        rows = np.asarray([pool.row.get(pid, -1) for pid in ids], dtype=np.int64)
        features = pool.features
        dense = has = None
        if features.dense is not None and ids:
            model = pool.mark[1]
            blobs = self.library.vectors(model, ids) if model else {}
            dense, has = decode_vectors([blobs.get(pid) for pid in ids], features.dense.shape[1])
            if dense is None:
                dense = np.zeros((len(ids), features.dense.shape[1]), dtype=np.float32)
        tfidf = None
        if pool.vectorizer is not None and ids:
            tfidf = sparse.vstack([self._tfidf_row(pool, pid, texts[pid]) for pid in ids]).tocsr()
        return Examples(ids, w, dense, has, tfidf, rows, [texts[pid][0] for pid in ids])

    def _tfidf_row(self, pool: Pool, pid: str, text: tuple[str, str]) -> Any:
        row = pool.row.get(pid)
        if row is not None and pool.features.tfidf is not None:
            return pool.features.tfidf[row]
        cached = pool.extra_rows.get(pid)
        if cached is None:
            cached = pool.vectorizer.transform([paper_text(*text)])
            pool.extra_rows[pid] = cached
            if len(pool.extra_rows) > 20000:
                pool.extra_rows.popitem(last=False)
        return cached

    def resolve(self, ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """(ids the store holds, ids it does not), accepting arXiv ids with versions, ``arXiv:`` forms and links."""
        asked = [str(i).strip() for i in ids if str(i).strip()]
        known = self.library.known_ids(asked)
        found, missing = [], []
        retry: dict[str, str] = {}
        for pid in asked:
            if pid in known:
                found.append(pid)
            else:
                parsed = parse_arxiv_id(pid)
                if parsed and parsed[0] != pid:
                    retry[pid] = parsed[0]
                else:
                    missing.append(pid)
        if retry:
            again = self.library.known_ids(retry.values())
            for original, pid in retry.items():
                (found if pid in again else missing).append(pid if pid in again else original)
        return list(dict.fromkeys(found)), missing

    # -- ranking --------------------------------------------------------------------------------
    def recommend(
        self,
        positives: list[str],
        negatives: Iterable[str] = (),
        limit: int = 50,
        since: str | None = None,
        until: str | None = None,
        exclude: Iterable[str] = (),
        weights: list[float] | None = None,
        negative_weights: list[float] | None = None,
        method: str | None = None,
        exclude_positives: bool = True,
    ) -> Recommendations:
        """Recommend recent papers for these positives and negatives (ids as stored; others are reported).

        Negatives and anything in ``exclude`` are never recommended; positives only with
        ``exclude_positives=False`` (a user asking to see their own papers among the rest).
        """
        method = method or self.method
        if method not in METHODS:
            raise BadRequest(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
        limit = max(1, min(int(limit), MAX_LIMIT))
        first, last = self.window(since, until)
        negatives = list(negatives)
        weight_of = dict(zip(positives, weights or [1.0] * len(positives), strict=False))
        pos_ids, unknown = self.resolve(positives[:MAX_POSITIVES])
        neg_ids, unknown_neg = self.resolve(negatives[:MAX_NEGATIVES])
        hidden = self.store.activity.hidden_ids()
        if hidden:  # hidden papers are not here for anybody: never learnt from, never named in a "why"
            unknown += [pid for pid in pos_ids if pid in hidden]
            pos_ids = [pid for pid in pos_ids if pid not in hidden]
            neg_ids = [pid for pid in neg_ids if pid not in hidden]
        neg_weight_of = dict(zip(negatives, negative_weights or [], strict=False))
        pool = self.pool(first, last)
        features = pool.features
        out = Recommendations([], first, last, len(features), pos_ids, neg_ids, unknown + unknown_neg, method)
        if not pos_ids or not len(features):
            return out
        pos = self._examples(pool, pos_ids, [weight_of.get(pid, 1.0) for pid in pos_ids])
        neg = self._examples(pool, neg_ids, [neg_weight_of.get(pid, 1.0) for pid in neg_ids]) if neg_ids else None
        with one_blas_thread():
            seen = [*(pos_ids if exclude_positives else ()), *neg_ids, *exclude, *hidden]
            return self._rank(out, pool, pos, neg, method, limit, seen)

    def _rank(
        self,
        out: Recommendations,
        pool: Pool,
        pos: Examples,
        neg: Examples | None,
        method: str,
        limit: int,
        exclude: list[str],
    ) -> Recommendations:
        features = pool.features
        taste = Taste(features, pos, neg)
        used = [name for name, on in (("embeddings", taste.uses_dense), ("tf-idf", taste.uses_tfidf)) if on]
        out.features = " + ".join(used) or "none"
        scores = np.asarray(taste.scores(method), dtype=np.float64)
        valid = np.ones(len(features), dtype=bool)
        for pid in exclude:
            row = pool.row.get(pid)
            if row is not None:
                valid[row] = False
        rows = np.flatnonzero(valid)
        if not len(rows):
            return out
        take = min(limit, len(rows))
        if take < len(rows):
            best = rows[np.argpartition(-scores[rows], take - 1)[:take]]
        else:
            best = rows
        best = best[np.lexsort((best, -scores[best]))]  # by score, then the pool's order (newest first)
        out.results = self._explain(pool, best, scores, pos)
        return out

    def _explain(self, pool: Pool, rows: np.ndarray, scores: np.ndarray, pos: Examples) -> list[Recommendation]:
        near = closest_positives(pool.features, rows, pos)
        words = shared_terms(pool.features, rows, pos)
        out = []
        for i, row in enumerate(rows):
            closest = [{"id": pos.ids[j], "title": pos.titles[j], "similarity": round(sim, 4)} for j, sim in near[i]]
            score = float(scores[row])
            out.append(
                Recommendation(
                    pool.features.ids[row], round(score, 6) if math.isfinite(score) else 0.0, Why(closest, words[i])
                )
            )
        return out

    def for_user(
        self, user_id: int, limit: int = 50, since: str | None = None, include_seen: bool = False
    ) -> Recommendations:
        """A signed-in user's "for you" ranking from their saves, votes and "not interested" marks."""
        positives = self.library.positives(user_id)[:MAX_POSITIVES]
        negatives = self.library.negatives(user_id)[:MAX_NEGATIVES]
        now = self.clock()
        half_life = max(self.settings.recs_half_life_days, 0.1)

        def fade(when: str) -> float:
            try:
                moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
            except ValueError:
                return 1.0
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            age = max(0.0, (now - moment).total_seconds() / 86400)
            return 0.5 ** (age / half_life)

        exclude: set[str] = set()
        if not include_seen:
            exclude |= self.library.sent_ids(user_id)
        ids = [pid for pid, _, _ in positives]
        weights = [(VOTE_WEIGHT if how == "vote" else 1.0) * fade(when) for _, when, how in positives]
        found = self.recommend(
            ids,
            [pid for pid, _ in negatives],
            limit=limit,
            since=since,
            exclude=exclude,
            weights=weights,
            negative_weights=[fade(when) for _, when in negatives],
            exclude_positives=not include_seen,
        )
        found.unknown = []  # nobody asked for these ids: the user's own papers, hidden ones among them
        return found

    def listed(self, found: Recommendations) -> Recommendations:
        """Fill in each result's listed paper (votes, comments); hidden or vanished ones are dropped."""
        papers = {p["id"]: p for p in self.store.activity.listed([r.id for r in found.results])}
        found.results = [r for r in found.results if r.id in papers]
        for r in found.results:
            r.paper = papers[r.id]
        return found
