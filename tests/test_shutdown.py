"""Graceful shutdown, for real: `policyarc serve` under load gets SIGTERM. No call is cut, no record is lost.

The simulator (`policyarc sim`) holds each `get_issue` for a few seconds (a latency fault), so a wave of calls is
in flight when the signal arrives. Then: /readyz answers 503 at once; calls sent after the signal are refused
with 503 and Retry-After before anything runs (they never reach Jira); every call in flight completes with its
result; the audit log has a record of each; the process exits 0 on its own. Unit tests of the pieces follow.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from bench import signin
from starlette.applications import Starlette
from starlette.routing import Route

from policyarc.draining import Drain, DrainGate, GracefulServer
from tests.multi.harness import free_port as _free_port
from tests.multi.harness import policyarc as _policyarc
from tests.multi.harness import until_ready as _until_ready
from tests.security.test_audit_intent import ACME

IN_FLIGHT = 8  # calls held by the simulator when SIGTERM arrives
LATE = 4  # calls sent after it
HOLD_MS = 4000  # long enough for the test to see /readyz and send the late wave while the first is held
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}


def audit_rows(database: Path) -> list[tuple[str, str, int | None]]:
    with sqlite3.connect(database) as db:
        return list(db.execute("SELECT tool, state, upstream_status FROM audit_records ORDER BY id"))


async def test_sigterm_under_load_cuts_no_call_and_loses_no_record(tmp_path: Path) -> None:
    sim_url = f"http://127.0.0.1:{_free_port()}"
    gateway_port = _free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    seed = tmp_path / "sim-seed.json"
    seed.write_text(json.dumps(signin.sim_seed(gateway_url, 1)))
    env = {
        "POLICYARC_DATA_DIR": str(tmp_path / "gateway"),
        "POLICYARC_PUBLIC_URL": gateway_url,
        "POLICYARC_HOST": "127.0.0.1",
        "POLICYARC_PORT": str(gateway_port),
        "POLICYARC_ATLASSIAN_AUTH_URL": f"{sim_url}/auth",
        "POLICYARC_ATLASSIAN_API_URL": f"{sim_url}/api",
        "POLICYARC_ATLASSIAN_SITE_URL": f"{sim_url}/site/{{site}}",
        "POLICYARC_LOG_LEVEL": "warning",
        "POLICYARC_DRAIN_TIMEOUT": "60",  # the bound; the held calls need about HOLD_MS
    }
    database = tmp_path / "gateway" / "policyarc.db"
    sim_port = sim_url.rsplit(":", 1)[1]
    sim = _policyarc("sim", "--port", sim_port, "--no-rate-limits", "--auto-consent", "--seed", str(seed))
    gateway: subprocess.Popen[bytes] | None = None
    try:
        await _until_ready(sim, f"{sim_url}/site/acme/_edge/tenant_info")
        await signin.seed_gateway(env, ACME)
        gateway = _policyarc("serve", env=env)
        await _until_ready(gateway, f"{gateway_url}/readyz")
        user = await signin.sign_in(gateway_url, await signin.register_client(gateway_url), signin.bench_email(1))
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {user.gateway_token}"}

        limits = httpx.Limits(max_connections=IN_FLIGHT + LATE + 4)
        async with httpx.AsyncClient(timeout=60, limits=limits) as http:
            hold = {"path": "/api/ex/jira/*/rest/api/3/issue/*", "method": "GET", "kind": "latency"}
            (await http.post(f"{sim_url}/_sim/faults", json={**hold, "latency_ms": HOLD_MS})).raise_for_status()

            async def get_issue(n: int) -> httpx.Response:
                message: dict[str, Any] = {"jsonrpc": "2.0", "id": n, "method": "tools/call"}
                message["params"] = {"name": "get_issue", "arguments": {"key": f"OPS-{n}"}}
                return await http.post(f"{gateway_url}/mcp", json=message, headers=headers)

            async def held() -> int:
                listed = await http.get(f"{sim_url}/_sim/requests", params={"path": hold["path"], "method": "GET"})
                return len(listed.json()["requests"])

            first = [asyncio.create_task(get_issue(n)) for n in range(1, IN_FLIGHT + 1)]
            for _ in range(300):  # bounded: about 30 s for every call of the wave to reach Jira
                if await held() == IN_FLIGHT:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"only {await held()} of {IN_FLIGHT} calls reached the simulator")
            assert not any(task.done() for task in first)

            gateway.send_signal(signal.SIGTERM)

            for _ in range(100):  # bounded: the flag is set by the signal handler, seen at the next request
                ready = await http.get(f"{gateway_url}/readyz")
                if ready.status_code == 503:
                    break
                await asyncio.sleep(0.05)
            assert ready.status_code == 503 and ready.json() == {"status": "draining"}

            late = await asyncio.gather(*(get_issue(100 + n) for n in range(LATE)))
            finished = await asyncio.gather(*first)
            assert await held() == IN_FLIGHT  # the refused calls never reached Jira

        for response in late:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.json()["error"] == "temporarily_unavailable"
        for n, response in enumerate(finished, start=1):
            assert response.status_code == 200, response.text
            result = response.json()["result"]
            assert result["isError"] is False, result
            assert result["structuredContent"]["key"] == f"OPS-{n}"

        assert gateway.wait(timeout=60) == 0  # exits by itself once drained, with status 0 (not 143)
        assert audit_rows(database) == [("get_issue", "completed", 200)] * IN_FLIGHT
    finally:
        sim.kill()
        sim.wait(timeout=10)
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
            gateway.wait(timeout=10)


# --- the pieces ---------------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_drain_is_done_when_nothing_is_in_flight_or_the_timeout_is_spent() -> None:
    clock = FakeClock()
    drain = Drain(timeout=30, clock=clock)
    assert not drain.draining and not drain.done()
    drain.in_flight = 2
    drain.begin()
    assert drain.draining and not drain.done()
    clock.now += 29.9
    drain.begin()  # a second signal does not restart the clock
    assert not drain.done()
    clock.now += 0.1
    assert drain.done()  # timed out with calls still in flight: uvicorn's own shutdown bound takes over
    fresh = Drain(timeout=30, clock=clock)
    fresh.begin()
    assert fresh.done()  # nothing in flight: at once


async def test_the_gate_counts_calls_in_flight_and_refuses_new_ones_while_draining() -> None:
    drain = Drain()
    entered, release = asyncio.Event(), asyncio.Event()
    seen: list[int] = []

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        seen.append(drain.in_flight)
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    app = Starlette(routes=[Route("/mcp", endpoint=DrainGate(endpoint, drain), methods=["POST"])])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        call = asyncio.create_task(http.post("/mcp"))
        await entered.wait()
        drain.begin()
        refused = await http.post("/mcp")
        release.set()
        answered = await call
    assert seen == [1]
    assert drain.in_flight == 0
    assert answered.status_code == 200 and answered.text == "done"  # begun before the drain: finished
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"


def test_first_sigterm_drains_and_is_not_raised_again_a_second_one_stops_at_once() -> None:
    drain = Drain()
    server = GracefulServer(uvicorn.Config(Starlette()), drain)
    server.handle_exit(signal.SIGTERM, None)
    assert drain.draining and not server.should_exit  # the main loop goes on until drained (on_tick)
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit
    assert signal.SIGTERM not in server._captured_signals  # uvicorn would re-raise it: exit status 143
    server.handle_exit(signal.SIGINT, None)
    assert signal.SIGINT in server._captured_signals  # Ctrl-C keeps its usual meaning


@pytest.mark.parametrize("in_flight", [0, 1])
async def test_the_server_leaves_its_main_loop_once_drained(in_flight: int) -> None:
    drain = Drain()
    server = GracefulServer(uvicorn.Config(Starlette()), drain)
    drain.in_flight = in_flight
    drain.begin()
    assert await server.on_tick(1) is (in_flight == 0)
