"""The gateway against answers shaped as Atlassian's edge sends them (finding 5): gzip when asked, chunked,
`application/json;charset=UTF-8`, request ids and a cookie; and a decompression bomb from a hostile or broken
upstream, which must be refused without inflating it. End to end: MCP client -> gateway -> in-process simulator."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from mcp_types import TextContent
from starlette.types import ASGIApp, Receive, Scope, Send

from policyarc.app import create_app
from policyarc.demo import connect_atlassian_jira
from policyarc.settings import load_settings
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.upstream import ACCEPT_ENCODING, MAX_BODY
from tests.e2e.harness import APP_ID, APP_SECRET, GATEWAY, SIM_SEED, Product


@dataclass
class Exchange:
    path: str
    sent: httpx.Headers
    answered: httpx.Headers


@dataclass
class Recorder(httpx.AsyncBaseTransport):
    """The gateway's network, recording the Jira calls' headers both ways."""

    inner: httpx.AsyncBaseTransport
    seen: list[Exchange] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "/rest/api/3/" in request.url.path:
            self.seen.append(Exchange(request.url.path, request.headers, response.headers))
        return response


@contextlib.asynccontextmanager
async def product(
    tmp_path: Path, network: Callable[[ASGIApp], ASGIApp] = lambda app: app
) -> AsyncIterator[tuple[Product, Recorder]]:
    """`running_product`, with the gateway's upstream recorded and, through `network`, alterable; Atlassian over
    https, as for real, so the Secure cookie Jira sets would be sent back by a client that keeps cookies."""
    sim_app = create_sim_app(SimConfig(rate_limits_enabled=False), seed=SIM_SEED)
    settings = load_settings(
        data_dir=tmp_path / "gw",
        database_url="",
        public_url=GATEWAY,
        atlassian_auth_url="https://sim/auth",
        atlassian_api_url="https://sim/api",
        atlassian_site_url="https://sim/site/{site}",
    )
    recorder = Recorder(httpx.ASGITransport(network(sim_app)))
    app = create_app(settings, upstream=recorder)
    gateway = app.state.gateway
    await connect_atlassian_jira(gateway, client_id=APP_ID, client_secret=APP_SECRET, cloud_id=None, actor="e2e")
    async with app.router.lifespan_context(app):
        yield Product(app, sim_app), recorder


def _text(result: object) -> str:
    content = getattr(result, "content", [])
    return "\n".join(part.text for part in content if isinstance(part, TextContent))


async def test_a_gzipped_chunked_jira_answer_is_read(tmp_path: Path) -> None:
    async with product(tmp_path) as (running, recorder), running.client("alice@example.com") as client:
        found = await client.call_tool("search_issues", {"jql": "project = ENG ORDER BY key ASC", "max_results": 20})
        again = await client.call_tool("get_issue", {"key": "ENG-1"})
    assert not found.is_error and not again.is_error, (_text(found), _text(again))
    assert "ENG-1" in _text(found) and "ENG-20" in _text(found)
    search = next(e for e in recorder.seen if e.path.endswith("/search/jql"))
    assert search.sent["accept-encoding"] == ACCEPT_ENCODING
    assert search.answered["content-encoding"] == "gzip"  # the answer the gateway read did travel compressed
    assert "content-length" not in search.answered
    assert search.answered["content-type"] == "application/json;charset=UTF-8"
    assert search.answered["set-cookie"].startswith("atlassian.xsrf.token=")
    # Jira set a cookie on alice's first call; no later call carries it (the pool serves every user).
    assert all("cookie" not in e.sent for e in recorder.seen)


def _bomb(size: int) -> bytes:
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    return b"".join([*(packer.compress(block) for _ in range(size // len(block))), packer.flush()])


class BombOn:
    """An upstream that answers one issue with a gzip bomb: small on the wire, twice the gateway's bound inflated."""

    def __init__(self, app: ASGIApp, path_end: str) -> None:
        self.app = app
        self.path_end = path_end
        self.bomb = _bomb(2 * MAX_BODY)
        self.served = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith(self.path_end):
            await self.app(scope, receive, send)
            return
        self.served += 1
        headers = [(b"content-type", b"application/json;charset=UTF-8"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for start in range(0, len(self.bomb), 8192):  # chunked: no Content-Length to refuse up front
            await send({"type": "http.response.body", "body": self.bomb[start : start + 8192], "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def test_a_decompression_bomb_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    bombs: list[BombOn] = []

    def hostile(app: ASGIApp) -> ASGIApp:
        bombs.append(BombOn(app, "/rest/api/3/issue/ENG-2"))
        return bombs[0]

    async with product(tmp_path, hostile) as (running, _), running.client("alice@example.com") as client:
        refused = await client.call_tool("get_issue", {"key": "ENG-2"})
        fine = await client.call_tool("get_issue", {"key": "ENG-1"})
    assert refused.is_error
    assert f"Jira's answer is larger than the gateway reads ({MAX_BODY:,} bytes)" in _text(refused)
    assert bombs[0].served == 1  # a read, yet not retried: the same request would get the same answer
    assert not fine.is_error, _text(fine)  # the gateway is unharmed
