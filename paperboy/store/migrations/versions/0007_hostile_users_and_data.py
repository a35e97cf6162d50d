"""hostile users and data: attempts, submissions, email confirmation, run owners, the admin claim

Revision ID: 0007
Revises: 0008 (0007 was written beside 0008 on another branch; chained after it so stores already
at 0008 still get it)
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index("ix_attempts_key", ["key", "created_at"], unique=False)

    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.String(length=20), nullable=True),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.create_index("ix_submissions_user", ["user_id", "created_at"], unique=False)
        batch_op.create_index("ix_submissions_paper", ["paper_id", "state"], unique=False)

    op.create_table(
        "email_confirmations",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.String(length=20), nullable=False),
        sa.Column("used_at", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )

    # Existing addresses count as confirmed: they were the accounts' addresses until now.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_pending", sa.String(length=255), nullable=True))
        batch_op.alter_column("email", existing_type=sa.String(length=255), nullable=True)

    with op.batch_alter_table("ingest_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("heartbeat_at", sa.String(length=20), nullable=True))

    # The first account's admin role is claimed by inserting this row (a primary key: one winner
    # however registrations race); a store that already has users has had its first one.
    conn = op.get_bind()
    first = conn.execute(sa.text("SELECT min(id) FROM users")).scalar()
    if first is not None:
        conn.execute(sa.text("INSERT INTO counters (name, value) VALUES ('first_user', :id)"), {"id": first})


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM counters WHERE name = 'first_user'"))
    with op.batch_alter_table("ingest_runs", schema=None) as batch_op:
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("owner")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column("email_pending")
    op.drop_table("email_confirmations")
    with op.batch_alter_table("submissions", schema=None) as batch_op:
        batch_op.drop_index("ix_submissions_paper")
        batch_op.drop_index("ix_submissions_user")
    op.drop_table("submissions")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_key")
    op.drop_table("attempts")
