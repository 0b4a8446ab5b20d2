"""The transport under the gateway's upstream httpx client: httpx's interface over aiohttp's connection pool.

Why: on this hot path httpx's own pool cost 3.9 ms of CPU per request at 16 concurrent calls against the
simulator, aiohttp's 0.3 ms (bench figures in docs/benchmarks.md). Keeping httpx's interface keeps the seam the
tests use (`httpx.MockTransport`, `httpx.ASGITransport` for the in-process simulator).

Errors are mapped by what they say about the request, because the Jira client decides retries on it: only a
connection that never opened (`httpx.ConnectError`, `httpx.ConnectTimeout`, `httpx.PoolTimeout`) proves a
write did not reach Jira. A connection dropped after sending is a `RemoteProtocolError`, a slow answer a
`ReadTimeout`.
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx


class AiohttpTransport(httpx.AsyncBaseTransport):
    def __init__(
        self, *, max_connections: int = 200, keepalive_expiry: float = 60.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context or ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False, skip_auto_headers=())
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = request.content or None  # the gateway sends small, already-read JSON bodies
        try:
            async with self._client().request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as response:
                content = await response.read()
                headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in response.raw_headers]
                status = response.status
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc), request=request) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake: nothing was sent
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
        except aiohttp.ClientError as exc:  # dropped or garbled after the request may have been sent
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
