"""vector change numbers (catch-up that cannot miss out-of-order commits) and leases (one indexer)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-10 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


#: As ``schema.Chars`` and ``schema.Id`` (0012): text and 64-bit integers on PostgreSQL.
def _chars(length: int) -> sa.types.TypeEngine:
    return sa.String(length=length).with_variant(sa.Text(), "postgresql")


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ALTER TABLE … ADD COLUMN and index statements: no table copy on SQLite (a 118k home's
    # vectors are 180 MB), the same statements on PostgreSQL.
    op.add_column("paper_vectors", sa.Column("change", _ID, server_default="0", nullable=False))
    op.drop_index("ix_paper_vectors_model_seq", table_name="paper_vectors")
    # Existing vectors are numbered by the seq they were made from; the counter goes on from there.
    # (Vector index files of the old format are rebuilt on open, so nothing depends on these numbers.)
    vectors = sa.table("paper_vectors", sa.column("seq", sa.Integer()), sa.column("change", sa.Integer()))
    op.execute(vectors.update().values(change=vectors.c.seq))
    conn = op.get_bind()
    top = conn.execute(sa.select(sa.func.max(vectors.c.change))).scalar() or 0
    counters = sa.table("counters", sa.column("name", sa.String()), sa.column("value", sa.Integer()))
    op.bulk_insert(counters, [{"name": "vectors", "value": int(top)}])
    op.create_index("ix_paper_vectors_model_change", "paper_vectors", ["model", "change"], unique=False)
    op.create_table(
        "leases",
        sa.Column("name", _chars(32), nullable=False),
        sa.Column("owner", _chars(255), nullable=False),
        sa.Column("acquired_at", _chars(20), nullable=False),
        sa.Column("heartbeat_at", _chars(20), nullable=False),
        sa.Column("expires_at", _chars(20), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.execute("DELETE FROM counters WHERE name = 'vectors'")
    with op.batch_alter_table("paper_vectors", schema=None) as batch_op:
        batch_op.drop_index("ix_paper_vectors_model_change")
        batch_op.create_index("ix_paper_vectors_model_seq", ["model", "seq"], unique=False)
        batch_op.drop_column("change")
