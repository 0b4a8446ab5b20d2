"""The simulator's run-time state and the seams between its parts.

`SimState` is created once per app and reached from a route as `request.app.state.sim`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from policyarc.sim.atlassian.model import World


@dataclass(frozen=True)
class SimConfig:
    token_ttl: int = 3600  # access-token lifetime, seconds (Atlassian: 3600)
    refresh_leeway: int = 600  # a rotated refresh token keeps working this long (Atlassian: 10 minutes)
    auto_consent: bool = False  # /auth/authorize redirects at once for the login_hint (or first) user
    rate_limits_enabled: bool = True
    get_post_per_second: float = 100.0  # burst limit per site and endpoint for GET/POST
    put_delete_per_second: float = 50.0  # burst limit per site and endpoint for PUT/DELETE
    issue_writes_per_window: int = 20  # writes to one issue per window
    issue_write_window: float = 2.0


class Clock:
    """Wall-clock time that tests can move forward (expiry, leeway) without sleeping."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(frozen=True)
class AccessGrant:
    """What a valid access token stands for."""

    account_id: str
    client_id: str
    scopes: frozenset[str]
    cloud_ids: frozenset[str]  # the sites the user granted this app
    expires_at: float


class AccessTokenLookup(Protocol):
    """How the REST routes resolve a bearer token (implemented by the OAuth server's token store)."""

    def lookup_access(self, token: str) -> AccessGrant | None:
        """The grant for a live access token; None when unknown, expired or revoked."""
        ...


@dataclass
class SimState:
    config: SimConfig
    world: World
    tokens: AccessTokenLookup
    clock: Clock = field(default_factory=Clock)
