"""The upstream Jira Cloud REST v3 client: one pooled `Upstream` (upstream.py), the caller's token on every call.

Retries: a read is retried on 429/500/502/503/504 and on connection failures, honouring `Retry-After` with
jitter, within a bounded number of attempts and total wait. A write is retried only when it certainly did
not run: the connection was never made, or Jira's rate limiter refused it (429 is answered before the
request is processed). Everything else surfaces as a `JiraError` carrying Jira's own message; a write that
may have reached Jira (no answer after sending, or a 5xx) as `JiraOutcomeUnknown`, which says to check the
issue before retrying, and one that certainly did not run says so.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import httpx
import orjson

from policyarc.connectors.jira.errors import (
    JiraBadRequest,
    JiraError,
    JiraForbidden,
    JiraNotFound,
    JiraOutcomeUnknown,
    JiraRateLimited,
    JiraUnauthorized,
    JiraUnavailable,
)
from policyarc.upstream import Upstream, UpstreamBodyTooLarge, UpstreamDecodingError, UpstreamResponse

if TYPE_CHECKING:
    from policyarc.metrics import Metrics
    from policyarc.tracing import Tracing

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# The request never left the gateway: retrying is safe for reads and writes alike.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
CHECK_FIRST = (
    "Check the issue in Jira (for a new issue, search for it) before retrying, or the change may be made twice."
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # total tries, the first included
    max_wait: float = 8.0  # longest single wait we accept; a longer Retry-After is surfaced instead
    base_delay: float = 0.2  # backoff when Jira gives no Retry-After


class JiraClient:
    """Calls `{api_url}/ex/jira/{cloud_id}/rest/api/3/...` as the user whose token is passed in."""

    def __init__(
        self,
        upstream: Upstream,
        *,
        api_url: str,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._upstream = upstream
        self._api_url = api_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._metrics = metrics
        self._tracing = tracing

    def url(self, cloud_id: str, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The encoded URL (tools validate keys and ids; quoting still keeps any odd character in its segment)."""
        url = f"{self._api_url}/ex/jira/{quote(cloud_id, safe='')}/rest/api/3/{quote(path.lstrip('/'), safe='/')}"
        return f"{url}?{_query(params)}" if params else url

    async def get(self, cloud_id: str, path: str, token: str, *, params: Mapping[str, Any] | None = None) -> Any:
        return await self.request("GET", cloud_id, path, token, params=params, read_only=True)

    async def request(
        self,
        method: str,
        cloud_id: str,
        path: str,
        token: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        read_only: bool = False,
    ) -> Any:
        """Send one logical request; `read_only` marks a POST that only reads (search) as safe to retry."""
        url = self.url(cloud_id, path, params)
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        content: bytes | None = None
        if json is not None:
            content = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        safe = read_only or method in ("GET", "HEAD")
        for attempt in range(1, self._retry.attempts + 1):
            last = attempt == self._retry.attempts
            try:
                response = await self._send(method, url, headers, content)
            except NOT_SENT as exc:
                if last:
                    outcome = "try again shortly" if safe else "the change was not made; try again shortly"
                    raise JiraUnavailable(None, [f"Jira is unreachable ({type(exc).__name__}); {outcome}."]) from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            except UpstreamDecodingError as exc:
                # The same request would get the same answer: never retried.
                raise JiraUnavailable(None, [_undecodable(exc)]) from exc
            except httpx.HTTPError as exc:
                if not safe:
                    raise JiraOutcomeUnknown(
                        None,
                        [
                            f"The connection to Jira failed after the change was sent ({type(exc).__name__}), "
                            f"so Jira may have made it. {CHECK_FIRST}"
                        ],
                    ) from exc
                if last:
                    message = f"The connection to Jira failed ({type(exc).__name__}); try again shortly."
                    raise JiraUnavailable(None, [message]) from exc
                await asyncio.sleep(self._backoff(attempt, None))
                continue
            status = response.status
            if status < 400:
                return _decode(response)
            if status in RETRYABLE_STATUSES and not last and (safe or status == 429):
                delay = self._backoff(attempt, _retry_after(response))
                if delay <= self._retry.max_wait:
                    await asyncio.sleep(delay)
                    continue
            raise _error_for(response, write=not safe)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, url: str, headers: dict[str, str], content: bytes | None) -> UpstreamResponse:
        """One send, measured (latency, status class, 429 reason) and traced when those are on."""
        if self._metrics is None and self._tracing is None:
            return await self._upstream.send(method, url, headers=headers, content=content)
        started = time.perf_counter()
        status: int | None = None
        try:
            if self._tracing is None:
                response = await self._upstream.send(method, url, headers=headers, content=content)
            else:
                with self._tracing.upstream_span(method, url) as span:
                    response = await self._upstream.send(method, url, headers=headers, content=content)
                    span.set_attribute("http.response.status_code", response.status)
            status = response.status
            return response
        finally:
            if self._metrics is not None:
                self._metrics.upstream_answered(status, time.perf_counter() - started)
                if status == 429:
                    self._metrics.rate_limited(response.headers.get("RateLimit-Reason"))

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        base = retry_after if retry_after is not None else self._retry.base_delay * (2 ** (attempt - 1))
        return base + random.uniform(0, base * 0.2 + 0.05)  # jitter spreads retries from many callers


