"""Ranking metrics, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from paperboy.services.evaluation import (
    average_precision,
    evaluate,
    load_qrels,
    load_queries,
    ndcg_at,
    recall_at,
)
from paperboy.sources.record import SourceError


def test_ndcg_by_hand():
    judged = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "c"], judged) == pytest.approx(1.0)
    # relevant at ranks 2 and 3: (1/log2(3) + 1/log2(4)) / (1 + 1/log2(3))
    expected = (1 / math.log2(3) + 0.5) / (1 + 1 / math.log2(3))
    assert ndcg_at(["c", "a", "b"], judged) == pytest.approx(expected)
    assert ndcg_at(["x"] * 10 + ["a"], judged, k=10) == 0.0
    graded = {"a": 2, "b": 1}
    assert ndcg_at(["b", "a"], graded) < ndcg_at(["a", "b"], graded) == pytest.approx(1.0)


def test_average_precision_and_recall_by_hand():
    judged = {"a": 1, "b": 1, "z": 0}
    assert average_precision(["a", "x", "b"], judged) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision(["x", "y"], judged) == 0.0
    assert recall_at(["a", "x"], judged, 100) == 0.5
    assert recall_at(["x", "a"], judged, 1) == 0.0


def test_evaluate_counts_missing_queries_as_zero():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}
    scores = evaluate({"q1": ["a"]}, qrels)
    assert scores.queries == 2
    assert scores.ndcg10 == pytest.approx(0.5) and scores.map == pytest.approx(0.5)
    assert scores.recall100 == pytest.approx(0.5)


def test_loading_files(tmp_path):
    q = tmp_path / "q.jsonl"
    q.write_text('{"query_id": 1, "text": "graph neural networks"}\n\n{"query_id": "b", "text": "x"}\n')
    assert load_queries(q) == [("1", "graph neural networks"), ("b", "x")]
    r = tmp_path / "r.tsv"
    r.write_text("# comment\n1 2501.00001 1\n1 0 2501.00002 2\n")
    assert load_qrels(r) == {"1": {"2501.00001": 1, "2501.00002": 2}}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query_id": 1}\n')
    with pytest.raises(SourceError, match="bad.jsonl:1"):
        load_queries(bad)
    r.write_text("1 doc notanumber\n")
    with pytest.raises(SourceError, match="r.tsv:1"):
        load_qrels(r)
    with pytest.raises(SourceError, match="cannot read"):
        load_qrels(tmp_path / "missing.tsv")
