"""author identity, affiliations, DOIs as given, Hugging Face fields

Names are normalized once, on the way in (TeX accents to Unicode, affiliations in parentheses
stored apart); this migration does the same to the names already stored and recomputes their
author keys, so one person has one author page whatever the source.  Changed papers get a new
change counter (the keyword index re-reads their authors); their vectors keep theirs, since the
embedded text (title and abstract) did not change.  DOIs now keep their case and match in lower
case; every DOI of a paper is kept in ``dois``.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 18:00:00
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

_papers = sa.table(
    "papers",
    sa.column("seq", sa.Integer),
    sa.column("id", sa.String),
    sa.column("authors", sa.JSON),
    sa.column("affiliations", sa.JSON),
    sa.column("doi", sa.String),
    sa.column("dois", sa.JSON),
    sa.column("last_changed", sa.String),
)
_links = sa.table(
    "paper_authors", sa.column("author_key", sa.Text), sa.column("paper_id", sa.String), sa.column("position", sa.Integer)
)
_vectors = sa.table("paper_vectors", sa.column("paper_id", sa.String), sa.column("seq", sa.Integer))
_counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.Integer))
_CHUNK = 5000


def _old_key(name: str) -> str:
    """The author key as revisions before this one computed it (frozen here: the links it made are
    deleted by their exact primary key, since the table is clustered by key, not by paper)."""
    text = name.strip()
    if text.count(",") == 1:
        last, first = (part.strip() for part in text.split(","))
        if first and last and not first.lower().startswith(("jr", "sr", "ii", "iii")):
            text = f"{first} {last}"
    if not text.isascii():
        spelled = []
        for char in text:
            label = unicodedata.name(char, "") if "\u0370" <= char <= "\u03ff" else ""
            spelled.append(" " + label.rsplit(" ", 1)[-1].lower() + " " if label.startswith("GREEK") and "LETTER" in label else char)
        text = unicodedata.normalize("NFKD", "".join(spelled))
        text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold(), flags=re.UNICODE).split())


def upgrade() -> None:
    op.add_column("papers", sa.Column("affiliations", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("papers", sa.Column("dois", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("papers", sa.Column("project_url", sa.Text(), nullable=True))
    op.add_column("papers", sa.Column("hf", sa.JSON(), nullable=True))
    op.drop_index("ix_papers_doi", table_name="papers")
    op.create_index("ix_papers_doi_key", "papers", [sa.text("lower(doi)")])
    op.bulk_insert(_counters, [{"name": "activity_at", "value": 0}])
    _renormalize(op.get_bind())


def _renormalize(conn: sa.Connection) -> None:
    """Clean every stored author list and keep every DOI, a page of papers at a time (memory stays flat)."""
    from paperboy.sources.names import clean_authors
    from paperboy.sources.normalize import author_key

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    last_seq = conn.execute(sa.select(sa.func.max(_papers.c.seq))).scalar() or 0
    next_seq, after = last_seq + 1, 0
    while True:
        rows = conn.execute(
            sa.select(_papers.c.id, _papers.c.seq, _papers.c.authors, _papers.c.doi)
            .where(_papers.c.seq > after, _papers.c.seq <= last_seq)
            .order_by(_papers.c.seq)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        after = rows[-1][1]
        dois = [{"p": paper_id, "d": [doi]} for paper_id, _, _, doi in rows if doi]
        if dois:
            conn.execute(
                _papers.update().where(_papers.c.id == sa.bindparam("p")).values(dois=sa.bindparam("d")), dois
            )
        updates, vectors, links, old_links = [], [], [], []
        for paper_id, old_seq, authors, _ in rows:
            if not any("\\" in a or "{" in a or a.endswith(")") for a in authors):
                continue
            names, affiliations = clean_authors(authors)
            if names == authors and not affiliations:
                continue
            old_links.extend({"k": _old_key(n), "p": paper_id, "i": i} for i, n in enumerate(authors))
            updates.append({"p": paper_id, "s": next_seq, "a": names, "f": affiliations, "t": now})
            vectors.append({"p": paper_id, "old": old_seq, "s": next_seq})
            links.extend({"author_key": author_key(n), "paper_id": paper_id, "position": i} for i, n in enumerate(names))
            next_seq += 1
        if not updates:
            continue
        conn.execute(
            _links.delete().where(
                _links.c.author_key == sa.bindparam("k"),
                _links.c.paper_id == sa.bindparam("p"),
                _links.c.position == sa.bindparam("i"),
            ),
            old_links,
        )
        conn.execute(
            _papers.update()
            .where(_papers.c.id == sa.bindparam("p"))
            .values(
                seq=sa.bindparam("s"),
                authors=sa.bindparam("a"),
                affiliations=sa.bindparam("f"),
                last_changed=sa.bindparam("t"),
            ),
            updates,
        )
        conn.execute(
            _vectors.update()
            .where(_vectors.c.paper_id == sa.bindparam("p"), _vectors.c.seq == sa.bindparam("old"))
            .values(seq=sa.bindparam("s")),
            vectors,
        )
        if links:
            conn.execute(_links.insert(), links)


def downgrade() -> None:
    op.execute(_counters.delete().where(_counters.c.name == "activity_at"))
    op.drop_index("ix_papers_doi_key", table_name="papers")
    op.create_index("ix_papers_doi", "papers", ["doi"])
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("hf")
        batch.drop_column("project_url")
        batch.drop_column("dois")
        batch.drop_column("affiliations")
