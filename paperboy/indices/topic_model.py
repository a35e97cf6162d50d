"""Topics from paper vectors, their labels, and key phrases per paper: the computations, on arrays.

* **Clustering**: scikit-learn's ``MiniBatchKMeans`` on the unit-length embeddings (so Euclidean
  k-means is spherical k-means: it groups by cosine).  Every paper gets a topic, the cost is
  linear in papers, and a paper that arrives later joins the nearest centroid in microseconds.
  HDBSCAN was measured against it (``bench/topics_bench.py``; the README has the figures).
* **Labels**: class-based TF-IDF as BERTopic computes it: the words and two-word phrases of a
  topic's titles and abstracts, summed per topic, weighed by ``log(1 + A / f)`` (A: the average
  number of words per topic, f: the phrase's frequency over all topics), so a phrase ranks high
  where it is frequent in the topic and rare in the rest; then times each phrase's document IDF,
  with firm two-word phrases preferred (``distinctive``).
* **Key phrases**: the same document-phrase counts, each paper's phrases weighed by TF-IDF (its
  title counted twice), two-word phrases preferred, words already inside a chosen phrase skipped.
  Embedding-ranked candidates (KeyBERT) were measured too and cost far more (README).
* **Coherence**: NPMI of each topic's top phrases over the documents, for the benchmark.

The vocabulary (phrases and their document frequencies) is kept with the build, so papers that
arrive between builds get key phrases weighed the same way.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import orjson
from scipy import sparse
from sklearn.cluster import MiniBatchKMeans
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from paperboy.indices.phrase_key import normalize_key  # noqa: F401 - stored keys are made with it

#: Words that say how a paper is written, not what it is about.
ACADEMIC_STOP_WORDS = frozenset(
    """
    paper papers propose proposed proposes present presents presented introduce introduces introduced
    method methods approach approaches result results show shows shown showing demonstrate demonstrates
    demonstrated novel new existing based using use used uses work works study studies studied also
    however achieve achieves achieved achieving significant significantly state art outperform
    outperforms outperforming improve improves improved improving improvement improvements experiments
    experimental extensive effective effectiveness efficient efficiently various different several
    provide provides provided well via within without including include includes furthermore moreover
    particular particularly specifically respectively recent recently first second third finally thus
    therefore given lead leads key important able allows allow enables enable enabling available
    publicly github com https http www release released comprehensive evaluate evaluated baseline
    baselines compared comparison address addresses addressing challenge challenges challenging limited
    limitations issue issues way ways make makes making one two three four five many much often still
    yet across among whether while whereas superior better best strong robust robustness simple simply
    effectively notably consistently substantially
    """.split()
)
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | ACADEMIC_STOP_WORDS
#: Words: a letter, then letters, digits or inner hyphens (``3d`` is dropped, ``gpt-4`` kept).
TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w\-]*[^\W_]\b|\b[^\W\d_]\b"
_LATEX = re.compile(r"\$[^$]{0,200}\$|\\[a-zA-Z]+\*?(\{[^}]{0,100}\})?")
#: Papers per topic the default k aims at (k = papers / this, within ``K_MIN`` .. ``K_MAX``).
PAPERS_PER_TOPIC = 800
K_MIN, K_MAX = 2, 200
KEYWORDS_PER_PAPER = 5
TERMS_PER_TOPIC = 10
#: A two-word phrase whose words occur together at least ``FIRM_PHRASE`` of the time counts this much
#: more than a single word when picking key phrases; below ``LOOSE_PHRASE`` it is no key phrase at all.
PHRASE_BOOST = 1.5
FIRM_PHRASE = 0.1
LOOSE_PHRASE = 0.02


def default_k(papers: int) -> int:
    """How many topics for a corpus of ``papers`` (about ``PAPERS_PER_TOPIC`` each, at least 10 per topic)."""
    if papers < 2 * 10:
        return 1 if papers else 0
    return int(min(K_MAX, max(K_MIN, min(round(papers / PAPERS_PER_TOPIC), papers // 10))))


def clean_text(title: str, abstract: str) -> str:
    """Title (twice: it says most about the paper) and abstract, without LaTeX commands and maths."""
    return _LATEX.sub(" ", f"{title}. {title}. {abstract}")


# -- clustering ----------------------------------------------------------------------------------
def cluster(vectors: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(topic of each row, unit-length centroids) by mini-batch k-means on unit vectors."""
    n = len(vectors)
    if n == 0 or k <= 1:
        centroid = _unit(vectors.mean(axis=0, keepdims=True)) if n else np.zeros((0, vectors.shape[1]), np.float32)
        return np.zeros(n, dtype=np.int64), centroid.astype(np.float32)
    km = MiniBatchKMeans(n_clusters=k, batch_size=4096, n_init=3, max_no_improvement=20, random_state=seed)
    labels = km.fit_predict(vectors)
    return labels.astype(np.int64), _unit(km.cluster_centers_).astype(np.float32)


