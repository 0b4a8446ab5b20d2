"""Upstream links belong to an identity provider (so to one environment's Atlassian app), not just to a kind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Before this, `upstream_links` was unique per (user, IdP kind): with two environments on different Atlassian apps a
user had one link, and a refresh could go to the wrong app. Now the key is (user, identity_provider_id).

Existing rows are placed on the `default` environment's Atlassian IdP, the only one the gateway signed users in
with before environments were served. A row that cannot be placed (no `default` environment, or it has no
Atlassian IdP: the link could not be refreshed by anyone) is deleted; its user is asked to sign in again on their
next call ("PolicyArc has no Atlassian sign-in on file for you"), which stores a link in the new form. Downgrade
keeps one link per (user, kind): the default environment's where there is one, and drops the others.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(32)

# The default environment's IdP of the link's kind: where every link was made before environments were served.
_PLACE_ON_DEFAULT = (
    "UPDATE upstream_links SET identity_provider_id = (SELECT identity_providers.id FROM identity_providers "
    "JOIN environments ON environments.id = identity_providers.environment_id "
    "WHERE environments.name = 'default' AND identity_providers.kind = upstream_links.idp_kind)"
)


def upgrade() -> None:
    with op.batch_alter_table("upstream_links") as batch:
        batch.add_column(sa.Column("identity_provider_id", ID, nullable=True))
    op.execute(_PLACE_ON_DEFAULT)
    op.execute("DELETE FROM upstream_links WHERE identity_provider_id IS NULL")
    with op.batch_alter_table("upstream_links") as batch:
        batch.alter_column("identity_provider_id", existing_type=ID, nullable=False)
        batch.drop_constraint("uq_upstream_links_user_id_idp_kind", type_="unique")
        batch.create_unique_constraint(
            "uq_upstream_links_user_id_identity_provider_id", ["user_id", "identity_provider_id"]
        )
        batch.create_foreign_key(
            "fk_upstream_links_identity_provider_id_identity_providers",
            "identity_providers",
            ["identity_provider_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_index("ix_upstream_links_identity_provider_id", "upstream_links", ["identity_provider_id"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM upstream_links WHERE identity_provider_id NOT IN (SELECT identity_providers.id "
        "FROM identity_providers JOIN environments ON environments.id = identity_providers.environment_id "
        "WHERE environments.name = 'default')"
    )
    op.drop_index("ix_upstream_links_identity_provider_id", "upstream_links")
    with op.batch_alter_table("upstream_links") as batch:
        batch.drop_constraint("fk_upstream_links_identity_provider_id_identity_providers", type_="foreignkey")
        batch.drop_constraint("uq_upstream_links_user_id_identity_provider_id", type_="unique")
        batch.create_unique_constraint("uq_upstream_links_user_id_idp_kind", ["user_id", "idp_kind"])
        batch.drop_column("identity_provider_id")
