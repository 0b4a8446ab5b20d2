"""Load generator for the Atlassian simulator: how many Jira calls per second can one sim process answer?

Starts `policyarc sim` in a subprocess (its own process, so the server has a core of its own on a small box)
on a free loopback port with rate limits off, mints a token through the `/_sim/tokens` hook, then runs each
scenario with `--concurrency` workers for `--seconds` (or until `--max-requests`) and prints req/s, p50, p99
and errors. Loopback only; bounded in time and requests.

The default client is a bare keep-alive socket per worker: httpx's AsyncClient spends milliseconds of CPU per
request under concurrency (encode/httpx#3215), so on a 2-core box it measures itself, not the simulator.
`--client httpx` runs the same load through httpx (what the gateway uses) for comparison. The "req/s per
sim core" column (requests / the sim's CPU seconds) stays meaningful when other processes share the cores.

    .venv/bin/python bench/sim_bench.py [--seconds 10] [--concurrency 16] [--client httpx|raw] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ACME_CLOUD_ID = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
JIRA = f"/api/ex/jira/{ACME_CLOUD_ID}/rest/api/3"
SCENARIOS = {
    "tenant_info": "/site/acme/_edge/tenant_info",
    "get_issue": f"{JIRA}/issue/ENG-1",
    "search_20": f"{JIRA}/search/jql?jql=project%20%3D%20ENG%20ORDER%20BY%20key&maxResults=20"
    "&fields=summary,status,assignee",
}
SCOPES = ["read:jira-work", "read:jira-user", "write:jira-work", "read:me", "offline_access"]


@dataclass
class Result:
    scenario: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    # CPU seconds the sim and this client spent, and what the sim's rate would be on one core of its own:
    # on a shared 2-core box the wall-clock req/s says as much about the neighbours as about the sim.
    server_cpu_s: float | None
    client_cpu_s: float
    rps_per_server_core: float | None
    first_error: str | None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of a process (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Sim:
    base_url: str
    pid: int


@contextmanager
def running_sim(port: int) -> Iterator[Sim]:
    script = Path(sys.executable).with_name("policyarc")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from policyarc.cli import main; main()"]
    process = subprocess.Popen(
        [*command, "sim", "--host", "127.0.0.1", "--port", str(port), "--no-rate-limits"],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base_url}/site/acme/_edge/tenant_info", timeout=2).raise_for_status()
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("policyarc sim did not start") from None
                time.sleep(0.1)
        yield Sim(base_url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def mint_token(base_url: str) -> str | None:
    response = httpx.post(f"{base_url}/_sim/tokens", json={"email": "alice@example.com", "scopes": SCOPES})
    if response.status_code == 404:
        print("note: /_sim/tokens is missing; Jira scenarios run without a token", file=sys.stderr)
        return None
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


Fetch = Callable[[str], Awaitable[tuple[int, bytes]]]


@asynccontextmanager
async def httpx_fetchers(base_url: str, headers: dict[str, str], concurrency: int) -> AsyncIterator[list[Fetch]]:
    """One pooled httpx client shared by all workers: what the gateway itself uses."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=10) as client:

        async def fetch(path: str) -> tuple[int, bytes]:
            response = await client.get(path)
            return response.status_code, response.content

        yield [fetch] * concurrency


class RawConnection:
    """A bare HTTP/1.1 keep-alive connection: a few microseconds of client CPU per request, so that on a small
    box the measurement shows the simulator rather than the client. Enough HTTP for the simulator's answers."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.head = f"HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def fetch(self, path: str) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(b"GET " + path.encode() + b" " + self.head)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            lowered = head.lower()
            if b"transfer-encoding: chunked" in lowered:
                body = b""
                while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                    body += (await reader.readexactly(size + 2))[:-2]
                await reader.readuntil(b"\r\n")
            else:
                at = lowered.index(b"content-length:") + len(b"content-length:")
                body = await reader.readexactly(int(lowered[at : lowered.index(b"\r\n", at)]))
            if b"connection: close" in lowered:
                self.close()
            return status, body
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


@asynccontextmanager
async def raw_fetchers(base_url: str, headers: dict[str, str], concurrency: int) -> AsyncIterator[list[Fetch]]:
    """One bare connection per worker."""
    parts = urlsplit(base_url)
    connections = [RawConnection(parts.hostname or "127.0.0.1", parts.port or 80, headers) for _ in range(concurrency)]
    try:
        yield [c.fetch for c in connections]
    finally:
        for connection in connections:
            connection.close()


async def run_scenario(
    fetchers: list[Fetch], sim: Sim, name: str, path: str, seconds: float, max_requests: int
) -> Result:
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    deadline = time.perf_counter() + seconds

    async def worker(fetch: Fetch) -> None:
        nonlocal errors, first_error
        while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
            started = time.perf_counter()
            try:
                status, body = await fetch(path)
                problem = None if status == 200 else f"HTTP {status}: {body[:120]!r}"
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                latencies.append(time.perf_counter() - started)
            else:
                errors += 1
                first_error = first_error or problem

    server_cpu, client_cpu, started = _cpu_seconds(sim.pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(fetch) for fetch in fetchers))
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - client_cpu
    server_after = _cpu_seconds(sim.pid)
    server_cpu = server_after - server_cpu if server_after is not None and server_cpu is not None else None
    ordered = sorted(latencies) or [0.0]
    count = len(latencies) + errors
    return Result(
        scenario=name,
        requests=count,
        errors=errors,
        seconds=round(elapsed, 2),
        rps=round(count / elapsed, 1),
        p50_ms=round(statistics.median(ordered) * 1000, 2),
        p99_ms=round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        server_cpu_s=round(server_cpu, 2) if server_cpu is not None else None,
        client_cpu_s=round(client_cpu, 2),
        rps_per_server_core=round(count / server_cpu, 1) if server_cpu else None,
        first_error=first_error,
    )


async def bench(sim: Sim, args: argparse.Namespace) -> list[Result]:
    token = mint_token(sim.base_url)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    make_fetchers = raw_fetchers if args.client == "raw" else httpx_fetchers
    results = []
    async with make_fetchers(sim.base_url, headers, args.concurrency) as fetchers:
        for name in args.scenarios:
            path = SCENARIOS[name]
            # A short warm-up opens the connections and fills caches before measuring.
            await run_scenario(fetchers, sim, name, path, 1.0, 2_000)
            results.append(await run_scenario(fetchers, sim, name, path, args.seconds, args.max_requests))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured time per scenario (max 120)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop a scenario after this many")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw", help="raw: bare keep-alive sockets, far less client CPU"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 120.0)
    with running_sim(_free_port()) as sim:
        results = asyncio.run(bench(sim, args))
    print(
        f"{'scenario':<12} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
        f" {'sim cpu s':>10} {'client cpu s':>13} {'req/s per sim core':>19}"
    )
    for r in results:
        per_core = f"{r.rps_per_server_core:.0f}" if r.rps_per_server_core else "n/a"
        print(
            f"{r.scenario:<12} {r.requests:>9} {r.rps:>8.1f} {r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7}"
            f" {r.server_cpu_s or 0:>10.2f} {r.client_cpu_s:>13.2f} {per_core:>19}"
        )
        if r.first_error:
            print(f"  first error: {r.first_error}")
    if args.json:
        meta = {
            "client": args.client,
            "concurrency": args.concurrency,
            "seconds": args.seconds,
            "python": sys.version.split()[0],
        }
        args.json.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))


if __name__ == "__main__":
    main()
