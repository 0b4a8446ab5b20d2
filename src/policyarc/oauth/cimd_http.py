"""How a Client ID Metadata Document travels: one small GET that cannot grow the gateway or starve its Jira calls.

The URL is a stranger's choice, so the transfer is bounded on every side it can be stretched:

- its own connection pool (`document_client`), a few connections and no keep-alive, never the aiohttp pool that
  carries every user's Jira calls (`upstream.py`), so slow documents cannot hold Jira's connections;
- httpx's own transport, which hands the body over as it arrives: it is read chunk by chunk and the transfer stops
  at `max_bytes`, with a declared `Content-Length` over the cap refused before any body is read;
- `Accept-Encoding: identity`, and any other `Content-Encoding` refused: the raw bytes are what is counted, so a
  small compressed body can never be unpacked into a large one (a decompression bomb).

The overall deadline and the cap on concurrent fetches are the caller's (`cimd.MetadataDocumentFetcher`), because
they also cover the name lookup that comes before the request.
"""

from __future__ import annotations

import re
import ssl
from typing import Literal

import httpx

__all__ = ["DocumentUnavailable", "document_client", "read_document"]

Blame = Literal["url", "host"]


class DocumentUnavailable(Exception):
    """The document could not be had. `blame` says what a refusal cache should remember: this URL, or its whole
    host (the connection itself failed, so every URL on it would)."""

    def __init__(self, message: str, *, blame: Blame = "url") -> None:
        super().__init__(message)
        self.blame: Blame = blame


def document_client(
    max_connections: int,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """The metadata documents' own client: a pool of `max_connections`, nothing kept alive between fetches (the
    hosts are strangers' and rarely asked twice), no redirects, no proxy taken from the environment.

    `transport` replaces the network (tests pass the in-process simulator or an `httpx.MockTransport`);
    `ssl_context` is the app's shared one (`upstream.tls_context`), else httpx makes its own.
    """
    network = transport or httpx.AsyncHTTPTransport(
        verify=ssl_context or True,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=0),
        retries=0,
        trust_env=False,
    )
    return httpx.AsyncClient(transport=network, follow_redirects=False, trust_env=False)


async def read_document(http: httpx.AsyncClient, url: str, *, max_bytes: int, phase_timeout: float) -> bytes:
    """GET `url` and return its body, at most `max_bytes` of it; raises `DocumentUnavailable` saying why not.

    `phase_timeout` bounds each phase (connect, each read); the caller bounds the whole with `asyncio.timeout`.
    """
    headers = {"Accept": "application/json", "Accept-Encoding": "identity"}
    try:
        async with http.stream("GET", url, headers=headers, timeout=phase_timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise DocumentUnavailable(f"the client's metadata document answered HTTP {response.status_code}")
            encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                shown = encoding if re.fullmatch(r"[a-z0-9 ,._-]{1,40}", encoding) else "unrecognised"  # goes to logs
                raise DocumentUnavailable(
                    f"the client's metadata document came compressed (Content-Encoding: {shown}); the "
                    "gateway asks for Accept-Encoding: identity and takes only an uncompressed document"
                )
            too_large = f"the client's metadata document is larger than {max_bytes} bytes"
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise DocumentUnavailable(too_large)
            body = bytearray()
            # With every Content-Encoding refused above nothing is decoded: what is counted is what arrived.
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise DocumentUnavailable(too_large)  # leaving the block closes the connection mid-body
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        # Refused, unreachable, or a failed TLS handshake: the host, not this path.
        raise DocumentUnavailable(
            f"the client's metadata document could not be fetched ({type(exc).__name__})", blame="host"
        ) from exc
    except httpx.HTTPError as exc:
        reason = f"the client's metadata document could not be fetched ({type(exc).__name__})"
        raise DocumentUnavailable(reason) from exc
    return bytes(body)
