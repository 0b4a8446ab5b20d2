"""The gateway's tables, as SQLAlchemy 2 declarative models.

Conventions: ids are uuid4 hex strings made in Python (so a row's id is known before insert and can bind its
encrypted columns, see `policyarc.secrets.column_aad`); audit and admin-change rows use integer ids for cheap
appends. Every timestamp is timezone-aware UTC on both SQLite and PostgreSQL (`UTCDateTime`). Gateway tokens,
codes, session ids and login states are stored only as SHA-256 hex digests (`*_hash`); upstream secrets only
encrypted (`*_enc`). Scopes are space-separated strings, as OAuth writes them (RFC 6749 section 3.3).

A schema change needs a new migration in `migrations/versions/`; `tests/store/test_migrate.py` fails when the
models and the migrated schema disagree.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AUDIT_COMPLETED",
    "AUDIT_INTERRUPTED",
    "AUDIT_PENDING",
    "AccessToken",
    "AdminApiKey",
    "AdminChange",
    "AuditRecord",
    "AuthorizationCode",
    "Base",
    "BrowserSession",
    "Connector",
    "Consent",
    "Environment",
    "IdentityProvider",
    "LoginState",
    "OAuthClient",
    "Policy",
    "RefreshToken",
    "UTCDateTime",
    "UpstreamLink",
    "User",
    "new_id",
    "utcnow",
]


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; on SQLite, which has no time zones, UTC text read back as aware UTC.

    Naive datetimes are refused on the way in: a naive value is a bug that would silently shift by the
    server's offset.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime given to a UTC column; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Deterministic constraint names: PostgreSQL needs a name to drop or alter a constraint in a later migration,
# and SQLite batch migrations need them to rebuild tables.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(32)
HASH = String(64)
# Client ID Metadata Documents use an https URL as the client id.
CLIENT_ID = String(2048)
# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid), not BIGINT.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


def _env_fk() -> ForeignKey:
    return ForeignKey("environments.id", ondelete="CASCADE")


def _user_fk() -> ForeignKey:
    return ForeignKey("users.id", ondelete="CASCADE")


def _client_fk() -> ForeignKey:
    return ForeignKey("oauth_clients.client_id", ondelete="CASCADE")


# --- admin-configured state ---------------------------------------------------------------------------------


class Environment(Base):
    __tablename__ = "environments"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityProvider(Base):
    __tablename__ = "identity_providers"
    __table_args__ = (UniqueConstraint("environment_id", "kind"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    environment_id: Mapped[str] = mapped_column(ID, _env_fk())
    kind: Mapped[str] = mapped_column(String(32))  # 'atlassian'
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_enc: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Connector(Base):
    __tablename__ = "connectors"
    __table_args__ = (UniqueConstraint("environment_id", "slug"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    environment_id: Mapped[str] = mapped_column(ID, _env_fk())
    template: Mapped[str] = mapped_column(String(64))  # e.g. 'jira-user'
    slug: Mapped[str] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(63))
    cloud_id: Mapped[str | None] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Policy(Base):
    """Policy text per environment, append-only: the highest version is in force, and caches key on it."""

    __tablename__ = "policies"

    environment_id: Mapped[str] = mapped_column(ID, _env_fk(), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(255))


class AdminApiKey(Base):
    __tablename__ = "admin_api_keys"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(HASH, unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AdminChange(Base):
    __tablename__ = "admin_changes"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- users and their upstream tokens ------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("idp_kind", "idp_subject"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    # Atlassian may withhold the email (profile visibility), so it is not an identity key.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    idp_kind: Mapped[str] = mapped_column(String(32))
    idp_subject: Mapped[str] = mapped_column(String(128))  # the Atlassian account id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]


class UpstreamLink(Base):
    """The token vault: one user's tokens at one identity provider (so one environment's app), encrypted.

    Keyed by the IdP row, not its kind: two environments with different Atlassian apps each hold their own link,
    and each refreshes with its own app (a refresh token is only good with the app that issued it).
    """

    __tablename__ = "upstream_links"
    __table_args__ = (UniqueConstraint("user_id", "identity_provider_id"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ID, _user_fk())
    identity_provider_id: Mapped[str] = mapped_column(
        ID, ForeignKey("identity_providers.id", ondelete="CASCADE"), index=True
    )
    idp_kind: Mapped[str] = mapped_column(String(32))
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime]
    scopes: Mapped[str] = mapped_column(Text)
    cloud_ids: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")  # types.LinkStatus
    # Bumped on every refresh: writers update `WHERE version = :seen`, so a lost race is detected, not applied.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- the gateway as an OAuth authorization server -----------------------------------------------------------


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(CLIENT_ID, primary_key=True)
    client_secret_hash: Mapped[str | None] = mapped_column(HASH)
    # The full RFC 7591 client metadata (or the fetched metadata document); `metadata` is taken by SQLAlchemy.
    client_metadata: Mapped[dict[str, Any]] = mapped_column("metadata")
    kind: Mapped[str] = mapped_column(String(8))  # types.ClientKind
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # When a code or token was last issued to it (at most hourly precision, see provider.py); None = never.
    # The janitor deletes clients never used within a day of registering, or unused for months.
    last_used_at: Mapped[datetime | None]


class AuthorizationCode(Base):
    __tablename__ = "authorization_codes"

    code_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    client_id: Mapped[str] = mapped_column(CLIENT_ID, _client_fk())
    user_id: Mapped[str] = mapped_column(ID, _user_fk())
    environment_id: Mapped[str] = mapped_column(ID, _env_fk())
    redirect_uri: Mapped[str] = mapped_column(Text)
    redirect_uri_provided_explicitly: Mapped[bool]
    code_challenge: Mapped[str] = mapped_column(String(128))  # RFC 7636: S256 only
    scopes: Mapped[str] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(Text)  # RFC 8707
    expires_at: Mapped[datetime]
    # Set on first exchange; a second exchange of the same code revokes what the first one issued (RFC 6749 4.1.2).
    consumed_at: Mapped[datetime | None]


class AccessToken(Base):
    __tablename__ = "access_tokens"

    token_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    client_id: Mapped[str] = mapped_column(CLIENT_ID, _client_fk())
    user_id: Mapped[str] = mapped_column(ID, _user_fk(), index=True)
    environment_id: Mapped[str] = mapped_column(ID, _env_fk())
    scopes: Mapped[str] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    refresh_family: Mapped[str | None] = mapped_column(ID, index=True)


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    # Every rotation of one grant shares a family; reuse of a rotated token revokes the whole family.
    family: Mapped[str] = mapped_column(ID, index=True)
    client_id: Mapped[str] = mapped_column(CLIENT_ID, _client_fk())
    user_id: Mapped[str] = mapped_column(ID, _user_fk(), index=True)
    environment_id: Mapped[str] = mapped_column(ID, _env_fk())
    scopes: Mapped[str] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Consent(Base):
    __tablename__ = "consents"

    user_id: Mapped[str] = mapped_column(ID, _user_fk(), primary_key=True)
    client_id: Mapped[str] = mapped_column(CLIENT_ID, _client_fk(), primary_key=True)
    environment_id: Mapped[str] = mapped_column(ID, _env_fk(), primary_key=True)
    scopes: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class BrowserSession(Base):
    __tablename__ = "browser_sessions"

    id_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, _user_fk(), index=True)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginState(Base):
    """The federated sign-in round trip: what to resume when the IdP redirects back with this `state`."""

    __tablename__ = "login_states"

    state_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    payload: Mapped[dict[str, Any]]
    expires_at: Mapped[datetime]


# --- audit -----------------------------------------------------------------------------------------------------


# `state` of an audit record (policyarc.audit): a read, or a write whose outcome is known, is `completed`; a write
# is first committed as `pending` before it is sent to Jira and completed in place after; a `pending` write left
# behind by a gateway that stopped is marked `interrupted` (it may have reached Jira; the outcome is unknown).
AUDIT_PENDING = "pending"
AUDIT_COMPLETED = "completed"
AUDIT_INTERRUPTED = "interrupted"


class AuditRecord(Base):
    """One tool call. No foreign keys on purpose: the audit trail outlives deleted users and environments."""

    __tablename__ = "audit_records"
    __table_args__ = (
        Index("ix_audit_records_environment_id_ts", "environment_id", "ts"),
        # Partial: only writes in flight (or left behind) are in it, so reads pay nothing for it and the sweep
        # that marks interrupted writes reads a handful of entries, not the whole log. A literal, not a bound
        # parameter, in the predicate: PostgreSQL uses a partial index only for a query whose WHERE implies it.
        Index(
            "ix_audit_records_pending_ts",
            "ts",
            sqlite_where=text(f"state = '{AUDIT_PENDING}'"),
            postgresql_where=text(f"state = '{AUDIT_PENDING}'"),
        ),
    )

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    environment_id: Mapped[str | None] = mapped_column(ID)
    user_id: Mapped[str | None] = mapped_column(ID)
    client_id: Mapped[str | None] = mapped_column(CLIENT_ID)
    tool: Mapped[str | None] = mapped_column(String(128))
    args_digest: Mapped[str | None] = mapped_column(HASH)
    decision: Mapped[str] = mapped_column(String(16))
    upstream_status: Mapped[int | None]
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error_code: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=AUDIT_COMPLETED, server_default=AUDIT_COMPLETED)


# --- console admins ----------------------------------------------------------------------------------------------


class AdminUser(Base):
    """A person who administers the gateway in the web console. Until they follow their set-up link they have no
    password and cannot sign in."""

    __tablename__ = "admin_users"

    id: Mapped[str] = mapped_column(ID, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2id, PHC string
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255))
    last_sign_in_at: Mapped[datetime | None]


class AdminSetupLink(Base):
    """A one-time link that lets an invited admin choose a password. Only its hash is kept. A link with no admin
    is the first start's: it creates the first admin, email and password chosen on the page."""

    __tablename__ = "admin_setup_links"

    token_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    admin_id: Mapped[str | None] = mapped_column(ID, ForeignKey("admin_users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AdminSession(Base):
    """A signed-in console session; the cookie holds the raw value, the store its hash."""

    __tablename__ = "admin_sessions"

    id_hash: Mapped[str] = mapped_column(HASH, primary_key=True)
    admin_id: Mapped[str] = mapped_column(ID, ForeignKey("admin_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
