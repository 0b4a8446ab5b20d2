"""Tenant quota protection: the gateway's own rate limits on tool calls, and Atlassian's 429 pauses shared.

Every tool call that would reach upstream is first counted against three limits (`QuotaLimits`, calls per
second, 0 = off): its user's and its MCP client's within the environment, and the upstream tenant's (for Jira the
cloud ID: Atlassian counts its burst limit per tenant, whichever environment the call came through). The user's
and the client's limits sit below the tenant's, so one noisy client or user runs into its own limit long before
it can use up the tenant's budget, and the others' calls keep going. Narrowest first: a call refused for its
client has not used the tenant's budget.

A 429 from Atlassian with `Retry-After` pauses that tenant for that long on every instance: here at once (a map
read before anything else), in Redis when configured (a key with that TTL, read by the same script that counts),
and as a `tenant_paused:<tenant>:<until>` message on the change feed (notify.py), so that PostgreSQL-only
clusters share it too. A paused call fails fast with the time to retry, without a request upstream.

Counting is `QuotaCounter`: `LocalCounter` over `oauth.throttle.TokenBucket` (per instance: N instances allow
N times the rate) or `RedisCounter` (shared; one atomic Lua script, one round trip per call, fixed one-second
windows). A Redis that does not answer is not an outage: its calls are counted locally until it answers again.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from policyarc.oauth.throttle import TokenBucket

if TYPE_CHECKING:
    from policyarc.caller import Caller
    from policyarc.notify import ChangeFeed
    from policyarc.settings import Settings

__all__ = [
    "PAUSE_KIND",
    "LocalCounter",
    "Quota",
    "QuotaCounter",
    "QuotaLimits",
    "QuotaRefusal",
    "RedisCounter",
]

logger = logging.getLogger(__name__)

PAUSE_KIND = "tenant_paused"  # change feed kind; key `<tenant>:<until, Unix seconds>`
Reason = Literal["paused", "user", "client", "tenant"]


@dataclass(frozen=True)
class QuotaLimits:
    """Calls per second; 0 turns a limit off."""

    tenant_per_second: int = 80
    user_per_second: int = 20
    client_per_second: int = 40

    @property
    def off(self) -> bool:
        return not (self.tenant_per_second or self.user_per_second or self.client_per_second)


@dataclass(frozen=True)
class QuotaRefusal:
    """Why a call may not go upstream now, and how long until it may."""

    reason: Reason
    wait: float  # seconds

    @property
    def retry_in(self) -> int:
        return max(1, math.ceil(self.wait))

    def message(self) -> str:
        """Written for the agent: what happened, and when to retry."""
        seconds = self.retry_in
        if self.reason == "paused":
            return (
                "Jira is rate-limiting this site (it answered 429), so PolicyArc pauses calls to it. "
                f"Retry in {seconds} s."
            )
        whose = {"user": "your", "client": "this MCP client's", "tenant": "this Jira site's"}[self.reason]
        return f"PolicyArc's rate limit for {whose} calls was reached, to stay within Jira's. Retry in {seconds} s."


class QuotaCounter(Protocol):
    async def take(self, environment_id: str, user_id: str, client_id: str, tenant: str) -> QuotaRefusal | None:
        """Count one call against each limit that is on: None when it may go, else the first limit it is over."""
        ...

    async def pause(self, tenant: str, seconds: float) -> None:
        """Record that upstream asked for no calls to `tenant` for `seconds` (shared stores only)."""
        ...

    async def aclose(self) -> None: ...


class LocalCounter:
    """Token buckets in this process: bursts up to one second's worth, refilled continuously.

    One pair of buckets per environment, keyed by the raw ids, and one tenant bucket keyed by tenant: the key is
    a string the caller already holds, so counting a call builds none (the hot path, docs/benchmarks.md).
    """

    def __init__(
        self, limits: QuotaLimits, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._max_keys = max_keys
        self._tenant = self._bucket(limits.tenant_per_second)
        self._environments: dict[str, tuple[TokenBucket | None, TokenBucket | None]] = {}

    def _bucket(self, per_second: int) -> TokenBucket | None:
        if per_second <= 0:
            return None
        return TokenBucket(per_second, period=1.0, clock=self._clock, max_keys=self._max_keys)

    async def take(self, environment_id: str, user_id: str, client_id: str, tenant: str) -> QuotaRefusal | None:
        return self.take_now(environment_id, user_id, client_id, tenant)

    def take_now(self, environment_id: str, user_id: str, client_id: str, tenant: str) -> QuotaRefusal | None:
        buckets = self._environments.get(environment_id)
        if buckets is None:
            buckets = (self._bucket(self._limits.user_per_second), self._bucket(self._limits.client_per_second))
            self._environments[environment_id] = buckets
        users, clients = buckets
        if users is not None and (wait := users.take(user_id)) is not None:
            return QuotaRefusal("user", wait)
        if clients is not None and (wait := clients.take(client_id)) is not None:
            return QuotaRefusal("client", wait)
        if self._tenant is not None and (wait := self._tenant.take(tenant)) is not None:
            return QuotaRefusal("tenant", wait)
        return None

    async def pause(self, tenant: str, seconds: float) -> None:
        return None  # `Quota` keeps pauses in this process itself

    async def aclose(self) -> None:
        return None


# KEYS[1]: the tenant's pause key; KEYS[2..]: counters (user, client, tenant; only the limits that are on).
# ARGV[1]: window in ms; ARGV[2..]: each counter's limit. Returns {which, ms}: which = 0 paused, i = KEYS[i+1]
# over its limit, -1 allowed. INCR then PEXPIRE on the first call of a window: a fixed window, atomic because a
# script runs alone (Redis "EVAL" semantics). A counter without a TTL (an interrupted older client) gets one.
_TAKE = """
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {0, paused} end
local window = tonumber(ARGV[1])
for i = 2, #KEYS do
  local n = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if n == 1 or ttl < 0 then redis.call('PEXPIRE', KEYS[i], window); ttl = window end
  if n > tonumber(ARGV[i]) then return {i - 1, ttl} end
