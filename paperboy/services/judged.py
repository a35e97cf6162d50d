"""Judged collections measured end to end: import, index and search them in a throw-away home.

Why: ranking is chosen on collections with human relevance judgments (``make bench``, the
README's "Searching"), and anyone can check it on their own the same way with
``paperboy eval --judged DIR``.  A judged directory holds ``docs.jsonl`` (or ``docs.jsonl.gz``,
the generic JSON-lines shape ``paperboy ingest jsonl`` reads), ``queries.jsonl`` (``{"query_id",
"text"}``) and ``qrels.tsv`` (``query_id doc_id grade``).  Its documents go into a fresh home in
a temporary folder (never the user's store), which is deleted afterwards; only the exported
model is shared with other homes (``models_dir``), so it is not exported again.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from paperboy.config import Settings
from paperboy.services.evaluation import Qrels, Scores, evaluate, load_qrels, load_queries
from paperboy.services.search import MODES, SearchService
from paperboy.sources.record import SourceError
from paperboy.store import Store

#: Results read per query: MAP and Recall are computed over this depth.
DEPTH = 100


@dataclass(frozen=True)
class JudgedSet:
    """A judged directory's files, read and checked."""

    name: str
    docs: Path
    queries: list[tuple[str, str]]
    qrels: Qrels


def load_judged(directory: str | Path) -> JudgedSet:
    """Read a judged directory; a missing or malformed file is a ``SourceError`` naming it."""
    folder = Path(directory)
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a directory (expected docs.jsonl[.gz], queries.jsonl, qrels.tsv)")
    docs = next((folder / n for n in ("docs.jsonl.gz", "docs.jsonl") if (folder / n).is_file()), None)
    if docs is None:
        raise SourceError(f"{folder}: no docs.jsonl or docs.jsonl.gz")
    queries = load_queries(folder / "queries.jsonl")
    qrels = load_qrels(folder / "qrels.tsv")
    if not queries:
        raise SourceError(f"{folder / 'queries.jsonl'}: no queries")
    if not any(g > 0 for judged in qrels.values() for g in judged.values()):
        raise SourceError(f"{folder / 'qrels.tsv'}: no relevant document for any query")
    return JudgedSet(folder.resolve().name, docs, queries, qrels)


@contextmanager
def judged_home(
    settings: Settings, judged: JudgedSet, semantic: bool = True, keep: Path | None = None
) -> Iterator[tuple[Settings, Store]]:
    """A throw-away home holding the judged documents, indexed (and embedded with ``semantic``).

    Everything but the model settings comes from the defaults: a PostgreSQL ``database_url`` or
    the user's mail settings must not follow the documents into the temporary home.  ``keep``:
    a folder to use and keep instead (the bench's, so its vectors are made once; importing the
    same documents again changes nothing and only missing vectors are computed).
    """
    from paperboy.services.indexing import index_once
    from paperboy.sources import jsonl

    folder = keep if keep is not None else Path(tempfile.mkdtemp(prefix="paperboy-eval-"))
    folder.mkdir(parents=True, exist_ok=True)
    home = replace(
        Settings(),
        home=folder,
        embedding_model=settings.embedding_model,
        embedding_quantized=settings.embedding_quantized,
        embedding_max_tokens=settings.embedding_max_tokens,
        models_dir=str(settings.models_path),
    )
    try:
        with Store.open(home) as store:
            summary = store.ingest("jsonl", str(judged.docs), jsonl.read(judged.docs))
            if summary.new + summary.unchanged + summary.updated == 0:
                raise SourceError(f"{judged.docs}: no document could be imported ({summary.rejected} rejected)")
            index_once(home, store, semantic=semantic)
            yield home, store
    finally:
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def runs(
    service: SearchService, queries: Sequence[tuple[str, str]], modes: Sequence[str] = MODES, depth: int = DEPTH
) -> dict[str, dict[str, list[str]]]:
    """Per mode, each query's ranked paper ids (``depth`` of them), as ``paperboy search`` finds them."""
    return {
        mode: {qid: [r.id for r in service.search(text, mode=mode, limit=depth).results] for qid, text in queries}
        for mode in modes
    }


def evaluate_judged(
    settings: Settings,
    directory: str | Path,
    modes: Sequence[str] = MODES,
    extra: Callable[[SearchService, JudgedSet, dict[str, dict[str, list[str]]]], dict[str, dict[str, list[str]]]]
    | None = None,
    keep: Path | None = None,
) -> tuple[JudgedSet, dict[str, Scores]]:
    """nDCG@10, MAP@100 and Recall@100 of each mode on a judged directory (graded relevance).

    ``extra(service, judged, runs)`` may add more runs by name (the bench's baselines), scored alike;
    ``keep``: see ``judged_home``.
    """
    judged = load_judged(directory)
    semantic = any(mode != "keyword" for mode in modes)
    with judged_home(settings, judged, semantic=semantic, keep=keep) as (home, store):
        service = SearchService.open(home, store, semantic=semantic)
        found: dict[str, Any] = runs(service, judged.queries, modes)
        if extra is not None:
            found |= extra(service, judged, found)
    return judged, {name: evaluate(run, judged.qrels) for name, run in found.items()}
