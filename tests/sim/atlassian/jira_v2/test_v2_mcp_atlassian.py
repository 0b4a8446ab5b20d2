"""mcp-atlassian 0.23.1, run as a Jira Server client against the simulator's v2 API, end to end.

Starts `policyarc sim` and mcp-atlassian (from `bench/.venvs/mcp-atlassian`, kept out of the project's
environment) as subprocesses on free ports and calls two of its tools through the MCP SDK client with a
user's own token. Skipped when that venv is absent (`python3 -m venv bench/.venvs/mcp-atlassian &&
bench/.venvs/mcp-atlassian/bin/pip install mcp-atlassian==0.23.1`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

REPO = Path(__file__).resolve().parents[4]
MCP_ATLASSIAN = REPO / "bench" / ".venvs" / "mcp-atlassian" / "bin" / "mcp-atlassian"
POLICYARC = Path(sys.executable).parent / "policyarc"
TOOLS = (
    "jira_search,jira_get_issue,jira_get_all_projects,jira_create_issue,jira_update_issue,"
    "jira_get_transitions,jira_transition_issue"
)

pytestmark = pytest.mark.skipif(
    not MCP_ATLASSIAN.exists(), reason=f"mcp-atlassian is not installed in {MCP_ATLASSIAN.parents[1]}"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited early:\n{log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not come up within {timeout} s:\n{log.read_text()[-2000:]}")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(simulator URL, mcp-atlassian MCP endpoint), both running until the test ends."""
    sim_port, mcp_port = _free_port(), _free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    env = {
        **os.environ,
        "JIRA_URL": f"{sim_url}/site/acme",
        "JIRA_PERSONAL_TOKEN": "unused",
        "TOOLSETS": "jira_issues,jira_transitions,jira_projects",
        "ENABLED_TOOLS": TOOLS,
        "FASTMCP_CHECK_FOR_UPDATES": "off",
    }
    processes: list[subprocess.Popen[bytes]] = []
    try:
        sim_log = tmp_path / "sim.log"
        with sim_log.open("wb") as out:
            processes.append(
                subprocess.Popen(  # noqa: S603
                    [str(POLICYARC), "sim", "--port", str(sim_port), "--no-rate-limits"], stdout=out, stderr=out
                )
            )
        _wait_until_up(f"{sim_url}/_sim/clock", processes[0], sim_log)
        mcp_log = tmp_path / "mcp.log"
        with mcp_log.open("wb") as out:
            command = [str(MCP_ATLASSIAN), "--transport", "streamable-http", "--stateless", "--port", str(mcp_port)]
            processes.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=out))  # noqa: S603
        _wait_until_up(f"http://127.0.0.1:{mcp_port}/mcp", processes[1], mcp_log)
        yield sim_url, f"http://127.0.0.1:{mcp_port}/mcp"
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _call(endpoint: str, token: str, name: str, arguments: dict[str, Any]) -> str:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http,
        streamable_http_client(endpoint, http_client=http) as streams,
        ClientSession(streams[0], streams[1]) as session,
    ):
        await session.initialize()
        result = await session.call_tool(name, arguments)
        text = "".join(getattr(block, "text", "") for block in result.content)
        assert not result.is_error, text
        return text


async def test_mcp_atlassian_reads_the_seeded_issue_through_v2(servers: tuple[str, str]) -> None:
    sim_url, endpoint = servers
    async with httpx.AsyncClient(base_url=sim_url) as sim:
        token = (await sim.post("/_sim/tokens", json={"email": "bob@example.com"})).json()["access_token"]
        issue = (
            await sim.get("/site/acme/rest/api/2/issue/ENG-1", headers={"Authorization": f"Bearer {token}"})
        ).json()
        summary = issue["fields"]["summary"]
        await sim.delete("/_sim/requests")

        got = await _call(endpoint, token, "jira_get_issue", {"issue_key": "ENG-1"})
        assert summary in got
        found = await _call(endpoint, token, "jira_search", {"jql": "key = ENG-1", "limit": 5})
        assert summary in found
        # bob may not browse SEC: mcp-atlassian sees what the simulator's permissions allow.
        hidden = await _call(endpoint, token, "jira_search", {"jql": "ORDER BY key", "limit": 50})
        assert "SEC-" not in hidden

        paths = {entry["path"] for entry in (await sim.get("/_sim/requests")).json()["requests"]}
        assert "/site/acme/rest/api/2/myself" in paths
        assert "/site/acme/rest/api/2/search" in paths
        assert all(path.startswith("/site/acme/rest/api/2/") for path in paths)
