"""Write intents in the audit log: a `state` on every audit record, and a partial index on the pending ones.

A write to Jira is committed as `pending` before it is sent and completed in place after (`policyarc.audit`), so
a gateway killed in between leaves a record of a write that may have reached Jira. Existing rows were all written
after their call ended: they are `completed`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

PENDING = sa.text("state = 'pending'")


def upgrade() -> None:
    # NOT NULL with a constant default: both SQLite and PostgreSQL add it without rewriting the existing rows.
    op.add_column("audit_records", sa.Column("state", sa.String(16), nullable=False, server_default="completed"))
    op.create_index(
        "ix_audit_records_pending_ts", "audit_records", ["ts"], sqlite_where=PENDING, postgresql_where=PENDING
    )


def downgrade() -> None:
    op.drop_index("ix_audit_records_pending_ts", table_name="audit_records")
    with op.batch_alter_table("audit_records") as batch:  # SQLite: a rebuild; PostgreSQL: a plain DROP COLUMN
        batch.drop_column("state")
