"""Real processes on loopback for tests: `policyarc sim` and `policyarc serve` instances, started, awaited and
stopped within bounds.

    async with cluster(tmp_path, database_url, instances=2) as c:   # the simulator and two gateways on one database
        user = await c.sign_in(1)                                   # through c.urls[0], the OAuth flow over HTTP
        response = await c.call(c.urls[1], user.gateway_token, "get_issue", {"key": "ENG-1"})
        c.kill(0)                                                   # SIGKILL

Every instance has the same `POLICYARC_PUBLIC_URL` (the first instance's address, as behind one load balancer: a
gateway token is bound to that `/mcp` resource), the same database and the same key ring
(`POLICYARC_SECRET_KEYS`). Each process logs to a file under the test's directory (`Cluster.logs`), which a failed
assertion can point at. Used by tests/multi and tests/security/test_audit_intent.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from bench import signin  # the benchmark's sign-in of a user through the gateway's OAuth flow, over HTTP

from policyarc.secrets import KeyRing

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
MCP_HEADERS = {
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": "2025-11-25",  # stateless: no initialize, no session
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def policyarc(*args: str, env: dict[str, str] | None = None, log: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    """`policyarc ARGS` from this interpreter's environment (so PYTHONPATH picks the code under test)."""
    script = Path(sys.executable).with_name("policyarc")
    return subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments, loopback only
        [str(script), *args],
        stdout=log or subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


async def until_ready(process: subprocess.Popen[bytes], url: str) -> None:
    async with httpx.AsyncClient(timeout=2) as http:
        for _ in range(300):  # bounded: about 30 s of polling
            assert process.poll() is None, f"the process serving {url} exited early"
            with contextlib.suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.1)  # a real process: nothing to advance but time
    raise AssertionError(f"{url} was not ready after 300 polls")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate what still runs (SIGKILL after 10 s), and reap every process."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gateway_env(public_url: str, sim_url: str, data_dir: Path) -> dict[str, str]:
    """The POLICYARC_* variables of a gateway pointed at the simulator (SQLite in `data_dir` unless overridden)."""
    return {
        "POLICYARC_DATA_DIR": str(data_dir),
        "POLICYARC_PUBLIC_URL": public_url,
        "POLICYARC_HOST": "127.0.0.1",
        "POLICYARC_ATLASSIAN_AUTH_URL": f"{sim_url}/auth",
        "POLICYARC_ATLASSIAN_API_URL": f"{sim_url}/api",
        "POLICYARC_ATLASSIAN_SITE_URL": f"{sim_url}/site/{{site}}",
        "POLICYARC_LOG_LEVEL": "warning",
    }


