"""The aiohttp upstream (as the Jira client's `Upstream` and as an httpx transport) against a real simulator
process: answers, and errors mapped by what they say about whether a write could have reached Jira; compressed
answers decoded within a bound, and no cookie kept between callers (against a small hostile server)."""

from __future__ import annotations

import gzip
import os
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import httpx
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from policyarc import cli_admin
from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.errors import JiraUnavailable
from policyarc.connectors.jira.template import SiteLookupError, resolve_cloud_id
from policyarc.upstream import (
    ACCEPT_ENCODING,
    MAX_BODY,
    AiohttpTransport,
    AiohttpUpstream,
    UpstreamBodyTooLarge,
    UpstreamDecodingError,
    decode_body,
)

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    port = _free_port()
    script = Path(sys.executable).with_name("policyarc")
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [str(script), "sim", "--port", str(port), "--no-rate-limits"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/site/acme/_edge/tenant_info", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "policyarc sim did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _token(sim_url: str) -> str:
    token: str = httpx.post(f"{sim_url}/_sim/tokens", json={"email": "alice@example.com"}).json()["access_token"]
    return token


def _sent(sim_url: str, pattern: str) -> int:
    return len(httpx.get(f"{sim_url}/_sim/requests", params={"path": pattern}).json()["requests"])


def _clear_faults(sim_url: str) -> None:
    httpx.delete(f"{sim_url}/_sim/faults")


def _fault(sim_url: str, **rule: object) -> None:
    httpx.delete(f"{sim_url}/_sim/faults")
    httpx.post(f"{sim_url}/_sim/faults", json=rule).raise_for_status()


async def test_get_and_post_round_trip(sim_url: str) -> None:
    upstream = AiohttpUpstream()
    try:
        jira = JiraClient(upstream, api_url=f"{sim_url}/api")
        token = _token(sim_url)
        issue = await jira.get(ACME, "issue/ENG-1", token, params={"fields": "summary,status"})
        assert issue["key"] == "ENG-1"
        assert set(issue["fields"]) == {"summary", "status"}  # the encoded query reached Jira intact
        page = await jira.request(
            "POST", ACME, "search/jql", token, json={"jql": "key = ENG-1", "fields": ["summary"]}, read_only=True
        )
        assert [i["key"] for i in page["issues"]] == ["ENG-1"]
        users = await jira.get(ACME, "user/search", token, params={"query": "bob@example.com", "maxResults": 10})
        assert [u["emailAddress"] for u in users] == ["bob@example.com"]  # "@" and "." survive the encoding
    finally:
        await upstream.aclose()


async def test_the_transport_shares_the_pool_and_keeps_httpx_errors_bound_to_the_request() -> None:
    upstream = AiohttpUpstream()
    async with httpx.AsyncClient(transport=AiohttpTransport(upstream)) as http:
        with pytest.raises(httpx.ConnectError) as raised:
            await http.get(f"http://127.0.0.1:{_free_port()}/nothing")
    assert raised.value.request.url.path == "/nothing"


async def test_refused_connection_is_a_connect_error() -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{_free_port()}/nothing")


async def test_dropped_connection_is_not_a_connect_error_so_writes_are_not_retried(sim_url: str) -> None:
    _fault(sim_url, path="*/rest/api/3/issue", kind="drop")
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(f"{sim_url}/api/ex/jira/{ACME}/rest/api/3/issue", json={"fields": {}})
            before = _sent(sim_url, "*/rest/api/3/issue")
            upstream = AiohttpUpstream()
            jira = JiraClient(upstream, api_url=f"{sim_url}/api", retry=RetryPolicy(attempts=3, base_delay=0.01))
            try:
                with pytest.raises(JiraUnavailable):
                    await jira.request("POST", ACME, "issue", _token(sim_url), json={"fields": {"summary": "x"}})
            finally:
                await upstream.aclose()
            after = _sent(sim_url, "*/rest/api/3/issue")
            assert after - before == 1  # sent once, never again
    finally:
        _clear_faults(sim_url)


async def test_slow_answer_is_a_read_timeout(sim_url: str) -> None:
    _fault(sim_url, path="*/issue/ENG-2", kind="latency", latency_ms=1500)
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=httpx.Timeout(0.3)) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"{sim_url}/api/ex/jira/{ACME}/rest/api/3/issue/ENG-2")
    finally:
        _clear_faults(sim_url)


# --- compression, bounds and cookies ------------------------------------------------------------------------


def _bomb(size: int) -> bytes:
    """`size` zero bytes, gzipped: about a thousandth of that on the wire."""
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join([*parts, packer.flush()])


