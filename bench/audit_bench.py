"""Audit writes per second on SQLite: group commit against one transaction per record.

    .venv/bin/python bench/audit_bench.py [--records 3000] [--concurrency 50] [--synchronous NORMAL]

Each mode writes `--records` records from `--concurrency` concurrent callers (as tool calls would) into a fresh
migrated SQLite file in a temporary directory, and prints records/s and the latency of `record()` (p50, p99):

- group:     `AuditWriter` as shipped: one background task, every queued record in one transaction (on SQLite,
             a plain sqlite3 connection in its own thread: `audit_batches.py`);
- serial:    the same writer with `max_batch=1`: one transaction per record, still one writer;
- direct:    no writer: each caller opens its own transaction (what the pipeline would do without one).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, insert

from policyarc.audit import AuditWriter, entry_row
from policyarc.mcp_endpoint import AuditEntry
from policyarc.store import create_engine, session_factory, upgrade
from policyarc.store.models import AuditRecord


def entry(n: int) -> AuditEntry:
    return AuditEntry(
        ts=time.time(),
        environment_id="bench-env",
        user_id=f"user-{n % 40}",
        client_id="bench-client",
        tool="search_issues",
        args_digest=f"{n:032x}",
        decision="allowed",
        upstream_status=200,
        latency_ms=3.2,
        error_code=None,
    )


async def run(mode: str, records: int, concurrency: int, synchronous: str, directory: Path) -> dict[str, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{directory / f'{mode}.db'}")
    await upgrade(engine)

    def pragma(dbapi_connection: object, record: object) -> None:
        dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")  # type: ignore[attr-defined]

    event.listen(engine.sync_engine, "connect", pragma)
    await engine.dispose()  # reconnect with the pragma applied
    sessions = session_factory(engine)
    commits = 0

    def on_commit(conn: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(engine.sync_engine, "commit", on_commit)
    writer = AuditWriter(engine, max_batch=1 if mode == "serial" else 1000)

    async def direct(item: AuditEntry) -> None:
        async with sessions() as db:
            await db.execute(insert(AuditRecord), [entry_row(item)])
            await db.commit()

    write = direct if mode == "direct" else writer.record
    if mode != "direct":
        await writer.start()
    latencies: list[float] = []
    counter = iter(range(records))

    async def caller() -> None:
        for n in counter:
            started = time.perf_counter()
            await write(entry(n))
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if mode != "direct":
        await writer.aclose()
    await engine.dispose()
    latencies.sort()
    return {
        "per_s": records / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "commits": commits,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--synchronous", default="NORMAL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument("--modes", default="group,serial,direct")
    args = parser.parse_args()
    print(f"{args.records} records, {args.concurrency} concurrent callers, SQLite WAL synchronous={args.synchronous}")
    print(f"{'mode':8} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'commits':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes.split(","):
            result = await run(mode, args.records, args.concurrency, args.synchronous, Path(tmp))
            print(
                f"{mode:8} {result['per_s']:10.0f} {result['p50_ms']:8.2f} {result['p99_ms']:8.2f} "
                f"{result['commits']:8.0f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
