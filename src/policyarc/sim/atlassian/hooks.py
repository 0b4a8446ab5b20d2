"""Test hooks under `/_sim/`: injected faults, a log of received requests, the clock, and reset.

Not part of Atlassian. `/_sim/...` requests themselves are neither logged nor subject to faults, so a test
can always inspect and clear.

- `POST /_sim/faults` `{"path", "method"?, "kind", "status"?, "latency_ms"?, "count"?, "seconds"?,
  "retry_after"?, "reason"?}` adds a rule and answers it with its `id` (201). `path` is a glob over the request
  path (`/api/ex/jira/*/rest/api/3/issue/*`; `*` also crosses `/`), or a regular expression when it starts
  with `^`. Kinds: `latency` (wait `latency_ms`, then answer normally), `error` (answer `status`, default 503,
  with a Jira error body), `rate_limit` (429 with `Retry-After: retry_after` and `RateLimit-Reason: reason`),
  `drop` (close the connection without a response; see `ConnectionDropped`), `edge_error` (what Atlassian's
  edge answers when the service behind it is down or overloaded: `status`, default 503, with an HTML page
  rather than Jira's JSON, and `Retry-After: retry_after`, as Atlassian documents for transient 5xx answers).
  `latency_ms` also delays the
  other kinds. The first matching rule applies; it expires after `count` matches or `seconds` of `Clock` time.
  `GET` lists the live rules; `DELETE /_sim/faults` clears them, `DELETE /_sim/faults/{id}` removes one.
- `GET /_sim/requests?path=&since=&method=`: what the simulator received, oldest first (a ring buffer of
  10,000): `seq`, `time`, `method`, `path`, `query`, `headers`, `body`, `status`. `path` filters by prefix,
  or by glob when it contains `*`; `since` keeps entries with a larger `seq`. Credentials are masked when
  listed (`Bearer ****abcd`): the Authorization header, cookies, and the values of `client_secret`,
  `refresh_token`, `code`, `access_token`, `password`, ... (any case, `_` or `-` or camelCase) in JSON, form
  and query data, and `key: value` / `key=value` pairs in other text. `DELETE` clears.
- `GET /_sim/clock` -> `{"now", "time", "offset"}`; `POST {"advance": seconds}` moves the clock forward.
- `POST /_sim/reset`: a fresh seed world, no tokens, faults, log entries or rate-limit state, clock offset 0.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.ratelimit import PER_ISSUE, too_many_requests
from policyarc.sim.atlassian.state import Clock, SimState

HOOK_PREFIX = "/_sim/"


class ConnectionDropped(httpx.RemoteProtocolError):
    """A `drop` fault. Under uvicorn the connection closes with no response at all; an in-process client
    (`httpx.ASGITransport`) gets this exception, the same class httpx raises for a real dropped connection."""


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1)
    method: str | None = None
    kind: Literal["latency", "error", "rate_limit", "drop", "edge_error"]
    status: int = Field(default=503, ge=400, le=599)
    latency_ms: float = Field(default=0, ge=0, le=600_000)
    count: int | None = Field(default=None, ge=1)
    seconds: float | None = Field(default=None, gt=0)
    retry_after: int = Field(default=1, ge=1)
    reason: Literal[
        "jira-burst-based", "jira-per-issue-on-write", "jira-quota-global-based", "jira-quota-tenant-based"
    ] = "jira-burst-based"


@dataclass
class FaultRule:
    id: int
    spec: FaultSpec
    pattern: re.Pattern[str]
    expires_at: float | None
    remaining: int | None
    hits: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "remaining": self.remaining,
            "hits": self.hits,
            "expires_at": self.expires_at,
        }


class FaultRules:
    """The live fault rules, in the order they were added."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.rules: list[FaultRule] = []
        self._next_id = 1

    def add(self, spec: FaultSpec) -> FaultRule:
        """Raises ValueError for a path that is not a valid regular expression."""
        source = spec.path if spec.path.startswith("^") else fnmatch.translate(spec.path)
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise ValueError(f"path is not a valid regular expression: {exc}") from exc
        expires_at = self.clock.time() + spec.seconds if spec.seconds else None
        method = spec.method.upper() if spec.method else None
        rule = FaultRule(self._next_id, spec.model_copy(update={"method": method}), pattern, expires_at, spec.count)
        self._next_id += 1
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> bool:
        before = len(self.rules)
        self.rules = [rule for rule in self.rules if rule.id != rule_id]
        return len(self.rules) < before

    def clear(self) -> None:
        self.rules.clear()

    def live(self) -> list[FaultRule]:
        now = self.clock.time()
        self.rules = [r for r in self.rules if (r.expires_at is None or now < r.expires_at) and r.remaining != 0]
        return self.rules

    def match(self, method: str, path: str) -> FaultRule | None:
        """The first live rule for this request, counted as used."""
        for rule in self.live():
            if (rule.spec.method is None or rule.spec.method == method) and rule.pattern.match(path):
                rule.hits += 1
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None


