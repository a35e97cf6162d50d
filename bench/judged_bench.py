"""Ranking quality on human-judged collections (issue 12), against baselines computed in the same run.

Sets: ``../shared/data/judged/{scifact,nfcorpus}`` (read where they lie, never copied into the
repository) and the known-item set (``bench/data/known-item``, over the whole 118k corpus).  For
each: nDCG@10, MAP@100 and Recall@100 with graded relevance of paperboy's three modes, as
``paperboy eval --judged DIR`` computes them (imported into a throw-away home, indexed, searched
with ``SearchService.search`` for 100 results), and two baselines:

* plain BM25: ``bm25s`` (Lucene variant, k1 = 1.5, b = 0.75) over title + abstract, stemmed with
  PyStemmer's English Snowball stemmer, its English stop words, 100 results;
* naive RRF: reciprocal rank fusion (k = 60) of that BM25 list and paperboy's semantic list.

The figures to reach are ratios within one run: keyword / plain BM25 >= 1 and hybrid / naive RRF
>= 1.03 on each open set, hybrid >= 0.93 on the known-item set.  Also measured: the fusion
alternatives ``services/search.py`` was chosen against, from the same two rankings, and the
embedding study (semantic nDCG@10 at 256 and 128 tokens and of titles alone, with papers/s on
real corpus papers).  Alone: ``PYTHONPATH=. python -m bench.judged_bench``;
``PAPERBOY_BENCH_TOKENS=0`` skips the embedding study (it embeds both open sets twice more).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from paperboy.config import Settings, load_settings
from paperboy.indices.embedding import Embedder, document_text, vector_model_name
from paperboy.indices.keyword import Hit
from paperboy.indices.query import parse_query
from paperboy.services import search as search_module
from paperboy.services.evaluation import Scores, evaluate, load_qrels, load_queries
from paperboy.services.judged import JudgedSet, evaluate_judged, load_judged, runs
from paperboy.services.search import SearchService

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
OPEN_SETS = ("scifact", "nfcorpus")
#: The known-item sets (``bench/make_judged_set.py``): quoted sentences, title words and paraphrases;
#: an author's surname and a title word.
KNOWN_SETS = {
    "known-item": Path(__file__).resolve().parent / "data" / "known-item",
    "known-item, author + a title word": Path(__file__).resolve().parent / "data" / "known-author",
}
CORPUS = SHARED / "arxiv-2025-2026.jsonl.gz"
#: Homes of the judged sets, kept between runs so their vectors are made once (delete to rebuild).
CACHE_ROOT = Path(tempfile.gettempdir()) / "paperboy-judged-bench"
DEPTH = 100
RRF_K = 60
#: Goals: keyword over plain BM25, hybrid over naive RRF (open sets), hybrid on the known-item set.
KEYWORD_GOAL, HYBRID_GOAL, KNOWN_ITEM_GOAL = 1.0, 1.03, 0.93

Row = tuple[str, str, str]
Runs = dict[str, dict[str, list[str]]]


# -- baselines -----------------------------------------------------------------------------------
def _docs(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def plain_bm25(
    docs: list[dict[str, Any]], queries: Sequence[tuple[str, str]], depth: int = DEPTH
) -> dict[str, list[str]]:
    """The textbook baseline: bm25s over title + abstract, stemmed, English stop words."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    texts = [f"{d.get('title') or ''} {d.get('abstract') or ''}" for d in docs]
    retriever = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    retriever.index(bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    out: dict[str, list[str]] = {}
    for qid, text in queries:
        tokens = bm25s.tokenize([text], stopwords="en", stemmer=stemmer, show_progress=False, return_ids=False)[0]
        tokens = [t for t in tokens if t in retriever.vocab_dict]
        if not tokens:
            out[qid] = []
            continue
        found, _ = retriever.retrieve([tokens], k=min(depth, len(docs)), show_progress=False)
        out[qid] = [docs[i]["id"] for i in found[0]]
    return out


def rrf(*rankings: Sequence[str], k: int = RRF_K) -> list[str]:
    """Reciprocal rank fusion: each list gives 1 / (k + rank)."""
    fused: dict[str, float] = {}
    for ranking in rankings:
        for i, pid in enumerate(ranking):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (k + i + 1)
    return sorted(fused, key=lambda pid: -fused[pid])


def _baselines(docs: list[dict[str, Any]], queries: Sequence[tuple[str, str]], semantic: dict[str, list[str]]) -> Runs:
    bm25 = plain_bm25(docs, queries)
    return {"plain BM25": bm25, "naive RRF": {q: rrf(bm25[q], semantic.get(q, []))[:DEPTH] for q in bm25}}


# -- the fusion study --------------------------------------------------------------------------
def _rankings(service: SearchService, text: str) -> tuple[list[Hit], list[tuple[str, float]], dict[str, float]]:
    """The two top-``DEPTH`` lists hybrid search fuses, and every candidate's cosine to the query."""
    query = parse_query(text)
    keyword = service.keyword.search(query, limit=DEPTH)
    assert service.vectors is not None and service.embedder is not None
    qvec = service.embedder.embed_query(service._semantic_text(query))
    semantic = [(n.id, n.score) for n in service._nearest(qvec, query, DEPTH)]
    cosine = dict(semantic)
    cosine |= service.vectors.similarities(qvec, [h.id for h in keyword if h.id not in cosine])
    return keyword, semantic, cosine


def _normalized(scores: dict[str, float], how: str) -> dict[str, float]:
    if not scores:  # a query no paper matches by its words (a known-item paraphrase can be one)
        return {}
    values = np.fromiter(scores.values(), dtype=np.float64)
    if how == "min-max":
        lo, span = values.min(), values.max() - values.min()
        return {pid: (v - lo) / span if span else 1.0 for pid, v in scores.items()}
    mean, std = values.mean(), values.std()
    return {pid: (v - mean) / std if std else 0.0 for pid, v in scores.items()}


def _convex(keyword: list[Hit], cosine: dict[str, float], weight: float, how: str) -> list[str]:
    """``weight`` x normalized BM25 + (1 - weight) x normalized cosine over the union of both lists."""
    bm25 = {pid: 0.0 for pid in cosine} | {h.id: h.score for h in keyword}
    b, c = _normalized(bm25, how), _normalized(cosine, how)
    fused = {pid: weight * b[pid] + (1 - weight) * c[pid] for pid in bm25}
    return sorted(fused, key=lambda pid: -fused[pid])


FUSIONS: dict[str, Callable[[list[Hit], list[tuple[str, float]], dict[str, float]], list[str]]] = {
    "RRF k=60 of paperboy's two lists": lambda kw, sem, cos: rrf([h.id for h in kw], [p for p, _ in sem]),
    "0.5 x min-max BM25 + 0.5 x min-max cosine": lambda kw, sem, cos: _convex(kw, cos, 0.5, "min-max"),
    "0.5 x z-scored BM25 + 0.5 x z-scored cosine": lambda kw, sem, cos: _convex(kw, cos, 0.5, "z"),
    **{
        f"{w:g} x BM25/best + {1 - w:g} x cosine": (
            lambda kw, sem, cos, w=w: [p for p, _ in search_module.fuse(kw, cos, w)]
        )
        for w in (0.3, 0.4, 0.5)
    },
}


def fusion_runs(service: SearchService, judged: JudgedSet) -> Runs:
    """Each fusion alternative's run, from the same two lists hybrid search fuses."""
    lists = {qid: _rankings(service, text) for qid, text in judged.queries}
    return {f"fusion: {name}": {q: fn(*lists[q])[:DEPTH] for q in lists} for name, fn in FUSIONS.items()}


# -- the rows ----------------------------------------------------------------------------------
def _fmt(s: Scores) -> str:
    return f"{s.ndcg10:.4f} / {s.map:.4f} / {s.recall100:.4f}"


def set_rows(name: str, scores: dict[str, Scores], known_item: bool = False) -> list[Row]:
    """One set's table: baselines, the three modes with their ratios, then the fusion study."""
    label = f"{name} ({next(iter(scores.values())).queries} queries), nDCG@10 / MAP@100 / Recall@100"
    rows: list[Row] = []
    bm25, naive = scores.get("plain BM25"), scores.get("naive RRF")
    for system in ("plain BM25", "naive RRF", "keyword", "semantic", "hybrid"):
        s = scores.get(system)
        if s is None:
            continue
        value, goal = _fmt(s), ""
        if system == "keyword" and bm25 is not None:
            value += f" ({s.ndcg10 / bm25.ndcg10:.3f} x plain BM25)"
            goal = "" if known_item else f">= {KEYWORD_GOAL:g} x plain BM25"
        if system == "hybrid" and naive is not None:
            value += f" ({s.ndcg10 / naive.ndcg10:.3f} x naive RRF)"
            goal = (
                f">= {KNOWN_ITEM_GOAL}"
                if name == "known-item"
                else ""
                if known_item
                else f">= {HYBRID_GOAL} x naive RRF"
            )
        rows.append((f"{label}: {system}", value, goal))
    for system, s in scores.items():
        if system.startswith("fusion: "):
            rows.append((f"{name} {system}, nDCG@10", f"{s.ndcg10:.4f}", ""))
    return rows


def kept_home(settings: Settings, docs: Path, tag: str = "") -> Path:
    """The kept home of one set: a key of the documents file and the embedding settings."""
    stat = docs.stat()
    parts = [str(docs.resolve()), stat.st_size, stat.st_mtime_ns, vector_model_name(settings)]
    parts.append(settings.embedding_max_tokens)
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:12]
    return CACHE_ROOT / f"{docs.parent.name}{tag}-{key}"


