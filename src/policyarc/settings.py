"""Gateway settings, read from the environment (prefix `POLICYARC_`) and checked once at start-up.

`load_settings()` is the one entry point: it returns a frozen `Settings` or raises `SettingsError` whose
message names each bad variable and what to fix, never the value given (a secret may be among them).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from policyarc.secrets import KeyRingError, parse_keyring_spec

__all__ = ["LogLevel", "Settings", "SettingsError", "load_settings"]

LogLevel = Literal["debug", "info", "warning", "error", "critical"]

ENV_PREFIX = "POLICYARC_"
_LOOPBACK_NAMES = frozenset({"localhost"})
# Only these async drivers are wired (engine pragmas, advisory locks); plain schemes are mapped onto them.
_DRIVER_ALIASES = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


class SettingsError(ValueError):
    """The configuration cannot be used; the message lists every problem found."""


class Settings(BaseSettings):
    """Everything the gateway reads from its environment.

    `secret_keys` is the optional key ring for encryption at rest, as `kid:base64key[,kid:base64key...]`:
    the first entry is the primary (new values are encrypted with it), the others stay readable. Each key is 32
    random bytes in base64 (standard or URL-safe, padding optional); `policyarc keys` prints a fresh one.
    When unset, the ring lives in `{data_dir}/keyring.json` (created on first start, mode 0600).
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        frozen=True,
        extra="forbid",
        # Pydantic echoes the offending input in its messages; `secret_keys` must never be echoed.
        hide_input_in_errors=True,
    )

    data_dir: Path = Path("./.policyarc")
    # Defaults to SQLite in data_dir (see _default_database_url); PostgreSQL as postgresql+asyncpg://...
    database_url: str = ""
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_keys: SecretStr | None = None

    atlassian_auth_url: str = "https://auth.atlassian.com"
    atlassian_api_url: str = "https://api.atlassian.com"
    atlassian_site_url: str = "https://{site}.atlassian.net"

    # Gateway access tokens are bearer tokens that MCP clients keep in memory and sometimes in logs. Fifteen
    # minutes bounds the damage of a leaked one while the rotating refresh token makes renewal invisible to the
    # user; revocation and policy changes apply at once anyway (tokens are looked up, not self-contained).
    access_token_ttl: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl: int = Field(default=30 * 86_400, ge=3600, le=365 * 86_400)
    upstream_timeout: float = Field(default=30.0, gt=0, le=300)
    # Requests per minute per client address on the OAuth endpoints anyone can call before signing in (each
    # stores a row); 0 turns a limit off. Per instance: N instances allow N times as many.
    rate_limit_register: int = Field(default=10, ge=0, le=100_000)
    rate_limit_authorize: int = Field(default=30, ge=0, le=100_000)
    rate_limit_login: int = Field(default=30, ge=0, le=100_000)
    # Registered clients with no code or token issued within `client_unused_ttl` of registering are deleted, and
    # so are clients with none issued for `client_idle_ttl` (never sooner than their refresh tokens expire).
    client_unused_ttl: int = Field(default=86_400, ge=3600, le=365 * 86_400)
    client_idle_ttl: int = Field(default=90 * 86_400, ge=86_400, le=3650 * 86_400)
    # A write's audit record still pending this long after it was made is taken as left by a gateway that stopped
    # mid-call and marked interrupted (policyarc.audit_intents says why age, and why 15 minutes). 0 marks every
    # pending write at start-up: for a single instance only.
    audit_intent_grace: float = Field(default=900.0, ge=0, le=7 * 86_400)
    # Tool calls per second (quota.py) per Atlassian tenant (cloud ID), per user and per MCP client of an
    # environment; 0 turns one off. Atlassian's burst limit is about 100 req/s per tenant and endpoint (50 for
    # PUT/DELETE): 80 keeps a tenant under it, and a client's 40 leaves the other clients half the tenant.
    quota_tenant_per_second: int = Field(default=80, ge=0, le=100_000)
    quota_user_per_second: int = Field(default=20, ge=0, le=100_000)
    quota_client_per_second: int = Field(default=40, ge=0, le=100_000)
    # redis://[:password@]host:port/db shares the quotas and Atlassian's pauses between instances; unset, each
    # instance counts on its own (pauses still reach the others over PostgreSQL NOTIFY). May hold a password.
    redis_url: SecretStr | None = None
    log_level: LogLevel = "info"
    # `json`: one JSON object per line with the request id (policyarc.logs); `text` for people.
    log_format: Literal["text", "json"] = "text"
    # On SIGTERM, how long calls in flight may take to finish before the gateway stops anyway (policyarc.draining).
    drain_timeout: float = Field(default=30.0, gt=0, le=3600)
    # When set, GET /metrics needs `Authorization: Bearer <this>`; unset, /metrics is open (it holds no user data).
    metrics_token: SecretStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_database_url(cls, data: Any) -> Any:
        # Runs before field validation so the default follows a data_dir given in the same breath.
        if isinstance(data, dict) and not data.get("database_url"):
            data_dir = _absolute(Path(data.get("data_dir") or "./.policyarc"))
            data = {**data, "database_url": f"sqlite+aiosqlite:///{data_dir / 'policyarc.db'}"}
        return data

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Resolved once so a later chdir cannot move the database or the key ring.
        return _absolute(value)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        driver = _DRIVER_ALIASES.get(scheme.lower())
        if not sep or driver is None:
            raise ValueError("use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST:PORT/DB")
        return f"{driver}://{rest}"

    @field_validator("public_url")
    @classmethod
    def _issuer_shaped(cls, value: str) -> str:
        # The public URL is the OAuth issuer (RFC 8414 section 2): HTTPS, no query or fragment; plain HTTP is
        # allowed on loopback only, as the MCP SDK does.
        value = value.rstrip("/")
        parts = _http_url(value)
        if parts.query or parts.fragment:
            raise ValueError("must not have a query string or fragment")
        if parts.scheme != "https" and not _is_loopback(parts.hostname or ""):
            raise ValueError("must be https:// (plain http:// is allowed only for localhost and 127.0.0.1)")
        return value

    @field_validator("atlassian_auth_url", "atlassian_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.rstrip("/")
        _http_url(value)
        return value

    @field_validator("atlassian_site_url")
    @classmethod
    def _site_template(cls, value: str) -> str:
        value = value.rstrip("/")
        if value.count("{site}") != 1:
            raise ValueError("must contain {site} exactly once, e.g. https://{site}.atlassian.net")
        _http_url(value.replace("{site}", "site"))
        return value

    @field_validator("secret_keys")
    @classmethod
    def _keyring_spec(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        try:
            parse_keyring_spec(value.get_secret_value(), source="")
        except KeyRingError as exc:  # its message names entries and key ids, never key material
            raise ValueError(str(exc)) from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if urlsplit(value.get_secret_value()).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("use redis://HOST:PORT/DB, rediss://... (TLS) or unix:///PATH")
        return value

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_log_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _refresh_outlives_access(self) -> Settings:
        if self.refresh_token_ttl <= self.access_token_ttl:
            raise ValueError("refresh_token_ttl must be longer than access_token_ttl")
        return self

    @property
    def keyring_path(self) -> Path:
        """Where the key ring file lives when `secret_keys` is not set."""
        return self.data_dir / "keyring.json"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite+aiosqlite:")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment, with `overrides` (field names) taking precedence.

    Raises `SettingsError` listing every problem as `POLICYARC_NAME: what to fix`.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors(include_input=False, include_url=False)]
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(problems)) from None


def _describe(error: Any) -> str:
    loc = error.get("loc") or ()
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    name = str(loc[0])
    if error.get("type") == "extra_forbidden":
        return f"{name}: unknown setting"
    return f"{ENV_PREFIX}{name.upper()}: {message}"


def _absolute(path: Path) -> Path:
    return path.expanduser().absolute()


def _http_url(value: str) -> SplitResult:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return parts


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
