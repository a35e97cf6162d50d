"""``paperboy index``, ``search``, ``similar`` and ``eval``: the search service from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from paperboy.cli.common import console, open_store, settings_from
from paperboy.services.evaluation import Scores, evaluate, load_qrels, load_queries
from paperboy.services.search import MODES, Result, SearchService

ModeOpt = Annotated[str, typer.Option("--mode", "-m", help="hybrid, keyword or semantic.")]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", help="How many results.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _err(text: str) -> None:
    typer.echo(text, err=True)


class _Bars:
    """``index_once``'s progress reports drawn as Rich progress bars, one per phase."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.state: dict[str, Any] = {}
        self.tasks: dict[str, Any] = {}

    def __call__(self, force: bool = False, **values: Any) -> None:
        self.state.update(values)
        s, phase = self.state, values.get("phase")
        if phase == "embedding":
            self._task("embed", f"embedding ({s['model']})", s["papers"])
        elif phase == "vector index":
            self._task("vectors", "vector index", s.get("vectors"))
        if "keyword" not in self.tasks and "keyword_docs" in s:
            self._task("keyword", "keyword index", s.get("papers"))
        self._set("keyword", s.get("keyword_docs"), s.get("papers"))
        self._set("embed", s.get("vectors"), s.get("papers"))
        self._set("vectors", s.get("vector_docs"), s.get("vectors"))

    def _task(self, key: str, title: str, total: int | None) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task(title, total=total or None)

    def _set(self, key: str, done: int | None, total: int | None) -> None:
        if key in self.tasks and done is not None:
            self.bar.update(self.tasks[key], completed=done, total=max(total or 0, done) or None)


def index_command(
    ctx: typer.Context,
    embed: Annotated[bool, typer.Option("--embed/--no-embed", help="Also compute missing vectors.")] = True,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, help="Embedding processes on this machine, one thread each (one per core)."
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            help="Embed on a Dask cluster: its scheduler (tcp://host:8786), or local:N to start N local workers "
            "(needs the `cluster` extra).",
        ),
    ] = None,
) -> None:
    """Bring the keyword and vector indices level with the store (embedding what is new); resumable.

    When another replica's indexer holds the indexer lease of a shared database, this only brings
    this home's indices level with the store (the holder embeds).
    """
    from paperboy.services.indexing import HomeLock, index_once

    with open_store(ctx) as store:
        settings = store.settings
        assert settings is not None
        lock = HomeLock(settings)
        if not lock.acquire():
            _err(
                f"error: {lock.holder()} is indexing {settings.home} already; it embeds new papers itself "
                "(stop it first to run `paperboy index` here)"
            )
            raise typer.Exit(1)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with lock, Progress(*columns, console=console) as bar:
            held = index_once(settings, store, semantic=embed, report=_Bars(bar), workers=workers, cluster=cluster)
    if embed:
        console.print(f"indexed {held['keyword_docs']:,} papers, {held['vector_docs']:,} vectors")
        if held["role"] == "following":
            console.print(
                "another indexer holds the indexer lease of this store and embeds its papers; "
                "this home's indices were brought level with what it has stored"
            )
    else:
        console.print(f"indexed {held['keyword_docs']:,} papers")


def _has_vectors(store: Any) -> bool:
    """Whether the store holds any vector of the configured model (known without loading it)."""
    from paperboy.indices.embedding import vector_model_name

    return store.vector_counts(vector_model_name(store.settings))[0] > 0


def _note_coverage(service: SearchService, store: Any) -> None:
    """Say so when meaning-based results can come only from part of the store (not all embedded yet)."""
    embedded, total = (len(service.vectors) if service.vectors is not None else 0), store.count_papers()
    if 0 < embedded < total:
        _err(
            f"note: meaning-based results come from the {embedded:,} of {total:,} papers embedded so far; "
            "`paperboy index` embeds the rest (or `paperboy serve` does it in the background)"
        )


def _row(r: Result) -> dict[str, Any]:
    return {
        "id": r.id,
        "score": r.score,
        "title": r.paper["title"],
        "keyword_rank": r.keyword_rank,
        "semantic_score": r.semantic_score,
    }


def _print(results: list[Result], title: str) -> None:
    table = Table(title=title, title_justify="left")
    for name in ("#", "id", "title", "score", "why"):
        table.add_column(name, overflow="fold")
    for i, r in enumerate(results, 1):
        why = []
        if r.keyword_rank is not None:
            why.append(f"BM25 #{r.keyword_rank}")
        if r.semantic_score is not None:
            why.append(f"cos {r.semantic_score:.2f}")
        table.add_row(str(i), r.id, r.paper["title"], f"{r.score:.4f}", ", ".join(why))
    console.print(table)


