"""While a new home is still being indexed, pages say so: a keyword index being built is not "no
papers found", and results built from vectors say they come from the embedded part only."""

from __future__ import annotations

import numpy as np
from support.web import corpus, running_app

from paperboy.indices.embedding import document_text
from paperboy.services.indexing import index_once


def _embed(store, embedder, n: int) -> list[str]:
    """Embed (and store the vectors of) ``n`` papers still lacking one; returns their ids."""
    papers = store.papers_to_embed(embedder.model_name, limit=n)
    vectors = np.asarray(embedder.embed_documents([document_text(p) for p in papers]), dtype=np.float32)
    store.put_vectors(
        embedder.model_name, [(p["id"], p["seq"], v.tobytes()) for p, v in zip(papers, vectors, strict=True)]
    )
    return [p["id"] for p in papers]


def test_search_says_the_keyword_index_is_being_built(settings):
    with running_app(settings, records=corpus(), index_at_start=False) as web:
        page = web.client.get("/search?q=diffusion&mode=keyword").text
        assert "The search index is being built" in page and "No papers found" not in page
        index_once(settings, web.store, semantic=False)
        web.services.search.refresh()
        page = web.client.get("/search?q=diffusion&mode=keyword").text
        assert "being built" not in page and "Diffusion" in page
        assert "No papers found" in web.client.get("/search?q=zzzyxq&mode=keyword").text


def test_meaning_based_answers_say_they_cover_part_of_the_store(settings, embedder):
    with running_app(settings, records=corpus(), index_at_start=False, semantic=True, embedder=embedder) as web:
        store = web.store
        index_once(settings, store, semantic=False)
        some = _embed(store, embedder, 10)
        web.services.search.refresh()
        total = store.count_papers()
        note = f"from the 10 of {total} papers embedded so far"
        assert note in web.client.get("/search?q=protein+design&mode=hybrid").text
        assert note in web.client.get("/search?q=protein+design&mode=semantic").text
        assert note not in web.client.get("/search?q=protein+design&mode=keyword").text
        embedded = some[0]
        assert note in web.client.get(f"/papers/{embedded}").text  # similar papers, from the embedded part
        _embed(store, embedder, 1000)
        web.services.search.refresh()
        assert "embedded so far" not in web.client.get("/search?q=protein+design&mode=hybrid").text
        assert "embedded so far" not in web.client.get(f"/papers/{embedded}").text


def test_the_cli_says_when_meaning_based_results_cover_part_of_the_store(tmp_path):
    import json

    from test_cli import run
    from test_search_cli import _corpus

    home = tmp_path / "h"
    assert run(home, "ingest", "jsonl", str(_corpus(tmp_path))).returncode == 0
    assert run(home, "index").returncode == 0
    late = tmp_path / "late.jsonl"
    late.write_text(json.dumps({"id": "2502.00001", "title": "Robots again", "announce_date": "2025-02-03"}) + "\n")
    assert run(home, "ingest", "jsonl", str(late)).returncode == 0
    searched = run(home, "search", "robot grasping")
    assert searched.returncode == 0 and "from the 4 of 5 papers embedded so far" in searched.stderr
    assert "embedded so far" not in run(home, "search", "robot grasping", "--mode", "keyword").stderr
    assert "embedded so far" in run(home, "similar", "2501.00002").stderr
