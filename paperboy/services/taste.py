"""A user's taste as a scoring function over papers, in the ways ``paperboy eval-recs`` compares.

Two kinds of features describe a paper: its stored sentence embedding (MiniLM, unit length) and
TF-IDF over its title and abstract (unit length): every word and word pair found in two or more
papers, since an author's papers are told apart by their rarest terms (method and dataset names);
the ``svm`` baseline keeps arxiv-sanity-lite's own TF-IDF, capped at its 20,000 most frequent terms.  A taste is
learnt from positives (saves and votes, each with a weight: recent ones weigh more) and
negatives ("not interested").  The methods:

* ``centroid``: cosine to the weighted mean of the positives' embeddings (Rocchio: the negatives'
  mean is subtracted at half weight).
* ``svm``: arxiv-sanity-lite's recommender: a linear SVM (``LinearSVC``, ``C=0.01``,
  class-balanced) on TF-IDF, the positives against every other paper; the margin ranks.
* ``svm-emb``: the same SVM on the embeddings (``C=0.1``).
* ``knn``: the highest (weighted) cosine to a single positive, so a user with several interests
  is not averaged into none of them (the mean of the top 2, 3 or 5 did worse).
* ``tfidf``: cosine to the weighted mean of the positives' TF-IDF rows, less its part along the
  average paper's (what every paper shares says nothing about a taste; Rocchio's idea).
* ``mix`` (the default): the z-scored sum of ``centroid``, ``knn``, ``tfidf`` and half the highest
  TF-IDF cosine to a single positive, minus a penalty for closeness to a negative.  Its parts and
  weights were chosen on 300 authors apart from the benchmark's 500 (README, "Recommendations");
  without embeddings it is the two TF-IDF parts alone.

Papers with no embedding (not yet embedded, or a store without vectors) are scored by TF-IDF
alone; a store with neither embeddings nor any usable word still ranks (every score 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

METHODS = ("mix", "centroid", "knn", "tfidf", "svm", "svm-emb")
DEFAULT_METHOD = "mix"
#: How many nearest positives the ``knn`` score averages (1: the nearest one; best on the dev authors).
KNN = 1
#: ``mix`` weights: embedding centroid and nearest positive, TF-IDF centroid and nearest positive,
#: and the penalty near a negative.  The best of 485 weightings on 300 dev authors were all within
#: 0.01 Recall@50 of each other; this one is among them and has the best nDCG@50 of those.
MIX = {"centroid": 1.0, "knn": 1.0, "tfidf": 1.0, "tfidf_knn": 0.5, "negative": 2.0}
#: Cosine to a "not interested" paper from which the penalty starts (below it, papers only share a field).
NEGATIVE_FLOOR = 0.5
#: arxiv-sanity-lite's TF-IDF options (compute.py), without the author names it adds: users in the
#: evaluation are authors, and names would let every method find an author's papers by name.
TFIDF_OPTIONS: dict[str, Any] = {
    "strip_accents": "unicode",
    "lowercase": True,
    "analyzer": "word",
    "stop_words": "english",
    "token_pattern": r"(?u)\b[a-zA-Z_][a-zA-Z0-9_]+\b",
    "ngram_range": (1, 2),
    "norm": "l2",
    "use_idf": True,
    "smooth_idf": True,
    "sublinear_tf": True,
    "dtype": np.float32,
}
#: arxiv-sanity-lite's vocabulary cap, kept for the ``svm`` baseline only.
SANITY_TERMS = 20000
#: arxiv-sanity-lite's SVM (serve.py); on embeddings a larger C does better (see README).
SVM_C = {"svm": 0.01, "svm-emb": 0.1}


def paper_text(title: str, abstract: str) -> str:
    """What TF-IDF reads of a paper."""
    return f"{title or ''} {abstract or ''}".strip()


def fit_tfidf(texts: list[str], sanity: bool = False) -> tuple[Any, sparse.csr_matrix | None]:
    """(a TF-IDF vectorizer fitted on ``texts``, their rows), or (None, None) when they hold no usable word.

    paperboy's own: terms in at least two papers and at most half of them, no cap.  ``sanity``:
    arxiv-sanity-lite's (at least 5 papers, the 20,000 most frequent terms).  Both relax for small
    sets, so a store of a few dozen titles still gets words.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    n = len(texts)
    if sanity:
        tries = [(5, 0.5), (1, 1.0)] if n >= 5000 else ([(2, 0.5), (1, 1.0)] if n >= 200 else [(1, 1.0)])
    else:
        tries = [(2, 0.5), (1, 1.0)] if n >= 200 else [(1, 1.0)]
    for min_df, max_df in tries:
        cap = SANITY_TERMS if sanity else None
        vectorizer = TfidfVectorizer(max_features=cap, min_df=min_df, max_df=max_df, **TFIDF_OPTIONS)
        try:
            matrix = vectorizer.fit_transform(texts)
        except ValueError:  # empty vocabulary: only stop words, or nothing at all
            continue
        return vectorizer, matrix.tocsr()
    return None, None


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def decode_vectors(blobs: list[bytes | None], dim: int | None) -> tuple[np.ndarray | None, np.ndarray]:
    """Stored float32 vectors as unit rows, and which rows had one (missing ones are zero)."""
    has = np.array([b is not None for b in blobs], dtype=bool)
    if not has.any():
        return None, has
    dim = dim or len(next(b for b in blobs if b is not None)) // 4
    matrix = np.zeros((len(blobs), dim), dtype=np.float32)
    rows = np.flatnonzero(has)
    matrix[rows] = np.frombuffer(b"".join(blobs[i] for i in rows), dtype=np.float32).reshape(len(rows), dim)
    return unit_rows(matrix), has


