"""PolicyArc side by side with mcp-atlassian 0.23.1, the bare MCP SDK server and the direct call, in one run.

    .venv/bin/python bench/compare.py --quick                 # a few minutes: the headline cells
    .venv/bin/python bench/compare.py [--duration 30]          # the full plan (see plan_cells), about 40 min
    options: --out docs/ (benchmarks.md, benchmarks.png, benchmarks.json) --no-profile --keep (temp dir)
    .venv/bin/python bench/compare.py --scale [--users 10000]  # issue 10's scale cells instead (scale.py)

One command, one machine: it starts the Atlassian simulator (`policyarc sim --no-rate-limits --auto-consent`,
seeded with our OAuth app and 100 users with access to ENG and OPS), the gateway (`policyarc serve`, SQLite in a
temp directory, seeded as `policyarc demo` seeds it: IdP, acme connector, a policy granting every scope), the
same gateway with `--workers 2`, mcp-atlassian with the command of issue 4 (installed into bench/.venvs if
missing), and bench/bare_server.py. Users sign in to the gateway through the real OAuth flow over HTTP; the
others get each user's own Atlassian token from the simulator's hook. Then each cell (workload x simulator
latency x users x concurrency) runs on each system: warm-up, then a measured window, from this process
(asyncio + raw keep-alive sockets; its CPU is recorded too). Server CPU per call comes from /proc utime+stime of
the server's processes, peak RSS from VmHWM. Finally py-spy samples the gateway under get_issue at
concurrency 16, and the report is written (report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
import procs  # noqa: E402
import profile_gateway  # noqa: E402
import report  # noqa: E402
import scale  # noqa: E402
import signin  # noqa: E402
import workloads  # noqa: E402

ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
MCP_ATLASSIAN_VENV = BENCH / ".venvs" / "mcp-atlassian"
MCP_ATLASSIAN_VERSION = "0.23.1"
MCP_ATLASSIAN_ENV = {
    "JIRA_PERSONAL_TOKEN": "unused",
    "TOOLSETS": "jira_issues,jira_transitions,jira_projects",
    "ENABLED_TOOLS": "jira_search,jira_get_issue,jira_get_all_projects,jira_create_issue,jira_update_issue,"
    "jira_get_transitions,jira_transition_issue",
    "FASTMCP_CHECK_FOR_UPDATES": "off",
}
SYSTEMS = ("direct", "bare", "policyarc", "mcp-atlassian")
# Every create adds an issue to the simulator, and its get_issue and search cost grows with the number of issues
# (about 0.1 ms of simulator CPU per 1,000): creates run after every read cell, and the direct floor (thousands
# of creates a second) runs each create cell last.
CREATE_ORDER = ("bare", "policyarc", "mcp-atlassian", "direct")
MAX_USERS = 100


@dataclass(frozen=True)
class Cell:
    workload: str
    latency_ms: int
    users: int
    concurrency: int
    systems: tuple[str, ...] = SYSTEMS


def plan_cells(quick: bool) -> list[Cell]:
    """The cells to run. Quick: the headline cells at 0 ms and one user. Full: every workload at concurrency 1,
    16 and 64 with one user and 0 ms; 100 users at 16 and 64; 50 ms latency for the reads with 100 users; the
    2-worker gateway where throughput is CPU-bound. (The whole cross product would take over an hour on 2 cores;
    these are the cells the issue's targets and questions need.)"""
    if quick:
        cells = [Cell(w, 0, 1, c) for w in ("get_issue", "search_issues") for c in (1, 16)]
        cells.append(Cell("get_issue", 0, 1, 64, ("policyarc", "policyarc-2w")))
        cells.append(Cell("create_issue", 0, 1, 16, CREATE_ORDER))
        return cells
    cells = []
    for workload in workloads.WORKLOADS:
        systems = CREATE_ORDER if workload == "create_issue" else SYSTEMS
        cells += [Cell(workload, 0, 1, c, systems) for c in (1, 16, 64)]
        cells += [Cell(workload, 0, MAX_USERS, c, systems) for c in (16, 64)]
    cells += [Cell(w, 0, 1, 64, ("policyarc", "policyarc-2w")) for w in ("get_issue", "search_issues")]
    cells += [Cell(w, 50, MAX_USERS, c) for w in ("get_issue", "search_issues") for c in (1, 16, 64)]
    return sorted(cells, key=lambda c: (c.workload == "create_issue", c.latency_ms, c.users))


def select_cells(
    cells: list[Cell], systems: str | None, workloads_: str | None, users: int | None = None
) -> list[Cell]:
    """The cells and systems asked for with --systems/--workloads/--users (for a focused run while tuning)."""
    wanted_systems = set(systems.split(",")) if systems else None
    wanted_workloads = set(workloads_.split(",")) if workloads_ else None
    chosen = []
    for cell in cells:
        kept = tuple(s for s in cell.systems if wanted_systems is None or s in wanted_systems)
        if kept and (wanted_workloads is None or cell.workload in wanted_workloads) and users in (None, cell.users):
            chosen.append(Cell(cell.workload, cell.latency_ms, cell.users, cell.concurrency, kept))
    if not chosen:
        raise SystemExit("no cell left after --systems/--workloads/--users")
    return chosen


def ensure_mcp_atlassian() -> Path:
    binary = MCP_ATLASSIAN_VENV / "bin" / "mcp-atlassian"
    if not binary.exists():
        print(f"installing mcp-atlassian {MCP_ATLASSIAN_VERSION} into {MCP_ATLASSIAN_VENV}", flush=True)
        subprocess.run(["python3", "-m", "venv", str(MCP_ATLASSIAN_VENV)], check=True)
        pip = MCP_ATLASSIAN_VENV / "bin" / "pip"
        subprocess.run([str(pip), "install", "-q", f"mcp-atlassian=={MCP_ATLASSIAN_VERSION}"], check=True)
    return binary


class Stack:
    """The running servers and the users' tokens."""

    def __init__(self, workdir: Path, users: int) -> None:
        self.workdir = workdir
        self.users = users
        self.servers: dict[str, procs.Server] = {}
        self.ports = {name: procs.free_port() for name in ("sim", "policyarc", "policyarc-2w", "mcp-atlassian", "bare")}
        self.sim_url = f"http://127.0.0.1:{self.ports['sim']}"
        self.gateway_url = f"http://127.0.0.1:{self.ports['policyarc']}"
        self.emails = [signin.bench_email(n) for n in range(1, users + 1)]
        self.gateway_tokens: dict[str, str] = {}
        self.sim_tokens: dict[str, str] = {}

    def start(self) -> None:
        seed = self.workdir / "sim-seed.json"
        seed.write_text(json.dumps(signin.sim_seed(self.gateway_url, self.users)))
        policyarc = str(VENV_BIN / "policyarc")
        log = self.workdir
        self.servers["sim"] = procs.start(
            "sim",
            [
                policyarc,
                "sim",
                "--port",
                str(self.ports["sim"]),
                "--no-rate-limits",
                "--auto-consent",
                "--token-ttl",
                "86400",
                "--seed",
                str(seed),
            ],
            url=self.sim_url,
            ready_path="/site/acme/_edge/tenant_info",
            env={},
            log_dir=log,
        )
        env = self.gateway_env()
        asyncio.run(signin.seed_gateway(env, workloads.ACME_CLOUD_ID))
        self.servers["policyarc"] = procs.start(
            "policyarc", [policyarc, "serve"], url=self.gateway_url, ready_path="/readyz", env=env, log_dir=log
        )
        # Same store and public URL (tokens are bound to it), another port, two worker processes.
        port2 = str(self.ports["policyarc-2w"])
        self.servers["policyarc-2w"] = procs.start(
            "policyarc-2w",
            [policyarc, "serve", "--workers", "2", "--port", port2],
            url=f"http://127.0.0.1:{port2}",
            ready_path="/readyz",
            env=env,
            log_dir=log,
        )
        self.servers["bare"] = procs.start(
            "bare",
            [
                sys.executable,
                str(BENCH / "bare_server.py"),
                "--port",
                str(self.ports["bare"]),
                "--api-url",
                f"{self.sim_url}/api",
                "--cloud-id",
                workloads.ACME_CLOUD_ID,
            ],
            url=f"http://127.0.0.1:{self.ports['bare']}",
            ready_path=None,
            env={},
            log_dir=log,
        )
        port = str(self.ports["mcp-atlassian"])
        self.servers["mcp-atlassian"] = procs.start(
            "mcp-atlassian",
            [
                str(ensure_mcp_atlassian()),
                "--transport",
                "streamable-http",
                "--stateless",
                "--host",
                "127.0.0.1",
                "--port",
                port,
            ],
            url=f"http://127.0.0.1:{port}",
            ready_path=None,
            env={"JIRA_URL": f"{self.sim_url}/site/acme", **MCP_ATLASSIAN_ENV},
            log_dir=log,
            timeout=120,
        )
        started = time.perf_counter()
        self.gateway_tokens = asyncio.run(signin.sign_in_all(self.gateway_url, self.emails))
        print(
            f"  {len(self.gateway_tokens)} users signed in to the gateway in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        self.sim_tokens = asyncio.run(signin.sim_tokens(self.sim_url, self.emails))

    def gateway_env(self) -> dict[str, str]:
        return signin.gateway_env(self.workdir, self.sim_url, self.ports["policyarc"])

    def target(self, system: str) -> workloads.Target:
        if system == "direct":
            return workloads.Target("127.0.0.1", self.ports["sim"], "")
        return workloads.Target("127.0.0.1", self.ports[system], "/mcp")

    def token(self, system: str, email: str) -> str:
        return self.gateway_tokens[email] if system.startswith("policyarc") else self.sim_tokens[email]

    def requests(self, system: str, workload: str, users: int) -> list[loadgen.Request]:
        target = self.target(system)
        emails = self.emails[:users]
        if system == "direct":
            return [workloads.direct_request(workload, target, self.token(system, e)) for e in emails]
        return [workloads.tool_request(system, workload, target, self.token(system, e)) for e in emails]

    def measured_pids(self, system: str) -> list[int]:
        return self.servers["sim" if system == "direct" else system].pids()

    def set_latency(self, latency_ms: int) -> None:
        httpx.delete(f"{self.sim_url}/_sim/faults").raise_for_status()
        if latency_ms:
            for path in ("/api/*", "/site/*/rest/*"):
                fault = {"path": path, "kind": "latency", "latency_ms": latency_ms}
                httpx.post(f"{self.sim_url}/_sim/faults", json=fault).raise_for_status()

    def stop(self) -> None:
        for server in reversed(list(self.servers.values())):
            server.stop()


def run_cell(stack: Stack, cell: Cell, system: str, seconds: float, warmup: float) -> dict[str, Any]:
    requests = stack.requests(system, cell.workload, cell.users)
    check = workloads.direct_ok if system == "direct" else workloads.mcp_ok
    server = stack.servers["sim" if system == "direct" else system]
    sim = stack.servers["sim"]

    def probe() -> tuple[float, float]:
        return procs.cpu_seconds(server.pids()), sim.cpu()

    target = stack.target(system)
    window = loadgen.measure(
        target.host,
        target.port,
        requests,
        check,
        concurrency=cell.concurrency,
        seconds=seconds,
        warmup=warmup,
        probe=probe,
    )
    (server_before, sim_before), (server_after, sim_after) = window.probe
    calls = max(window.calls, 1)
    return {
        "system": system,
        "workload": cell.workload,
        "latency_ms": cell.latency_ms,
        "users": cell.users,
        "concurrency": cell.concurrency,
        **window.figures(),
        "server_cpu_ms_per_call": round((server_after - server_before) * 1000 / calls, 3),
        "sim_cpu_ms_per_call": round((sim_after - sim_before) * 1000 / calls, 3),
        "loadgen_cpu_ms_per_call": round(window.client_cpu_s * 1000 / calls, 3),
        "server_peak_rss_mb": round(server.peak_rss_mb(), 1),
    }


def _mcp_call(
    http: httpx.Client, url: str, headers: dict[str, str], method: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = http.post(url, content=workloads.rpc(method, params), headers=headers)
    message = workloads.jsonrpc_payload(response.content)
    if "result" not in message:
        raise RuntimeError(f"{url} {method}: {response.status_code} {response.text[:500]}")
    result: dict[str, Any] = message["result"]
    return result


def _sim_requests(http: httpx.Client, sim_url: str, since: int) -> dict[str, Any]:
    response = http.get(f"{sim_url}/_sim/requests", params={"since": since})
    response.raise_for_status()
    found: dict[str, Any] = response.json()
    return found


def context_sizes(stack: Stack) -> dict[str, dict[str, Any]]:
    """What an agent pays in context: tools/list and one get_issue result (ENG-1), per system, in bytes.

    `tools_list_bytes`: the `tools` array as compact JSON; `get_issue_text_bytes`: the text content the model
    reads; `get_issue_result_bytes`: the whole JSON-RPC `result` (text plus structured content, if any)."""
    email = stack.emails[0]
    sizes: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=30) as http:
        for system in ("bare", "policyarc", "mcp-atlassian"):
            target = stack.target(system)
            url = f"http://{target.authority}{target.path}"
            headers = workloads.mcp_headers(stack.token(system, email))

            tools = _mcp_call(http, url, headers, "tools/list")["tools"]
            name, arguments = workloads.MCP_CALLS[system]["get_issue"]
            since = _sim_requests(http, stack.sim_url, 0)["last_seq"]
            result = _mcp_call(http, url, headers, "tools/call", {"name": name, "arguments": arguments})
            upstream = [f"{e['method']} {e['path']}" for e in _sim_requests(http, stack.sim_url, since)["requests"]]
            if result.get("isError"):
                raise RuntimeError(f"{system} get_issue failed: {json.dumps(result)[:500]}")
            texts = [item.get("text", "") for item in result.get("content", [])]
            sizes[system] = {
                "tools": len(tools),
                "tools_list_bytes": len(_compact(tools)),
                "get_issue_text_bytes": sum(len(t.encode()) for t in texts),
                "get_issue_result_bytes": len(_compact(result)),
                "get_issue_text": "\n".join(texts),  # to compare the facts each carries
                "get_issue_upstream_requests": upstream,
            }
        direct = workloads.direct_request("get_issue", stack.target("direct"), stack.token("direct", email))
        path = direct.head.split(b" ")[1].decode()
        response = http.get(stack.sim_url + path, headers={"Authorization": f"Bearer {stack.token('direct', email)}"})
        response.raise_for_status()
        sizes["direct"] = {"get_issue_result_bytes": len(_compact(response.json()))}
    return sizes


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def run_profiles(stack: Stack, workdir: Path, *, enabled: bool) -> list[dict[str, Any]]:
    """py-spy profiles of the gateway and, to compare, the bare SDK server, under get_issue at concurrency 16."""
    if not enabled:
        return []
    found = [profile_gateway.profile(stack, workdir, system, seconds=10) for system in ("policyarc", "bare")]
    return [p for p in found if p]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0].split()[1] if Path("/proc/meminfo").exists() else "0"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the headline cells, 5 s each (a few minutes)")
    parser.add_argument("--duration", type=float, help="measured seconds per cell (default 30, quick 5)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per cell (default 3, quick 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where benchmarks.md/.png/.json go")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profile of the gateway")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (logs, SQLite)")
    parser.add_argument("--systems", help="only these systems, comma-separated (e.g. direct,policyarc)")
    parser.add_argument("--workloads", help="only these workloads, comma-separated (e.g. get_issue)")
    parser.add_argument("--users", type=int, help="only the cells with this many users (1 or 100)")
    parser.add_argument("--scale", action="store_true", help="issue 10's scale cells instead (see bench/scale.py)")
    parser.add_argument("--signin-parallel", type=int, default=4, help="--scale: sign-ins at a time")
    parser.add_argument("--pg-users", type=int, default=16, help="--scale: users signed in on PostgreSQL")
    parser.add_argument(
        "--scale-out", type=Path, default=BENCH / "results" / "scale.json", help="--scale: the JSON results"
    )
    args = parser.parse_args()
    if args.scale:
        args.duration = args.duration or 8.0
        args.warmup = args.warmup if args.warmup is not None else 2.0
        scale.run(args)
        return
    seconds = args.duration or (5.0 if args.quick else 30.0)
    warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 3.0)
    cells = select_cells(plan_cells(args.quick), args.systems, args.workloads, args.users)
    users = max(cell.users for cell in cells)
    command = " ".join(["bench/compare.py", *sys.argv[1:]])
    started_at = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="policyarc-bench-"))
    windows = sum(len(cell.systems) for cell in cells)
    minutes = windows * (seconds + warmup + 0.5) / 60
    print(
        f"policyarc bench: {len(cells)} cells, {windows} windows of {seconds:g} s (+{warmup:g} s warm-up), "
        f"about {minutes:.0f} min; logs in {workdir}",
        flush=True,
    )
    # SIGTERM (a timeout, a kill by pid) unwinds like Ctrl-C, so the servers are stopped in `finally`.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    stack = Stack(workdir, max(users, 1))
    results: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    profiled = False
    try:
        stack.start()
        sizes = context_sizes(stack)
        shown = {k: {n: v for n, v in s.items() if n != "get_issue_text"} for k, s in sizes.items()}
        shown = {
            k: {**s, "get_issue_upstream_requests": len(s.get("get_issue_upstream_requests", []))}
            for k, s in shown.items()
        }
        print(f"  context sizes: {json.dumps(shown)}", flush=True)
        latency = None
        for cell in cells:
            if cell.workload == "create_issue" and not profiled:
                # Before the creates grow the simulator's world (its reads slow down with it).
                stack.set_latency(latency := 0)
                profiles, profiled = run_profiles(stack, workdir, enabled=not args.no_profile), True
            if cell.latency_ms != latency:
                stack.set_latency(cell.latency_ms)
                latency = cell.latency_ms
            for system in cell.systems:
                row = run_cell(stack, cell, system, seconds, warmup)
                results.append(row)
                print(
                    f"  {cell.workload:<14} {cell.latency_ms:>2} ms  users {cell.users:>3}  c {cell.concurrency:>2}  "
                    f"{system:<14} {row['rps']:>8.1f}/s  p50 {row['p50_ms']:>7.2f}  p99 {row['p99_ms']:>8.2f}  "
                    f"cpu/call {row['server_cpu_ms_per_call']:>6.2f} ms  errors {row['errors']}",
                    flush=True,
                )
                if row["first_error"]:
                    print(f"    first error: {row['first_error'][:300]}", flush=True)
        if not profiled:
            stack.set_latency(0)
            profiles = run_profiles(stack, workdir, enabled=not args.no_profile)
        peaks = {name: round(server.peak_rss_mb(), 1) for name, server in stack.servers.items()}
    finally:
        stack.stop()
    document = {
        "date": started_at.isoformat(timespec="seconds"),
        "command": f".venv/bin/python {command}",
        "quick": args.quick,
        "seconds_per_cell": seconds,
        "warmup_seconds": warmup,
        "machine": machine(),
        "versions": {"mcp-atlassian": MCP_ATLASSIAN_VERSION},
        "peak_rss_mb": peaks,
        "context_sizes": sizes,
        "results": results,
        "profiles": profiles,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    paths = report.write(document, args.out)
    print("wrote " + ", ".join(str(p) for p in paths), flush=True)
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
