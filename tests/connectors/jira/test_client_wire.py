"""The Jira client against the in-process simulator's edge habits: gzip, Jira's charset, HTML edge errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.errors import JiraUnavailable
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.seed import ACME_CLOUD_ID
from policyarc.upstream import HttpxUpstream


@pytest.fixture
def sim() -> Starlette:
    return create_sim_app(SimConfig(rate_limits_enabled=False))


@pytest.fixture
async def http(sim: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim), base_url="http://sim") as client:
        yield client


async def _token(http: httpx.AsyncClient) -> str:
    token: str = (await http.post("/_sim/tokens", json={"email": "alice@example.com"})).json()["access_token"]
    return token


def _jira(http: httpx.AsyncClient, retry: RetryPolicy | None = None) -> JiraClient:
    return JiraClient(HttpxUpstream(http), api_url="http://sim/api", retry=retry)


async def _fault(http: httpx.AsyncClient, **rule: object) -> None:
    (await http.post("/_sim/faults", json=rule)).raise_for_status()


async def test_a_gzipped_page_with_jira_charset_is_read(http: httpx.AsyncClient) -> None:
    jira, token = _jira(http), await _token(http)
    url = jira.url(ACME_CLOUD_ID, "project/search", {"maxResults": 100})
    raw = await HttpxUpstream(http).send("GET", url, headers={"Authorization": f"Bearer {token}"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["content-type"] == "application/json;charset=UTF-8"
    page = await jira.get(ACME_CLOUD_ID, "project/search", token, params={"maxResults": 100})
    assert len(page["values"]) == page["total"] >= 4
    log = (await http.get("/_sim/requests", params={"path": "*/project/search"})).json()["requests"]
    assert {entry["headers"]["accept-encoding"] for entry in log} == {"gzip, deflate"}


async def test_an_edge_error_page_on_a_write_is_reported_without_its_html(http: httpx.AsyncClient) -> None:
    await _fault(http, path="*/rest/api/3/issue", method="POST", kind="edge_error", status=503, retry_after=7)
    with pytest.raises(JiraUnavailable) as raised:
        await _jira(http).request("POST", ACME_CLOUD_ID, "issue", await _token(http), json={"fields": {"summary": "x"}})
    assert raised.value.messages == ["Jira is having trouble (HTTP 503); try again shortly."]
    assert raised.value.retry_after == 7
    sent = (await http.get("/_sim/requests", params={"path": "*/rest/api/3/issue", "method": "POST"})).json()
    assert len(sent["requests"]) == 1  # a write is never retried on a 5xx


async def test_an_edge_error_on_a_read_is_retried_and_then_read(http: httpx.AsyncClient) -> None:
    await _fault(http, path="*/issue/ENG-1", kind="edge_error", status=502, retry_after=1, count=1)
    jira = _jira(http, RetryPolicy(attempts=2, max_wait=0.5, base_delay=0.001))
    # Retry-After 1 s is over this policy's longest wait, so the HTML 502 surfaces at once, readable.
    with pytest.raises(JiraUnavailable) as raised:
        await jira.get(ACME_CLOUD_ID, "issue/ENG-1", await _token(http))
    assert raised.value.status == 502 and raised.value.retry_after == 1.0
    assert "<" not in str(raised.value)
    issue = await jira.get(ACME_CLOUD_ID, "issue/ENG-1", await _token(http))  # the fault was used up
    assert issue["key"] == "ENG-1"


async def test_a_cookie_jira_sets_for_one_user_is_not_sent_for_the_next(sim: Starlette) -> None:
    # https, so the Secure cookie Jira sets would be sent back by the client's jar.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(sim), base_url="https://sim") as http:
        jira = JiraClient(HttpxUpstream(http), api_url="https://sim/api")
        for email in ("alice@example.com", "bob@example.com"):
            token = (await http.post("/_sim/tokens", json={"email": email})).json()["access_token"]
            await jira.get(ACME_CLOUD_ID, "myself", token)
        assert any(cookie.name == "atlassian.xsrf.token" for cookie in http.cookies.jar)  # the jar did keep it
        log = (await http.get("/_sim/requests", params={"path": "*/myself"})).json()["requests"]
    assert len(log) == 2
    assert all("cookie" not in entry["headers"] for entry in log)