def search_command(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Argument(help='Search text, with author:, cat:, since:, until:, "phrases".')
    ] = None,
    mode: ModeOpt = "hybrid",
    limit: LimitOpt = 10,
    as_json: JsonOpt = False,
    batch: Annotated[
        Path | None, typer.Option("--batch", help='JSON lines {"query_id", "text"}: one result line per query.')
    ] = None,
) -> None:
    """Search the store (keyword, semantic or hybrid)."""
    if mode not in MODES:
        raise typer.BadParameter(f"mode must be one of {', '.join(MODES)}")
    with open_store(ctx) as store:
        # No vectors yet: do not load (or export) the model only to answer by keywords.
        semantic = mode != "keyword" and _has_vectors(store)
        service = SearchService.open(store.settings, store, semantic=semantic)  # type: ignore[arg-type]
        if batch is not None:
            out = sys.stdout.buffer
            for qid, text in load_queries(batch):
                page = service.search(text, mode=mode, limit=limit)
                results = [{"id": r.id, "score": r.score} for r in page.results]
                out.write(orjson.dumps({"query_id": qid, "results": results}) + b"\n")
            return
        page = service.search(query or "", mode=mode, limit=limit)
        if page.mode != "keyword":
            _note_coverage(service, store)
    for warning in page.warnings:
        _err(f"note: {warning}")
    if as_json:
        typer.echo(orjson.dumps({"query": query, "mode": page.mode, "results": [_row(r) for r in page.results]}))
    else:
        _print(page.results, f"{page.mode} search: {query}")


def similar_command(
    ctx: typer.Context,
    paper_id: Annotated[str, typer.Argument(help="A paper id as stored (arXiv id without version).")],
    limit: LimitOpt = 10,
    since: Annotated[str | None, typer.Option(help="Only papers announced on or after YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Papers most like one paper (its nearest neighbours), excluding itself and its duplicates."""
    with open_store(ctx) as store:
        if store.get_paper(paper_id) is None:
            _err(f"error: no paper {paper_id!r} in the store")
            raise typer.Exit(1)
        service = SearchService.open(store.settings, store)  # type: ignore[arg-type]
        if not service.semantic_ready:
            _err("note: no vectors yet: run `paperboy index` first")
        else:
            _note_coverage(service, store)
        results = service.similar(paper_id, limit=limit, since=since)
    if as_json:
        typer.echo(orjson.dumps({"id": paper_id, "results": [_row(r) for r in results]}))
    else:
        _print(results, f"papers like {paper_id}")


def _score_table(title: str, scores: dict[str, Scores]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("mode", "nDCG@10", "MAP@100", "Recall@100"):
        table.add_column(name, justify="right")
    for mode, s in scores.items():
        table.add_row(mode, f"{s.ndcg10:.4f}", f"{s.map:.4f}", f"{s.recall100:.4f}")
    return table


def eval_command(
    ctx: typer.Context,
    judged: Annotated[
        Path | None,
        typer.Option(
            "--judged",
            help="A judged directory (docs.jsonl[.gz], queries.jsonl, qrels.tsv): imported into a throw-away "
            "home, indexed and measured there; the store is not touched.",
        ),
    ] = None,
    queries: Annotated[
        Path | None, typer.Option("--queries", help='JSON lines {"query_id", "text"}, against the store.')
    ] = None,
    qrels: Annotated[Path | None, typer.Option("--qrels", help="Lines: query_id doc_id relevance.")] = None,
    modes: Annotated[list[str] | None, typer.Option("--mode", help="Modes to compare (default: all three).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """nDCG@10, MAP@100 and Recall@100 (graded) of each search mode over judged queries."""
    from paperboy.services.judged import evaluate_judged, runs
    from paperboy.sources.record import SourceError

    modes = modes or list(MODES)
    for mode in modes:
        if mode not in MODES:
            raise typer.BadParameter(f"mode must be one of {', '.join(MODES)}", param_hint="--mode")
    if (judged is None) == (queries is None and qrels is None) or (judged is None and None in (queries, qrels)):
        raise typer.BadParameter("give --judged DIR, or both --queries and --qrels")
    try:
        if judged is not None:
            console.print(f"importing and indexing {judged} in a throw-away home…", style="dim")
            found, scores = evaluate_judged(settings_from(ctx), judged, modes)
            asked, title = len(found.queries), f"{found.name}: {len(found.queries)} queries"
        else:
            assert queries is not None and qrels is not None
            judgements, questions = load_qrels(qrels), load_queries(queries)
            with open_store(ctx) as store:
                service = SearchService.open(store.settings, store)  # type: ignore[arg-type]
                scores = {mode: evaluate(run, judgements) for mode, run in runs(service, questions, modes).items()}
            asked, title = len(questions), f"{len(questions)} queries"
    except SourceError as exc:
        _err(f"error: {exc}")
        raise typer.Exit(1) from None
    judged_count = next(iter(scores.values())).queries
    if as_json:
        table = {m: {"ndcg10": v.ndcg10, "map": v.map, "recall100": v.recall100} for m, v in scores.items()}
        typer.echo(orjson.dumps({"queries": asked, "judged": judged_count, "scores": table}))
        return
    console.print(_score_table(f"{title}, {judged_count} judged", scores))
