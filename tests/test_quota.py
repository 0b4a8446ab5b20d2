"""quota.py: the gateway's rate limits per user, client and tenant (in process and in Redis), Atlassian's 429
pausing a tenant on every instance (over PostgreSQL NOTIFY and over Redis), and fairness between clients.

The pipeline tests run `ToolPipeline` against the in-process simulator; `Counting` tells how many requests
reached it, so "fails fast" means "sent nothing upstream". Clocks are injected: nothing here waits for time.
The Redis tests use the machine's Redis at 127.0.0.1:6379 (`POLICYARC_TEST_REDIS_URL`); they are skipped with
the reason when none answers, except where `POLICYARC_REQUIRE_REDIS=1`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import os
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from policyarc.caller import Caller
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.tools import READ
from policyarc.mcp_endpoint import ToolPipeline
from policyarc.notify import PostgresFeed, change_feed
from policyarc.oauth.throttle import TokenBucket
from policyarc.quota import PAUSE_KIND, LocalCounter, Quota, QuotaLimits, QuotaRefusal, RedisCounter
from policyarc.settings import SettingsError, load_settings
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.upstream import HttpxUpstream
from tests.fakes import AllowAll, MemoryAudit, OneJiraSite, SimTokens

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
REDIS_URL = os.environ.get("POLICYARC_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CALLER = Caller(
    user_id="user-alice",
    email="alice@example.com",
    account_id=ALICE,
    client_id="client-a",
    client_name="Client A",
    environment_id="env-1",
    scopes=frozenset({READ}),
    expires_at=math.inf,
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def caller(user: str = "user-alice", client: str = "client-a", environment: str = "env-1") -> Caller:
    return dataclasses.replace(CALLER, user_id=user, client_id=client, environment_id=environment)


# --- limits in process -------------------------------------------------------------------------------------------


async def test_a_token_bucket_per_second_allows_a_burst_then_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(20, period=1.0, clock=clock)
    assert [bucket.take("k") for _ in range(20)] == [None] * 20
    wait = bucket.take("k")
    assert wait == pytest.approx(1 / 20)  # one call refills in 50 ms
    clock.now += 0.05
    assert bucket.take("k") is None
    assert await bucket.hit("other") is None  # keys are counted apart


async def test_each_limit_refuses_with_its_own_reason_and_wait() -> None:
    clock = Clock()
    counter = LocalCounter(QuotaLimits(tenant_per_second=5, user_per_second=2, client_per_second=3), clock=clock)
    assert counter.take_now("env-1", "u1", "c1", ACME) is None
    assert counter.take_now("env-1", "u1", "c1", ACME) is None
    assert counter.take_now("env-1", "u1", "c1", ACME) == QuotaRefusal("user", pytest.approx(0.5))
    assert counter.take_now("env-1", "u2", "c1", ACME) is None  # c1: its third call
    assert counter.take_now("env-1", "u3", "c1", ACME) == QuotaRefusal("client", pytest.approx(1 / 3))
    assert counter.take_now("env-1", "u3", "c2", ACME) is None  # the tenant: its fourth
    assert counter.take_now("env-1", "u4", "c3", ACME) is None  # its fifth
    assert counter.take_now("env-1", "u5", "c4", ACME) == QuotaRefusal("tenant", pytest.approx(0.2))
    assert counter.take_now("env-1", "u5", "c4", "other-tenant") is None
    # The same user and client ids in another environment have budgets of their own.
    assert counter.take_now("env-2", "u1", "c1", "tenant-2") is None
    clock.now += 1
    assert counter.take_now("env-1", "u1", "c1", ACME) is None


async def test_a_limit_of_zero_is_off() -> None:
    counter = LocalCounter(QuotaLimits(tenant_per_second=0, user_per_second=0, client_per_second=1), clock=Clock())
    assert counter.take_now("env-1", "u1", "c1", ACME) is None
    assert counter.take_now("env-1", "u2", "c2", ACME) is None
    assert counter.take_now("env-1", "u3", "c1", ACME) == QuotaRefusal("client", pytest.approx(1.0))
    assert QuotaLimits(0, 0, 0).off and not QuotaLimits().off


async def test_a_refusal_says_when_to_retry() -> None:
    assert QuotaRefusal("client", 0.2).message().endswith("Retry in 1 s.")
    assert "this MCP client's" in QuotaRefusal("client", 0.2).message()
    assert "your calls" in QuotaRefusal("user", 3.5).message()
    assert "Retry in 4 s." in QuotaRefusal("user", 3.5).message()
    assert "answered 429" in QuotaRefusal("paused", 119.2).message()
    assert "Retry in 120 s." in QuotaRefusal("paused", 119.2).message()


async def test_a_pause_refuses_until_it_ends_and_only_ever_lengthens() -> None:
    clock = Clock()
    quota = Quota(LocalCounter(QuotaLimits(), clock=clock), clock=clock)
    await quota.pause(ACME, 30)
    assert await quota.admit(CALLER, ACME) == QuotaRefusal("paused", 30)
    assert await quota.admit(CALLER, "other-tenant") is None
    quota.on_feed(f"{ACME}:{clock.now + 5:.3f}")  # an earlier end, heard from another instance
    assert quota.pause_of(ACME) == clock.now + 30
    quota.on_feed(f"{ACME}:{clock.now + 60:.3f}")
    assert quota.pause_of(ACME) == clock.now + 60
    quota.on_feed(f"{ACME}:soon")  # garbage is ignored
    quota.on_feed(f"{ACME}:{clock.now + 10**9}")  # a pause of decades is cut to max_pause
    assert quota.pause_of(ACME) == clock.now + 3600
    clock.now += 3600
    assert await quota.admit(CALLER, ACME) is None
    assert quota.pause_of(ACME) is None


def test_settings_have_defaults_under_atlassians_burst_limit_and_check_the_redis_url(tmp_path: Any) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert (settings.quota_tenant_per_second, settings.quota_user_per_second) == (80, 20)
    assert settings.quota_client_per_second == 40
    assert settings.quota_tenant_per_second < 100  # Atlassian: about 100 req/s per tenant and endpoint
    assert settings.redis_url is None
    assert isinstance(Quota.from_settings(settings)._counter, LocalCounter)
    with pytest.raises(SettingsError) as raised:
        load_settings(data_dir=tmp_path, redis_url="http://user:hunter2@cache:6379")
    assert "POLICYARC_REDIS_URL" in str(raised.value) and "hunter2" not in str(raised.value)


# --- the pipeline against the simulator --------------------------------------------------------------------------


class Counting(httpx.AsyncBaseTransport):
    """The simulator as Jira, counting the Jira requests that reached it."""

    def __init__(self, sim: Starlette) -> None:
        self._sim = httpx.ASGITransport(app=sim)
        self.jira = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/ex/jira/"):
            self.jira += 1
        return await self._sim.handle_async_request(request)


@pytest.fixture
def sim() -> Starlette:
    return create_sim_app(SimConfig(rate_limits_enabled=False))


@pytest.fixture
def jira(sim: Starlette) -> Counting:
    return Counting(sim)


def pipeline(sim: Starlette, jira: Counting, quota: Quota, audit: MemoryAudit | None = None) -> ToolPipeline:
    http = httpx.AsyncClient(transport=jira, base_url="http://sim")
    client = JiraClient(HttpxUpstream(http), api_url="http://sim/api", retry=RetryPolicy(attempts=1))
    return ToolPipeline(
        tools=JIRA_TOOLS,
        policy=AllowAll(),
        connectors=OneJiraSite(client, ACME),
        vault=SimTokens(sim, ALICE, ACME, ("read:jira-work", "read:jira-user", "read:me")),
        audit=audit or MemoryAudit(),
        quota=quota,
    )


async def fault(sim: Starlette, **spec: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim") as hooks:
        (await hooks.post("/_sim/faults", json=spec)).raise_for_status()


async def test_one_noisy_client_cannot_starve_the_others(sim: Starlette, jira: Counting) -> None:
    # The defaults (tenant 80/s, client 40/s, user 20/s) on a clock that stands still: one second's budget.
    clock = Clock()
    audit = MemoryAudit()
    tools = pipeline(sim, jira, Quota(LocalCounter(QuotaLimits(), clock=clock), clock=clock), audit)
    # The noisy client: 100 calls at once, spread over 10 users so that no user's own limit is what stops it.
    noisy = [
        await tools.call(caller(f"noisy-{n % 10}", "noisy-client"), "get_issue", {"key": "ENG-1"}) for n in range(100)
    ]
    refused = [result for result in noisy if result.is_error]
    assert len(refused) == 60
    assert all("this MCP client's calls was reached" in r.content[0].text for r in refused)  # type: ignore[union-attr]
    # Another client's calls, from its own users, all go through: the noisy one used only its own share.
    quiet = [
        await tools.call(caller(f"quiet-{n % 2}", "quiet-client"), "get_issue", {"key": "ENG-1"}) for n in range(30)
    ]
    assert not any(result.is_error for result in quiet)
    assert jira.jira == 40 + 30  # refused calls sent nothing upstream
    denied = [entry for entry in audit.entries if entry.decision == "denied_quota"]
    assert len(denied) == 60
    assert {(entry.error_code, entry.upstream_status, entry.client_id) for entry in denied} == {
        ("rate_limited", None, "noisy-client")
    }


async def test_a_429_pauses_the_tenant_and_paused_calls_send_nothing(sim: Starlette, jira: Counting) -> None:
    clock = Clock()
    audit = MemoryAudit()
    tools = pipeline(sim, jira, Quota(LocalCounter(QuotaLimits(), clock=clock), clock=clock), audit)
    await fault(sim, path="*/issue/*", kind="rate_limit", retry_after=120, count=1, reason="jira-burst-based")
    limited = await tools.call(CALLER, "get_issue", {"key": "ENG-1"})
    assert limited.is_error and jira.jira == 1
    # Another user on another client, same tenant: paused too, at once, without reaching Jira.
    paused = await tools.call(caller("user-bob", "client-b"), "search_issues", {"jql": "project = ENG"})
    assert paused.is_error
    assert "Retry in 120 s." in paused.content[0].text  # type: ignore[union-attr]
    assert jira.jira == 1
    assert [(e.decision, e.upstream_status) for e in audit.entries] == [("allowed", 429), ("denied_quota", None)]
    clock.now += 120
    assert not (await tools.call(CALLER, "get_issue", {"key": "ENG-1"})).is_error
    assert jira.jira == 2


async def test_a_per_issue_write_limit_does_not_pause_the_tenant(sim: Starlette, jira: Counting) -> None:
    clock = Clock()
    quota = Quota(LocalCounter(QuotaLimits(), clock=clock), clock=clock)
    tools = pipeline(sim, jira, quota)
    await fault(sim, path="*/issue/*", kind="rate_limit", retry_after=2, count=1, reason="jira-per-issue-on-write")
    assert (await tools.call(CALLER, "get_issue", {"key": "ENG-1"})).is_error
    assert quota.pause_of(ACME) is None
    assert not (await tools.call(CALLER, "get_issue", {"key": "ENG-2"})).is_error


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(100):  # bounded: about 10 s
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within 100 polls: {what}")


async def test_a_429_seen_by_one_instance_pauses_the_tenant_on_another_over_postgresql(
    sim: Starlette, jira: Counting, pg_url: str, pg_engine: AsyncEngine
) -> None:
    clock = Clock()
    feeds = [change_feed(pg_url, pg_engine), change_feed(pg_url, pg_engine)]
    quotas = []
    for feed in feeds:
        assert isinstance(feed, PostgresFeed)
        quota = Quota(LocalCounter(QuotaLimits(), clock=clock), feed=feed, clock=clock)
        feed.subscribe(PAUSE_KIND, quota.on_feed)
        quotas.append(quota)
    one, two = (pipeline(sim, jira, quota) for quota in quotas)
    for feed in feeds:
        await feed.start()
    try:
        await _until(lambda: all(feed.live for feed in feeds), "both feeds listening")
        await fault(sim, path="*/issue/*", kind="rate_limit", retry_after=120, count=1)
        assert (await one.call(CALLER, "get_issue", {"key": "ENG-1"})).is_error
        await _until(lambda: quotas[1].pause_of(ACME) is not None, "the pause reached the other instance")
        paused = await two.call(caller("user-bob", "client-b"), "get_issue", {"key": "ENG-2"})
        assert "Retry in 120 s." in paused.content[0].text  # type: ignore[union-attr]
        assert jira.jira == 1
        clock.now += 120
        assert not (await two.call(caller("user-bob", "client-b"), "get_issue", {"key": "ENG-2"})).is_error
    finally:
        for feed in feeds:
            await feed.aclose()


# --- Redis ----------------------------------------------------------------------------------------------------------


@pytest.fixture
async def redis_client() -> AsyncIterator[Any]:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        reason = f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}: {exc})"
        if os.environ.get("POLICYARC_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"policyarc-test:{secrets.token_hex(6)}:"  # each test its own keys; they expire with their windows


def redis_counter(client: Any, limits: QuotaLimits, prefix: str, window: float = 60.0) -> RedisCounter:
    # A long window: the counts cannot roll over to a new window in the middle of a test.
    return RedisCounter(client, limits, fallback=LocalCounter(limits), prefix=prefix, window=window)


async def test_redis_counts_every_limit_in_one_shared_window(redis_client: Any, prefix: str) -> None:
    limits = QuotaLimits(tenant_per_second=5, user_per_second=2, client_per_second=3)
    # Two instances (two counters on one Redis) with limits per second over a 1 s window... stretched to 60 s,
    # so the per-window limits are 60 times those: 300 for the tenant, 120 per user, 180 per client.
    one, two = redis_counter(redis_client, limits, prefix), redis_counter(redis_client, limits, prefix)
    results = [await (one if n % 2 else two).take("env-1", "u1", "c1", ACME) for n in range(121)]
    assert results[:120] == [None] * 120
    refusal = results[120]
    assert refusal is not None and refusal.reason == "user" and 0 < refusal.wait <= 60
    assert [await one.take("env-1", "u2", "c1", ACME) for _ in range(60)] == [None] * 60
    refusal = await two.take("env-1", "u3", "c1", ACME)
    assert refusal is not None and refusal.reason == "client"
    assert [await one.take("env-1", f"u{n}", "c2", ACME) for n in range(10, 130)] == [None] * 120
    refusal = await two.take("env-1", "u200", "c3", ACME)
    assert refusal is not None and refusal.reason == "tenant"
    assert await two.take("env-2", "u1", "c1", "another-tenant") is None
    assert await redis_client.pttl(f"{prefix}u:env-1:u1") > 0  # every counter expires with its window


async def test_redis_limits_reset_with_the_window(redis_client: Any, prefix: str) -> None:
    counter = redis_counter(redis_client, QuotaLimits(20, 20, 20), prefix, window=0.05)  # 1 per 50 ms window
    assert await counter.take("env-1", "u1", "c1", ACME) is None
    refusal = await counter.take("env-1", "u1", "c1", ACME)
    assert refusal is not None and refusal.wait <= 0.05
    # Instead of sleeping a fixed time: wait for the key Redis expires, then the next window admits again.
    await _until_async(lambda: redis_client.exists(f"{prefix}u:env-1:u1"), 0, "the window expired")
    assert await counter.take("env-1", "u1", "c1", ACME) is None


async def _until_async(probe: Callable[[], Any], want: Any, what: str) -> None:
    for _ in range(200):
        if await probe() == want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within 200 polls: {what}")


async def test_a_pause_in_redis_reaches_an_instance_that_did_not_hear_it(
    redis_client: Any, prefix: str, sim: Starlette, jira: Counting
) -> None:
    clock = Clock()
    limits = QuotaLimits()
    one = pipeline(sim, jira, Quota(redis_counter(redis_client, limits, prefix), clock=clock))
    two = pipeline(sim, jira, Quota(redis_counter(redis_client, limits, prefix), clock=clock))  # no feed at all
    await fault(sim, path="*/issue/*", kind="rate_limit", retry_after=120, count=1)
    assert (await one.call(CALLER, "get_issue", {"key": "ENG-1"})).is_error
    ttl = await redis_client.pttl(f"{prefix}pause:{ACME}")
    assert 119_000 < ttl <= 120_000
    paused = await two.call(caller("user-bob", "client-b"), "get_issue", {"key": "ENG-2"})
    assert paused.is_error and "answered 429" in paused.content[0].text  # type: ignore[union-attr]
    assert jira.jira == 1
    await redis_client.delete(f"{prefix}pause:{ACME}")  # Redis's own clock cannot be moved: the pause ends now
    assert (await two.call(CALLER, "get_issue", {"key": "ENG-2"})).is_error  # `two` remembers what Redis said
    assert jira.jira == 1
    clock.now += 120
    assert not (await two.call(caller("user-bob", "client-b"), "get_issue", {"key": "ENG-2"})).is_error


async def test_an_unreachable_redis_counts_in_process_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    import redis.asyncio

    limits = QuotaLimits(tenant_per_second=0, user_per_second=2, client_per_second=0)
    clock = Clock()
    dead = redis.asyncio.Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.5, socket_connect_timeout=0.5)
    counter = RedisCounter(dead, limits, fallback=LocalCounter(limits, clock=clock))
    try:
        with caplog.at_level(logging.WARNING, logger="policyarc.quota"):
            results = [await counter.take("env-1", "u1", "c1", ACME) for _ in range(3)]
            await counter.pause(ACME, 10)  # not raised: the change feed still carries it
    finally:
        await counter.aclose()
    assert results[:2] == [None, None]
    assert results[2] is not None and results[2].reason == "user"
    assert len([r for r in caplog.records if "Redis for quotas failed" in r.getMessage()]) == 1
