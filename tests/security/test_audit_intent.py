"""Finding 19: every write that may have reached Jira is in the audit log, even when the gateway dies mid-call.

The tool pipeline (`ToolPipeline.call`) runs against the in-process simulator behind `WatchingJira`, a transport
that looks at the database at the moment a write arrives, as Jira would receive it, through a separate engine (what
another process would see). On SQLite and PostgreSQL (`db_url`).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from bench import signin  # the benchmark's sign-in of a user through the gateway's OAuth flow, over HTTP
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from policyarc.audit import OUTCOME_UNKNOWN, AuditWriter
from policyarc.caller import Caller
from policyarc.connectors.jira.catalog import JIRA_TOOLS
from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.tools import PROJECTS, READ, WRITE
from policyarc.mcp_endpoint import INTENT_FAILED, ToolPipeline
from policyarc.services import AuditFilter, tail_audit
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.store import create_engine, session_factory
from policyarc.store.models import AuditRecord
from policyarc.upstream import HttpxUpstream
from tests.fakes import AllowAll, OneJiraSite, SimTokens
from tests.multi.harness import free_port, gateway_env, policyarc, stop, until_ready

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
ATLASSIAN_SCOPES = ("read:jira-work", "read:jira-user", "write:jira-work", "read:me", "offline_access")
CALLER = Caller(
    user_id="user-alice",
    email="alice@example.com",
    account_id=ALICE,
    client_id="https://client.example/metadata.json",
    client_name="Test client",
    environment_id="env-1",
    scopes=frozenset({READ, WRITE, PROJECTS}),
    expires_at=math.inf,
)
# One call of each write tool of the catalogue (the test below fails when a write tool is added without one here).
WRITES: dict[str, dict[str, Any]] = {
    "create_issue": {"project": "ENG", "summary": "Written after its audit intent"},
    "update_issue": {"key": "ENG-1", "summary": "Updated after its audit intent"},
    "transition_issue": {"key": "ENG-2", "transition": "Reopen"},  # ENG-2 is Done in the seed
}

Snapshot = list[tuple[str | None, str]]  # (tool, state) of every audit record, in id order


async def snapshot(engine: AsyncEngine) -> Snapshot:
    async with session_factory(engine)() as db:
        rows = await db.execute(select(AuditRecord.tool, AuditRecord.state).order_by(AuditRecord.id))
        return [(tool, state) for tool, state in rows]


class WatchingJira(httpx.AsyncBaseTransport):
    """The simulator as Jira, which on each write it receives (any method but GET) first runs `on_write`."""

    def __init__(self, sim: Starlette, on_write: Callable[[httpx.Request], Awaitable[None]]) -> None:
        self._sim = httpx.ASGITransport(app=sim)
        self._on_write = on_write
        self.writes: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes.append(f"{request.method} {request.url.path}")
            await self._on_write(request)
        return await self._sim.handle_async_request(request)


def pipeline(sim: Starlette, jira: httpx.AsyncBaseTransport, audit: AuditWriter) -> ToolPipeline:
    http = httpx.AsyncClient(transport=jira, base_url="http://sim")
    return ToolPipeline(
        tools=JIRA_TOOLS,
        policy=AllowAll(),
        connectors=OneJiraSite(
            JiraClient(HttpxUpstream(http), api_url="http://sim/api", retry=RetryPolicy(attempts=1)), ACME
        ),
        vault=SimTokens(sim, ALICE, ACME, ATLASSIAN_SCOPES),
        audit=audit,
    )


@pytest.fixture
def sim() -> Starlette:
    return create_sim_app(SimConfig(rate_limits_enabled=False))


@pytest.fixture
async def observer(db_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Another connection pool on the migrated database: sees only what the gateway has committed."""
    other = create_engine(db_url)
    try:
        yield other
    finally:
        await other.dispose()


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[AuditWriter]:
    writer = AuditWriter(engine)
    await writer.start()
    try:
        yield writer
    finally:
        await writer.aclose()


def test_every_write_tool_of_the_catalogue_is_covered() -> None:
    assert {tool.name for tool in JIRA_TOOLS if not tool.hints.read_only} == set(WRITES)


