"""How the gateway sends requests to Atlassian: aiohttp's connection pool, behind two small interfaces.

- `Upstream.send(method, url, headers=, content=)` -> `UpstreamResponse`: what the Jira client needs, nothing more.
  `AiohttpUpstream` is the network; `HttpxUpstream` adapts any httpx client (tests pass the in-process
  simulator or an `httpx.MockTransport` this way).
- `AiohttpTransport`: the same pool as an httpx transport, for the gateway's other upstream calls (identity,
  tenant_info, metadata documents), which keep httpx's interface.

Why not httpx's own client on the hot path: its pool cost 3.9 ms of CPU per request at 16 concurrent calls against
the simulator, aiohttp's 0.3 ms; and with aiohttp underneath, httpx's request and response building still cost
about 1 ms per call at concurrency 1 (py-spy; docs/performance.md), as much as the rest of the gateway's checks.

Errors keep httpx's vocabulary and are mapped by what they say about the request, because the Jira client decides
retries on it: only a connection that never opened (`httpx.ConnectError`, `httpx.ConnectTimeout`) proves a write
did not reach Jira. A connection dropped after sending is a `RemoteProtocolError`, a slow answer a `ReadTimeout`.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import httpx
from yarl import URL

__all__ = ["AiohttpTransport", "AiohttpUpstream", "HttpxUpstream", "Upstream", "UpstreamResponse"]


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive in both implementations
    content: bytes


class Upstream(Protocol):
    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> UpstreamResponse:
        """`url` is already encoded (path and query). Raises httpx's transport errors (see the module doc)."""


class AiohttpUpstream:
    """One aiohttp session (created on first use: it belongs to the running loop), keep-alive connections."""

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_connections: int = 200,
        keepalive_expiry: float = 60.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context or ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        content: bytes | None = None,
        timeouts: aiohttp.ClientTimeout | None = None,
    ) -> UpstreamResponse:
        try:
            async with self._client().request(
                method,
                URL(url, encoded=True),  # already encoded by the caller: no second parse-and-quote
                headers=headers,
                data=content,
                allow_redirects=False,
                timeout=timeouts or self._timeout,
            ) as response:
                body = await response.read()
                return UpstreamResponse(response.status, response.headers, body)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake: nothing was sent
            raise httpx.ConnectError(str(exc)) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except aiohttp.ClientError as exc:  # dropped or garbled after the request may have been sent
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False, skip_auto_headers=())
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxUpstream:
    """`Upstream` over an httpx client (its transport, timeouts and event hooks apply)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> UpstreamResponse:
        response = await self._http.request(method, url, headers=headers, content=content)
        return UpstreamResponse(response.status_code, response.headers, response.content)


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over `AiohttpUpstream`'s pool (pass one to share it)."""

    def __init__(self, upstream: AiohttpUpstream | None = None) -> None:
        self._upstream = upstream or AiohttpUpstream()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        try:
            answer = await self._upstream.send(
                request.method,
                str(request.url),
                headers=httpx.Headers(request.headers),
                content=request.content or None,  # the gateway sends small, already-read bodies
                timeouts=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        except httpx.TransportError as exc:
            exc.request = request
            raise
        headers = list(answer.headers.items())
        return httpx.Response(answer.status, headers=headers, content=answer.content, request=request)

    async def aclose(self) -> None:
        await self._upstream.aclose()