def centroids_of(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Unit-length mean vector of each label's rows (zeros for an empty label)."""
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels, vectors)
    return _unit(sums).astype(np.float32)


def assign(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of the nearest centroid, its cosine) for each row."""
    if not len(vectors) or not len(centroids):
        return np.zeros(len(vectors), dtype=np.int64), np.zeros(len(vectors), dtype=np.float32)
    sims = vectors @ centroids.T
    best = sims.argmax(axis=1)
    return best.astype(np.int64), sims[np.arange(len(vectors)), best].astype(np.float32)


def _unit(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


# -- phrases ---------------------------------------------------------------------------------------
@dataclass
class Vocabulary:
    """Phrases (words and two-word phrases) and in how many documents each occurs."""

    terms: list[str]
    df: np.ndarray
    documents: int

    def vectorizer(self) -> CountVectorizer:
        """A vectorizer that counts exactly these phrases."""
        return _vectorizer(vocabulary={term: i for i, term in enumerate(self.terms)})

    def cohesion(self) -> np.ndarray:
        """For each two-word phrase, how often its words occur together: df(a b) / min(df(a), df(b)); 1 for words."""
        df = {term: int(n) for term, n in zip(self.terms, self.df, strict=True)}
        ceiling = max(1, self.documents // 2)  # words above max_df are not in the vocabulary: at least this common
        out = np.ones(len(self.terms), dtype=np.float32)
        for i, term in enumerate(self.terms):
            if " " in term:
                a, b = term.split(" ", 1)
                out[i] = self.df[i] / max(1, min(df.get(a, ceiling), df.get(b, ceiling)))
        return out

    @property
    def idf(self) -> np.ndarray:
        return np.log((1 + self.documents) / (1 + self.df)) + 1.0

    def dumps(self) -> bytes:
        """Compressed, for the store."""
        data = {"terms": self.terms, "df": self.df.astype(int).tolist(), "documents": self.documents}
        return zlib.compress(orjson.dumps(data), 6)

    @classmethod
    def loads(cls, blob: bytes) -> Vocabulary:
        data = orjson.loads(zlib.decompress(blob))
        return cls(list(data["terms"]), np.asarray(data["df"], dtype=np.int64), int(data["documents"]))


def _vectorizer(**options: object) -> CountVectorizer:
    return CountVectorizer(
        lowercase=True,
        token_pattern=TOKEN_PATTERN,
        stop_words=sorted(STOP_WORDS),
        ngram_range=(1, 2),
        dtype=np.float32,
        **options,  # type: ignore[arg-type]
    )


def count_phrases(texts: Sequence[str], min_df: int | None = None) -> tuple[sparse.csr_matrix, Vocabulary]:
    """Document-phrase counts and the vocabulary (phrases in at least ``min_df`` documents, at most half)."""
    n = len(texts)
    if min_df is None:
        min_df = 5 if n >= 5000 else (2 if n >= 20 else 1)
    vectorizer = _vectorizer(min_df=min_df, max_df=0.5 if n >= 20 else 1.0)
    try:
        counts = vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # no phrase in any document (empty texts, or nothing but stop words)
        return sparse.csr_matrix((n, 0), dtype=np.float32), Vocabulary([], np.zeros(0, dtype=np.int64), n)
    terms = vectorizer.get_feature_names_out().tolist()
    df = np.asarray((counts > 0).sum(axis=0)).ravel().astype(np.int64)
    return counts, Vocabulary(terms, df, n)


def class_tfidf(counts: sparse.csr_matrix, labels: np.ndarray, k: int) -> sparse.csr_matrix:
    """BERTopic's c-TF-IDF: per topic, phrase frequency (L1-normalized) times ``log(1 + A / f)``."""
    if counts.shape[1] == 0 or k == 0:
        return sparse.csr_matrix((k, counts.shape[1]), dtype=np.float32)
    member = sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))), shape=(k, len(labels))
    )
    per_class = (member @ counts).tocsr()
    frequency = np.asarray(per_class.sum(axis=0)).ravel()
    average = float(per_class.sum()) / max(k, 1)
    idf = np.log(1.0 + average / np.maximum(frequency, 1e-9)).astype(np.float32)
    totals = np.asarray(per_class.sum(axis=1)).ravel()
    tf = sparse.diags(1.0 / np.maximum(totals, 1e-9)) @ per_class
    return (tf @ sparse.diags(idf)).tocsr().astype(np.float32)


