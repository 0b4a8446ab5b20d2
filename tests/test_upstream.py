"""The aiohttp upstream (as the Jira client's `Upstream` and as an httpx transport) against a real simulator
process: answers, and errors mapped by what they say about whether a write could have reached Jira."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.errors import JiraUnavailable
from policyarc.upstream import AiohttpTransport, AiohttpUpstream

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
