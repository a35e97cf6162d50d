"""``paperboy recommend`` and ``paperboy eval-recs``: recommendations from the command line, and their measurement."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table
from typer.core import TyperCommand

from paperboy.cli.common import console, open_store
from paperboy.services.recommend import BadRequest, Recommender
from paperboy.services.taste import DEFAULT_METHOD, METHODS

#: Options that take several ids after one flag (``--positive A B C``), as well as repeated.
_LISTS = ("--positive", "--negative", "-p", "-n")


class IdListCommand(TyperCommand):
    """Lets ``--positive A B C`` mean ``--positive A --positive B --positive C`` (and commas separate too)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        out: list[str] = []
        flag: str | None = None
        for arg in args:
            if arg.startswith("-"):
                name, eq, value = arg.partition("=")
                flag = name if name in _LISTS else None
                if flag and eq:
                    out += [f"{flag}={v}" for v in value.split(",") if v]
                    flag = name
                    continue
                out.append(arg)
            elif flag is not None:
                values = [v for v in arg.split(",") if v]
                if out and out[-1] == flag and values:  # the first id after the flag
                    out.append(values[0])
                    values = values[1:]
                for value in values:
                    out += [flag, value]
            else:
                out.append(arg)
        return super().parse_args(ctx, out)


def _fail(text: str, code: int = 1) -> None:
    typer.echo(f"error: {text}", err=True)
    raise typer.Exit(code)


def recommend_command(
    ctx: typer.Context,
    positive: Annotated[
        list[str] | None,
        typer.Option("--positive", "-p", help="Papers you like (ids as stored): several after one flag."),
    ] = None,
    negative: Annotated[list[str] | None, typer.Option("--negative", "-n", help="Papers you do not want.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", help="How many papers (at most 500).")] = 20,
    since: Annotated[
        str | None, typer.Option(help="Only papers announced on or after YYYY-MM-DD ('all': every paper).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only papers announced on or before YYYY-MM-DD.")] = None,
    method: Annotated[str, typer.Option(help=f"One of {', '.join(METHODS)}.")] = DEFAULT_METHOD,
    as_json: Annotated[bool, typer.Option("--json", help='{"results": [{"id", "score", …}]}.')] = False,
) -> None:
    """Recommend recent papers for a few you like (by default the last 7 days of announcements)."""
    positives = [p for p in positive or [] if p.strip()]
    if not positives:
        _fail("give at least one --positive paper id", 2)
    with open_store(ctx) as store:
        try:
            found = Recommender(store, store.settings, method=method).recommend(
                positives, negative or [], limit=limit, since=since, until=until
            )
        except BadRequest as exc:
            _fail(str(exc), 2)
        unknown = set(found.unknown)
        if not found.positives:
            _fail(f"none of the positive papers is in the store: {', '.join(sorted(unknown))}")
        titles = {p["id"]: p["title"] for p in store.get_papers([r.id for r in found.results])}
    for pid in found.unknown:
        typer.echo(f"note: no paper {pid!r} in the store (ignored)", err=True)
    if as_json:
        rows = [
            {"id": r.id, "score": r.score, "title": titles.get(r.id, ""), "why": r.why.as_json()} for r in found.results
        ]
        typer.echo(orjson.dumps({"results": rows}).decode())
        return
    span = f"{found.first} … {found.last}" if found.first else "all papers"
    table = Table(
        title=f"for {len(found.positives)} paper(s), among {found.candidates:,} ({span}), by {found.method} "
        f"on {found.features}",
        title_justify="left",
    )
    for name in ("#", "id", "title", "score", "why"):
        table.add_column(name, overflow="fold")
    for i, r in enumerate(found.results, 1):
        table.add_row(str(i), r.id, titles.get(r.id, ""), f"{r.score:.3f}", r.why.text())
    console.print(table)


def eval_recs_command(
    ctx: typer.Context,
    interactions: Annotated[Path, typer.Option("--interactions", help="Lines 'user_id paper_id' (TSV).")],
    methods: Annotated[
        list[str] | None,
        typer.Option("--method", "-m", help=f"Methods to compare (default: all of {', '.join(METHODS)})."),
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Cut-off of Recall@k and nDCG@k.")] = 50,
    seed: Annotated[int, typer.Option(help="Seed of the 80/20 splits.")] = 0,
    users: Annotated[
        int | None, typer.Option("--users", help="Evaluate only this many users (a seeded sample).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Recall@50 and nDCG@50 of each recommender: each user's papers split 80/20, ranked among all papers."""
    import random

    from paperboy.services.recs_eval import evaluate, load_interactions, split_users, store_features

    methods = methods or list(METHODS)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        _fail(f"unknown method {bad[0]!r}: use one of {', '.join(METHODS)}", 2)
    try:
        asked = load_interactions(interactions)
    except BadRequest as exc:
        _fail(str(exc), 2)
    if users is not None and users < len(asked):
        chosen = random.Random(seed).sample(sorted(asked), users)
        asked = {u: asked[u] for u in chosen}
    with open_store(ctx) as store:
        model = Recommender(store, store.settings).model()
        with console.status("reading the store's papers…") as status:
            features = store_features(store, model, lambda text: status.update(text), sanity="svm" in methods)
        index = {pid: i for i, pid in enumerate(features.ids)}
        splits, unknown = split_users(asked, index, seed)
        if not splits:
            _fail("no user has two or more papers in the store")
        with console.status("") as status:
            scores = evaluate(
                features,
                splits,
                methods,
                k,
                progress=lambda m, n: status.update(f"{m}: {n}/{len(splits)} users"),
            )
    if as_json:
        out = {
            "users": len(splits),
            "unknownInteractions": unknown,
            "k": k,
            "seed": seed,
            "papers": len(features),
            "vectors": int(features.has_dense.sum()) if features.has_dense is not None else 0,
            "methods": {s.method: {"recall": s.recall, "ndcg": s.ndcg, "msPerUser": s.ms_per_user} for s in scores},
        }
        typer.echo(orjson.dumps(out).decode())
        return
    vectors = int(features.has_dense.sum()) if features.has_dense is not None else 0
    table = Table(
        title=f"{len(splits)} users, 80/20 split (seed {seed}), ranked among {len(features):,} papers "
        f"({vectors:,} with vectors); {unknown} interactions not in the store",
        title_justify="left",
    )
    for name in ("method", f"Recall@{k}", f"nDCG@{k}", "ms/user"):
        table.add_column(name, justify="right")
    for s in scores:
        table.add_row(s.method, f"{s.recall:.4f}", f"{s.ndcg:.4f}", f"{s.ms_per_user:.0f}")
    console.print(table)
