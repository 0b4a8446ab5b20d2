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

Compression: the gateway asks for `gzip, deflate` (Atlassian's edge compresses JSON when asked, and JSON shrinks
five- to tenfold on the internet path) and decodes here, in one place for all three paths, with a bound on the
bytes on the wire and on the decoded size (`max_body`): a hostile or broken upstream cannot make the gateway
inflate a decompression bomb. Past the bound the answer is an `UpstreamBodyTooLarge`; a coding the gateway did not
ask for, or a corrupt stream, an `UpstreamDecodingError`. Both are `httpx.DecodingError`s, so callers that catch
httpx's errors still do, and neither is ever retried by the Jira client (the same request gets the same answer).
Cookies are never kept (`DummyCookieJar`): the pool serves every user, and a cookie Jira sets for one
(`atlassian.xsrf.token`) must not ride on another's calls.
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import certifi
import httpx
from yarl import URL

__all__ = [
    "ACCEPT_ENCODING",
    "MAX_BODY",
    "AiohttpTransport",
    "AiohttpUpstream",
    "HttpxUpstream",
    "Upstream",
    "UpstreamBodyTooLarge",
    "UpstreamDecodingError",
    "UpstreamResponse",
    "decode_body",
]

# The codings `decode_body` reads. Said explicitly on every request: aiohttp's and httpx's defaults grow with the
# optional packages installed (`br`, `zstd`), and an answer in a coding the gateway cannot bound is no answer.
ACCEPT_ENCODING = "gzip, deflate"
# The largest answer the gateway reads, on the wire and decoded. A page of 100 issues with long ADF descriptions
# is a few megabytes; 16 MiB leaves room, and caps the memory one answer can take.
MAX_BODY = 16 * 1024 * 1024
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
_RAW_DEFLATE_WBITS = -zlib.MAX_WBITS


class UpstreamDecodingError(httpx.DecodingError):
    """The answer's body could not be decoded: a coding not asked for, or a corrupt or truncated stream."""


class UpstreamBodyTooLarge(UpstreamDecodingError):
    """The answer is larger than `max_body` bytes, on the wire or once decompressed."""

    def __init__(self, limit: int, *, decoded: bool) -> None:
        where = "decompressed" if decoded else "as sent"
        super().__init__(f"the upstream answer is larger than {limit} bytes {where}; the gateway does not read it")
        self.limit = limit


def decode_body(coding: str | None, raw: bytes | bytearray, max_body: int = MAX_BODY) -> bytes:
    """The body as the application sent it, given its `Content-Encoding` (RFC 9110 section 8.4).

    Inflates with `decompressobj(...).decompress(raw, max_length)` so no more than `max_body + 1` bytes are ever
    produced, whatever the ratio. `deflate` is the zlib format (RFC 9110 section 8.4.1.2); a raw deflate stream,
    which some servers send instead, is accepted as well (as browsers and httpx do).
    """
    if not coding or not raw:  # an empty body (a 204, a HEAD) may still be labelled with its coding
        return bytes(raw)  # no copy when it already is bytes
    coding = coding.strip().lower()
    if coding == "identity":
        return bytes(raw)
    if coding in ("gzip", "x-gzip"):
        return _inflate(raw, _GZIP_WBITS, max_body)
    if coding == "deflate":
        try:
            return _inflate(raw, _ZLIB_WBITS, max_body)
        except UpstreamBodyTooLarge:
            raise
        except UpstreamDecodingError:
            return _inflate(raw, _RAW_DEFLATE_WBITS, max_body)
    raise UpstreamDecodingError(
        f"the upstream answered in Content-Encoding {coding[:40]!r}, which the gateway did not ask for"
    )


def _inflate(raw: bytes | bytearray, wbits: int, max_body: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, max_body + 1)
    except zlib.error as exc:
        raise UpstreamDecodingError(f"the upstream's compressed answer is corrupt ({exc})") from exc
    if len(body) > max_body or inflater.unconsumed_tail:
        raise UpstreamBodyTooLarge(max_body, decoded=True)
    if not inflater.eof:
        raise UpstreamDecodingError("the upstream's compressed answer is truncated")
    return body


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]  # case-insensitive in both implementations; as received (Content-Encoding too)
    content: bytes  # decoded


class Upstream(Protocol):
    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> UpstreamResponse:
        """`url` is already encoded (path and query); `Accept-Encoding` is the implementation's to set.
        Raises httpx's transport errors and `UpstreamDecodingError` (see the module doc)."""


