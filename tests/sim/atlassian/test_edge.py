"""What Atlassian's edge does on the wire, reproduced (module: sim/atlassian/edge.py), and edge_error faults."""

from __future__ import annotations

import gzip
import re

import httpx
import pytest

from policyarc.sim.atlassian.edge import JIRA_JSON, MIN_COMPRESS_SIZE, accepts_gzip, is_jira_rest
from tests.sim.atlassian.conftest import Mint

ACME = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _auth(token: str, accept_encoding: str = "gzip, deflate") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept-Encoding": accept_encoding}


async def _raw(client: httpx.AsyncClient, method: str, url: str, **kwargs: object) -> tuple[httpx.Response, bytes]:
    """The answer and its body as sent (httpx would otherwise decode it out of sight)."""
    async with client.stream(method, url, **kwargs) as response:  # type: ignore[arg-type]
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, raw


async def test_a_large_jira_answer_is_gzipped_when_asked(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    body = {"jql": "project = ENG ORDER BY key", "maxResults": 20, "fields": ["summary", "status"]}
    response, raw = await _raw(sim_client, "POST", f"{ACME}/search/jql", json=body, headers=_auth(token))
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers  # sent chunked, as the real edge does
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["content-type"] == JIRA_JSON
    page = gzip.decompress(raw)
    assert len(page) >= MIN_COMPRESS_SIZE and len(raw) < len(page)
    assert b'"issues"' in page


async def test_the_same_answer_is_plain_when_gzip_is_not_accepted(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    body = {"jql": "project = ENG ORDER BY key", "maxResults": 20, "fields": ["summary", "status"]}
    for refusal in ("identity", "gzip;q=0, deflate", "br"):
        response, raw = await _raw(sim_client, "POST", f"{ACME}/search/jql", json=body, headers=_auth(token, refusal))
        assert "content-encoding" not in response.headers, refusal
        assert int(response.headers["content-length"]) == len(raw)
        assert response.headers["vary"] == "Accept-Encoding"
        assert raw.startswith(b'{"issues"')


async def test_a_small_answer_is_not_compressed(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response, raw = await _raw(sim_client, "GET", f"{ACME}/issue/NOPE-1", headers=_auth(mint("alice@example.com")))
    assert response.status_code == 404
    assert len(raw) < MIN_COMPRESS_SIZE
    assert "content-encoding" not in response.headers
    assert response.headers["content-type"] == JIRA_JSON  # Jira's errors carry the charset too


async def test_jira_answers_carry_atlassians_request_ids_and_cookie(sim_client: httpx.AsyncClient) -> None:
    first = await sim_client.get(f"{ACME}/myself")  # no token: Jira's 401 still carries them
    second = await sim_client.get(f"{ACME}/myself")
    assert first.status_code == 401
    for response in (first, second):
        assert HEX32.match(response.headers["x-arequestid"])
        trace = response.headers["atl-traceid"]
        assert HEX32.match(trace)
        assert response.headers["atl-request-id"].replace("-", "") == trace
        assert response.headers["set-cookie"].startswith("atlassian.xsrf.token=")
    assert first.headers["atl-traceid"] != second.headers["atl-traceid"]
    assert first.headers["x-arequestid"] != second.headers["x-arequestid"]


async def test_other_hosts_get_the_trace_id_but_keep_their_own_content_type(sim_client: httpx.AsyncClient) -> None:
    me = await sim_client.get("/api/me")
    assert me.headers["content-type"] == "application/json"
    assert HEX32.match(me.headers["atl-traceid"])
    assert "x-arequestid" not in me.headers and "set-cookie" not in me.headers


async def test_hooks_are_left_alone(sim_client: httpx.AsyncClient) -> None:
    for _ in range(30):  # enough log entries for a listing over the compression threshold
        await sim_client.get(f"{ACME}/myself")
    hooks = await sim_client.get("/_sim/requests", headers={"Accept-Encoding": "gzip"})
    assert len(hooks.content) > MIN_COMPRESS_SIZE
    assert "content-encoding" not in hooks.headers and "atl-traceid" not in hooks.headers


async def test_edge_error_is_an_html_page_with_retry_after(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    added = await sim_client.post(
        "/_sim/faults", json={"path": "*/issue/ENG-1", "kind": "edge_error", "status": 503, "retry_after": 7}
    )
    assert added.status_code == 201
    response = await sim_client.get(f"{ACME}/issue/ENG-1", headers=_auth(mint("alice@example.com")))
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["retry-after"] == "7"
    assert response.text.lstrip().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    ("value", "allowed"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("*;q=0", False),
        ("gzip;q=0", False),
        ("gzip;q=0, *", False),  # named beats the wildcard
        ("deflate, br", False),
        ("identity", False),
        ("", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(value: str, allowed: bool) -> None:
    assert accepts_gzip(value) is allowed


@pytest.mark.parametrize(
    ("path", "jira"),
    [
        (f"{ACME}/issue/ENG-1", True),
        ("/site/acme/rest/api/3/myself", True),
        ("/site/acme/_edge/tenant_info", False),
        ("/api/me", False),
        ("/api/oauth/token/accessible-resources", False),
        ("/auth/oauth/token", False),
    ],
)
def test_jira_rest_paths(path: str, jira: bool) -> None:
    assert is_jira_rest(path) is jira