def _query(params: Mapping[str, Any]) -> str:
    # As httpx encodes them: booleans as true/false, None as empty, a list as repeated keys.
    pairs: list[tuple[str, str]] = []
    for name, value in params.items():
        for item in value if isinstance(value, list | tuple) else (value,):
            text = ("true" if item else "false") if isinstance(item, bool) else "" if item is None else str(item)
            pairs.append((name, text))
    return urlencode(pairs, quote_via=quote)


def _decode(response: UpstreamResponse) -> Any:
    if response.status == 204 or not response.content:
        return None
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise JiraUnavailable(response.status, ["Jira answered with something that is not JSON."]) from exc


def _undecodable(exc: UpstreamDecodingError) -> str:
    if isinstance(exc, UpstreamBodyTooLarge):
        return f"Jira's answer is larger than the gateway reads ({exc.limit:,} bytes); ask for fewer results or fields."
    return f"Jira's answer could not be read ({exc}); try again, and tell the gateway's admin if it persists."


def _retry_after(response: UpstreamResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _error_for(response: UpstreamResponse, *, write: bool = False) -> JiraError:
    status = response.status
    messages: list[str] = []
    field_errors: dict[str, str] = {}
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        messages = [str(m) for m in body.get("errorMessages") or [] if m]
        errors = body.get("errors")
        if isinstance(errors, dict):
            field_errors = {str(k): str(v) for k, v in errors.items()}
        if not messages and not field_errors and body.get("message"):
            messages = [str(body["message"])]
    kind: type[JiraError]
    if status == 400:
        kind = JiraBadRequest
    elif status == 401:
        kind = JiraUnauthorized
    elif status == 403:
        kind = JiraForbidden
    elif status == 404:
        kind = JiraNotFound
    elif status == 429:
        kind = JiraRateLimited
        if not messages:
            messages = ["Jira's rate limit was reached."]
        if write:
            messages.append("The change was not made.")  # the rate limiter answers before anything runs
    elif status >= 500:
        said = f" Jira said: {' '.join(messages)}" if messages else ""
        if write:
            kind = JiraOutcomeUnknown
            messages = [f"Jira answered HTTP {status} to this change, which it may have made. {CHECK_FIRST}{said}"]
        else:
            kind = JiraUnavailable
            messages = [f"Jira is having trouble (HTTP {status}); try again shortly.{said}"]
    else:
        kind = JiraError
    error = kind(status, messages, field_errors, retry_after=_retry_after(response))
    if isinstance(error, JiraRateLimited):
        error.reason = response.headers.get("RateLimit-Reason")
    return error
