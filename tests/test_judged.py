"""Judged directories measured in a throw-away home (``paperboy eval --judged``)."""

from __future__ import annotations

import pytest
from support.judged import judged_dir

from paperboy.services.judged import evaluate_judged, load_judged
from paperboy.sources.record import SourceError


def test_every_mode_is_measured_in_a_throw_away_home(settings, tmp_path, embedder):
    folder = judged_dir(tmp_path)
    judged, scores = evaluate_judged(settings, folder, extra=lambda service, j, found: {"nothing": {}})
    assert judged.name == "judged" and len(judged.queries) == 2 and judged.qrels["q2"] == {"d3": 1, "d4": 0}
    assert set(scores) == {"hybrid", "keyword", "semantic", "nothing"}
    for mode in ("hybrid", "keyword", "semantic"):  # each query's one relevant document comes first
        assert (scores[mode].ndcg10, scores[mode].map, scores[mode].recall100) == (1.0, 1.0, 1.0)
        assert scores[mode].queries == 2  # q2's grade-0 line does not make d4 relevant
    assert scores["nothing"].ndcg10 == 0.0  # an extra run is scored like the modes
    assert not settings.home.exists() or not (settings.home / "paperboy.db").exists()  # the user's home untouched


def test_bad_directories_are_refused_by_name(tmp_path):
    with pytest.raises(SourceError, match="not a directory"):
        load_judged(tmp_path / "nowhere")
    folder = judged_dir(tmp_path)
    (folder / "docs.jsonl.gz").rename(folder / "other.gz")
    with pytest.raises(SourceError, match="no docs.jsonl"):
        load_judged(folder)
    (folder / "other.gz").rename(folder / "docs.jsonl.gz")
    (folder / "qrels.tsv").write_text("q1 d1 0\n")
    with pytest.raises(SourceError, match="no relevant document"):
        load_judged(folder)
    (folder / "queries.jsonl").write_text("{not json\n")
    with pytest.raises(SourceError, match="queries.jsonl:1"):
        load_judged(folder)
