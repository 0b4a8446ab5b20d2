"""Server processes for the benchmark: start, wait for readiness, stop, and read their CPU and peak RSS.

CPU is utime+stime from /proc/PID/stat and peak RSS is VmHWM from /proc/PID/status, summed over a process and
its live descendants (uvicorn's `--workers 2` serves from child processes). Linux only, like the targets.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(p) for p in task.read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """The process and its live descendants."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        queue += _children(current)
    return tree


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def peak_rss_mb(pids: Sequence[int]) -> float:
    """Sum of VmHWM (peak resident set) over the processes, in MB."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


@dataclass
class Server:
    name: str
    url: str  # base URL
    process: subprocess.Popen[bytes]
    log: Path
    # Processes measured as "the server" (the simulator is measured apart, as the upstream).
    extra_pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    def pids(self) -> list[int]:
        return process_tree(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.pids())

    def stop(self) -> None:
        """SIGTERM to the server's process group (it runs in a session of its own: workers included)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def _ready(url: str, path: str | None) -> bool:
    if path is None:
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
        except OSError:
            return False
        return True
    try:
        return httpx.get(url + path, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def start(
    name: str,
    command: Sequence[str],
    *,
    url: str,
    ready_path: str | None,
    env: dict[str, str],
    log_dir: Path,
    timeout: float = 60,
) -> Server:
    """Start `command` with its output in `log_dir/name.log`; return once `url + ready_path` answers 200 (or,
    without a path, once the port accepts connections: an MCP endpoint's GET opens a stream that never ends)."""
    log = log_dir / f"{name}.log"
    handle = log.open("wb")
    process = subprocess.Popen(
        list(command), stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
    )
    server = Server(name, url, process, log)
    deadline = time.monotonic() + timeout
    while True:
        if _ready(url, ready_path):
            return server
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not start (see {log}):\n{tail}")
        time.sleep(0.2)
