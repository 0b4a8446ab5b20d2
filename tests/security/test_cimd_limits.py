"""Client ID Metadata Document fetches are bounded: size (streamed, cut at the cap), encoding (no decompression
bombs), time (one deadline for the whole fetch), concurrency (refused, not queued), their own pool (never Jira's),
and refusals remembered so the gateway cannot be made to fetch a URL at will.

Byte and request counts, not durations, are what the tests assert."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from policyarc.app import Gateway, create_app
from policyarc.oauth.cimd import CimdError, CimdLimits, MetadataDocumentFetcher, document_client
from policyarc.settings import load_settings
from policyarc.upstream import AiohttpTransport

URL = "https://client.example/oauth/client.json"
REDIRECT = "http://127.0.0.1:33418/callback"
MiB = 1024 * 1024


class StepClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def _doc(url: str = URL) -> dict[str, object]:
    return {"client_id": url, "client_name": "Doc Client", "redirect_uris": [REDIRECT]}


async def _stream(data: bytes, sent: list[int] | None = None) -> AsyncIterator[bytes]:
    """`data` as a body the client reads as it arrives (a mock response built from bytes is read, and decoded,
    when it is built); `sent` counts the chunks handed over."""
    for start in range(0, len(data), 1024):
        if sent is not None:
            sent.append(1)
        yield data[start : start + 1024]


def _fetcher(
    handler: Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]],
    *,
    clock: StepClock | None = None,
    **limits: float,
) -> MetadataDocumentFetcher:
    http = document_client(8, transport=httpx.MockTransport(handler))
    return MetadataDocumentFetcher(
        http,
        resolve_hosts=False,
        limits=CimdLimits(**limits),
        clock=clock or StepClock(),  # type: ignore[arg-type]
    )


# --- size and encoding --------------------------------------------------------------------------------------------


@dataclass
class EndlessServer:
    """A real HTTP server on loopback that answers every GET with `total` bytes and counts what it got sent."""

    total: int
    headers: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    served: int = 0
    requests: list[bytes] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(self.headers)
            chunk = b" " * (64 * 1024)
            while self.served < self.total:
                writer.write(chunk)
                await writer.drain()  # waits while the client does not read; fails once it hung up
                self.served += len(chunk)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.finished.set()


@contextlib.asynccontextmanager
async def endless_server(total: int) -> AsyncIterator[tuple[EndlessServer, str]]:
    state = EndlessServer(total)
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield state, f"http://127.0.0.1:{port}/client.json"


async def test_huge_body_is_cut_at_the_cap_without_being_read_whole() -> None:
    """Over a real socket and the fetcher's real transport: the transfer stops near the cap, while a transport
    that reads the whole body first (the gateway's shared aiohttp one) would take all 64 MiB."""
    async with endless_server(64 * MiB) as (server, url):
        fetcher = MetadataDocumentFetcher(document_client(8), allow_loopback_http=True)
        try:
            with pytest.raises(CimdError, match="larger than 16384 bytes"):
                await fetcher.fetch(url)
        finally:
            await fetcher.aclose()
        await server.finished.wait()
    # What is in flight is bounded by the kernel's socket buffers (a few MiB on loopback), not by the body.
    assert server.served < 16 * MiB
    assert b"accept-encoding: identity" in server.requests[0].lower()


async def test_a_declared_length_over_the_cap_is_refused_before_any_body_is_read() -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024

    fetcher = _fetcher(lambda r: httpx.Response(200, headers={"Content-Length": str(1000 * 1024)}, content=body()))
    with pytest.raises(CimdError, match="larger than"):
        await fetcher.fetch(URL)
    assert sent == []


async def test_a_body_without_length_stops_at_the_cap() -> None:
    sent: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 1024

    fetcher = _fetcher(lambda r: httpx.Response(200, content=body()), max_bytes=4096)
    with pytest.raises(CimdError, match="larger than 4096 bytes"):
        await fetcher.fetch(URL)
    assert len(sent) == 5  # 5 KiB read, the first chunk past 4 KiB; the other 995 never asked for


async def test_a_gzip_bomb_is_refused_unpacked() -> None:
    bomb = gzip.compress(b" " * (16 * MiB))  # 16 KiB on the wire, a thousand times that unpacked
    seen: list[httpx.Request] = []
    sent: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=_stream(bomb, sent))

    with pytest.raises(CimdError, match="Content-Encoding: gzip"):
        await _fetcher(handler).fetch(URL)
    assert seen[0].headers["Accept-Encoding"] == "identity"
    assert sent == []  # refused on the header: not a byte of it unpacked


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, identity", "x-custom", "gzip\x1b[31m"])
async def test_every_content_encoding_is_refused(encoding: str) -> None:
    body = httpx.Response(200, json=_doc()).content
    fetcher = _fetcher(lambda r: httpx.Response(200, headers={"Content-Encoding": encoding}, content=_stream(body)))
    with pytest.raises(CimdError, match="Content-Encoding") as refused:
        await fetcher.fetch(URL)
    assert "\x1b" not in str(refused.value)  # the message goes to the log: a stranger's bytes are not echoed


async def test_an_uncompressed_document_over_its_own_pool_from_a_real_server() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        body = httpx.Response(200, json=_doc(url)).content
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/client.json"
    async with server:
        fetcher = MetadataDocumentFetcher(document_client(8), allow_loopback_http=True)
        try:
            document = await fetcher.fetch(url)
        finally:
            await fetcher.aclose()
    assert document.client_id == url and document.redirect_uris == (REDIRECT,)
    assert b"accept-encoding: identity" in seen[0].lower()


# --- time and concurrency -----------------------------------------------------------------------------------------


async def test_a_dripped_body_hits_the_overall_deadline() -> None:
    """Each byte arrives well within any per-read timeout; only a deadline for the whole fetch stops it."""
    sent: list[int] = []

    async def drip() -> AsyncIterator[bytes]:
        for _ in range(300):
            sent.append(1)
            yield b" "
            await asyncio.sleep(0.01)

    fetcher = _fetcher(lambda r: httpx.Response(200, content=drip()), deadline=0.05)
    with pytest.raises(CimdError, match=r"did not arrive within 0\.05 s"):
        await fetcher.fetch(URL)
    assert len(sent) < 300


async def test_fetches_beyond_the_cap_are_refused_not_queued() -> None:
    entered = 0
    all_in = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal entered
        entered += 1
        if entered == 2:
            all_in.set()
        await release.wait()
        return httpx.Response(200, json=_doc(str(request.url)))

    fetcher = _fetcher(handler, max_concurrent=2)
    slow = [asyncio.create_task(fetcher.fetch(f"https://slow{i}.example/client.json")) for i in range(2)]
    await all_in.wait()
    extra = asyncio.create_task(fetcher.fetch(URL))
    try:
        for _ in range(3):
            await asyncio.sleep(0)
        assert extra.done(), "the fetch over the cap waited for a slot instead of being refused"
        with pytest.raises(CimdError, match="too many client metadata documents at once"):
            extra.result()
    finally:
        release.set()
        extra.cancel()
        documents = await asyncio.gather(*slow)
    assert [d.client_id for d in documents] == [f"https://slow{i}.example/client.json" for i in range(2)]
    # "Busy" says nothing about the URL: it is not remembered, and a slot is free again.
    assert (await fetcher.fetch(URL)).client_id == URL
    assert entered == 3


async def test_a_failed_fetch_frees_its_slot() -> None:
    fetcher = _fetcher(lambda r: httpx.Response(500), max_concurrent=1)
    for i in range(3):
        with pytest.raises(CimdError, match="HTTP 500"):
            await fetcher.fetch(f"https://client.example/{i}.json")


# --- refusals remembered ------------------------------------------------------------------------------------------


async def test_a_refused_url_is_not_fetched_again_within_the_window() -> None:
    clock = StepClock()
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        return httpx.Response(404)

    fetcher = _fetcher(handler, clock=clock, refusal_ttl=300)
    with pytest.raises(CimdError, match="HTTP 404"):
        await fetcher.fetch(URL)
    clock.now += 299
    with pytest.raises(CimdError, match=r"HTTP 404 \(remembered; the gateway fetches it again in 1 s"):
        await fetcher.fetch(URL)
    assert hits == [URL]
    clock.now += 1
    with pytest.raises(CimdError, match=r"HTTP 404$"):
        await fetcher.fetch(URL)
    assert hits == [URL, URL]


async def test_a_refused_document_is_remembered_too() -> None:
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        return httpx.Response(200, json=_doc("https://someone-else.example/client.json"))

    fetcher = _fetcher(handler)
    for _ in range(3):
        with pytest.raises(CimdError, match="client_id is not the URL"):
            await fetcher.fetch(URL)
    assert hits == [URL]


async def test_a_host_that_cannot_be_reached_is_refused_for_every_path() -> None:
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        if request.url.host == "down.example":
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json=_doc(str(request.url)))

    fetcher = _fetcher(handler)
    with pytest.raises(CimdError, match="ConnectError"):
        await fetcher.fetch("https://down.example/a.json")
    with pytest.raises(CimdError, match="remembered"):
        await fetcher.fetch("https://down.example/b.json?x=1")
    assert (await fetcher.fetch(URL)).client_id == URL  # other hosts are not affected
    assert hits == ["https://down.example/a.json", URL]


