"""Per-address rate limits for the OAuth endpoints anyone may call without credentials.

/register, /authorize and /oauth/login each store a row for every request they accept, before anyone has
signed in; a token bucket per client address bounds how fast one address can add them. `RateLimiter` is the
seam: `TokenBucket` keeps the buckets in this process (each instance counts on its own, so N instances allow N
times the rate), and a shared limiter (Redis) can take its place for several instances without touching the
middleware.

A refusal is `429 Too Many Requests` with `Retry-After` (RFC 6585 section 4, RFC 9110 section 10.2.3) and an
OAuth-style JSON body, `{"error": "too_many_requests", ...}`. OAuth registers no error code for this: `slow_down`
(RFC 8628 section 3.5) tells a device-flow client polling /token to add five seconds to its interval, and comes
with status 400, so a client that knows it would misread it here; `temporarily_unavailable` (RFC 6749 section
4.1.2.1) says the server is overloaded, not that this caller is too fast. The status code carries the meaning;
the error code names it plainly.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

if TYPE_CHECKING:
    from policyarc.oauth.config import OAuthConfig

__all__ = ["OAuthLimiters", "RateLimiter", "Throttle", "TokenBucket", "client_key"]


class RateLimiter(Protocol):
    async def hit(self, key: str) -> float | None:
        """Count one request for `key`: None when it may proceed, else the seconds until one would be allowed."""


@dataclass(frozen=True)
class OAuthLimiters:
    """One limiter per endpoint (each has its own budget); None leaves an endpoint unlimited."""

    register: RateLimiter | None
    authorize: RateLimiter | None
    login: RateLimiter | None

    @classmethod
    def in_process(cls, config: OAuthConfig, *, clock: Callable[[], float] = time.monotonic) -> OAuthLimiters:
        def bucket(per_minute: int) -> TokenBucket | None:
            return TokenBucket(per_minute, clock=clock) if per_minute > 0 else None

        return cls(
            register=bucket(config.register_per_minute),
            authorize=bucket(config.authorize_per_minute),
            login=bucket(config.login_per_minute),
        )


class TokenBucket:
    """`limit` requests per key per `period` seconds (a minute unless told), in bursts of up to `limit`; memory
    bounded by `max_keys`.

    A bucket that has refilled completely is the same as no bucket, so keys idle for a full refill (one period)
    are dropped losslessly; beyond `max_keys` busy keys, the least recently seen one is dropped (that key starts
    again with a full bucket: the price of bounded memory under a spread-out flood).
    """

    def __init__(
        self,
        limit: int,
        *,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if limit < 1 or max_keys < 1 or period <= 0:
            raise ValueError("limit and max_keys must be at least 1, and period above 0")
        self._capacity = float(limit)
        self._rate = limit / period
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, when), oldest first

    def __len__(self) -> int:
        return len(self._buckets)

    async def hit(self, key: str) -> float | None:
        return self.take(key)

    def take(self, key: str) -> float | None:
        """`hit` without the coroutine, for callers on the hot path (quota.py)."""
        now = self._clock()
        self._drop_idle(now)
        tokens, when = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - when) * self._rate)
        wait: float | None = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def _drop_idle(self, now: float) -> None:
        # Entries are in order of their last hit, so the idle ones are all at the front.
        full_after = self._capacity / self._rate
        while self._buckets:
            _, when = next(iter(self._buckets.values()))
            if now - when < full_after:
                return
            self._buckets.popitem(last=False)


def client_key(scope: Scope) -> str:
    """The address a request is counted against.

    `scope["client"]` is the peer address; uvicorn replaces it with the X-Forwarded-For address only for proxies
    listed in `--forwarded-allow-ips` (`FORWARDED_ALLOW_IPS`, by default 127.0.0.1 alone), so a remote client
    cannot forge it, and behind a proxy that is not listed every request counts against the proxy's address.
    IPv6 addresses count per /64, which one host usually holds entirely (RFC 6177), so rotating through it does
    not escape the limit.
    """
    client = scope.get("client")
    host = str(client[0]) if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


class Throttle:
    """Pure ASGI middleware: refuse requests over `limiter`'s rate for their address with 429."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, *, endpoint: str) -> None:
        self.app = app
        self._limiter = limiter
        self._endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        wait = await self._limiter.hit(client_key(scope))
        if wait is None:
            await self.app(scope, receive, send)
            return
        seconds = max(1, math.ceil(wait))
        response = JSONResponse(
            {
                "error": "too_many_requests",
                "error_description": f"Too many {self._endpoint} requests from your address; "
                f"try again in {seconds} seconds.",
            },
            status_code=429,
            headers={"Retry-After": str(seconds), "Cache-Control": "no-store"},
        )
        await response(scope, receive, send)
