"""What Atlassian's edge does to every answer on the wire, as pure ASGI middleware in front of the simulator.

A captured Jira Cloud answer (`GET /rest/api/3/users`, January 2025) carries, beside the body:
`Content-Type: application/json;charset=UTF-8` (no space, `UTF-8` upper-case: Jira's own, on every status),
`Content-Encoding: gzip` with `Transfer-Encoding: chunked` (no `Content-Length`) and `Vary: Accept-Encoding`,
`X-Arequestid` (Jira's request id, 32 hex digits), `Atl-Traceid` (the edge's trace id, 32 hex digits) and
`Atl-Request-Id` (the same trace id as a UUID). A client that asks for gzip and cannot read it, or that
expects a bare `application/json`, works against a plain simulator and fails against the real hosts; this
middleware makes the simulator answer the same way:

- gzip when the request's `Accept-Encoding` allows it (RFC 9110 section 12.5.3, q-values and `*` included),
  the body is JSON, text or HTML of at least `MIN_COMPRESS_SIZE` bytes, and the answer is not already encoded.
  Atlassian does not document its threshold; 1,000 bytes is CloudFront's documented minimum, and small error
  bodies stay readable in a packet capture. A compressed answer goes out without `Content-Length`, so a
  server sends it chunked, as the real edge does;
- `Vary: Accept-Encoding` on every answer that could have been compressed;
- Jira's `application/json;charset=UTF-8` in place of Starlette's `application/json` on Jira REST paths;
- `Atl-Traceid` and `Atl-Request-Id` on every answer, and `X-Arequestid` on Jira REST paths;
- Jira's `Set-Cookie: atlassian.xsrf.token=...` on Jira REST answers (in the same capture), which a client
  that serves many users from one connection pool must not keep and send on another user's behalf.

`/_sim/...` hooks are left alone. An answer that is not compressed passes through at once (no buffering), so a
`drop` fault still fails on its first message.
"""

from __future__ import annotations

import gzip
import os

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MIN_COMPRESS_SIZE = 1000
JIRA_JSON = "application/json;charset=UTF-8"
# The simulator's job is the wire's shape, not the ratio: the cheapest level keeps the benchmarks' simulator lean.
_LEVEL = 1
_HOOK_PREFIX = "/_sim/"
_COMPRESSIBLE = ("application/json", "text/", "application/problem+json")


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` value allows gzip (RFC 9110 section 12.5.3): named with q > 0, or `*` with
    q > 0 when gzip is not named. An empty value allows only identity."""
    named: float | None = None
    star: float | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding in ("gzip", "x-gzip"):
            named = weight
        elif coding == "*":
            star = weight
    if named is not None:
        return named > 0
    return star is not None and star > 0


def is_jira_rest(path: str) -> bool:
    """`/api/ex/jira/{cloudId}/rest/...` (api.atlassian.com) or `/site/{site}/rest/...` ({site}.atlassian.net)."""
    if path.startswith("/api/ex/jira/"):
        return "/rest/" in path
    if path.startswith("/site/"):
        return path.split("/", 4)[3:4] == ["rest"]
    return False


def _compressible(content_type: str) -> bool:
    return content_type.startswith(_COMPRESSIBLE)


def _edge_headers(jira: bool) -> list[tuple[bytes, bytes]]:
    trace = os.urandom(16).hex()
    dashed = f"{trace[:8]}-{trace[8:12]}-{trace[12:16]}-{trace[16:20]}-{trace[20:]}"
    added = [(b"atl-traceid", trace.encode()), (b"atl-request-id", dashed.encode())]
    if jira:
        added.append((b"x-arequestid", os.urandom(16).hex().encode()))
        xsrf = f"atlassian.xsrf.token={os.urandom(20).hex()}_lin; Path=/; SameSite=None; Secure"
        added.append((b"set-cookie", xsrf.encode()))
    return added


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, min_size: int = MIN_COMPRESS_SIZE) -> None:
        self.app = app
        self.min_size = min_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(_HOOK_PREFIX):
            await self.app(scope, receive, send)
            return
        jira = is_jira_rest(path)
        gzip_ok = scope["method"] != "HEAD" and any(
            name == b"accept-encoding" and accepts_gzip(value.decode("latin-1")) for name, value in scope["headers"]
        )
        held: Message | None = None  # the start of an answer that may be compressed, until its body is known
        chunks: list[bytes] = []

        async def edge_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=[*message["headers"], *_edge_headers(jira)])
                content_type = headers.get("content-type", "")
                compressible = _compressible(content_type)
                if compressible:
                    headers.add_vary_header("Accept-Encoding")
                if jira and content_type == "application/json":
                    headers["content-type"] = JIRA_JSON
                length = headers.get("content-length")
                start = {**message, "headers": headers.raw}
                if (
                    gzip_ok
                    and compressible
                    and "content-encoding" not in headers
                    and message["status"] not in (204, 304)
                    and (length is None or (length.isdigit() and int(length) >= self.min_size))
                ):
                    held = start
                    return
                await send(start)
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            final, held = held, None
            if len(body) >= self.min_size:
                encoded = MutableHeaders(raw=final["headers"])
                del encoded["content-length"]  # sent chunked, as the real edge sends compressed answers
                encoded["content-encoding"] = "gzip"
                body = gzip.compress(body, compresslevel=_LEVEL, mtime=0)
            await send(final)
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, edge_send)