def mcp_call(tool: str, arguments: dict[str, Any], request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


@dataclass
class User:
    email: str
    client_id: str
    gateway_token: str


@dataclass
class Cluster:
    sim_url: str
    urls: list[str]  # one per gateway instance; urls[0] is also the public URL
    env: dict[str, str]  # what every instance was started with (without its port)
    logs: Path
    sim: subprocess.Popen[bytes]
    gateways: list[subprocess.Popen[bytes]]
    http: httpx.AsyncClient
    processes: list[subprocess.Popen[bytes]]  # every process started, stopped on exit
    open_log: Callable[[str], IO[bytes]]
    _client_id: str | None = field(default=None)

    @property
    def public_url(self) -> str:
        return self.urls[0]

    async def sign_in(self, n: int) -> User:
        """Bench user `n` through the OAuth flow of the first instance (one registered client for all)."""
        if self._client_id is None:
            self._client_id = await signin.register_client(self.public_url)
        done = await signin.sign_in(self.public_url, self._client_id, signin.bench_email(n))
        return User(done.email, self._client_id, done.gateway_token)

    async def call(self, url: str, token: str, tool: str, arguments: dict[str, Any]) -> httpx.Response:
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        return await self.http.post(f"{url}/mcp", json=mcp_call(tool, arguments), headers=headers)

    async def tools(self, url: str, token: str) -> set[str] | int:
        """The tool names `tools/list` shows this token on that instance, or the HTTP status when refused."""
        headers = {**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        response = await self.http.post(f"{url}/mcp", json=message, headers=headers)
        if response.status_code != 200:
            return response.status_code
        return {tool["name"] for tool in response.json()["result"]["tools"]}

    async def sim_requests(self, path: str, method: str) -> list[dict[str, Any]]:
        response = await self.http.get(f"{self.sim_url}/_sim/requests", params={"path": path, "method": method})
        response.raise_for_status()
        requests: list[dict[str, Any]] = response.json()["requests"]
        return requests

    async def fault(self, spec: dict[str, Any]) -> None:
        (await self.http.post(f"{self.sim_url}/_sim/faults", json=spec)).raise_for_status()

    async def clear_faults(self) -> None:
        (await self.http.delete(f"{self.sim_url}/_sim/faults")).raise_for_status()

    def kill(self, index: int) -> None:
        gateway = self.gateways[index]
        gateway.send_signal(signal.SIGKILL)
        gateway.wait(timeout=10)

    async def restart(self, index: int) -> None:
        """Start instance `index` again (after `kill`), on its port, and wait until it is ready."""
        assert self.gateways[index].poll() is not None, "restart only a stopped instance"
        port = self.urls[index].rsplit(":", 1)[1]
        gateway = policyarc("serve", env={**self.env, "POLICYARC_PORT": port}, log=self.open_log(f"gateway-{index}"))
        self.processes.append(gateway)
        self.gateways[index] = gateway
        await until_ready(gateway, f"{self.urls[index]}/readyz")


@contextlib.asynccontextmanager
async def cluster(
    workdir: Path,
    *,
    database_url: str,
    instances: int = 2,
    users: int = 10,
    token_ttl: int = 3600,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[Cluster]:
    """The simulator (`users` bench users, `--token-ttl`) and `instances` gateways on `database_url`, seeded with
    the Atlassian IdP, the acme connector and a policy granting every scope; everything stopped on exit."""
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    ports = [free_port() for _ in range(instances)]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    seed = workdir / "sim-seed.json"
    seed.write_text(json.dumps(signin.sim_seed(urls[0], users)))
    env = {
        **gateway_env(urls[0], sim_url, workdir / "gateway"),
        "POLICYARC_DATABASE_URL": database_url,
        "POLICYARC_SECRET_KEYS": KeyRing.generate().to_spec(),  # one key ring for every instance
        # These tests fire tens of calls from one user at once at a simulator without Atlassian's rate limits; the
        # gateway's own quotas would refuse most of them (quotas are tests/test_quota.py's subject, not theirs).
        "POLICYARC_QUOTA_TENANT_PER_SECOND": "0",
        "POLICYARC_QUOTA_USER_PER_SECOND": "0",
        "POLICYARC_QUOTA_CLIENT_PER_SECOND": "0",
        **(extra_env or {}),
    }
    processes: list[subprocess.Popen[bytes]] = []
    files: list[IO[bytes]] = []

    def log(name: str) -> IO[bytes]:
        files.append((logs / f"{name}.log").open("ab"))
        return files[-1]

    try:
        args = ["--port", str(sim_port), "--no-rate-limits", "--auto-consent", "--seed", str(seed)]
        sim = policyarc("sim", *args, "--token-ttl", str(token_ttl), log=log("sim"))
        processes.append(sim)
        await until_ready(sim, f"{sim_url}/site/acme/_edge/tenant_info")
        await signin.seed_gateway(env, ACME)  # migrates the database before any instance starts
        gateways = []
        for index, port in enumerate(ports):
            gateway = policyarc("serve", env={**env, "POLICYARC_PORT": str(port)}, log=log(f"gateway-{index}"))
            processes.append(gateway)
            gateways.append(gateway)
        for gateway, url in zip(gateways, urls, strict=True):
            await until_ready(gateway, f"{url}/readyz")
        async with httpx.AsyncClient(timeout=30) as http:
            yield Cluster(sim_url, urls, env, logs, sim, gateways, http, processes, log)
    finally:
        stop(processes)
        for file in files:
            file.close()