@pytest.mark.parametrize(
    ("coding", "packed"),
    [
        ("gzip", gzip.compress(b'{"a": 1}')),
        ("GZIP", gzip.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')),
        ("deflate", zlib.compress(b'{"a": 1}')[2:-4]),  # raw deflate, as some servers send it
        ("identity", b'{"a": 1}'),
        (None, b'{"a": 1}'),
    ],
)
def test_decode_body_reads_what_the_gateway_asks_for(coding: str | None, packed: bytes) -> None:
    assert decode_body(coding, packed) == b'{"a": 1}'


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_an_empty_body_labelled_with_a_coding_is_empty(coding: str) -> None:
    assert decode_body(coding, b"") == b""  # a 204 or a HEAD answer with the label a server put on all


def test_decode_body_refuses_a_bomb_without_inflating_it() -> None:
    with pytest.raises(UpstreamBodyTooLarge) as raised:
        decode_body("gzip", _bomb(8 * 1024 * 1024), max_body=1024 * 1024)
    assert raised.value.limit == 1024 * 1024
    assert "larger than 1048576 bytes decompressed" in str(raised.value)
    assert decode_body("gzip", gzip.compress(bytes(1024)), max_body=1024) == bytes(1024)  # the bound is inclusive


def test_decode_body_never_inflates_past_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    produced: list[int] = []
    real = zlib.decompressobj

    class Spy:
        def __init__(self, wbits: int) -> None:
            self._inner = real(wbits)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._inner.decompress(data, max_length)
            produced.append(len(out))
            return out

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

    monkeypatch.setattr("policyarc.upstream.zlib.decompressobj", Spy)
    with pytest.raises(UpstreamBodyTooLarge):
        decode_body("gzip", _bomb(8 * 1024 * 1024), max_body=1024 * 1024)
    assert produced and max(produced) <= 1024 * 1024 + 1  # memory held by the bound, not by the bomb


@pytest.mark.parametrize(
    ("coding", "packed", "says"),
    [
        ("br", b"\x0b\x02\x80hi\x03", "did not ask for"),
        ("gzip, gzip", gzip.compress(gzip.compress(b"x")), "did not ask for"),
        ("gzip", b"not gzip at all", "corrupt"),
        ("gzip", gzip.compress(b"x" * 100)[:-12], "truncated"),
    ],
)
def test_decode_body_refuses_what_it_cannot_read(coding: str, packed: bytes, says: str) -> None:
    with pytest.raises(UpstreamDecodingError, match=says):
        decode_body(coding, packed)


async def test_the_simulators_gzipped_answer_is_asked_for_and_read(sim_url: str) -> None:
    upstream = AiohttpUpstream()
    try:
        url = f"{sim_url}/api/ex/jira/{ACME}/rest/api/3/search/jql"
        body = b'{"jql": "project = ENG ORDER BY key", "maxResults": 30, "fields": ["summary"]}'
        headers = {"Authorization": f"Bearer {_token(sim_url)}", "Content-Type": "application/json"}
        answer = await upstream.send("POST", url, headers=headers, content=body)
    finally:
        await upstream.aclose()
    assert answer.status == 200
    assert answer.headers["Content-Encoding"] == "gzip"  # it did travel compressed
    assert len(orjson.loads(answer.content)["issues"]) == 30
    async with httpx.AsyncClient() as hooks:
        log = await hooks.get(f"{sim_url}/_sim/requests", params={"path": "*/search/jql"})
    sent = log.json()["requests"][-1]
    assert sent["headers"]["accept-encoding"] == ACCEPT_ENCODING


class Upstreams:
    """A little server of hostile and cookie-setting answers, on a real socket, counting what it receives."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.cookies: list[str | None] = []
        self.accept_encoding: list[str | None] = []
        app = web.Application()
        app.router.add_get("/bomb", self.bomb)
        app.router.add_get("/site/{site}/_edge/tenant_info", self.bomb)
        app.router.add_get("/big", self.big)
        app.router.add_get("/br", self.brotli)
        app.router.add_get("/cookie", self.cookie)
        self.server = TestServer(app)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def _seen(self, request: web.Request) -> None:
        self.hits[request.path] = self.hits.get(request.path, 0) + 1
        self.cookies.append(request.headers.get("Cookie"))
        self.accept_encoding.append(request.headers.get("Accept-Encoding"))

    async def bomb(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
        response.enable_chunked_encoding()  # no Content-Length to refuse up front
        await response.prepare(request)
        await response.write(BOMB)
        await response.write_eof()
        return response

    async def big(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(body=bytes(2 * 1024 * 1024), content_type="application/json")

    async def brotli(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(body=b"\x0b\x02\x80{}\x03", headers={"Content-Encoding": "br"})

    async def cookie(self, request: web.Request) -> web.Response:
        self._seen(request)
        response = web.json_response({"ok": True})
        response.set_cookie("atlassian.xsrf.token", "alices-token_lin", path="/")
        return response


BOMB = _bomb(32 * 1024 * 1024)  # 32 MiB inflated, twice the gateway's bound; about 32 KB on the wire


@pytest.fixture
async def upstreams() -> AsyncIterator[Upstreams]:
    hostile = Upstreams()
    await hostile.server.start_server()
    try:
        yield hostile
    finally:
        await hostile.server.close()


async def test_a_bomb_is_refused_by_the_jira_client_and_not_retried(upstreams: Upstreams) -> None:
    upstream = AiohttpUpstream()
    jira = JiraClient(upstream, api_url=upstreams.url("/"), retry=RetryPolicy(attempts=3, base_delay=0.01))
    try:
        with pytest.raises(UpstreamBodyTooLarge):
            await upstream.send("GET", upstreams.url("/bomb"), headers={})
        jira_url = jira.url(ACME, "issue/ENG-1")
        jira.url = lambda *args, **kwargs: upstreams.url("/bomb")  # type: ignore[method-assign]
        with pytest.raises(JiraUnavailable) as raised:
            await jira.get(ACME, "issue/ENG-1", "t")
    finally:
        await upstream.aclose()
    assert jira_url.endswith("/rest/api/3/issue/ENG-1")
    assert raised.value.messages == [
        f"Jira's answer is larger than the gateway reads ({MAX_BODY:,} bytes); ask for fewer results or fields."
    ]
    assert upstreams.hits["/bomb"] == 2  # once for the bare send, once for the client: no retry


async def test_the_jira_path_asks_only_for_what_it_reads(upstreams: Upstreams, monkeypatch: pytest.MonkeyPatch) -> None:
    # aiohttp's default grows with what is installed (brotli, zstandard); the gateway's must not.
    defaults = {**aiohttp.ClientRequest.DEFAULT_HEADERS, "Accept-Encoding": "gzip, deflate, br, zstd"}
    monkeypatch.setattr(aiohttp.ClientRequest, "DEFAULT_HEADERS", defaults)
    upstream = AiohttpUpstream()
    try:
        await upstream.send("GET", upstreams.url("/cookie"), headers={"Authorization": "Bearer t"})
    finally:
        await upstream.aclose()
    assert upstreams.accept_encoding == [ACCEPT_ENCODING]


async def test_an_answer_over_the_bound_on_the_wire_is_refused_before_it_is_read(upstreams: Upstreams) -> None:
    upstream = AiohttpUpstream(max_body=1024 * 1024)
    try:
        with pytest.raises(UpstreamBodyTooLarge, match="larger than 1048576 bytes as sent"):
            await upstream.send("GET", upstreams.url("/big"), headers={})
    finally:
        await upstream.aclose()


async def test_the_transport_asks_for_what_it_reads_and_hands_httpx_a_decoded_body(
    upstreams: Upstreams, sim_url: str
) -> None:
    async with httpx.AsyncClient(transport=AiohttpTransport()) as http:
        # httpx's own Accept-Encoding, or a caller's, is replaced by the codings the transport bounds.
        await http.get(upstreams.url("/cookie"), headers={"Accept-Encoding": "br, zstd"})
        assert upstreams.accept_encoding == [ACCEPT_ENCODING]
        with pytest.raises(UpstreamDecodingError, match="did not ask for") as refused:
            await http.get(upstreams.url("/br"))
        assert refused.value.request.url.path == "/br"
        with pytest.raises(UpstreamBodyTooLarge):
            await http.get(upstreams.url("/bomb"))
        page = await http.get(
            f"{sim_url}/api/ex/jira/{ACME}/rest/api/3/project/search",
            headers={"Authorization": f"Bearer {_token(sim_url)}"},
        )
    assert page.status_code == 200
    assert "content-encoding" not in page.headers  # decoded once, by the transport, within the bound
    assert page.json()["total"] >= 4


async def test_no_upstream_cookie_is_kept_for_the_next_caller(upstreams: Upstreams) -> None:
    upstream = AiohttpUpstream()
    try:
        for _ in range(2):
            await upstream.send("GET", upstreams.url("/cookie"), headers={})
        async with httpx.AsyncClient(transport=AiohttpTransport(upstream)) as http:
            for _ in range(2):
                answer = await http.get(upstreams.url("/cookie"))
                assert "set-cookie" not in answer.headers
            assert not http.cookies
    finally:
        await upstream.aclose()
    assert upstreams.cookies == [None, None, None, None]


async def test_the_cli_tenant_info_look_up_is_bounded_too(upstreams: Upstreams) -> None:
    async with cli_admin.http_client() as http:
        with pytest.raises(SiteLookupError) as raised:
            await resolve_cloud_id(http, upstreams.url("/").rstrip("/") + "/site/{site}", "acme")
    assert raised.value.code == "site_unreachable"
    assert "(UpstreamBodyTooLarge)" in raised.value.message
    assert upstreams.hits["/site/acme/_edge/tenant_info"] == 1