def open_set_rows(settings: Settings, name: str) -> list[Row]:
    """A judged set of ``../shared/data/judged`` measured as ``paperboy eval --judged`` does, with baselines."""
    folder = SHARED / "judged" / name
    docs = _docs(load_judged(folder).docs)

    def extra(service: SearchService, judged: JudgedSet, found: Runs) -> Runs:
        return _baselines(docs, judged.queries, found["semantic"]) | fusion_runs(service, judged)

    _, scores = evaluate_judged(settings, folder, extra=extra, keep=kept_home(settings, load_judged(folder).docs))
    return set_rows(name, scores)


def known_item_rows(settings: Settings, home: Path | None) -> list[Row]:
    """The known-item sets over the whole corpus: on an embedded 118k home if there is one, else
    keyword search alone (in a throw-away keyword-only home) next to plain BM25."""
    sets = [_known(name, folder) for name, folder in KNOWN_SETS.items()]
    docs = _docs(CORPUS)
    found: dict[str, Runs] = {}
    if home is None:
        from paperboy.services.judged import judged_home

        with judged_home(settings, sets[0], semantic=False) as (h, store):
            service = SearchService.open(h, store, semantic=False)
            found = {j.name: runs(service, j.queries, ["keyword"]) for j in sets}
    else:
        from paperboy.store import Store

        settings = load_settings(home)
        with Store.open(settings) as store:
            service = SearchService.open(settings, store)
            for j in sets:
                found[j.name] = runs(service, j.queries)
                found[j.name] |= _baselines(docs, j.queries, found[j.name]["semantic"]) | fusion_runs(service, j)
    rows: list[Row] = []
    for j in sets:
        if home is None:
            found[j.name]["plain BM25"] = plain_bm25(docs, j.queries)
        scores = {k: evaluate(v, j.qrels) for k, v in found[j.name].items()}
        rows += set_rows(j.name, scores, known_item=True)
    if home is None:
        rows.append(("known-item sets: semantic and hybrid", "skipped: no embedded 118k home (search bench)", ""))
    return rows