def distinctive(weights: sparse.csr_matrix, vocabulary: Vocabulary) -> sparse.csr_matrix:
    """c-TF-IDF weights made to prefer specific phrases: times each phrase's document IDF, firm two-word
    phrases counted 1.5 times and loose ones half.

    Why: plain c-TF-IDF labelled the 22k-paper map's topics "language, llms, large" and "learning,
    neural, networks"; with this, "kv cache, quantization, pruning" and "neural networks, machine
    learning, time series", and the NPMI of the top ten phrases went from 0.165 to 0.203.
    """
    if weights.shape[1] == 0:
        return weights
    idf = np.log(max(vocabulary.documents, 1) / np.maximum(vocabulary.df, 1)).astype(np.float32)
    phrase = np.asarray([" " in term for term in vocabulary.terms])
    firm = vocabulary.cohesion() >= FIRM_PHRASE
    boost = np.where(phrase & firm, PHRASE_BOOST, np.where(phrase, 0.5, 1.0)).astype(np.float32)
    return (weights @ sparse.diags(idf * boost)).tocsr()


def top_terms(
    weights: sparse.csr_matrix, terms: Sequence[str], n: int = TERMS_PER_TOPIC
) -> list[list[tuple[str, float]]]:
    """Each row's ``n`` best phrases (a word inside a better phrase of the row is skipped)."""
    out = []
    for row in range(weights.shape[0]):
        start, end = weights.indptr[row], weights.indptr[row + 1]
        idx, vals = weights.indices[start:end], weights.data[start:end]
        order = np.argsort(-vals, kind="stable")[: n * 4]
        out.append(_distinct([(terms[idx[i]], float(vals[i])) for i in order], n))
    return out


def _distinct(ranked: list[tuple[str, float]], n: int) -> list[tuple[str, float]]:
    """Best first, leaving out a phrase whose words are all inside one already chosen, and vice versa."""
    chosen: list[tuple[str, float]] = []
    for term, weight in ranked:
        words = set(term.split())
        if any(words <= set(c.split()) or set(c.split()) <= words for c, _ in chosen):
            continue
        chosen.append((term, weight))
        if len(chosen) == n:
            break
    return chosen


def label(terms: Sequence[tuple[str, float]], n: int = 3) -> str:
    """A topic's name: its first few distinctive phrases."""
    return ", ".join(term for term, _ in terms[:n]) or "miscellaneous"


def keywords(
    counts: sparse.csr_matrix, vocabulary: Vocabulary, docs: Sequence[tuple[str, str]], n: int = KEYWORDS_PER_PAPER
) -> list[list[str]]:
    """Each document's ``n`` key phrases by TF-IDF, written as they appear in it; ``docs``: (title, abstract).

    Two-word phrases that only exist once stop words are dropped ("detection of objects" counted
    as "detection objects") are skipped: a key phrase must be readable as it stands.
    """
    if counts.shape[1] == 0:
        return [[] for _ in range(counts.shape[0])]
    idf = vocabulary.idf.astype(np.float32)
    cohesion = vocabulary.cohesion()
    # a phrase whose words mostly occur apart ("train diffusion") is no phrase: left out; a firm one counts more
    phrase = np.asarray([" " in term for term in vocabulary.terms])
    boost = np.where(cohesion >= FIRM_PHRASE, PHRASE_BOOST, np.where(cohesion >= LOOSE_PHRASE, 1.0, 0.0))
    boost = np.where(phrase, boost, 1.0)
    weighted = counts.multiply((idf * boost.astype(np.float32))[None, :]).tocsr()
    weighted.eliminate_zeros()
    firm = cohesion >= FIRM_PHRASE
    out = []
    terms = vocabulary.terms
    for row in range(weighted.shape[0]):
        start, end = weighted.indptr[row], weighted.indptr[row + 1]
        idx, vals = weighted.indices[start:end], weighted.data[start:end]
        title, abstract = _LATEX.sub(" ", docs[row][0]), _LATEX.sub(" ", docs[row][1])
        chosen: list[tuple[str, str]] = []  # (term, as written), best first
        for i in np.argsort(-vals, kind="stable")[: n * 6]:
            term = terms[idx[i]]
            words = set(term.split())
            inside = [j for j, (c, _) in enumerate(chosen) if words <= set(c.split()) or set(c.split()) <= words]
            if inside:
                # a firm phrase holding a word already chosen says more than the word: it takes its place
                j = inside[0]
                if len(inside) == 1 and " " in term and " " not in chosen[j][0] and firm[idx[i]]:
                    shown = surface(term, title, abstract)
                    if shown is not None:
                        chosen[j] = (term, shown)
                continue
            shown = surface(term, title, abstract)
            if shown is not None and len(chosen) < n:
                chosen.append((term, shown))
        out.append(_joined([shown for _, shown in chosen], title, abstract))
    return out


