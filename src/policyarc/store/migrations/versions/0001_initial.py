"""The initial schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

ID = sa.String(32)
HASH = sa.String(64)
CLIENT_ID = sa.String(2048)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    target_table = target.split(".")[0]
    return sa.ForeignKeyConstraint([column], [target], name=f"fk_{table}_{column}_{target_table}", ondelete="CASCADE")


def _env_fk(table: str) -> sa.ForeignKeyConstraint:
    return _fk(table, "environment_id", "environments.id")


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return _fk(table, "user_id", "users.id")


def _client_fk(table: str) -> sa.ForeignKeyConstraint:
    return _fk(table, "client_id", "oauth_clients.client_id")


def upgrade() -> None:
    # Parents first: environments, users, oauth_clients.
    op.create_table(
        "environments",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_environments"),
        sa.UniqueConstraint("name", name="uq_environments_name"),
    )
    op.create_table(
        "users",
        sa.Column("id", ID, nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("display_name", sa.String(255), nullable=True),
        sa.Column("idp_kind", sa.String(32), nullable=False),
        sa.Column("idp_subject", sa.String(128), nullable=False),
        _ts("created_at"),
        _ts("last_seen_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("idp_kind", "idp_subject", name="uq_users_idp_kind_idp_subject"),
    )
    op.create_index("ix_users_email", "users", ["email"])
    op.create_table(
        "oauth_clients",
        sa.Column("client_id", CLIENT_ID, nullable=False),
        sa.Column("client_secret_hash", HASH, nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("client_id", name="pk_oauth_clients"),
    )

    # Admin-configured state.
    op.create_table(
        "identity_providers",
        sa.Column("id", ID, nullable=False),
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("client_secret_enc", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _env_fk("identity_providers"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_providers"),
        sa.UniqueConstraint("environment_id", "kind", name="uq_identity_providers_environment_id_kind"),
    )
    op.create_table(
        "connectors",
        sa.Column("id", ID, nullable=False),
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("site", sa.String(63), nullable=True),
        sa.Column("cloud_id", sa.String(64), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        _ts("created_at"),
        _env_fk("connectors"),
        sa.PrimaryKeyConstraint("id", name="pk_connectors"),
        sa.UniqueConstraint("environment_id", "slug", name="uq_connectors_environment_id_slug"),
    )
    op.create_table(
        "policies",
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(255), nullable=True),
        _env_fk("policies"),
        sa.PrimaryKeyConstraint("environment_id", "version", name="pk_policies"),
    )
    op.create_table(
        "admin_api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("key_hash", HASH, nullable=False),
        _ts("created_at"),
        _ts("last_used_at", nullable=True),
        _ts("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_admin_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_admin_api_keys_key_hash"),
    )
    op.create_table(
        "admin_changes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _ts("ts"),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(255), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admin_changes"),
    )
    op.create_index("ix_admin_changes_ts", "admin_changes", ["ts"])

    # The token vault.
    op.create_table(
        "upstream_links",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("idp_kind", sa.String(32), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=False),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        _ts("expires_at"),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("cloud_ids", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _user_fk("upstream_links"),
        sa.PrimaryKeyConstraint("id", name="pk_upstream_links"),
        sa.UniqueConstraint("user_id", "idp_kind", name="uq_upstream_links_user_id_idp_kind"),
    )

    # The gateway as an OAuth authorization server.
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", HASH, nullable=False),
        sa.Column("client_id", CLIENT_ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("redirect_uri_provided_explicitly", sa.Boolean(), nullable=False),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        _ts("expires_at"),
        _ts("consumed_at", nullable=True),
        _client_fk("authorization_codes"),
        _env_fk("authorization_codes"),
        _user_fk("authorization_codes"),
        sa.PrimaryKeyConstraint("code_hash", name="pk_authorization_codes"),
    )
    op.create_table(
        "access_tokens",
        sa.Column("token_hash", HASH, nullable=False),
        sa.Column("client_id", CLIENT_ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("revoked_at", nullable=True),
        sa.Column("refresh_family", ID, nullable=True),
        _client_fk("access_tokens"),
        _env_fk("access_tokens"),
        _user_fk("access_tokens"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_access_tokens"),
    )
    op.create_index("ix_access_tokens_expires_at", "access_tokens", ["expires_at"])
    op.create_index("ix_access_tokens_refresh_family", "access_tokens", ["refresh_family"])
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", HASH, nullable=False),
        sa.Column("family", ID, nullable=False),
        sa.Column("client_id", CLIENT_ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("resource", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("rotated_at", nullable=True),
        _ts("revoked_at", nullable=True),
        _client_fk("refresh_tokens"),
        _env_fk("refresh_tokens"),
        _user_fk("refresh_tokens"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
    )
    op.create_index("ix_refresh_tokens_expires_at", "refresh_tokens", ["expires_at"])
    op.create_index("ix_refresh_tokens_family", "refresh_tokens", ["family"])
    op.create_index("ix_refresh_tokens_user_id", "refresh_tokens", ["user_id"])
    op.create_table(
        "consents",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("client_id", CLIENT_ID, nullable=False),
        sa.Column("environment_id", ID, nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        _ts("granted_at"),
        _client_fk("consents"),
        _env_fk("consents"),
        _user_fk("consents"),
        sa.PrimaryKeyConstraint("user_id", "client_id", "environment_id", name="pk_consents"),
    )
    op.create_table(
        "browser_sessions",
        sa.Column("id_hash", HASH, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        _ts("expires_at"),
        _ts("created_at"),
        _user_fk("browser_sessions"),
        sa.PrimaryKeyConstraint("id_hash", name="pk_browser_sessions"),
    )
    op.create_index("ix_browser_sessions_user_id", "browser_sessions", ["user_id"])
    op.create_table(
        "login_states",
        sa.Column("state_hash", HASH, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        _ts("expires_at"),
        sa.PrimaryKeyConstraint("state_hash", name="pk_login_states"),
    )

    # Audit: no foreign keys, the trail outlives what it mentions.
    op.create_table(
        "audit_records",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _ts("ts"),
        sa.Column("environment_id", ID, nullable=True),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("client_id", CLIENT_ID, nullable=True),
        sa.Column("tool", sa.String(128), nullable=True),
        sa.Column("args_digest", HASH, nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("upstream_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_records"),
    )
    op.create_index("ix_audit_records_ts", "audit_records", ["ts"])
    op.create_index("ix_audit_records_environment_id_ts", "audit_records", ["environment_id", "ts"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in (
        "audit_records",
        "login_states",
        "browser_sessions",
        "consents",
        "refresh_tokens",
        "access_tokens",
        "authorization_codes",
        "upstream_links",
        "admin_changes",
        "admin_api_keys",
        "policies",
        "connectors",
        "identity_providers",
        "oauth_clients",
        "users",
        "environments",
    ):
        op.drop_table(table)