end
return {-1, 0}
"""
# KEYS[1]: the pause key; ARGV[1]: ms. Only ever lengthens a pause.
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return 1
"""


class RedisCounter:
    """Fixed one-second windows in Redis, shared by every instance; one script call (one round trip) per call.

    A fixed window lets up to twice a limit through across a window's edge; Atlassian's own burst limit is
    counted the same coarse way, and the defaults leave room for it. When Redis fails, `fallback` counts the
    call in this process (logged once per outage) rather than refusing every call or letting every call through.
    """

    def __init__(
        self,
        redis: Any,  # redis.asyncio.Redis (an optional dependency: typed loosely so the core imports without it)
        limits: QuotaLimits,
        *,
        fallback: QuotaCounter,
        prefix: str = "policyarc:quota:",
        window: float = 1.0,
    ) -> None:
        self._redis = redis
        self._fallback = fallback
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)
        self._pause = redis.register_script(_PAUSE)
        every: tuple[tuple[Reason, int], ...] = (
            ("user", limits.user_per_second),
            ("client", limits.client_per_second),
            ("tenant", limits.tenant_per_second),
        )
        self._dimensions = [(reason, limit) for reason, limit in every if limit > 0]
        # Each limit is per second: a window of `window` seconds (tests use long ones) allows that many times it.
        self._limits_argv = [str(round(window * 1000)), *(str(round(limit * window)) for _, limit in self._dimensions)]
        self._failing = False

    @classmethod
    def from_url(cls, url: str, limits: QuotaLimits, *, fallback: QuotaCounter) -> RedisCounter:
        import redis.asyncio

        # Short timeouts: a slow Redis must not become every tool call's latency (the fallback takes over).
        client = redis.asyncio.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        return cls(client, limits, fallback=fallback)

    def _keys(self, environment_id: str, user_id: str, client_id: str, tenant: str) -> list[str]:
        prefix = self._prefix
        ids = {"user": f"u:{environment_id}:{user_id}", "client": f"c:{environment_id}:{client_id}", "tenant": tenant}
        return [f"{prefix}pause:{tenant}", *(f"{prefix}{ids[reason]}" for reason, _ in self._dimensions)]

    async def take(self, environment_id: str, user_id: str, client_id: str, tenant: str) -> QuotaRefusal | None:
        keys = self._keys(environment_id, user_id, client_id, tenant)
        try:
            which, ms = await self._take(keys=keys, args=self._limits_argv)
        except Exception as exc:
            self._failed(exc)
            return await self._fallback.take(environment_id, user_id, client_id, tenant)
        self._recovered()
        which = int(which)
        if which < 0:
            return None
        reason: Reason = "paused" if which == 0 else self._dimensions[which - 1][0]
        return QuotaRefusal(reason, int(ms) / 1000)

    async def pause(self, tenant: str, seconds: float) -> None:
        try:
            await self._pause(keys=[f"{self._prefix}pause:{tenant}"], args=[max(1, math.ceil(seconds * 1000))])
        except Exception as exc:
            self._failed(exc)  # the change feed still carries the pause to the other instances

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            what = type(exc).__name__
            logger.warning("Redis for quotas failed (%s); counting in this instance until it answers", what)

    def _recovered(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("Redis for quotas answers again; quotas are shared again")


class Quota:
    """What the tool pipeline asks before a call goes upstream, and tells when upstream says to pause.

    `clock` is wall time (Unix seconds): a pause's end travels between instances as a moment, not a duration.
    """

    def __init__(
        self,
        counter: QuotaCounter,
        *,
        feed: ChangeFeed | None = None,
        clock: Callable[[], float] = time.time,
        max_pause: float = 3600.0,
    ) -> None:
        self._counter = counter
        self._feed = feed
        self.clock = clock
        self._max_pause = max_pause  # a Retry-After of days would be a broken header, not a plan
        self._paused: dict[str, float] = {}  # tenant -> until (Unix seconds)

    @classmethod
    def from_settings(cls, settings: Settings, *, feed: ChangeFeed | None = None) -> Quota:
        """From `Settings`: Redis when `redis_url` is set, else counting in this process."""
        limits = QuotaLimits(
            tenant_per_second=settings.quota_tenant_per_second,
            user_per_second=settings.quota_user_per_second,
            client_per_second=settings.quota_client_per_second,
        )
        counter: QuotaCounter = LocalCounter(limits)
        if settings.redis_url is not None:
            counter = RedisCounter.from_url(settings.redis_url.get_secret_value(), limits, fallback=counter)
        return cls(counter, feed=feed)

    async def admit(self, caller: Caller, tenant: str) -> QuotaRefusal | None:
        """None when the call may go upstream now; else why not and for how long. A paused tenant is answered
        from memory, and a refused call is not counted against the limits past the one that refused it."""
        if self._paused:
            until = self._paused.get(tenant)
            if until is not None:
                left = until - self.clock()
                if left > 0:
                    return QuotaRefusal("paused", left)
                del self._paused[tenant]
        refusal = await self._counter.take(caller.environment_id, caller.user_id, caller.client_id, tenant)
        if refusal is not None and refusal.reason == "paused":
            self.paused_until(tenant, self.clock() + refusal.wait)  # learnt from Redis: the next calls ask no one
        return refusal

    async def pause(self, tenant: str, seconds: float) -> None:
        """Upstream answered 429 with `Retry-After: seconds`: no calls to `tenant` until then, on every instance."""
        seconds = min(max(seconds, 0.0), self._max_pause)
        if seconds <= 0:
            return
        until = self.clock() + seconds
        self.paused_until(tenant, until)
        await self._counter.pause(tenant, seconds)
        if self._feed is not None:
            # repr: the exact float, so this instance hearing its own message (PostgreSQL sends it back, SQLite
            # delivers it here) does not move its pause by a rounding.
            self._feed.publish_soon(PAUSE_KIND, [f"{tenant}:{until!r}"])

    def pause_of(self, tenant: str) -> float | None:
        """When `tenant`'s pause known here ends (Unix seconds), if one is known."""
        return self._paused.get(tenant)

    def paused_until(self, tenant: str, until: float) -> None:
        """A pause until `until` (Unix seconds); an earlier end than one already known changes nothing."""
        if until > self._paused.get(tenant, 0.0):
            self._paused[tenant] = until

    def on_feed(self, key: str) -> None:
        """The change feed's `tenant_paused` handler: `key` is `<tenant>:<until>`, from this or another instance."""
        tenant, _, until = key.rpartition(":")
        try:
            moment = float(until)
        except ValueError:
            logger.warning("ignored a tenant pause without a time: %.80r", key)
            return
        if tenant and math.isfinite(moment):
            self.paused_until(tenant, min(moment, self.clock() + self._max_pause))

    async def aclose(self) -> None:
        await self._counter.aclose()
