"""The closed-loop load generator: `concurrency` workers, each on its own keep-alive connection, each sending its
next request as soon as the previous answer is in, cycling through the users' pre-encoded requests.

It runs in the benchmark's own process (never in a server's), on asyncio and raw sockets (rawhttp.py) so that its
own CPU stays small; that CPU is recorded with every cell. A `probe` callback reads the servers' CPU counters
at the start and end of the measured window.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rawhttp import Connection

Check = Callable[[int, bytes], bool]


@dataclass(frozen=True)
class Request:
    head: bytes  # rawhttp.encode_head(...)
    body: bytes


@dataclass
class Window:
    """One measured window: latencies of the successful calls, and the errors."""

    seconds: float
    latencies: list[float]
    errors: int
    first_error: str | None
    client_cpu_s: float
    probe: tuple[Any, Any]  # (probe() at start, probe() at end)

    @property
    def calls(self) -> int:
        return len(self.latencies) + self.errors

    def percentile(self, q: float) -> float:
        """Latency at quantile q (0..1), in ms, nearest rank."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] * 1000

    def figures(self) -> dict[str, Any]:
        """What every result row reports of its window: counts, calls a second that succeeded, latencies."""
        return {
            "seconds": round(self.seconds, 2),
            "calls": self.calls,
            "errors": self.errors,
            "first_error": self.first_error,
            "rps": round(len(self.latencies) / self.seconds, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p95_ms": round(self.percentile(0.95), 2),
            "p99_ms": round(self.percentile(0.99), 2),
        }


async def _run(
    host: str,
    port: int,
    requests: Sequence[Request],
    check: Check,
    concurrency: int,
    seconds: float,
    probe: Callable[[], Any],
    connections: list[Connection],
    max_calls: int,
) -> Window:
    latencies: list[float] = []
    errors = 0
    first_error: str | None = None
    turn = itertools.count()
    count = len(requests)
    deadline = 0.0

    async def worker(connection: Connection) -> None:
        nonlocal errors, first_error
        perf = time.perf_counter
        while perf() < deadline and len(latencies) + errors < max_calls:
            request = requests[next(turn) % count]
            started = perf()
            try:
                status, body = await connection.send(request.head, request.body)
                ok = check(status, body)
                problem = None if ok else f"HTTP {status}: {body[:300]!r}"
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is None:
                latencies.append(perf() - started)
            else:
                errors += 1
                first_error = first_error or problem

    before, cpu, started = probe(), time.process_time(), time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(worker(c) for c in connections))
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return Window(elapsed, latencies, errors, first_error, cpu, (before, probe()))


def measure(
    host: str,
    port: int,
    requests: Sequence[Request],
    check: Check,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    probe: Callable[[], Any],
    max_calls: int = 2_000_000,
    ports: Sequence[int] = (),
) -> Window:
    """Warm up (opens the connections, fills caches), then measure one window on the same connections.

    `ports`: several instances of one server (same host) to split the load between, a connection each in turn;
    by default every connection goes to `port`."""
    endpoints = list(ports) or [port]

    async def both() -> Window:
        connections = [Connection(host, endpoints[n % len(endpoints)]) for n in range(concurrency)]
        try:
            if warmup > 0:
                await _run(host, port, requests, check, concurrency, warmup, probe, connections, max_calls)
            return await _run(host, port, requests, check, concurrency, seconds, probe, connections, max_calls)
        finally:
            for connection in connections:
                connection.close()

    try:
        import uvloop  # a lighter loop: less client CPU on a box the servers share

        return uvloop.run(both())
    except ImportError:
        return asyncio.run(both())
