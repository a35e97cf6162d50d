"""Build the author interaction set ``paperboy eval-recs`` is measured on (issue 5).

Every author (``paper_authors.author_key``, the normalized name) with at least ``--min-papers``
(5) papers in the store is a user whose library is their papers: real, topically coherent
libraries with several interests each, and no privacy question.  Lines are ``user_id<TAB>paper_id``
with the author key's spaces turned into underscores.  ``--users N`` keeps a seeded sample of N
authors (the committed ``bench/data/author-interactions-500.tsv`` is ``--users 500 --seed 0`` over
the 118k corpus); ``--full FILE`` also writes every author.

The store is opened read-only (no migration, nothing written), so it may be a home another job is
still embedding:

    PYTHONPATH=. python -m bench.make_author_interactions --home /tmp/pbfull \\
        --out bench/data/author-interactions-500.tsv --users 500 --seed 0
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from paperboy.store.db import make_engine
from paperboy.store.library import Library

DATA = Path(__file__).resolve().parent / "data"
SAMPLE = DATA / "author-interactions-500.tsv"


def author_libraries(home: Path, min_papers: int = 5) -> dict[str, list[str]]:
    """``{user id: paper ids}`` for every author with at least ``min_papers`` papers, read-only."""
    engine = make_engine(f"sqlite:///file:{Path(home) / 'paperboy.db'}?mode=ro&uri=true")
    try:
        found = Library(engine).author_libraries(min_papers)
    finally:
        engine.dispose()
    return {key.replace(" ", "_"): papers for key, papers in found.items()}


def write(path: Path, users: dict[str, list[str]], note: str) -> int:
    """Write ``user<TAB>paper`` lines (users in name order); returns the number of lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"# {note}", "# user_id\tpaper_id"]
    for user in sorted(users):
        lines.extend(f"{user}\t{pid}" for pid in users[user])
    path.write_text("\n".join(lines) + "\n")
    return len(lines) - 2


def sample(users: dict[str, list[str]], n: int, seed: int) -> dict[str, list[str]]:
    """A seeded sample of ``n`` users (all of them when there are fewer)."""
    if n >= len(users):
        return users
    chosen = random.Random(seed).sample(sorted(users), n)
    return {u: users[u] for u in chosen}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, required=True, help="paperboy home whose store to read")
    parser.add_argument("--out", type=Path, default=SAMPLE, help="where the sample goes")
    parser.add_argument("--users", type=int, default=500, help="authors in the sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-papers", type=int, default=5)
    parser.add_argument("--full", type=Path, help="also write every author here")
    args = parser.parse_args()
    users = author_libraries(args.home, args.min_papers)
    papers = sum(len(v) for v in users.values())
    print(f"{len(users):,} authors with >= {args.min_papers} papers ({papers:,} author-paper pairs)")
    if args.full:
        write(args.full, users, f"every author with >= {args.min_papers} papers in {args.home}")
    chosen = sample(users, args.users, args.seed)
    lines = write(
        args.out,
        chosen,
        f"{len(chosen)} of the {len(users):,} authors with >= {args.min_papers} papers, seed {args.seed} "
        "(bench/make_author_interactions.py)",
    )
    print(f"wrote {lines:,} interactions of {len(chosen)} users to {args.out}")


if __name__ == "__main__":
    main()
