"""`TokenResolver`: the bearer token of an MCP request -> the `Caller` it stands for (`mcp_endpoint.CallerResolver`).

On the hot path of every MCP request, so answers are cached in-process, keyed by the token's hash.
`GatewayAuthProvider` calls `forget()` once a revocation is committed, so a revocation through this instance
takes effect at once. A revocation on *another* instance is pushed here (notify.py: the app subscribes `forget()` to
`token_revoked`, and `forget_all()` to `access` and to the feed's resync), in milliseconds on PostgreSQL.

How long an entry is trusted depends on whether revocations are pushed to this process (`pushes.live`, the change
feed): while they are, `pushed_cache_seconds` (default 300), because nothing but a revocation can make a cached
answer wrong before its token expires; while they are not (the listening connection is down, or several processes
serve one SQLite file), `cache_seconds` (default 5), the worst case a revoked token may keep working here. The
bound is applied when an entry is read, so a feed that stops being live shortens every entry at once. Why the long
bound: with 10,000 users a user comes back every few seconds to minutes, and a miss costs a database read on every
call (issue 10's scale cells, docs/benchmarks.md). Token expiry is never extended by the cache (an entry lives no
longer than its token). Each token's bounds are between half and all of the configured ones (`stagger.py`), so the
entries of many users who arrived together do not expire together, and concurrent misses for one token share one
database read. At `max_entries` the expired entries go, then the oldest tenth.

Each environment's MCP endpoint has its own view (`for_environment`); all share the one cache. A token is honoured
only at the endpoint of the resource it was issued for (RFC 8707): a staging token at `/mcp` is refused, and the
reverse. `resolve()` is the default environment's view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from itertools import islice
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.caller import Caller
from policyarc.oauth.config import Clock, OAuthConfig
from policyarc.secrets import hash_token
from policyarc.stagger import staggered
from policyarc.store.models import AccessToken, OAuthClient, User

__all__ = ["EnvironmentResolver", "TokenResolver"]

_MAX_TOKEN = 512


class Pushes(Protocol):
    """Whether revocations made anywhere reach this process as they happen (notify.ChangeFeed)."""

    @property
    def live(self) -> bool: ...


# Columns, not ORM objects: at 100 users the per-token reads were ~3 ms of CPU each through the ORM, 12% of the
# gateway's time under load (py-spy, docs/performance.md).
_CALLER_QUERY = (
    select(
        AccessToken.expires_at,
        AccessToken.revoked_at,
        AccessToken.resource,
        AccessToken.environment_id,
        AccessToken.scopes,
        AccessToken.user_id,
        User.email,
        User.idp_subject,
        OAuthClient.client_id,
        OAuthClient.client_metadata,
    )
    .join(User, User.id == AccessToken.user_id)
    .join(OAuthClient, OAuthClient.client_id == AccessToken.client_id)
    .where(AccessToken.token_hash == bindparam("token_hash"))
)


class TokenResolver:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        config: OAuthConfig,
        clock: Clock,
        cache_seconds: float = 5.0,
        pushed_cache_seconds: float = 300.0,
        pushes: Pushes | None = None,
        max_entries: int = 20_000,
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._clock = clock
        self._ttl = cache_seconds
        self._pushed_ttl = max(pushed_cache_seconds, cache_seconds)
        self._pushes = pushes
        self._max = max_entries
        # token hash -> (caller, the resource the token is bound to, trusted until: unpushed, pushed)
        self._cache: dict[str, tuple[Caller, str | None, float, float]] = {}
        self._loading: dict[str, asyncio.Task[tuple[Caller, str | None] | None]] = {}  # the one read in flight
        self._forgotten = 0  # bumped by forget(): a read that started before must not cache what it found

    async def resolve(self, token: str) -> Caller | None:
        """The caller behind a live token issued for the default environment's MCP resource; None otherwise."""
        return await self.resolve_for(token, self._config.resource_url, self._config.environment_id)

    def for_environment(self, resource: str, environment_id: str) -> EnvironmentResolver:
        """The bearer check of one environment's MCP endpoint (`mcp_endpoint.CallerResolver`)."""
        return EnvironmentResolver(self, resource, environment_id)

    async def resolve_for(self, token: str, resource: str, environment_id: str) -> Caller | None:
        """The caller behind a live token issued for `resource` (of `environment_id`); None otherwise."""
        if not token or len(token) > _MAX_TOKEN:
            return None
        token_hash = hash_token(token)
        now = self._clock.time()
        hit = self._cache.get(token_hash)
        if hit is not None:
            pushes = self._pushes
            if (hit[3] if pushes is not None and pushes.live else hit[2]) > now:
                return _bound(hit[0], hit[1], resource, environment_id)
            del self._cache[token_hash]
        loading = self._loading.get(token_hash)
        if loading is None:
            loading = asyncio.get_running_loop().create_task(self._load_and_cache(token_hash, now))
            self._loading[token_hash] = loading
            loading.add_done_callback(lambda _: self._loading.pop(token_hash, None))
        # Shielded: one waiter cancelled does not cancel the read the others wait for.
        found = await asyncio.shield(loading)
        return None if found is None else _bound(found[0], found[1], resource, environment_id)

    def forget(self, token_hashes: Collection[str]) -> None:
        self._forgotten += 1
        for token_hash in token_hashes:
            self._cache.pop(token_hash, None)
            self._loading.pop(token_hash, None)

    def forget_all(self, *_: object) -> None:
        """Drop every entry: after a revocation by person or client, or when pushes may have been missed."""
        self._forgotten += 1
        self._cache.clear()
        self._loading.clear()

    @property
    def cached(self) -> int:
        return len(self._cache)

    async def _load_and_cache(self, token_hash: str, now: float) -> tuple[Caller, str | None] | None:
        forgotten = self._forgotten
        found = await self._load(token_hash, now)
        if found is not None and self._ttl > 0 and forgotten == self._forgotten:
            if len(self._cache) >= self._max:
                self._evict(now)
            caller, resource = found
            share = staggered(1.0, token_hash)
            until = min(now + share * self._ttl, caller.expires_at)
            pushed_until = min(now + share * self._pushed_ttl, caller.expires_at)
            self._cache[token_hash] = (caller, resource, until, pushed_until)
        return found

    async def _load(self, token_hash: str, now: float) -> tuple[Caller, str | None] | None:
        async with self._sessions() as db:
            token = (await db.execute(_CALLER_QUERY, {"token_hash": token_hash})).one_or_none()
        if token is None:
            return None
        expires_at = token.expires_at.timestamp()
        if token.revoked_at is not None or expires_at <= now:
            return None
        return Caller(
            user_id=token.user_id,
            email=token.email or "",
            account_id=token.idp_subject,
            client_id=token.client_id,
            client_name=str(token.client_metadata.get("client_name") or ""),
            environment_id=token.environment_id,
            scopes=frozenset(token.scopes.split()),
            expires_at=expires_at,
        ), token.resource

    def _evict(self, now: float) -> None:
        pushed = self._pushes is not None and self._pushes.live
        expired = [key for key, (_, _, short, long) in self._cache.items() if (long if pushed else short) <= now]
        for key in expired:
            del self._cache[key]
        if len(self._cache) >= self._max:  # more live tokens than room: the oldest read tenth goes (dict order)
            for key in list(islice(self._cache, max(1, self._max // 10))):
                del self._cache[key]


class EnvironmentResolver:
    """One environment's MCP endpoint's view of the shared `TokenResolver`."""

    __slots__ = ("_environment_id", "_resolver", "_resource")

    def __init__(self, resolver: TokenResolver, resource: str, environment_id: str) -> None:
        self._resolver = resolver
        self._resource = resource
        self._environment_id = environment_id

    async def resolve(self, token: str) -> Caller | None:
        return await self._resolver.resolve_for(token, self._resource, self._environment_id)


def _bound(caller: Caller, bound_to: str | None, resource: str, environment_id: str) -> Caller | None:
    # RFC 8707 audience binding: a token issued for another resource (another environment's endpoint, or none)
    # is not this endpoint's to honour.
    if bound_to != resource or caller.environment_id != environment_id:
        return None
    return caller
