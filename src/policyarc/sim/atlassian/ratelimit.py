"""Jira Cloud's burst rate limits for OAuth apps, as pure ASGI middleware.

Token buckets, refilled continuously from the simulator's `Clock`, each holding one second's worth of requests:

- per tenant (cloud id), endpoint template (`/rest/api/3/issue/{id}`) and method class: GET/POST at
  `SimConfig.get_post_per_second`, PUT/PATCH/DELETE at `put_delete_per_second` (reason `jira-burst-based`);
- per issue, for writes (POST/PUT/PATCH/DELETE under `/rest/api/N/issue/{issueIdOrKey}`):
  `issue_writes_per_window` per `issue_write_window` seconds (reason `jira-per-issue-on-write`).

A refused request gets 429 with Jira's error body and `Retry-After` (whole seconds, at least 1),
`RateLimit-Reason`, `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (ISO 8601, UTC).
Only Jira REST paths are limited: `/api/ex/jira/{cloudId}/rest/...` and `/site/{site}/rest/...`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Final, NamedTuple

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from policyarc.sim.atlassian.state import Clock, SimConfig, SimState

BURST: Final = "jira-burst-based"
PER_ISSUE: Final = "jira-per-issue-on-write"
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SLOW_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
_MAX_BUCKETS = 100_000  # a guard against unbounded growth from made-up paths


class Endpoint(NamedTuple):
    """Where a Jira REST request goes: the tenant (by cloud id or site name), the path template, the issue."""

    tenant: str
    by_site_name: bool
    template: str
    issue: str | None  # the issue id or key in the path, as given


def _is_issue_key(segment: str) -> bool:
    project, dash, number = segment.rpartition("-")
    return bool(dash) and number.isdigit() and project[:1].isalpha() and project.replace("_", "").isalnum()


@lru_cache(maxsize=8192)
def endpoint_of(path: str) -> Endpoint | None:
    """The rate-limit endpoint for a request path, or None when the path is not a Jira REST call."""
    if path.startswith("/api/ex/jira/"):
        tenant, _, rest = path[len("/api/ex/jira/") :].partition("/")
        by_site_name = False
    elif path.startswith("/site/"):
        tenant, _, rest = path[len("/site/") :].partition("/")
        by_site_name = True
    else:
        return None
    if not tenant or not rest.startswith("rest/"):
        return None
    parts = rest.split("/")
    issue = None
    if len(parts) > 4 and parts[1] == "api" and parts[3] == "issue" and (parts[4].isdigit() or _is_issue_key(parts[4])):
        issue = parts[4]
    # parts[:3] is `rest/api/3` (or `rest/agile/1.0`): the version is part of the endpoint, not an id.
    tail = ("{id}" if p.isdigit() or _is_issue_key(p) else p for p in parts[3:])
    template = "/" + "/".join([*parts[:3], *tail])
    return Endpoint(tenant, by_site_name, template, issue)


@dataclass(frozen=True)
class Denial:
    reason: str
    limit: int
    wait: float  # seconds until a request would be let through


class RateLimiter:
    """The buckets. `check()` takes a token for a request or says why and for how long it cannot."""

    def __init__(self, config: SimConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._buckets: dict[tuple[str, ...], list[float]] = {}  # key -> [tokens, time of last update]

    def clear(self) -> None:
        self._buckets.clear()

    def check(self, method: str, tenant: str, template: str, issue_key: str | None) -> Denial | None:
        now = self.clock.time()
        config = self.config
        slow = method in _SLOW_METHODS
        rate = config.put_delete_per_second if slow else config.get_post_per_second
        wait = self._take(("burst", tenant, template, "put_delete" if slow else "get_post"), rate, rate, now)
        if wait:
            return Denial(BURST, int(rate), wait)
        if issue_key is not None and method in _WRITE_METHODS:
            capacity = float(config.issue_writes_per_window)
            wait = self._take(("issue", tenant, issue_key), capacity / config.issue_write_window, capacity, now)
            if wait:
                return Denial(PER_ISSUE, config.issue_writes_per_window, wait)
        return None

    def _take(self, key: tuple[str, ...], rate: float, capacity: float, now: float) -> float:
        """Take one token; 0.0 when there was one, else the seconds until there will be."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.clear()
            self._buckets[key] = [capacity - 1.0, now]
            return 0.0
        tokens = min(capacity, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        # The epsilon absorbs float rounding of epoch seconds (about 1e-7 s at today's magnitudes).
        if tokens >= 1.0 - 1e-6:
            bucket[0] = max(0.0, tokens - 1.0)
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / rate


def too_many_requests(reason: str, limit: int, wait: float, now: float) -> JSONResponse:
    """Jira's 429: error body plus the headers a client uses to back off."""
    retry_after = max(1, math.ceil(wait))
    reset = datetime.fromtimestamp(now + wait, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    headers = {
        "Retry-After": str(retry_after),
        "RateLimit-Reason": reason,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset,
    }
    body = {"errorMessages": ["Rate limit exceeded."], "errors": {}}
    return JSONResponse(body, status_code=429, headers=headers)


class RateLimitMiddleware:
    """Refuses Jira REST calls over the burst or per-issue limits; everything else passes untouched."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, sim: SimState) -> None:
        self.app = app
        self.limiter = limiter
        self.sim = sim  # read at call time: /_sim/reset replaces sim.world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = endpoint_of(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        tenant, issue = self._resolve(endpoint, method)
        denial = self.limiter.check(method, tenant, endpoint.template, issue)
        if denial is None:
            await self.app(scope, receive, send)
            return
        response = too_many_requests(denial.reason, denial.limit, denial.wait, self.limiter.clock.time())
        await response(scope, receive, send)

    def _resolve(self, endpoint: Endpoint, method: str) -> tuple[str, str | None]:
        """The tenant's cloud id, and for a write the issue key (an issue has one bucket by id or key)."""
        world = self.sim.world
        if endpoint.by_site_name:
            site = world.sites.get(endpoint.tenant.lower())
            tenant = site.cloud_id if site else f"site:{endpoint.tenant}"
        else:
            tenant = endpoint.tenant
            site = None
        if endpoint.issue is None or method not in _WRITE_METHODS:
            return tenant, None
        site = site or world.site_by_cloud_id(tenant)
        issue = site.find_issue(endpoint.issue) if site else None
        return tenant, issue.key if issue else endpoint.issue.upper()
