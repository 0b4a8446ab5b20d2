from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.ratelimit import BURST, PER_ISSUE, Endpoint, RateLimiter, endpoint_of
from policyarc.sim.atlassian.seed import ACME_CLOUD_ID
from policyarc.sim.atlassian.state import Clock

JIRA = f"/api/ex/jira/{ACME_CLOUD_ID}/rest/api/3"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"{JIRA}/issue/ENG-12", Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/issue/{id}", "ENG-12")),
        (
            f"{JIRA}/issue/10042/comment/10007",
            Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/issue/{id}/comment/{id}", "10042"),
        ),
        (
            f"{JIRA}/issue/eng-1/transitions",
            Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/issue/{id}/transitions", "eng-1"),
        ),
        (f"{JIRA}/issue", Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/issue", None)),
        (f"{JIRA}/issue/createmeta", Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/issue/createmeta", None)),
        (f"{JIRA}/search/jql", Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/search/jql", None)),
        (f"{JIRA}/project/ENG", Endpoint(ACME_CLOUD_ID, False, "/rest/api/3/project/ENG", None)),
        ("/site/acme/rest/api/2/issue/OPS-3", Endpoint("acme", True, "/rest/api/2/issue/{id}", "OPS-3")),
        ("/site/acme/_edge/tenant_info", None),
        ("/api/me", None),
        ("/auth/oauth/token", None),
        ("/_sim/faults", None),
    ],
)
def test_endpoint_of(path: str, expected: Endpoint | None) -> None:
    assert endpoint_of(path) == expected


def _limiter(clock: Clock, **config: float) -> RateLimiter:
    return RateLimiter(SimConfig(**config), clock)  # type: ignore[arg-type]


def test_burst_per_tenant_endpoint_and_method_class(still_clock: Clock) -> None:
    limiter = _limiter(still_clock)
    tpl = "/rest/api/3/issue/{id}"
    assert all(limiter.check("GET", "t1", tpl, None) is None for _ in range(100))
    denial = limiter.check("POST", "t1", tpl, None)  # GET and POST share a bucket
    assert denial is not None
    assert (denial.reason, denial.limit) == (BURST, 100)
    assert denial.wait == pytest.approx(0.01)
    assert limiter.check("GET", "t2", tpl, None) is None  # another tenant
    assert limiter.check("GET", "t1", "/rest/api/3/search/jql", None) is None  # another endpoint
    assert all(limiter.check("PUT", "t1", tpl, None) is None for _ in range(50))  # another method class
    denial = limiter.check("DELETE", "t1", tpl, None)
    assert denial is not None and denial.limit == 50
    still_clock.advance(0.01)
    assert limiter.check("GET", "t1", tpl, None) is None  # one token refilled
    assert limiter.check("GET", "t1", tpl, None) is not None
    still_clock.advance(1)
    assert all(limiter.check("GET", "t1", tpl, None) is None for _ in range(100))  # full again, not more
    assert limiter.check("GET", "t1", tpl, None) is not None


def test_per_issue_writes(still_clock: Clock) -> None:
    limiter = _limiter(still_clock)
    tpl = "/rest/api/3/issue/{id}/comment"
    assert all(limiter.check("POST", "t1", tpl, "ENG-1") is None for _ in range(20))
    denial = limiter.check("POST", "t1", "/rest/api/3/issue/{id}", "ENG-1")  # any write to the same issue
    assert denial is not None
    assert (denial.reason, denial.limit, denial.wait) == (PER_ISSUE, 20, pytest.approx(0.1))
    assert limiter.check("POST", "t1", tpl, "ENG-2") is None
    assert limiter.check("GET", "t1", "/rest/api/3/issue/{id}", "ENG-1") is None  # reads are not counted
    still_clock.advance(2)
    assert all(limiter.check("PUT", "t1", tpl, "ENG-1") is None for _ in range(20))


def test_limits_come_from_config(still_clock: Clock) -> None:
    limiter = _limiter(still_clock, get_post_per_second=3, issue_writes_per_window=2, issue_write_window=10)
    assert [limiter.check("GET", "t", "/x", None) is None for _ in range(4)] == [True, True, True, False]
    assert [limiter.check("PUT", "t", "/y", "A-1") is None for _ in range(3)] == [True, True, False]
    denial = limiter.check("PUT", "t", "/z", "A-1")
    assert denial is not None and denial.wait == pytest.approx(5.0)


@pytest.fixture
def limited_app(still_clock: Clock) -> Starlette:
    return create_sim_app(SimConfig(), clock=still_clock)


async def test_429_over_http(limited_app: Starlette, still_clock: Clock) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app), base_url="http://sim") as client:
        # Limits apply before authentication, so no token is needed to spend the bucket.
        statuses = [(await client.get(f"{JIRA}/issue/ENG-{n}")).status_code for n in range(1, 101)]
        assert 429 not in statuses
        response = await client.get(f"{JIRA}/issue/SEC-9")
        assert response.status_code == 429
        assert response.json() == {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        assert response.headers["Retry-After"] == "1"
        assert response.headers["RateLimit-Reason"] == "jira-burst-based"
        assert response.headers["X-RateLimit-Limit"] == "100"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        reset = datetime.fromisoformat(response.headers["X-RateLimit-Reset"])
        assert reset.timestamp() == pytest.approx(still_clock.time() + 0.01)
        assert (await client.get(f"/api/ex/jira/{ACME_CLOUD_ID}/rest/api/3/myself")).status_code != 429
        assert (await client.get("/site/acme/_edge/tenant_info")).status_code == 200
        still_clock.advance(0.05)
        assert (await client.get(f"{JIRA}/issue/ENG-1")).status_code != 429


async def test_per_issue_write_limit_over_http(limited_app: Starlette, still_clock: Clock) -> None:
    eng1 = limited_app.state.sim.world.sites["acme"].issues["ENG-1"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app), base_url="http://sim") as client:
        for n in range(20):
            # The issue's id and its key share one bucket.
            path = f"{JIRA}/issue/{eng1.id if n % 2 else 'ENG-1'}"
            assert (await client.put(path, json={})).status_code != 429
        response = await client.post(f"{JIRA}/issue/eng-1/comment", json={})
        assert response.status_code == 429
        assert response.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
        assert response.headers["X-RateLimit-Limit"] == "20"
        assert response.headers["Retry-After"] == "1"
        assert (await client.put(f"{JIRA}/issue/ENG-2", json={})).status_code != 429
        still_clock.advance(2)
        assert (await client.put(f"{JIRA}/issue/ENG-1", json={})).status_code != 429


async def test_site_name_paths_count_against_the_tenant(limited_app: Starlette) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=limited_app), base_url="http://sim") as client:
        for _ in range(100):
            await client.get("/site/acme/rest/api/2/myself")
        assert (await client.get("/site/ACME/rest/api/2/myself")).status_code == 429


async def test_no_limits_when_disabled(still_clock: Clock) -> None:
    app = create_sim_app(SimConfig(rate_limits_enabled=False), clock=still_clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        statuses = {(await client.put(f"{JIRA}/issue/ENG-1", json={})).status_code for _ in range(120)}
    assert 429 not in statuses
