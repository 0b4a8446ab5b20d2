"""Console admins: accounts, one-time set-up links, sessions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(32)
HASH = sa.String(64)


def _admin_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["admin_id"], ["admin_users.id"], name=f"fk_{table}_admin_id_admin_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("last_sign_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_users"),
        sa.UniqueConstraint("email", name="uq_admin_users_email"),
    )
    op.create_table(
        "admin_setup_links",
        sa.Column("token_hash", HASH, nullable=False),
        sa.Column("admin_id", ID, nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_admin_setup_links"),
        _admin_fk("admin_setup_links"),
    )
    op.create_index("ix_admin_setup_links_admin_id", "admin_setup_links", ["admin_id"])
    op.create_table(
        "admin_sessions",
        sa.Column("id_hash", HASH, nullable=False),
        sa.Column("admin_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_admin_sessions"),
        _admin_fk("admin_sessions"),
    )
    op.create_index("ix_admin_sessions_admin_id", "admin_sessions", ["admin_id"])


def downgrade() -> None:
    op.drop_table("admin_sessions")
    op.drop_table("admin_setup_links")
    op.drop_table("admin_users")