async def test_a_host_whose_urls_keep_being_refused_is_refused_whole() -> None:
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        return httpx.Response(404)

    fetcher = _fetcher(handler, host_strikes=3)
    for i in range(3):
        with pytest.raises(CimdError, match="HTTP 404"):
            await fetcher.fetch(f"https://varied.example/{i}.json")
    with pytest.raises(CimdError, match=r"3 client_id URLs on varied.example were refused .*remembered"):
        await fetcher.fetch("https://varied.example/3.json")
    assert len(hits) == 3
    with pytest.raises(CimdError, match="HTTP 404"):
        await fetcher.fetch("https://other.example/0.json")
    assert len(hits) == 4


async def test_the_memory_of_refusals_is_bounded() -> None:
    hits: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append(str(request.url))
        return httpx.Response(404)

    fetcher = _fetcher(handler, max_refusals=2)
    urls = [f"https://host{i}.example/client.json" for i in range(3)]
    for url in urls:
        with pytest.raises(CimdError):
            await fetcher.fetch(url)
    for url in reversed(urls):
        with pytest.raises(CimdError):
            await fetcher.fetch(url)
    assert hits == [*urls, urls[0]]  # the oldest was forgotten; the two newest were answered from memory


# --- wiring -------------------------------------------------------------------------------------------------------


async def test_jira_calls_and_metadata_documents_do_not_share_a_pool(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "gw", database_url="", public_url="https://gw.test")
    app = create_app(settings)
    gateway: Gateway = app.state.gateway
    documents = gateway.documents.http
    assert documents is not gateway.http
    transport = documents._transport
    assert isinstance(gateway.http._transport, AiohttpTransport)  # the pool Jira's calls share
    assert isinstance(transport, httpx.AsyncHTTPTransport)  # streams: hands the body over as it arrives
    assert transport._pool._max_connections == CimdLimits().max_concurrent
    assert transport._pool._max_keepalive_connections == 0
    async with app.router.lifespan_context(app):
        assert not documents.is_closed
    assert documents.is_closed
