"""Ranking measurement: nDCG@k, MAP and Recall@k over judged queries, as in TREC.

Why here: every ranking change (fusion weights, int8 vectors, field boosts) is judged by these
numbers (``paperboy eval``), not by eye.  Inputs are the usual files: queries as JSON lines
``{"query_id": …, "text": …}`` and qrels as ``query_id doc_id relevance`` lines (TREC's
four-column form ``query_id 0 doc_id relevance`` is accepted too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from paperboy.sources.record import SourceError

Qrels = dict[str, dict[str, int]]


def load_queries(path: str | Path) -> list[tuple[str, str]]:
    """``(query_id, text)`` pairs; a malformed line is a ``SourceError`` naming it."""
    out = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
            out.append((str(data["query_id"]), str(data["text"])))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise SourceError(f'{path}:{n}: expected {{"query_id": …, "text": …}}') from None
    return out


def load_qrels(path: str | Path) -> Qrels:
    """Relevance judgements ``{query_id: {doc_id: grade}}``."""
    qrels: Qrels = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) == 4:
            parts = [parts[0], parts[2], parts[3]]
        try:
            qid, doc, grade = parts[0], parts[1], int(parts[2])
        except (IndexError, ValueError):
            raise SourceError(f"{path}:{n}: expected 'query_id doc_id relevance'") from None
        qrels.setdefault(qid, {})[doc] = grade
    return qrels


def dcg(grades: Iterable[int]) -> float:
    """Discounted cumulative gain with exponential gain, as in TREC and most IR toolkits."""
    return sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(grades))


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k of one ranking."""
    ideal = dcg(sorted((g for g in judged.values() if g > 0), reverse=True)[:k])
    return dcg(judged.get(doc, 0) for doc in ranked[:k]) / ideal if ideal else 0.0


def average_precision(ranked: Sequence[str], judged: Mapping[str, int]) -> float:
    """Average precision of one ranking (relevant = grade above 0)."""
    relevant = {doc for doc, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    hits, total = 0, 0.0
    for i, doc in enumerate(ranked, 1):
        if doc in relevant:
            hits += 1
            total += hits / i
    return total / len(relevant)


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 100) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {doc for doc, g in judged.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


@dataclass(frozen=True)
class Scores:
    """Mean scores of one system over the judged queries."""

    ndcg10: float
    map: float
    recall100: float
    queries: int


def evaluate(run: Mapping[str, Sequence[str]], qrels: Qrels) -> Scores:
    """Mean nDCG@10, MAP and Recall@100 of ``run`` (query id -> ranked doc ids) over the judged queries.

    A judged query missing from the run scores zero, so a system cannot gain by skipping queries.
    """
    judged = [q for q, docs in qrels.items() if any(g > 0 for g in docs.values())]
    if not judged:
        return Scores(0.0, 0.0, 0.0, 0)
    n = len(judged)
    return Scores(
        ndcg10=sum(ndcg_at(run.get(q, []), qrels[q], 10) for q in judged) / n,
        map=sum(average_precision(run.get(q, []), qrels[q]) for q in judged) / n,
        recall100=sum(recall_at(run.get(q, []), qrels[q], 100) for q in judged) / n,
        queries=n,
    )