class FaultMiddleware:
    def __init__(self, app: ASGIApp, faults: FaultRules) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The hot path: no rules, no work.
        if not self.faults.rules or scope["type"] != "http" or scope["path"].startswith(HOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        rule = self.faults.match(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        spec = rule.spec
        if spec.latency_ms:
            await asyncio.sleep(spec.latency_ms / 1000)
        if spec.kind == "latency":
            await self.app(scope, receive, send)
        elif spec.kind == "error":
            await jira_error(spec.status, [f"Simulated fault {rule.id}."])(scope, receive, send)
        elif spec.kind == "edge_error":
            await edge_error_page(spec.status, spec.retry_after)(scope, receive, send)
        elif spec.kind == "rate_limit":
            limit = 20 if spec.reason == PER_ISSUE else 100
            await too_many_requests(spec.reason, limit, spec.retry_after, self.faults.clock.time())(
                scope, receive, send
            )
        else:
            await _drop(send)


_EDGE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Atlassian - {status}</title></head>
<body><h1>Something went wrong</h1>
<p>We're having trouble reaching this service right now ({status}). Please try again in a moment.</p>
</body></html>
"""


def edge_error_page(status: int, retry_after: int) -> HTMLResponse:
    """The edge's own answer for a service it cannot reach: HTML, not Jira's error JSON."""
    return HTMLResponse(_EDGE_PAGE.format(status=status), status_code=status, headers={"Retry-After": str(retry_after)})


async def _drop(send: Send) -> None:
    # uvicorn closes the connection (instead of answering 500) only when the app fails after starting a
    # response. A header name with a space makes its `send` fail before it writes a byte, so the client sees
    # the connection close with nothing received: what a crashed upstream or a reset connection looks like.
    start: Message = {"type": "http.response.start", "status": 500, "headers": [(b"simulated drop", b"1")]}
    try:
        await send(start)
    except Exception as exc:
        raise ConnectionDropped("Server disconnected without sending a response.") from exc
    raise ConnectionDropped("Server disconnected without sending a response.")


# --- the request log ---------------------------------------------------------------------------------------

SECRET_KEYS = frozenset(
    {"client_secret", "refresh_token", "code", "access_token", "password", "id_token", "api_token", "token"}
)
# Keys compared without case, `_` or `-`, so `clientSecret` and `Refresh-Token` are caught too.
_SECRET_NAMES = frozenset(key.replace("_", "") for key in SECRET_KEYS)
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# A secret-named key followed by its value, in text that is neither JSON nor a form (or failed to parse).
_SECRET_IN_TEXT = re.compile(
    r"""(["']?\b(?:"""
    + "|".join(k.replace("_", "[_-]?") for k in sorted(SECRET_KEYS))
    + r""")\b["']?\s*[:=]\s*["']?)"""
    r"""([^"'&,;\s}]+)""",
    re.IGNORECASE,
)
_BODY_CAP = 65_536  # bytes of a request body kept per entry


def _is_secret(key: str) -> bool:
    return key.lower().replace("_", "").replace("-", "") in _SECRET_NAMES


def mask(secret: str) -> str:
    """`****` plus the last four characters, enough to tell tokens apart; short values are hidden whole."""
    return f"****{secret[-4:]}" if len(secret) >= 16 else "****"


class _Entry:
    __slots__ = ("body", "error", "headers", "method", "path", "query", "seq", "status", "time")

    def __init__(self, seq: int, time: float, scope: Scope) -> None:
        self.seq = seq
        self.time = time
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope["query_string"]
        self.headers: list[tuple[bytes, bytes]] = scope["headers"]
        self.body: bytearray | None = None
        self.status: int | None = None
        self.error: str | None = None


class RequestLog:
    """A bounded ring buffer of received requests. Recording keeps the raw parts (cheap on the hot path);
    decoding and masking happen when a test lists them."""

    def __init__(self, clock: Clock, maxlen: int = 10_000) -> None:
        self.clock = clock
        self._entries: deque[_Entry] = deque(maxlen=maxlen)
        self.last_seq = 0

    def record(self, scope: Scope) -> _Entry:
        self.last_seq += 1
        entry = _Entry(self.last_seq, self.clock.time(), scope)
        self._entries.append(entry)
        return entry

    def clear(self) -> None:
        self._entries.clear()

    def entries(self, path: str | None = None, method: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        if path and "*" in path:
            pattern = re.compile(fnmatch.translate(path))
            wanted: Callable[[str], bool] = lambda p: pattern.match(p) is not None  # noqa: E731
        else:
            prefix = path or ""
            wanted = lambda p: p.startswith(prefix)  # noqa: E731
        verb = method.upper() if method else None
        return [
            _render(e) for e in self._entries if e.seq > since and wanted(e.path) and (verb is None or e.method == verb)
        ]


def _render(entry: _Entry) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in entry.headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if name in _SECRET_HEADERS:
            scheme, _, credentials = value.partition(" ")
            value = f"{scheme} {mask(credentials)}" if credentials and name.endswith("authorization") else mask(value)
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return {
        "seq": entry.seq,
        "time": datetime.fromtimestamp(entry.time, UTC).isoformat(),
        "method": entry.method,
        "path": entry.path,
        "query": _masked_query(entry.query.decode("latin-1")),
        "headers": headers,
        "body": _masked_body(bytes(entry.body), headers.get("content-type", "")) if entry.body else None,
        "status": entry.status,
        "error": entry.error,
    }


def _masked_query(query: str) -> str:
    parts = []
    for part in query.split("&") if query else ():
        key, eq, value = part.partition("=")
        parts.append(f"{key}={mask(unquote_plus(value))}" if eq and _is_secret(unquote_plus(key)) else part)
    return "&".join(parts)


def _masked_body(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip()[:1] in ("{", "["):
        try:
            return _masked_json(json.loads(text))
        except ValueError:
            pass
    elif "x-www-form-urlencoded" in content_type:
        return {k: mask(v) if _is_secret(k) else v for k, v in parse_qsl(text, keep_blank_values=True)}
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + mask(m.group(2)), text)


def _masked_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (mask(v) if isinstance(v, str) else "****") if _is_secret(k) else _masked_json(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked_json(v) for v in value]
    return value


async def _buffered_body(receive: Receive, entry: _Entry) -> Receive:
    """Read the whole body first, so it is logged even when the route never reads it; replay it to the app."""
    chunks: list[bytes] = []
    pending: Message | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending = message  # the client went away; the app sees that after the body
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    entry.body = bytearray(body[:_BODY_CAP]) if body else None
    replay: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if pending is not None:
        replay.append(pending)

    async def replayed() -> Message:
        return replay.pop(0) if replay else await receive()

    return replayed


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp, log: RequestLog) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(HOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        entry = self.log.record(scope)

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        try:
            if scope["method"] in ("GET", "HEAD"):  # the hot path: no body to keep
                await self.app(scope, receive, logged_send)
            else:
                await self.app(scope, await _buffered_body(receive, entry), logged_send)
        except ConnectionDropped:
            entry.status, entry.error = None, "connection dropped"
            raise
        except Exception as exc:
            entry.status, entry.error = 500, type(exc).__name__
            raise


@dataclass
class SimHooks:
    """What the hook routes act on, kept on `app.state.hooks`."""

    faults: FaultRules
    requests: RequestLog
    reset: Callable[[], None] = field(repr=False)


def _hooks(request: Request) -> SimHooks:
    hooks: SimHooks = request.app.state.hooks
    return hooks


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def add_fault(request: Request) -> Response:
    body = await _json_object(request)
    if body is None:
        return _bad("body must be a JSON object")
    try:
        rule = _hooks(request).faults.add(FaultSpec.model_validate(body))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        return _bad(f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}")
    except ValueError as exc:
        return _bad(str(exc))
    return JSONResponse(rule.as_json(), status_code=201)


async def list_faults(request: Request) -> Response:
    return JSONResponse({"faults": [rule.as_json() for rule in _hooks(request).faults.live()]})


async def clear_faults(request: Request) -> Response:
    _hooks(request).faults.clear()
    return Response(status_code=204)


async def remove_fault(request: Request) -> Response:
    if not _hooks(request).faults.remove(request.path_params["rule_id"]):
        return _bad("no such fault rule", 404)
    return Response(status_code=204)


async def list_requests(request: Request) -> Response:
    params = request.query_params
    since = params.get("since", "0")
    if not since.isdigit():
        return _bad("since must be a sequence number")
    log = _hooks(request).requests
    entries = log.entries(path=params.get("path"), method=params.get("method"), since=int(since))
    return JSONResponse({"requests": entries, "last_seq": log.last_seq})


async def clear_requests(request: Request) -> Response:
    _hooks(request).requests.clear()
    return Response(status_code=204)


def _clock_json(clock: Clock) -> dict[str, Any]:
    return {"now": clock.now().isoformat(), "time": clock.time(), "offset": clock.offset}


async def get_clock(request: Request) -> Response:
    sim: SimState = request.app.state.sim
    return JSONResponse(_clock_json(sim.clock))


async def advance_clock(request: Request) -> Response:
    body = await _json_object(request)
    advance = body.get("advance") if body else None
    if not isinstance(advance, int | float) or isinstance(advance, bool) or not 0 <= advance < 10**9:
        return _bad("advance must be a number of seconds, 0 or more")
    sim: SimState = request.app.state.sim
    sim.clock.advance(float(advance))
    return JSONResponse(_clock_json(sim.clock))


async def reset(request: Request) -> Response:
    _hooks(request).reset()
    return JSONResponse({"reset": True})


def hook_routes() -> list[BaseRoute]:
    return [
        Route("/_sim/faults", add_fault, methods=["POST"]),
        Route("/_sim/faults", list_faults, methods=["GET"]),
        Route("/_sim/faults", clear_faults, methods=["DELETE"]),
        Route("/_sim/faults/{rule_id:int}", remove_fault, methods=["DELETE"]),
        Route("/_sim/requests", list_requests, methods=["GET"]),
        Route("/_sim/requests", clear_requests, methods=["DELETE"]),
        Route("/_sim/clock", get_clock, methods=["GET"]),
        Route("/_sim/clock", advance_clock, methods=["POST"]),
        Route("/_sim/reset", reset, methods=["POST"]),
    ]
