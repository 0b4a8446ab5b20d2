"""oauth_clients.last_used_at: when a client last had a code or token issued, so unused clients can expire.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    # A client that already holds tokens is in use: date it from its newest token, so the janitor's "never used
    # within a day" rule does not delete it (and its tokens) on the first round after the upgrade.
    op.execute(
        "UPDATE oauth_clients SET last_used_at = ("
        "SELECT MAX(refresh_tokens.created_at) FROM refresh_tokens"
        " WHERE refresh_tokens.client_id = oauth_clients.client_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("last_used_at")