@pytest.mark.parametrize("tool", sorted(WRITES))
async def test_the_intent_is_committed_before_jira_receives_the_write(
    tool: str, sim: Starlette, observer: AsyncEngine, writer: AuditWriter
) -> None:
    seen: list[Snapshot] = []

    async def look(request: httpx.Request) -> None:
        seen.append(await snapshot(observer))

    jira = WatchingJira(sim, look)
    result = await pipeline(sim, jira, writer).call(CALLER, tool, WRITES[tool])

    assert not result.is_error, result.content
    assert len(jira.writes) == 1
    assert seen == [[(tool, "pending")]]  # committed, and visible to others, when the write arrived
    assert await snapshot(observer) == [(tool, "completed")]  # the same record, completed in place
    async with session_factory(observer)() as db:
        record = (await db.scalars(select(AuditRecord))).one()
    assert record.upstream_status in (200, 201, 204) and record.latency_ms is not None and record.error_code is None
    assert writer.batches == 2  # the intent and the completion: one extra (group) commit for a write


async def test_a_read_pays_for_no_intent(sim: Starlette, observer: AsyncEngine, writer: AuditWriter) -> None:
    seen: list[Snapshot] = []

    async def look(request: httpx.Request) -> None:
        seen.append(await snapshot(observer))

    search = {"jql": "project = ENG ORDER BY key", "max_results": 1}  # search/jql is a POST that only reads
    for name, arguments in (("get_issue", {"key": "ENG-1"}), ("search_issues", search)):
        result = await pipeline(sim, WatchingJira(sim, look), writer).call(CALLER, name, arguments)
        assert not result.is_error, result.content

    assert seen == [[("get_issue", "completed")]]  # the POST of the search: nothing of the search recorded yet
    assert await snapshot(observer) == [("get_issue", "completed"), ("search_issues", "completed")]
    assert writer.batches == 2  # one commit per read, as before


async def test_a_gateway_killed_after_the_write_reached_jira_leaves_a_record_that_start_up_marks_interrupted(
    sim: Starlette, engine: AsyncEngine, observer: AsyncEngine, writer: AuditWriter
) -> None:
    reached = asyncio.Event()

    class AppliedThenHung(WatchingJira):
        """Jira applies the write; its answer never gets back before the gateway dies."""

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            response = await super().handle_async_request(request)
            if request.method != "GET":
                reached.set()
                await asyncio.Event().wait()  # until cancelled: the process dies here
            return response

    async def nothing(request: httpx.Request) -> None:
        return None

    gateway = pipeline(sim, AppliedThenHung(sim, nothing), writer)
    call = asyncio.create_task(gateway.call(CALLER, "create_issue", WRITES["create_issue"]))
    await reached.wait()
    call.cancel()  # what SIGKILL does to the call (tests/security/test_audit_intent_process.py does it for real)
    with pytest.raises(asyncio.CancelledError):
        await call
    await writer.aclose()

    (applied,) = sim.state.hooks.requests.entries(path="*/rest/api/3/issue", method="POST")
    assert applied["status"] == 201  # Jira created the issue; the gateway never learnt it
    assert await snapshot(observer) == [("create_issue", "pending")]

    # A gateway starting while the write may still be in flight on another instance leaves it alone...
    patient = AuditWriter(engine, intent_grace=3600)
    await patient.start()
    await patient.aclose()
    assert await snapshot(observer) == [("create_issue", "pending")]
    # ...and once the grace has passed (here: none), start-up marks it interrupted.
    restarted = AuditWriter(engine, intent_grace=0)
    await restarted.start()
    await restarted.aclose()
    assert await snapshot(observer) == [("create_issue", "interrupted")]

    async with session_factory(observer)() as db:
        (view,) = await tail_audit(db, AuditFilter(environment_id=CALLER.environment_id))
    assert (view.tool, view.user_id, view.decision, view.upstream_status) == (
        "create_issue",
        "user-alice",
        "allowed",
        None,
    )
    assert view.note is not None and OUTCOME_UNKNOWN in view.note


