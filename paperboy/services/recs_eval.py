"""Offline evaluation of the recommenders: ``paperboy eval-recs --interactions FILE.tsv``.

Each line of the file is ``user_id paper_id`` (tab or spaces; the paper id is the last word, so
user ids may hold spaces).  Each user's papers are split 80/20 with a fixed seed (per user, so
adding users never changes another's split); every method learns from the 80 % and ranks every
paper in the store except those; Recall@K and nDCG@K (binary relevance) of the held-out 20 %
are averaged over users.  Users with fewer than two papers in the store are skipped.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperboy.services.recommend import BadRequest
from paperboy.services.taste import Examples, Features, Taste, decode_vectors, fit_tfidf, paper_text
from paperboy.store import Store

TEST_SHARE = 0.2


@dataclass
class Split:
    user: str
    train: list[int]
    test: list[int]


@dataclass
class MethodScores:
    method: str
    recall: float
    ndcg: float
    users: int
    ms_per_user: float


def load_interactions(path: Path) -> dict[str, list[str]]:
    """``{user: [paper ids in file order]}``; malformed lines raise ``BadRequest`` with their number."""
    users: dict[str, list[str]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadRequest(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.rsplit(None, 1)
        if len(parts) != 2:
            raise BadRequest(f"{path}:{number}: expected 'user_id paper_id', got {text[:80]!r}")
        user, paper = parts[0].strip(), parts[1].strip()
        papers = users.setdefault(user, [])
        if paper not in papers:
            papers.append(paper)
    if not users:
        raise BadRequest(f"{path} has no interactions")
    return users


def split_users(
    users: dict[str, list[str]], index: dict[str, int], seed: int = 0, test_share: float = TEST_SHARE
) -> tuple[list[Split], int]:
    """Per-user 80/20 splits over the papers the store holds; (splits, interactions left out as unknown)."""
    splits = []
    unknown = 0
    for user in sorted(users):
        rows = sorted({index[p] for p in users[user] if p in index})
        unknown += sum(1 for p in users[user] if p not in index)
        if len(rows) < 2:
            continue
        random.Random(f"{seed}:{user}").shuffle(rows)
        n_test = min(len(rows) - 1, max(1, round(test_share * len(rows))))
        splits.append(Split(user, sorted(rows[n_test:]), sorted(rows[:n_test])))
    return splits, unknown


def store_features(
    store: Store, model: str | None, progress: Callable[[str], None] | None = None, sanity: bool = True
) -> Features:
    """Every paper of the store as features: stored embeddings of ``model`` and TF-IDF fitted on all texts.

    ``sanity``: also arxiv-sanity-lite's capped TF-IDF, for the ``svm`` baseline.
    """
    say = progress or (lambda _text: None)
    ids: list[str] = []
    texts: list[str] = []
    for page in store.library.iter_texts():
        for pid, title, abstract in page:
            ids.append(pid)
            texts.append(paper_text(title, abstract))
    say(f"{len(ids):,} papers; fitting TF-IDF")
    vectorizer, tfidf = fit_tfidf(texts)
    tfidf_sanity = None
    if sanity:
        say(f"{len(ids):,} papers; fitting arxiv-sanity's TF-IDF")
        tfidf_sanity = fit_tfidf(texts, sanity=True)[1]
    del texts
    dense = has = None
    if model:
        say("reading vectors")
        blobs: dict[str, bytes] = {}
        for page in store.iter_vectors(model):
            blobs.update((pid, vec) for pid, _, vec in page)
        dense, has = decode_vectors([blobs.get(pid) for pid in ids], None)
        del blobs
    terms = vectorizer.get_feature_names_out() if vectorizer is not None else None
    return Features(ids, dense, has, tfidf, terms, tfidf_sanity)


def _user_examples(features: Features, rows: list[int]) -> Examples:
    idx = np.asarray(rows, dtype=np.int64)
    return Examples(
        ids=[features.ids[i] for i in idx],
        weights=np.ones(len(idx), dtype=np.float32),
        dense=features.dense[idx] if features.dense is not None else None,
        has_dense=features.has_dense[idx] if features.has_dense is not None else None,
        tfidf=features.tfidf[idx] if features.tfidf is not None else None,
        rows=idx,
    )


def rank_metrics(ranked: np.ndarray, test: set[int], k: int) -> tuple[float, float]:
    """(Recall@k, nDCG@k) of one ranking against the held-out rows."""
    gains = np.array([1.0 if int(r) in test else 0.0 for r in ranked[:k]])
    discounts = 1.0 / np.log2(np.arange(2, len(gains) + 2))
    dcg = float((gains * discounts).sum())
    ideal = float(discounts[: min(len(test), k)].sum())
    return float(gains.sum()) / len(test), (dcg / ideal if ideal else 0.0)


def evaluate(
    features: Features,
    splits: list[Split],
    methods: list[str],
    k: int = 50,
    progress: Callable[[str, int], None] | None = None,
) -> list[MethodScores]:
    """Mean Recall@k and nDCG@k of each method over the users' held-out papers."""
    out = []
    n = len(features)
    for method in methods:
        recalls, ndcgs = [], []
        started = time.perf_counter()
        for done, split in enumerate(splits, 1):
            scores = np.asarray(Taste(features, _user_examples(features, split.train)).scores(method), dtype=np.float64)
            scores[split.train] = -np.inf
            take = min(k, n - len(split.train))
            top = np.argpartition(-scores, take - 1)[:take]
            top = top[np.lexsort((top, -scores[top]))]
            recall, ndcg = rank_metrics(top, set(split.test), k)
            recalls.append(recall)
            ndcgs.append(ndcg)
            if progress:
                progress(method, done)
        elapsed = time.perf_counter() - started
        users = len(splits)
        out.append(
            MethodScores(
                method,
                float(np.mean(recalls)) if recalls else 0.0,
                float(np.mean(ndcgs)) if ndcgs else 0.0,
                users,
                1000 * elapsed / max(users, 1),
            )
        )
    return out
