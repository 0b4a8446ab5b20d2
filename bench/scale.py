"""The scale cells of issue 10: 10,000 distinct users, PostgreSQL (one and two instances), and the time from
launching `policyarc serve` to the first answered tools/call.

    .venv/bin/python bench/compare.py --scale [--users 10000] [--duration 8] [--warmup 2]

Runs apart from the side-by-side cells (only the simulator and PolicyArc are started), in two phases:

1. SQLite: the gateway is seeded as compare.py seeds it and `users` users sign in through the real OAuth flow
   (signin.sign_in_all, `--signin-parallel` at a time). The gateway is then stopped and launched again three
   times to time start -> first answered tools/call (best of 3); the third launch stays up and serves
   get_issue at concurrency 16, 0 ms, with one user and then with every user (each call a different user in
   turn), so its peak RSS is that of serving, not of the sign-ins (the sign-in process's peak is reported apart).
2. PostgreSQL (127.0.0.1:5432, a throwaway database, dropped at the end): one `policyarc serve` on it
   (`policyarc-pg`), then a second instance on the same database with the load split between the two by
   connection (`policyarc-pg-2`), get_issue at concurrency 16 with one user. CPU per call is the gateways'
   own, and apart from it the PostgreSQL backends serving that database (found by their process title), since
   SQLite's work happens inside the gateway's process.

Results go to `--scale-out` (JSON, default bench/results/scale.json); docs/benchmarks.md's "Scale (issue 10)"
section is written from them by hand.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import loadgen  # noqa: E402
import procs  # noqa: E402
import signin  # noqa: E402
import workloads  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("POLICYARC_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONCURRENCY = 16
STARTS = 3


@dataclass
class Phase:
    """The simulator (shared by both phases) and the gateway instances of the current phase."""

    workdir: Path
    sim: procs.Server
    sim_url: str
    gateway_port: int
    env: dict[str, str]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"


def start_gateway(name: str, env: dict[str, str], workdir: Path, port: int | None = None) -> procs.Server:
    command = [str(VENV_BIN / "policyarc"), "serve"]
    if port is not None:
        command += ["--port", str(port)]
    url = f"http://127.0.0.1:{port or env['POLICYARC_PORT']}"
    return procs.start(name, command, url=url, ready_path="/readyz", env=env, log_dir=workdir)


def time_to_first_call(env: dict[str, str], workdir: Path, token: str, attempt: int) -> tuple[float, procs.Server]:
    """Seconds from Popen of `policyarc serve` to the first tools/call answered with a result (not an error),
    polling every 10 ms; the process is left running."""
    url = f"http://127.0.0.1:{env['POLICYARC_PORT']}/mcp"
    body = workloads.rpc("tools/call", {"name": "get_issue", "arguments": {"key": workloads.ISSUE}})
    headers = workloads.mcp_headers(token)
    log = workdir / f"start-{attempt}.log"
    with log.open("wb") as handle:
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(VENV_BIN / "policyarc"), "serve"],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
    server = procs.Server(f"start-{attempt}", url.removesuffix("/mcp"), process, log)
    with httpx.Client(timeout=10) as http:
        while time.perf_counter() - started < 60:
            try:
                response = http.post(url, content=body, headers=headers)
                if workloads.mcp_ok(response.status_code, response.content):
                    return time.perf_counter() - started, server
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                break
            time.sleep(0.01)
    server.stop()
    raise RuntimeError(f"policyarc serve gave no answered tools/call within 60 s (see {log})")


def postgres_backends(database: str) -> list[int]:
    """The PostgreSQL backend processes connected to `database`, by process title (`postgres: [CLUSTER: ]USER DB
    HOST(PORT) STATE`; the benchmark's database name is unique, so a word equal to it is enough)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        words = title.split()
        if words[:1] == ["postgres:"] and database in words[1:4]:
            found.append(int(entry.name))
    return found


def measure(
    system: str,
    servers: list[procs.Server],
    tokens: list[str],
    port: int,
    seconds: float,
    warmup: float,
    sim: procs.Server,
    database: str | None = None,
    *,
    max_calls: int = 2_000_000,
    label: str = "",
) -> dict[str, Any]:
    """get_issue at concurrency 16, 0 ms, each request a user in turn, split over `servers` by connection."""
    target = workloads.Target("127.0.0.1", port, "/mcp")
    requests = [workloads.tool_request("policyarc", "get_issue", target, token) for token in tokens]

    def probe() -> tuple[float, float, float]:
        gateways = sum(s.cpu() for s in servers)
        backends = procs.cpu_seconds(postgres_backends(database)) if database else 0.0
        return gateways, backends, sim.cpu()

    ports = [int(s.url.rsplit(":", 1)[1]) for s in servers]
    window = loadgen.measure(
        "127.0.0.1",
        port,
        requests,
        workloads.mcp_ok,
        concurrency=CONCURRENCY,
        seconds=seconds,
        warmup=warmup,
        probe=probe,
        ports=ports,
        max_calls=max_calls,
    )
    before, after = window.probe
    calls = max(window.calls, 1)
    return {
        "system": system,
        "workload": "get_issue",
        "latency_ms": 0,
        "users": len(tokens),
        "concurrency": CONCURRENCY,
        "instances": len(servers),
        "window": label,
        **window.figures(),
        "server_cpu_ms_per_call": round((after[0] - before[0]) * 1000 / calls, 3),
        "postgres_cpu_ms_per_call": round((after[1] - before[1]) * 1000 / calls, 3),
        "sim_cpu_ms_per_call": round((after[2] - before[2]) * 1000 / calls, 3),
        "server_peak_rss_mb": round(sum(s.peak_rss_mb() for s in servers), 1),
    }


def show(row: dict[str, Any]) -> None:
    print(
        f"  {row['system']:<16} users {row['users']:>5} {row['window']:<5} {row['rps']:>8.1f}/s  "
        f"p50 {row['p50_ms']:>6.2f}  "
        f"p99 {row['p99_ms']:>7.2f}  cpu/call {row['server_cpu_ms_per_call']:.2f} ms "
        f"(+pg {row['postgres_cpu_ms_per_call']:.2f})  peak RSS {row['server_peak_rss_mb']:.0f} MB  "
        f"errors {row['errors']}",
        flush=True,
    )
    if row["first_error"]:
        print(f"    first error: {row['first_error'][:300]}", flush=True)


def sign_in(gateway_url: str, emails: list[str], parallel: int) -> tuple[dict[str, str], float]:
    started = time.perf_counter()
    tokens = asyncio.run(signin.sign_in_all(gateway_url, emails, parallel=parallel))
    elapsed = time.perf_counter() - started
    print(f"  {len(tokens)} users signed in through the OAuth flow in {elapsed:.1f} s", flush=True)
    return tokens, elapsed


def sqlite_phase(phase: Phase, users: int, args: Any, doc: dict[str, Any]) -> None:
    emails = [signin.bench_email(n) for n in range(1, users + 1)]
    asyncio.run(signin.seed_gateway(phase.env, workloads.ACME_CLOUD_ID))
    gateway = start_gateway("policyarc", phase.env, phase.workdir)
    try:
        tokens, elapsed = sign_in(phase.gateway_url, emails, args.signin_parallel)
        doc["signin"] = {
            "users": len(tokens),
            "seconds": round(elapsed, 1),
            "parallel": args.signin_parallel,
            "how": "the full OAuth flow over HTTP (signin.sign_in_all), every user",
            "gateway_peak_rss_mb_while_signing_in": round(gateway.peak_rss_mb(), 1),
        }
    finally:
        gateway.stop()
    first = tokens[emails[0]]
    starts = []
    for attempt in range(1, STARTS + 1):
        seconds, gateway = time_to_first_call(phase.env, phase.workdir, first, attempt)
        starts.append(round(seconds, 3))
        print(f"  start -> first answered tools/call: {seconds:.3f} s", flush=True)
        if attempt < STARTS:
            gateway.stop()
    doc["start_to_first_call_s"] = {"runs": starts, "best": min(starts), "users_in_store": len(tokens)}
    everyone = [tokens[e] for e in emails]
    port, sim = phase.gateway_port, phase.sim
    try:
        # One user; then every user: first one pass, each user's first call since the start (cold: nothing of
        # theirs cached), then the usual window once every user has been seen (warm).
        runs = [
            measure("policyarc", [gateway], [first], port, args.duration, args.warmup, sim, label="warm"),
            measure("policyarc", [gateway], everyone, port, 600, 0, sim, max_calls=len(everyone), label="cold"),
            measure("policyarc", [gateway], everyone, port, args.duration, args.warmup, sim, label="warm"),
        ]
        for row in runs:
            doc["results"].append(row)
            show(row)
    finally:
        gateway.stop()


async def create_database() -> tuple[str, str]:
    admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        name = f"policyarc_bench_{secrets.token_hex(4)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    user, _, host = PG_ADMIN_URL.removeprefix("postgresql://").partition("@")
    return name, f"postgresql+asyncpg://{user}@{host.rsplit('/', 1)[0]}/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def postgres_phase(phase: Phase, args: Any, doc: dict[str, Any]) -> None:
    name, url = asyncio.run(create_database())
    print(f"  PostgreSQL database {name}", flush=True)
    # Its own data directory (key ring) so nothing of the SQLite phase is reused; both instances share it.
    env = {**phase.env, "POLICYARC_DATA_DIR": str(phase.workdir / "gateway-pg"), "POLICYARC_DATABASE_URL": url}
    servers: list[procs.Server] = []
    try:
        asyncio.run(signin.seed_gateway(env, workloads.ACME_CLOUD_ID))
        emails = [signin.bench_email(n) for n in range(1, args.pg_users + 1)]
        first: list[str] = []
        # One instance, then (same public URL and database, another port, as compare.py's policyarc-2w) two.
        for system, server_name, port in (("policyarc-pg", "policyarc-pg", None),
                                           ("policyarc-pg-2", "policyarc-pg-b", procs.free_port())):  # fmt: skip
            servers.append(start_gateway(server_name, env, phase.workdir, port=port))
            if not first:
                tokens, _ = sign_in(phase.gateway_url, emails, args.signin_parallel)
                first = [tokens[emails[0]]]
            row = measure(
                system,
                servers,
                first,
                phase.gateway_port,
                args.duration,
                args.warmup,
                phase.sim,
                name,
                label="warm",
            )
            doc["results"].append(row)
            show(row)
    finally:
        for server in reversed(servers):
            server.stop()
        asyncio.run(drop_database(name))


def run(args: Any) -> Path:
    """Both phases; the JSON document is written to `args.scale_out` and its path returned."""
    users = args.users or 10_000
    workdir = Path(tempfile.mkdtemp(prefix="policyarc-scale-"))
    port, sim_port = procs.free_port(), procs.free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    print(f"policyarc scale bench: {users} users; logs in {workdir}", flush=True)
    seed = workdir / "sim-seed.json"
    seed.write_text(json.dumps(signin.sim_seed(f"http://127.0.0.1:{port}", users)))
    command = [str(VENV_BIN / "policyarc"), "sim", "--port", str(sim_port), "--no-rate-limits", "--auto-consent"]
    command += ["--token-ttl", "86400", "--seed", str(seed)]
    sim = procs.start(
        "sim", command, url=sim_url, ready_path="/site/acme/_edge/tenant_info", env={}, log_dir=workdir, timeout=120
    )
    doc: dict[str, Any] = {
        "command": ".venv/bin/python bench/compare.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds_per_cell": args.duration,
        "warmup_seconds": args.warmup,
        "results": [],
    }
    try:
        phase = Phase(workdir, sim, sim_url, port, signin.gateway_env(workdir, sim_url, port))
        sqlite_phase(phase, users, args, doc)
        postgres_phase(phase, args, doc)
    finally:
        sim.stop()
    out: Path = args.scale_out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}", flush=True)
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return out


def table(doc: dict[str, Any]) -> str:
    """The results as the Markdown table of docs/benchmarks.md's "Scale (issue 10)" section."""

    def pg(row: dict[str, Any]) -> str:  # SQLite has no server process of its own: its work is in the gateway's
        return f"{row['postgres_cpu_ms_per_call']:.2f}" if row["system"].startswith("policyarc-pg") else "n/a"

    lines = [
        "| system | instances | users | window | calls | calls/s | p50 | p99 | gateway CPU/call | PostgreSQL CPU/call "
        "| sim CPU/call | peak RSS (MB) | errors |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in doc["results"]:
        lines.append(
            f"| {r['system']} | {r['instances']} | {r['users']:,} | {r['window']} | {r['calls']:,} | {r['rps']:,.1f} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['server_cpu_ms_per_call']:.2f} "
            f"| {pg(r)} | {r['sim_cpu_ms_per_call']:.2f} | {r['server_peak_rss_mb']:.0f} "
            f"| {r['errors']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    # .venv/bin/python bench/scale.py bench/results/scale.json: the table of a finished run
    print(table(json.loads(Path(sys.argv[1]).read_text())))
