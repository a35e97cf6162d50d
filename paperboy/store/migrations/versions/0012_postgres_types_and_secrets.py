"""PostgreSQL as a first-class backend: text for every bounded string, 64-bit row ids, and the
installation's secrets in the store (shared by every web replica)

SQLite never enforces a VARCHAR length and its INTEGER is 64-bit already, so on SQLite only the
``secrets`` table is added (no table is copied).  On PostgreSQL every ``character varying`` column
becomes ``text`` (a length there refused whole import batches: 230 real category strings are
33-62 characters long) and every row id, and every column holding one, becomes ``bigint`` with
its sequence (a user may name any id up to 2^63 - 1 in a URL); the link tables (a paper's
authors, categories and sources) lose their foreign key, as good as absent on SQLite.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

#: (table, column) of every row id and every column holding one, as of this revision.
IDS = [
    ("ingest_runs", "id"), ("rejections", "id"), ("rejections", "run_id"), ("users", "id"),
    ("sessions", "user_id"), ("api_tokens", "id"), ("api_tokens", "user_id"), ("password_resets", "user_id"),
    ("email_confirmations", "user_id"), ("attempts", "id"), ("submissions", "id"), ("submissions", "user_id"),
    ("votes", "user_id"), ("paper_stats", "submitted_by"), ("comments", "id"), ("comments", "user_id"),
    ("subscribers", "id"), ("digest_sends", "subscriber_id"), ("digest_papers", "subscriber_id"),
    ("collections", "id"), ("collections", "user_id"), ("collections", "group_id"),
    ("collection_items", "collection_id"), ("collection_items", "added_by"), ("paper_feedback", "user_id"),
    ("feed_tokens", "user_id"), ("counters", "value"), ("follows", "user_id"), ("groups", "id"),
    ("groups", "created_by"), ("group_members", "group_id"), ("group_members", "user_id"),
    ("group_invites", "group_id"), ("group_invites", "created_by"), ("reading_queue", "group_id"),
    ("reading_queue", "added_by"), ("notes", "user_id"), ("webhooks", "id"), ("webhooks", "user_id"),
    ("webhooks", "group_id"), ("webhooks", "created_by"), ("webhook_sends", "webhook_id"),
    ("webhook_papers", "webhook_id"), ("topic_builds", "id"), ("topics", "id"), ("topics", "build_id"),
    ("paper_topics", "topic_id"),
]  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=64).with_variant(sa.Text(), "postgresql"), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=20).with_variant(sa.Text(), "postgresql"), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    inspector = sa.inspect(conn)
    for table in inspector.get_table_names():
        for column in inspector.get_columns(table):
            if isinstance(column["type"], sa.VARCHAR) and not isinstance(column["type"], sa.Text):
                op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column["name"]}" TYPE text')
    # the link tables' foreign keys are never checked (SQLite runs with them off): schema.py
    for table in ("paper_authors", "paper_categories", "paper_sources"):
        op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "{table}_paper_id_fkey"')
    for table, column in IDS:
        op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE bigint')
        sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table, "c": column}).scalar()
        if sequence:
            op.execute(f"ALTER SEQUENCE {sequence} AS bigint")


def downgrade() -> None:
    # Widened types are kept: narrowing them again could fail on the data they now hold.
    op.drop_table("secrets")