def _known(name: str, folder: Path) -> JudgedSet:
    """A known-item set as a judged set whose documents are the whole corpus."""
    return JudgedSet(name, CORPUS, load_queries(folder / "queries.jsonl"), load_qrels(folder / "qrels.tsv"))


# -- the embedding study -----------------------------------------------------------------------
def _titles_only(folder: Path, target: Path) -> Path:
    """A copy of a judged set (beside the kept homes) whose documents are their titles alone."""
    if (target / "qrels.tsv").exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with gzip.open(target / "docs.jsonl.gz", "wt", encoding="utf-8") as fh:
        for doc in _docs(load_judged(folder).docs):
            fh.write(json.dumps({**doc, "abstract": ""}) + "\n")
    for name in ("queries.jsonl", "qrels.tsv"):
        (target / name).write_bytes((folder / name).read_bytes())
    return target


def _throughput(settings: Settings, papers: list[dict[str, Any]], repeats: int = 3) -> dict[str, float]:
    """Papers/s per variant (median of ``repeats`` passes, the variants taking turns)."""
    variants = {
        "256 tokens, title + abstract": (256, [document_text(p) for p in papers]),
        "128 tokens, title + abstract": (128, [document_text(p) for p in papers]),
        "128 tokens, title only": (128, [p.get("title") or "" for p in papers]),
    }
    embedders = {n: Embedder.open(settings.with_overrides(embedding_max_tokens=t)) for n, (t, _) in variants.items()}
    rates: dict[str, list[float]] = {n: [] for n in variants}
    for name, (_, texts) in variants.items():
        embedders[name].embed_documents(texts[:64])  # warm-up
    for _ in range(repeats):
        for name, (_, texts) in variants.items():
            start = time.perf_counter()
            embedders[name].embed_documents(texts)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    return {n: statistics.median(r) for n, r in rates.items()}


