"""A py-spy profile of a server under get_issue at concurrency 16 (the one-worker gateway, and the bare SDK server
to compare): where the time goes by area, and the frames with the most own and inclusive time, so the next
optimisation starts from evidence.

py-spy samples the process from outside (no code change; `--gil` so that only the thread running Python counts)
while this process drives the load. It pauses the process briefly for each sample (100 Hz): `--nonblocking`
gave torn stacks. Stacks under SQLAlchemy's greenlets start at the greenlet, so areas are matched anywhere in a
stack. The raw collapsed stacks stay in the run's temp directory (`--keep`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import loadgen
import workloads

_LINE = re.compile(r":\d+\)$")
# Where the time goes, by what a stack passes through (inclusive; areas overlap where they nest).
AREAS = (
    ("PolicyArc tool pipeline (ToolPipeline.call, incl. upstream and audit)", "ToolPipeline.call ("),
    ("upstream HTTP client (aiohttp, or httpx in the bare server)", ("aiohttp/", "httpx/_client.py")),
    ("store (SQLAlchemy + aiosqlite)", ("sqlalchemy/", "aiosqlite/")),
    ("audit (AuditWriter, audit_batches)", ("AuditWriter.", "audit_batches.py")),
    ("bearer token -> caller (TokenResolver)", "TokenResolver."),
    ("vault (TokenVault)", "TokenVault."),
    ("result shaping (connectors/jira/shaping)", "jira/shaping.py"),
    ("pydantic validation/serialisation", "pydantic/"),
    ("MCP SDK transport (StreamableHTTPSessionManager.handle_request)", "StreamableHTTPSessionManager.handle_request"),
    ("uvicorn HTTP protocol (httptools)", "uvicorn/protocols/http"),
)
# Frames every sample passes through (the CLI, uvicorn's runner): not informative as inclusive time.
_ROOTS = (
    "typer/",
    "_click/",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "asyncio/runners.py",
    "<module>",
    "policyarc/cli.py",
    "main (bare_server.py",
    "threading.py",
)


def top_frames(
    raw: str, limit: int = 10
) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """From py-spy's raw collapsed stacks: (total samples, the `limit` frames with most own samples, the
    2*`limit` with most inclusive samples below the root frames, the share of each of AREAS). Frames are
    grouped by function and file (line numbers dropped)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
        for label, markers in AREAS:
            if any(marker in stack for marker in ((markers,) if isinstance(markers, str) else markers)):
                areas[label] += n
        total += n

    def pct(k: int) -> float:
        return round(100 * k / total, 1) if total else 0.0

    def rows(counter: Counter[str], n: int) -> list[dict[str, Any]]:
        return [{"frame": frame, "samples": k, "pct": pct(k)} for frame, k in counter.most_common(n)]

    inner = Counter({frame: k for frame, k in inclusive.items() if not any(root in frame for root in _ROOTS)})
    by_area = [{"area": label, "samples": areas[label], "pct": pct(areas[label])} for label, _ in AREAS]
    return total, rows(own, limit), rows(inner, 2 * limit), by_area


def profile(
    stack: Any, workdir: Path, system: str = "policyarc", *, seconds: float = 10, concurrency: int = 16
) -> dict[str, Any] | None:
    """Drive get_issue at `concurrency` (one user, 0 ms) on `system` (the one-worker gateway, or the bare SDK
    server for comparison) while py-spy records it."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("  py-spy is not installed (.venv/bin/pip install py-spy): no profile", flush=True)
        return None
    server = stack.servers[system]
    target = stack.target(system)
    requests = stack.requests(system, "get_issue", 1)
    load = threading.Thread(
        target=loadgen.measure,
        args=(target.host, target.port, requests, workloads.mcp_ok),
        kwargs={"concurrency": concurrency, "seconds": seconds + 3, "warmup": 1.0, "probe": lambda: None},
    )
    load.start()
    raw_path = workdir / f"profile-{system}-c{concurrency}.txt"
    try:
        completed = subprocess.run(
            [
                py_spy,
                "record",
                "--gil",  # only the thread holding the GIL: CPU, not threads waiting on a queue
                "-r",
                "100",
                "-d",
                str(int(seconds)),
                "-f",
                "raw",
                "-o",
                str(raw_path),
                "--pid",
                str(server.pid),
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        load.join()
    if completed.returncode != 0 or not raw_path.exists():
        print(f"  py-spy failed: {completed.stderr.strip()[-500:]}", flush=True)
        return None
    total, own, inclusive, areas = top_frames(raw_path.read_text())
    return {
        "system": system,
        "workload": "get_issue",
        "concurrency": concurrency,
        "seconds": seconds,
        "samples": total,
        "top_own": own,
        "top_inclusive": inclusive,
        "areas": areas,
    }
