"""a lab's layer: follows, groups (members, invitations, shared collections, reading queue), notes,
chat webhooks and their send log

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "follows",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "kind", "target"),
    )
    op.create_index("ix_follows_target", "follows", ["kind", "target"])
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("joined_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    op.create_index("ix_group_members_user", "group_members", ["user_id"])
    op.create_table(
        "group_invites",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.String(length=20), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_group_invites_group", "group_invites", ["group_id"])
    op.create_table(
        "reading_queue",
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("paper_id", sa.String(length=64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("added_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("added_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("group_id", "day", "paper_id"),
    )
    op.create_table(
        "notes",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("paper_id", sa.String(length=64), sa.ForeignKey("papers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "paper_id"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("group_id", sa.Integer(), sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.String(length=20), nullable=False),
        sa.Column("last_sent_at", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_webhooks_user", "webhooks", ["user_id"])
    op.create_index("ix_webhooks_group", "webhooks", ["group_id"])
    op.create_table(
        "webhook_sends",
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=False),
        sa.Column("lease_until", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("claimed_at", sa.String(length=20), nullable=False),
        sa.Column("sent_at", sa.String(length=20), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("webhook_id", "period"),
    )
    op.create_table(
        "webhook_papers",
        sa.Column("webhook_id", sa.Integer(), sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        sa.Column("paper_id", sa.String(length=64), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("webhook_id", "paper_id"),
        sqlite_with_rowid=False,
    )
    # a group's shared collections are collections without an owning user
    with op.batch_alter_table("collections") as batch:
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_collections_group", "groups", ["group_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ux_collections_group_name", ["group_id", "name_key"], unique=True)
    # a plain ADD COLUMN: a batch copy would reflect papers too (whose expression index SQLAlchemy
    # cannot reflect, and warns about); SQLite runs with foreign keys off anyway
    op.add_column("collection_items", sa.Column("added_by", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("collection_items") as batch:
        batch.drop_column("added_by")
    op.execute("DELETE FROM collection_items WHERE collection_id IN (SELECT id FROM collections WHERE group_id IS NOT NULL)")
    op.execute("DELETE FROM collections WHERE group_id IS NOT NULL")
    with op.batch_alter_table("collections") as batch:
        batch.drop_index("ux_collections_group_name")
        batch.drop_constraint("fk_collections_group", type_="foreignkey")
        batch.drop_column("group_id")
        batch.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
    for name in ("webhook_papers", "webhook_sends", "webhooks", "notes", "reading_queue", "group_invites",
                 "group_members", "groups", "follows"):
        op.drop_table(name)