@dataclass
class Features:
    """Papers as rows: embeddings (``dense``, zero where missing) and TF-IDF (``tfidf``)."""

    ids: list[str]
    dense: np.ndarray | None = None
    has_dense: np.ndarray | None = None
    tfidf: sparse.csr_matrix | None = None
    #: The TF-IDF column names (words and word pairs), for explanations.
    terms: np.ndarray | None = None
    #: arxiv-sanity-lite's TF-IDF of the same papers, for the ``svm`` baseline (else it uses ``tfidf``).
    tfidf_sanity: sparse.csr_matrix | None = None
    _common: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def common_direction(self) -> np.ndarray | None:
        """The average paper's TF-IDF direction (unit length), computed once."""
        if self._common is None and self.tfidf is not None and self.tfidf.shape[0]:
            mean = np.asarray(self.tfidf.mean(axis=0)).ravel().astype(np.float32)
            norm = np.linalg.norm(mean)
            self._common = mean / norm if norm > 0 else mean
        return self._common

    @property
    def dense_share(self) -> float:
        """The share of rows with an embedding."""
        return float(self.has_dense.mean()) if self.has_dense is not None and len(self.ids) else 0.0


@dataclass
class Examples:
    """A user's positives or negatives in the same feature spaces as the papers scored."""

    ids: list[str]
    weights: np.ndarray
    dense: np.ndarray | None = None
    has_dense: np.ndarray | None = None
    tfidf: sparse.csr_matrix | None = None
    #: Row of each example among the scored papers, or -1 (the SVM labels those rows instead of adding them).
    rows: np.ndarray | None = None
    titles: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def _z(scores: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Scores standardized over the valid rows (others get 0, the mean)."""
    mask = np.ones(len(scores), dtype=bool) if valid is None else valid
    if not mask.any():
        return np.zeros_like(scores)
    mean, std = float(scores[mask].mean()), float(scores[mask].std())
    out = (scores - mean) / (std if std > 1e-9 else 1.0)
    out[~mask] = 0.0
    return out


def _weighted_mean(matrix: Any, weights: np.ndarray) -> np.ndarray:
    """The weighted mean row, unit length (works for dense and sparse rows)."""
    total = weights.sum()
    if total <= 0:
        return np.zeros(matrix.shape[1], dtype=np.float32)
    mean = np.asarray(matrix.T @ (weights / total)).ravel().astype(np.float32)
    norm = np.linalg.norm(mean)
    return mean / norm if norm > 0 else mean


def _top_mean(sims: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, the mean of the ``KNN`` highest similarities to single examples (each scaled by its weight)."""
    sims = sims * (weights / weights.max())[None, :]
    k = min(KNN, sims.shape[1])
    if k == sims.shape[1]:
        return sims.mean(axis=1)
    if k == 1:
        return sims.max(axis=1)
    return np.partition(sims, sims.shape[1] - k, axis=1)[:, -k:].mean(axis=1)


def _dense_part(pos: Examples) -> tuple[np.ndarray, np.ndarray] | None:
    """(positives' embeddings, their weights) for the positives that have one."""
    if pos.dense is None or pos.has_dense is None or not pos.has_dense.any():
        return None
    return pos.dense[pos.has_dense], pos.weights[pos.has_dense]


class Taste:
    """Scores for every row of ``papers`` from the positives and negatives, by one method."""

    def __init__(self, papers: Features, pos: Examples, neg: Examples | None = None) -> None:
        self.papers = papers
        self.pos = pos
        self.neg = neg if neg is not None and len(neg) else None
        self.uses_dense = papers.dense is not None and papers.dense_share >= 0.5 and _dense_part(pos) is not None
        self.uses_tfidf = papers.tfidf is not None and pos.tfidf is not None and pos.tfidf.nnz > 0

    # -- the single scores ----------------------------------------------------------------------
    def centroid(self) -> np.ndarray:
        part = _dense_part(self.pos)
        assert part is not None and self.papers.dense is not None
        profile = _weighted_mean(*part)
        neg = _dense_part(self.neg) if self.neg is not None else None
        if neg is not None:
            profile = profile - 0.5 * _weighted_mean(*neg)
        return self.papers.dense @ profile

    def knn(self) -> np.ndarray:
        part = _dense_part(self.pos)
        assert part is not None and self.papers.dense is not None
        vectors, weights = part
        return _top_mean(self.papers.dense @ vectors.T, weights)

    def tfidf_knn(self) -> np.ndarray:
        """The highest TF-IDF cosine to a single positive (weighted)."""
        assert self.papers.tfidf is not None and self.pos.tfidf is not None
        return _top_mean((self.papers.tfidf @ self.pos.tfidf.T).toarray(), self.pos.weights)

    def tfidf(self) -> np.ndarray:
        assert self.papers.tfidf is not None and self.pos.tfidf is not None
        profile = _weighted_mean(self.pos.tfidf, self.pos.weights)
        common = self.papers.common_direction()
        if common is not None:  # what every paper shares says nothing about this user
            profile = profile - float(profile @ common) * common
        if self.neg is not None and self.neg.tfidf is not None and self.neg.tfidf.nnz:
            profile = profile - 0.5 * _weighted_mean(self.neg.tfidf, self.neg.weights)
        return np.asarray(self.papers.tfidf @ profile).ravel()

    def negative_closeness(self) -> np.ndarray:
        """How close each paper is to its nearest "not interested" paper, above ``NEGATIVE_FLOOR`` (0..1)."""
        n = len(self.papers)
        if self.neg is None:
            return np.zeros(n, dtype=np.float32)
        neg = _dense_part(self.neg) if self.uses_dense else None
        if neg is not None and self.papers.dense is not None:
            sims = self.papers.dense @ neg[0].T
        elif self.uses_tfidf and self.neg.tfidf is not None and self.neg.tfidf.nnz:
            sims = (self.papers.tfidf @ self.neg.tfidf.T).toarray()
        else:
            return np.zeros(n, dtype=np.float32)
        top = sims.max(axis=1)
        return np.clip((top - NEGATIVE_FLOOR) / (1.0 - NEGATIVE_FLOOR), 0.0, 1.0)

    def svm(self, kind: str = "svm") -> np.ndarray:
        """arxiv-sanity-lite's ranking: a class-balanced linear SVM, positives against all other papers."""
        from sklearn.svm import LinearSVC

        if kind == "svm-emb":
            matrix: Any = self.papers.dense
            pos_rows: Any = self.pos.dense
            neg_rows: Any = self.neg.dense if self.neg is not None else None
        elif self.papers.tfidf_sanity is not None:  # the evaluation: arxiv-sanity's own features
            matrix, pos_rows, neg_rows = self.papers.tfidf_sanity, None, None
        else:  # a window of candidates: its TF-IDF
            matrix, pos_rows = self.papers.tfidf, self.pos.tfidf
            neg_rows = self.neg.tfidf if self.neg is not None else None
        assert matrix is not None
        n = matrix.shape[0]
        labels = np.zeros(n, dtype=np.int8)
        weights = np.ones(n, dtype=np.float64)
        extra, extra_labels, extra_weights = [], [], []
        in_pool = self.pos.rows if self.pos.rows is not None else np.full(len(self.pos), -1)
        labels[in_pool[in_pool >= 0]] = 1
        outside = np.flatnonzero(in_pool < 0)
        if kind == "svm-emb" and self.pos.has_dense is not None:
            outside = outside[self.pos.has_dense[outside]]
        if len(outside) and pos_rows is not None:
            extra.append(pos_rows[outside])
            extra_labels.append(np.ones(len(outside), dtype=np.int8))
            extra_weights.append(np.ones(len(outside)))
        if neg_rows is not None and self.neg is not None:  # "not interested" counts three times as a plain paper
            extra.append(neg_rows)
            extra_labels.append(np.zeros(len(self.neg), dtype=np.int8))
            extra_weights.append(np.full(len(self.neg), 3.0))
        if extra:
            stack = sparse.vstack if sparse.issparse(matrix) else np.vstack
            train = stack([matrix, *extra])
            y = np.concatenate([labels, *extra_labels])
            w = np.concatenate([weights, *extra_weights])
        else:
            train, y, w = matrix, labels, weights
        if y.min() == y.max():  # nothing to tell apart
            return np.zeros(n, dtype=np.float32)
        # dual=True as in arxiv-sanity-lite (scikit-learn's default then): 1.5-3x faster than the
        # primal solver here, measured on the 118k corpus (2 s against 3-6 s per user on TF-IDF).
        clf = LinearSVC(class_weight="balanced", C=SVM_C[kind], max_iter=10000, tol=1e-6, dual=True)
        clf.fit(train, y, sample_weight=w if self.neg is not None else None)
        return clf.decision_function(matrix).astype(np.float32)

    # -- the methods -----------------------------------------------------------------------------
    def scores(self, method: str = DEFAULT_METHOD) -> np.ndarray:
        """One score per paper (higher is better); methods missing their features fall back to what exists."""
        n = len(self.papers)
        if not (self.uses_dense or self.uses_tfidf):
            return np.zeros(n, dtype=np.float32)
        if method == "svm" and self.uses_tfidf:
            return self.svm("svm")
        if method == "svm-emb" and self.uses_dense:
            return self.svm("svm-emb")
        if method == "centroid" and self.uses_dense:
            return self.centroid()
        if method == "knn" and self.uses_dense:
            return self.knn()
        if method == "tfidf" and self.uses_tfidf:
            return self.tfidf()
        return self.mix()

    def mix(self) -> np.ndarray:
        """z(centroid) + z(knn) + z(tf-idf) + z(tf-idf knn)/2 - penalty near negatives, from the features that exist."""
        n = len(self.papers)
        total = np.zeros(n, dtype=np.float32)
        has = self.papers.has_dense if self.uses_dense else None
        dense_weight = MIX["centroid"] + MIX["knn"] if self.uses_dense else 0.0
        if self.uses_dense:
            total += MIX["centroid"] * _z(self.centroid(), has) + MIX["knn"] * _z(self.knn(), has)
        if self.uses_tfidf:
            text_weight = MIX["tfidf"] + MIX["tfidf_knn"]
            scale: Any = 1.0
            if self.uses_dense and has is not None:  # papers without a vector lean on their words alone
                scale = np.where(has, 1.0, (dense_weight + text_weight) / text_weight)
            total += scale * (MIX["tfidf"] * _z(self.tfidf()) + MIX["tfidf_knn"] * _z(self.tfidf_knn()))
        if self.neg is not None:
            total -= MIX["negative"] * self.negative_closeness()
        return total


# -- explanations ----------------------------------------------------------------------------------
def closest_positives(papers: Features, rows: np.ndarray, pos: Examples, top: int = 3) -> list[list[tuple[int, float]]]:
    """For each paper row, the positives nearest to it: ``[(index into pos, cosine), …]``, best first.

    Embeddings where both sides have one, else TF-IDF.
    """
    out: list[list[tuple[int, float]]] = [[] for _ in rows]
    if not len(rows) or not len(pos):
        return out
    sims = np.full((len(rows), len(pos)), -np.inf, dtype=np.float32)
    if papers.tfidf is not None and pos.tfidf is not None:
        sims = np.asarray((papers.tfidf[rows] @ pos.tfidf.T).toarray(), dtype=np.float32)
    if (
        papers.dense is not None
        and pos.dense is not None
        and pos.has_dense is not None
        and papers.has_dense is not None
    ):
        dense = papers.dense[rows] @ pos.dense.T
        both = papers.has_dense[rows][:, None] & pos.has_dense[None, :]
        sims = np.where(both, dense, sims)
    for i in range(len(rows)):
        order = np.argsort(-sims[i])[:top]
        out[i] = [(int(j), float(sims[i, j])) for j in order if np.isfinite(sims[i, j]) and sims[i, j] > 0]
    return out


def shared_terms(papers: Features, rows: np.ndarray, pos: Examples, top: int = 5) -> list[list[str]]:
    """For each paper row, the words that weigh most in both it and the positives (TF-IDF products)."""
    if papers.tfidf is None or pos.tfidf is None or papers.terms is None or not len(rows):
        return [[] for _ in rows]
    profile = _weighted_mean(pos.tfidf, pos.weights)
    weighted = papers.tfidf[rows].multiply(profile[None, :]).tocsr()
    out = []
    for i in range(len(rows)):
        start, end = weighted.indptr[i], weighted.indptr[i + 1]
        cols, vals = weighted.indices[start:end], weighted.data[start:end]
        order = np.argsort(-vals)
        words: list[str] = []
        for j in order:
            if vals[j] <= 0:
                break
            term = str(papers.terms[cols[j]])
            if any(term in w.split() or w in term.split() for w in words):  # "diffusion" and "diffusion models"
                continue
            words.append(term)
            if len(words) == top:
                break
        out.append(words)
    return out