def _joined(phrases: list[str], title: str, abstract: str) -> list[str]:
    """Overlapping phrases the paper writes as one ("graph neural" + "neural networks") as that one."""
    out = list(phrases)
    changed = True
    while changed:
        changed = False
        for i, left in enumerate(out):
            for j, right in enumerate(out):
                lw, rw = left.split(), right.split()
                if i == j or len(lw) != 2 or len(rw) != 2 or lw[-1].lower() != rw[0].lower():  # up to three words
                    continue
                whole = surface(" ".join([*lw, *rw[1:]]).lower(), title, abstract)
                if whole is not None:
                    out[min(i, j)] = whole
                    del out[max(i, j)]
                    changed = True
                    break
            if changed:
                break
    return out


def _plain(word: str) -> str:
    """A capitalized ordinary word in lower case ("Diffusion" -> "diffusion"); acronyms and names like NeRF stay."""
    return word.lower() if len(word) > 1 and word[0].isupper() and word[1:].islower() else word


@lru_cache(maxsize=100_000)
def _phrase_pattern(term: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])" + r"[\s\-]+".join(re.escape(w) for w in term.split()) + r"(?![\w-])", re.I)


def surface(term: str, title: str, abstract: str) -> str | None:
    """The phrase as the paper writes it ("LLM agents", not "llm agents"), or None if it is not there literally.

    The abstract's spelling wins over the title's (titles capitalize every word); a capital that
    only starts a sentence or a title is dropped.
    """
    pattern = _phrase_pattern(term)
    for text, title_case in ((abstract, False), (title, True)):
        first_seen = None
        for found in pattern.finditer(text):
            words = found.group(0).split()
            before = text[: found.start()].rstrip()
            sentence_start = not before or before[-1] in ".!?:"
            if not title_case and not sentence_start:
                return " ".join(words)
            if first_seen is None:
                first_seen = [_plain(w) for w in words] if title_case else [_plain(words[0]), *words[1:]]
        if first_seen is not None:
            return " ".join(first_seen)
    return None


# -- quality ------------------------------------------------------------------------------------------
def npmi(counts: sparse.csr_matrix, vocabulary: Vocabulary, topics: Sequence[Sequence[str]]) -> list[float]:
    """Mean NPMI of each topic's phrases over the documents (co-occurrence in one document)."""
    index = {term: i for i, term in enumerate(vocabulary.terms)}
    present = (counts > 0).astype(np.float32).tocsc()
    n = counts.shape[0]
    out = []
    for phrases in topics:
        cols = [index[p] for p in phrases if p in index]
        if len(cols) < 2:
            out.append(0.0)
            continue
        sub = present[:, cols]
        joint = (sub.T @ sub).toarray() / n
        single = np.diag(joint).copy()
        scores = []
        for i in range(len(cols)):
            for j in range(i + 1, len(cols)):
                pij = joint[i, j]
                if pij <= 0:
                    scores.append(-1.0)
                elif pij >= 1:
                    scores.append(1.0)
                else:
                    scores.append(float(np.log(pij / (single[i] * single[j])) / -np.log(pij)))
        out.append(float(np.mean(scores)))
    return out
