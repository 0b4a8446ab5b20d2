"""What every part of the gateway's OAuth server shares: its configuration and its clock."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from policyarc.settings import Settings

__all__ = ["Clock", "OAuthConfig", "SystemClock", "utc"]


class Clock(Protocol):
    """Seconds since the epoch. Tests pass one they can move forward instead of sleeping."""

    def time(self) -> float: ...


class SystemClock:
    def time(self) -> float:
        return time.time()


def utc(clock: Clock, offset: float = 0.0) -> datetime:
    return datetime.fromtimestamp(clock.time() + offset, UTC)


@dataclass(frozen=True)
class OAuthConfig:
    """The gateway as an authorization server for its environments' MCP endpoints.

    `issuer` is `Settings.public_url` (no trailing slash); `environment_id` is the default environment, whose MCP
    resource is `{issuer}/mcp` (RFC 8707); another environment NAME's is `{issuer}/mcp/NAME` (`environments.py`),
    and every token is bound to the resource of the environment it was issued for. `scopes` is the gateway's scope
    registry (the connectors' tool scopes): the ceiling of what any client may ask for; policy decides what it gets.
    """

    issuer: str
    environment_id: str
    scopes: tuple[str, ...]
    default_scopes: tuple[str, ...] = ("jira:issues:read",)
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 86_400
    code_ttl: int = 300  # RFC 6749 section 4.1.2 recommends at most ten minutes
    pending_ttl: int = 900  # from /authorize to the consent decision, sign-in at Atlassian included
    session_ttl: int = 12 * 3600
    cimd_ttl: int = 3600  # a cached Client ID Metadata Document is fetched again after this
    # Requests per minute per client address on the endpoints that store rows before sign-in; 0 = no limit.
    register_per_minute: int = 10
    authorize_per_minute: int = 30
    login_per_minute: int = 30

    def __post_init__(self) -> None:
        object.__setattr__(self, "issuer", self.issuer.rstrip("/"))
        if not self.scopes:
            raise ValueError("OAuthConfig needs the gateway's scope registry")
        unknown = set(self.default_scopes) - set(self.scopes)
        if unknown:
            raise ValueError(f"default scopes not in the registry: {sorted(unknown)}")

    @classmethod
    def from_settings(cls, settings: Settings, *, environment_id: str, scopes: Sequence[str]) -> OAuthConfig:
        return cls(
            issuer=settings.public_url,
            environment_id=environment_id,
            scopes=tuple(dict.fromkeys(scopes)),
            access_token_ttl=settings.access_token_ttl,
            refresh_token_ttl=settings.refresh_token_ttl,
            register_per_minute=settings.rate_limit_register,
            authorize_per_minute=settings.rate_limit_authorize,
            login_per_minute=settings.rate_limit_login,
        )

    @property
    def resource_url(self) -> str:
        return f"{self.issuer}/mcp"

    def is_resource(self, value: str) -> bool:
        """RFC 8707: does a `resource` parameter name this gateway's MCP endpoint (a trailing slash is tolerated)?"""
        return value.rstrip("/") == self.resource_url

    @property
    def secure_cookies(self) -> bool:
        """`__Host-` cookies need Secure, which a browser only keeps from https (Settings allows http on loopback)."""
        return urlsplit(self.issuer).scheme == "https"

    @property
    def loopback_issuer(self) -> bool:
        host = urlsplit(self.issuer).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1")