async def test_a_write_whose_intent_cannot_be_committed_is_never_sent(
    sim: Starlette, engine: AsyncEngine, observer: AsyncEngine
) -> None:
    async def nothing(request: httpx.Request) -> None:
        return None

    jira = WatchingJira(sim, nothing)
    stopped = AuditWriter(engine)  # never started: every record is refused, as when the database is away

    result = await pipeline(sim, jira, stopped).call(CALLER, "update_issue", WRITES["update_issue"])

    assert jira.writes == []
    assert result.is_error
    assert result.content[0].text == INTENT_FAILED  # says nothing was changed, not "may have run"
    assert await snapshot(observer) == []


# --- for real: a gateway process SIGKILLed while its write is in flight -------------------------------------------


async def _records(database: Path) -> Snapshot:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        return await snapshot(engine)
    finally:
        await engine.dispose()


async def test_a_sigkilled_gateway_leaves_its_in_flight_write_in_the_audit_log(tmp_path: Path) -> None:
    sim_url = f"http://127.0.0.1:{free_port()}"
    gateway_port = free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    seed = tmp_path / "sim-seed.json"
    seed.write_text(json.dumps(signin.sim_seed(gateway_url, 1)))  # the OAuth app and one user with OPS access
    env = {**gateway_env(gateway_url, sim_url, tmp_path / "gateway"), "POLICYARC_PORT": str(gateway_port)}
    database = tmp_path / "gateway" / "policyarc.db"
    sim_port = sim_url.rsplit(":", 1)[1]
    processes = [policyarc("sim", "--port", sim_port, "--no-rate-limits", "--auto-consent", "--seed", str(seed))]
    try:
        await until_ready(processes[0], f"{sim_url}/site/acme/_edge/tenant_info")
        await signin.seed_gateway(env, ACME)  # IdP, connector, and a policy granting the write scope
        gateway = policyarc("serve", env=env)
        processes.append(gateway)
        await until_ready(gateway, f"{gateway_url}/readyz")
        user = await signin.sign_in(gateway_url, await signin.register_client(gateway_url), signin.bench_email(1))

        async with httpx.AsyncClient(timeout=30) as http:
            # Jira receives the create and stalls on it: the gateway is killed with the write in flight.
            stall = {"path": "/api/ex/jira/*/rest/api/3/issue", "method": "POST", "kind": "latency"}
            (await http.post(f"{sim_url}/_sim/faults", json={**stall, "latency_ms": 60_000})).raise_for_status()
            call = {"name": "create_issue", "arguments": {"project": "OPS", "summary": "Sent, then SIGKILL"}}
            headers = {
                "Authorization": f"Bearer {user.gateway_token}",
                "Accept": "application/json, text/event-stream",
                "MCP-Protocol-Version": "2025-11-25",  # stateless: no initialize, no session
            }
            message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": call}
            sent = asyncio.create_task(http.post(f"{gateway_url}/mcp", json=message, headers=headers))
            for _ in range(300):  # bounded: about 30 s
                received = await http.get(f"{sim_url}/_sim/requests", params={k: stall[k] for k in ("path", "method")})
                if received.json()["requests"]:
                    break
                assert not sent.done(), sent.result().text
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the write never reached the simulator")

            gateway.send_signal(signal.SIGKILL)
            gateway.wait(timeout=10)
            with pytest.raises(httpx.TransportError):  # the client saw the connection die, no answer
                await sent

        assert await _records(database) == [("create_issue", "pending")]

        # Restarted as the only instance (no grace): start-up marks the write interrupted before serving.
        restarted = policyarc("serve", env={**env, "POLICYARC_AUDIT_INTENT_GRACE": "0"})
        processes.append(restarted)
        await until_ready(restarted, f"{gateway_url}/readyz")
        assert await _records(database) == [("create_issue", "interrupted")]
        tail = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("policyarc")),
            "audit",
            "tail",
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **env},
        )
        stdout, _ = await asyncio.wait_for(tail.communicate(), 60)
        shown = stdout.decode()
        assert tail.returncode == 0
        assert "create_issue" in shown and "[interrupted: its gateway stopped" in shown and OUTCOME_UNKNOWN in shown
    finally:
        processes[0].kill()  # the simulator still holds the stalled request: no graceful shutdown to wait for
        stop(processes)
