"""Embedding benchmarks (issue 3): throughput of fp32 and int8 on real papers, query latency, and
what int8 does to ranking compared with fp32.

The first 2,000 papers of the sample corpus, embedded as title + abstract at 256 tokens, exactly as
the embedding job does it.  Throughput is the median of 3 full passes; query latency the median
of 200 single queries (first sentences of abstracts, as a user might paste them).  The ranking
check embeds the 2,000 papers and 100 such queries with both precisions and asks how many of the
fp32 top-10 neighbours the int8 model still returns.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

from paperboy.config import load_settings
from paperboy.indices.embedding import Embedder, document_text

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "arxiv-2025-2026.jsonl.gz"
DOCS = 2000
QUERIES = 200
RANKED_QUERIES = 100
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def _papers(n: int) -> list[dict]:
    """The first ``n`` papers of the corpus."""
    papers = []
    with gzip.open(CORPUS, "rb") as fh:
        for line in fh:
            papers.append(orjson.loads(line))
            if len(papers) == n:
                break
    return papers


def _first_sentence(text: str) -> str:
    """A query-sized piece of an abstract."""
    text = " ".join(text.split())
    return _SENTENCE_END.split(text, maxsplit=1)[0][:300]


def _top10(queries: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Ids of the 10 nearest documents per query (cosine: the vectors are unit length)."""
    return np.argsort(-(queries @ docs.T), axis=1)[:, :10]


def _measure(embedder: Embedder, texts: list[str], queries: list[str], repeats: int) -> tuple[float, float, np.ndarray]:
    """(papers/s median, query p50 in ms, document vectors) for one embedder."""
    embedder.embed_documents(texts[:64])  # warm-up: first-run allocations and kernel selection
    rates, vectors = [], np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = embedder.embed_documents(texts)
        rates.append(len(texts) / (time.perf_counter() - start))
    latencies = []
    for query in queries:
        start = time.perf_counter()
        embedder.embed_query(query)
        latencies.append(time.perf_counter() - start)
    return statistics.median(rates), statistics.median(latencies) * 1000, vectors


def run(repeats: int = 3) -> list[tuple[str, str, str]]:
    """Measure and return rows of (figure, value, goal)."""
    if not CORPUS.exists():
        return [("embedding benchmarks", "skipped: no ../shared/data corpus", "")]
    papers = _papers(DOCS)
    texts = [document_text(p) for p in papers]
    step = len(papers) // QUERIES
    queries = [_first_sentence(p.get("abstract") or p["title"]) for p in papers[::step][:QUERIES]]
    rows: list[tuple[str, str, str]] = []
    load_before = os.getloadavg()[0]
    home = Path(tempfile.mkdtemp(prefix="paperboy-embed-bench-"))
    try:
        results = {}
        for quantized in (False, True):
            settings = load_settings(home, embedding_quantized=quantized, embedding_max_tokens=256)
            start = time.perf_counter()
            embedder = Embedder.open(settings)
            setup = time.perf_counter() - start
            rate, p50, vectors = _measure(embedder, texts, queries, repeats)
            ranked = np.stack([embedder.embed_query(q) for q in queries[:RANKED_QUERIES]])
            results[quantized] = (vectors, ranked)
            name = embedder.model_name
            rows.append((f"embed {len(texts):,} papers, {name}", f"{rate:,.1f} papers/s", ">= 70 papers/s"))
            rows.append((f"single query latency p50, {name}", f"{p50:.1f} ms", ""))
            rows.append((f"first-use export + load, {name}", f"{setup:.1f} s", ""))
        (docs32, q32), (docs8, q8) = results[False], results[True]
        top32, top8 = _top10(q32, docs32), _top10(q8, docs8)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top32, top8, strict=True)])
        cosine = float(np.mean(np.sum(docs32 * docs8, axis=1)))
        worst = float(np.min(np.sum(docs32 * docs8, axis=1)))
        rows.append((f"int8 recall@10 of fp32 top-10 ({RANKED_QUERIES} queries)", f"{recall:.3f}", ""))
        rows.append(("int8 vs fp32 cosine, mean (min)", f"{cosine:.4f} ({worst:.4f})", ""))
        load_after = os.getloadavg()[0]
        rows.append(("machine load (1-min average) before / after", f"{load_before:.1f} / {load_after:.1f}", ""))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return rows


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