def token_rows(settings: Settings, papers: int = 500) -> list[Row]:
    """Semantic nDCG@10 on the open sets and papers/s, at 256 and 128 tokens and for titles alone."""
    rows: list[Row] = []
    for name in OPEN_SETS:
        folder = SHARED / "judged" / name
        for label, variant, tokens in (
            ("256 tokens, title + abstract", folder, 256),
            ("128 tokens, title + abstract", folder, 128),
            ("128 tokens, title only", _titles_only(folder, CACHE_ROOT / f"{name}-titles"), 128),
        ):
            at = settings.with_overrides(embedding_max_tokens=tokens)
            keep = kept_home(at, load_judged(variant).docs)
            s = evaluate_judged(at, variant, ["semantic"], keep=keep)[1]
            rows.append((f"{name}: semantic nDCG@10 / Recall@100, {label}", _fmt2(s["semantic"]), ""))
    sample = []
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        for line in fh:
            sample.append(json.loads(line))
            if len(sample) == papers:
                break
    load = os.getloadavg()[0]
    for label, rate in _throughput(settings, sample).items():
        rows.append((f"embedding throughput, {papers} corpus papers, int8, {label}", f"{rate:.1f} papers/s", ""))
    rows.append(
        ("machine load (1-min average) while embedding, before / after", f"{load:.1f} / {os.getloadavg()[0]:.1f}", "")
    )
    return rows


def _fmt2(s: Scores) -> str:
    return f"{s.ndcg10:.4f} / {s.recall100:.4f}"


# -- the suite ---------------------------------------------------------------------------------
def run(home: Path | None = None) -> list[Row]:
    """Measure every set; ``home``: an embedded 118k home for the known-item set (default: the one
    the search bench prepared, if it did; it is never built here)."""
    if not (SHARED / "judged").is_dir():
        return [("judged collections", "skipped: no ../shared/data/judged", "")]
    if home is None and CORPUS.exists():
        from bench.search_bench import prepared_home

        home = prepared_home(build=False)[0]
    settings = load_settings(CACHE_ROOT / "settings")
    rows: list[Row] = []
    parts: list[tuple[str, Callable[[], list[Row]]]] = [
        (name, lambda name=name: open_set_rows(settings, name)) for name in OPEN_SETS
    ]
    if CORPUS.exists():
        parts.append(("known-item", lambda: known_item_rows(settings, home)))
    if os.environ.get("PAPERBOY_BENCH_TOKENS", "1") != "0":
        parts.append(("embedding study", lambda: token_rows(settings)))
    for name, part in parts:
        start = time.perf_counter()
        try:
            rows.extend(part())
        except Exception as exc:  # noqa: BLE001 - one set failing must still report the others
            rows.append((name, f"failed: {type(exc).__name__}: {exc}"[:200], ""))
        print(f"judged bench: {name} took {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