def tls_context() -> ssl.SSLContext:
    """The client TLS context every outbound pool of the app shares: certifi's roots (httpx's default, so the same
    on any base image). One, because loading the roots is ~35-45 ms of every start for each context made."""
    return ssl.create_default_context(cafile=certifi.where())


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
        max_body: int = MAX_BODY,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
        self.max_body = max_body
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
                headers=headers,  # the session adds ACCEPT_ENCODING unless the caller set it
                data=content,
                allow_redirects=False,
                timeout=timeouts or self._timeout,
            ) as response:
                raw = await self._read(response)
                body = decode_body(response.headers.get("Content-Encoding"), raw, self.max_body)
                return UpstreamResponse(response.status, response.headers, body)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except aiohttp.ClientConnectorError as exc:  # refused, DNS, TLS handshake: nothing was sent
            raise httpx.ConnectError(str(exc)) from exc
        except (TimeoutError, aiohttp.SocketTimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except aiohttp.ClientError as exc:  # dropped or garbled after the request may have been sent
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc

    async def _read(self, response: aiohttp.ClientResponse) -> bytes | bytearray:
        """The body as sent, at most `max_body` bytes: one read when the length is declared (the usual case),
        else chunk by chunk (chunked transfer, as Atlassian's edge sends compressed answers)."""
        length = response.content_length
        if length is not None:
            if length > self.max_body:
                raise UpstreamBodyTooLarge(self.max_body, decoded=False)
            return await response.read()
        chunks = bytearray()
        async for chunk in response.content.iter_any():
            chunks += chunk
            if len(chunks) > self.max_body:
                raise UpstreamBodyTooLarge(self.max_body, decoded=False)
        return chunks  # decode_body inflates from it, or copies it once into bytes

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, keepalive_timeout=self._keepalive_expiry, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # decode_body does it, bounded
                skip_auto_headers=(),
                headers={"Accept-Encoding": ACCEPT_ENCODING},  # replaces aiohttp's default (br, zstd if installed)
                cookie_jar=aiohttp.DummyCookieJar(),  # one pool for every user: keep no upstream cookie
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class HttpxUpstream:
    """`Upstream` over an httpx client (its transport, timeouts and event hooks apply). The body is read raw and
    decoded by `decode_body`, with the same bound as `AiohttpUpstream` (httpx's own decoders have none)."""

    def __init__(self, http: httpx.AsyncClient, *, max_body: int = MAX_BODY) -> None:
        self._http = http
        self.max_body = max_body

    async def send(
        self, method: str, url: str, *, headers: Mapping[str, str], content: bytes | None = None
    ) -> UpstreamResponse:
        sent = httpx.Headers(headers)
        sent["Accept-Encoding"] = ACCEPT_ENCODING
        request = self._http.build_request(method, url, headers=sent, content=content)
        request.headers.pop("Cookie", None)  # whatever the client's jar holds, it is not this user's
        response = await self._http.send(request, stream=True)
        if response.is_stream_consumed:
            # A transport that built its answer from bytes (`AiohttpTransport`, `httpx.MockTransport`): httpx
            # decoded it on construction, so only the size is left to check.
            if len(response.content) > self.max_body:
                raise UpstreamBodyTooLarge(self.max_body, decoded=True)
            return UpstreamResponse(response.status_code, response.headers, response.content)
        try:
            raw = bytearray()
            async for chunk in response.aiter_raw():
                raw += chunk
                if len(raw) > self.max_body:
                    raise UpstreamBodyTooLarge(self.max_body, decoded=False)
        finally:
            await response.aclose()
        body = decode_body(response.headers.get("Content-Encoding"), raw, self.max_body)
        return UpstreamResponse(response.status_code, response.headers, body)


# Not handed on to httpx: what describes the body as sent rather than decoded (httpx sets Content-Length itself),
# and cookies, which httpx's client would keep and send on the next call, whoever it is for.
_NOT_HANDED_ON = frozenset({"content-encoding", "content-length", "transfer-encoding", "set-cookie"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport over `AiohttpUpstream`'s pool (pass one to share it).

    The request's `Accept-Encoding` (httpx's default, or the caller's) is replaced by `ACCEPT_ENCODING`, and the
    answer reaches httpx already decoded, bounded, without `Content-Encoding` or `Content-Length` (httpx would
    otherwise inflate it again, without a bound) and without `Set-Cookie` (the pool serves every user).
    """

    def __init__(self, upstream: AiohttpUpstream | None = None) -> None:
        self._upstream = upstream or AiohttpUpstream()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        headers = httpx.Headers(request.headers)
        headers["Accept-Encoding"] = ACCEPT_ENCODING
        try:
            answer = await self._upstream.send(
                request.method,
                str(request.url),
                headers=headers,
                content=request.content or None,  # the gateway sends small, already-read bodies
                timeouts=aiohttp.ClientTimeout(
                    total=None, sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            )
        except httpx.RequestError as exc:
            exc.request = request
            raise
        decoded = [(k, v) for k, v in answer.headers.items() if k.lower() not in _NOT_HANDED_ON]
        return httpx.Response(answer.status, headers=decoded, content=answer.content, request=request)

    async def aclose(self) -> None:
        await self._upstream.aclose()
