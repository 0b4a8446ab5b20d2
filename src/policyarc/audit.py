"""The audit log: one record per tool call, written with group commit, and the queries that read it back.

`AuditWriter.record(entry)` returns only once the entry is committed (the brief's promise: a call whose result was
returned has its record committed). Concurrent calls share a transaction: `record` puts the entry on a queue and
awaits a future; one background task takes everything queued, inserts it with one executemany in one transaction
(`audit_batches`: on a SQLite file, a plain driver connection in its own thread), and resolves the futures. Batches
form by themselves: whatever arrives while one commit is in flight goes into the next, so an idle gateway pays no
added latency and a busy one pays one commit per batch, not per call.

Writes to Jira are recorded twice over, so that the log shows every write that may have reached Jira even when the
gateway is killed mid-call: `record_intent(entry)` commits the write as a `pending` record before anything is sent
(returning its id), and `record(entry)` with that `intent_id` completes the same record in place after (its state,
upstream status, latency and error code). Both go through the same group commit as every other record, so a write
pays one more (shared) commit and a read nothing. A record still `pending` is a write in flight or one whose gateway
stopped; `audit_intents.IntentSweeper`, run by the writer, marks the latter `interrupted` after a grace period.
Queries show either as "may have reached Jira; outcome unknown" (`STATE_NOTES`).

When a batch cannot be written, every future of that batch fails with `AuditWriteError`, so `record` raises and the
tool pipeline never returns a result whose record is lost: it answers with a tool error (`AUDIT_FAILED`) that says
the result was withheld and the call may have run. For a write to Jira that had already succeeded this hides a side
effect from the agent, which is the price of "no unrecorded results"; the change is visible in Jira's own history.
A write whose intent cannot be committed is not sent at all.

Errors:

    AuditError
     ├── AuditWriteError     the batch holding this entry failed to commit (the cause is chained)
     └── AuditNotRunning     record() before start() or after aclose()

Queries take an `AsyncSession`: `tail` for the console, the admin API and `policyarc audit tail`, `export_jsonl`
(and `iter_jsonl` for a streaming HTTP response) for `policyarc audit export`. Rows come out as `audit_json` dicts,
one shape everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol, cast

import orjson
from sqlalchemy import Row, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from policyarc.audit_batches import INTENT_KEY, Batch, inserter_for
from policyarc.audit_intents import DEFAULT_GRACE, DEFAULT_INTERVAL, IntentSweeper
from policyarc.mcp_endpoint import AuditEntry
from policyarc.store.models import AUDIT_COMPLETED, AUDIT_INTERRUPTED, AUDIT_PENDING, AuditRecord

__all__ = [
    "OUTCOME_UNKNOWN",
    "STATE_NOTES",
    "AuditError",
    "AuditNotRunning",
    "AuditWriteError",
    "AuditWriter",
    "audit_json",
    "completion_row",
    "entry_row",
    "export_jsonl",
    "iter_jsonl",
    "tail",
]

logger = logging.getLogger(__name__)

_TABLE = cast(Table, AuditRecord.__table__)
_STOP = object()
# What a queued row is: a finished record, a write intent (its id is wanted back), or an intent's completion.
_RECORD, _INTENT, _COMPLETION = "record", "intent", "completion"
# A row, its kind, and the caller waiting for its commit (resolved with the new id for an intent, else None).
_Pending = tuple[str, dict[str, Any], asyncio.Future[int | None]]

OUTCOME_UNKNOWN = "may have reached Jira; outcome unknown"
# What a record's state means to a reader; a completed record needs no note.
STATE_NOTES = {
    AUDIT_PENDING: f"write in flight, or its gateway stopped before recording the outcome: {OUTCOME_UNKNOWN}",
    AUDIT_INTERRUPTED: f"its gateway stopped before recording the outcome: {OUTCOME_UNKNOWN}",
}


class AuditError(Exception):
    """Base class for audit-log errors."""


class AuditWriteError(AuditError):
    """The batch holding this entry could not be committed."""


class AuditNotRunning(AuditError):
    """The writer is not running (not started yet, or closed)."""


class TextSink(Protocol):
    def write(self, text: str, /) -> Any: ...


class AuditWriter:
    """Implements `mcp_endpoint.AuditSink` with group commit. `start()` and `aclose()` belong in the lifespan."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 1000,
        max_queue: int = 10_000,
        intent_grace: float = DEFAULT_GRACE,
        sweep_interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
        report_depth: Callable[[int], None] | None = None,
    ) -> None:
        """`intent_grace`: how old (by `clock`) a pending write intent must be to be taken as left by a stopped
        gateway and marked interrupted (`audit_intents`), at start and every `sweep_interval` seconds.
        `report_depth`: told the queue's depth once per batch (a metrics gauge where no scrape callback can reach
        this process, `policyarc.metrics`)."""
        self._report_depth = report_depth
        self._inserter = inserter_for(engine)  # audit_batches: how one batch is committed
        self._sweeper = IntentSweeper(engine, grace=intent_grace, interval=sweep_interval, clock=clock)
        self._max_batch = max_batch
        # Bounded: when the database falls behind, callers wait at `put` instead of growing memory without limit.
        self._queue: asyncio.Queue[_Pending | object] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches = 0  # committed transactions, for tests and the benchmark
        self.written = 0

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("AuditWriter already started")
        self._task = asyncio.create_task(self._drain(), name="policyarc-audit-writer")
        await self._sweeper.start()  # intents left pending by a gateway that stopped

    async def aclose(self) -> None:
        """Stop taking records, write everything already queued, then stop."""
        if self._task is None or self._closing:
            return
        self._closing = True
        await self._sweeper.aclose()
        await self._queue.put(_STOP)
        await self._task
        await self._inserter.aclose()

    def depth(self) -> int:
        """Records queued and not yet taken into a batch."""
        return self._queue.qsize()

    async def record(self, entry: AuditEntry) -> None:
        """Returns once the entry is committed; raises AuditWriteError when its batch could not be.

        An entry with `intent_id` completes that write intent's record in place instead of adding one.
        """
        if entry.intent_id is None:
            await self._submit(_RECORD, entry_row(entry))
        else:
            await self._submit(_COMPLETION, completion_row(entry))

    async def record_intent(self, entry: AuditEntry) -> int:
        """Commits a write about to be sent as `pending`; returns its record id, which its completion names."""
        row_id = await self._submit(_INTENT, entry_row(entry, state=AUDIT_PENDING))
        if row_id is None:  # _write resolves every intent with its id
            raise AuditWriteError("the audit intent was committed without a record id")
        return row_id

    async def _submit(self, kind: str, row: dict[str, Any]) -> int | None:
        if self._task is None or self._closing or self._task.done():
            raise AuditNotRunning("the audit writer is not running")
        future: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        await self._queue.put((kind, row, future))
        # Shielded: a caller cancelled while waiting does not cancel the write (the entry is already queued).
        return await asyncio.shield(future)

    # The queries, reachable from the writer too (the API and the CLI may hold either).
    @staticmethod
    async def tail(
        session: AsyncSession, environment_id: str | None = None, limit: int = 50, since_id: int | None = None
    ) -> list[dict[str, Any]]:
        return await tail(session, environment_id, limit, since_id)

    @staticmethod
    async def export_jsonl(
        session: AsyncSession, out: TextSink, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        return await export_jsonl(session, out, start, end)

    async def _drain(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            batch: list[_Pending] = []
            while True:
                if item is _STOP:
                    stopping = True  # the sentinel comes after every record queued before aclose()
                else:
                    batch.append(cast(_Pending, item))
                if stopping or len(batch) >= self._max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
            if self._report_depth is not None:
                self._report_depth(self._queue.qsize())
            if batch:
                await self._write(batch)
        # Only a record that waited for room in a full queue while aclose() ran can be left behind the sentinel.
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not _STOP:
                _, _, future = cast(_Pending, item)
                if not future.done():
                    future.set_exception(AuditNotRunning("the audit writer closed before this record was written"))

    async def _write(self, batch: list[_Pending]) -> None:
        rows: dict[str, list[dict[str, Any]]] = {_RECORD: [], _INTENT: [], _COMPLETION: []}
        for kind, row, _ in batch:
            rows[kind].append(row)
        try:
            ids = iter(await self._inserter.commit(Batch(rows[_RECORD], rows[_INTENT], rows[_COMPLETION])))
        except Exception as exc:  # every failure must reach the waiting callers, whatever it is
            logger.error("audit batch of %d records failed: %s", len(batch), type(exc).__name__)
            with contextlib.suppress(Exception):
                await self._inserter.reset()  # the next batch starts on a fresh connection
            for _, _, future in batch:
                if not future.done():
                    error = AuditWriteError(f"the audit log could not be written ({type(exc).__name__})")
                    error.__cause__ = exc
                    future.set_exception(error)
            return
        self.batches += 1
        self.written += len(batch)
        for kind, _, future in batch:
            row_id = next(ids, None) if kind == _INTENT else None  # the ids come in the order of the intents
            if not future.done():
                future.set_result(row_id)


def _retrieve(future: asyncio.Future[int | None]) -> None:
    # A caller cancelled while waiting never reads its future: mark a failure as seen so asyncio does not log
    # "exception was never retrieved" for it (the batch failure is logged once, in _write).
    if not future.cancelled():
        future.exception()


def entry_row(entry: AuditEntry, *, state: str = AUDIT_COMPLETED) -> dict[str, Any]:
    """The audit_records row for an entry (what the writer inserts)."""
    return {
        "ts": datetime.fromtimestamp(entry.ts, UTC),
        "environment_id": entry.environment_id,
        "user_id": entry.user_id,
        "client_id": entry.client_id,
        "tool": entry.tool,
        "args_digest": entry.args_digest,
        "decision": entry.decision,
        "upstream_status": entry.upstream_status,
        "latency_ms": None if entry.latency_ms is None else round(entry.latency_ms, 3),
        "error_code": entry.error_code,
        "state": state,
    }


def completion_row(entry: AuditEntry) -> dict[str, Any]:
    """What completing `entry.intent_id` sets (audit_batches.COMPLETION_COLUMNS): the outcome. The intent's time
    stays the record's `ts`, so an export by time window finds the record where it first appeared."""
    return {
        INTENT_KEY: entry.intent_id,
        "state": AUDIT_COMPLETED,
        "upstream_status": entry.upstream_status,
        "latency_ms": None if entry.latency_ms is None else round(entry.latency_ms, 3),
        "error_code": entry.error_code,
    }


_COLUMNS = (
    "id",
    "ts",
    "environment_id",
    "user_id",
    "client_id",
    "tool",
    "args_digest",
    "decision",
    "upstream_status",
    "latency_ms",
    "error_code",
    "state",
)


def audit_json(row: Row[Any] | AuditRecord) -> dict[str, Any]:
    """A record as JSON-ready data (ts in ISO 8601 UTC): the one shape of the API, the CLI and exports.

    `note` says what a write whose outcome is not recorded means (`STATE_NOTES`); null for a completed record.
    """
    data = {name: getattr(row, name) for name in _COLUMNS}
    ts = data["ts"]
    data["ts"] = ts.astimezone(UTC).isoformat(timespec="milliseconds") if isinstance(ts, datetime) else ts
    data["note"] = STATE_NOTES.get(data["state"])
    return data


async def tail(
    session: AsyncSession, environment_id: str | None = None, limit: int = 50, since_id: int | None = None
) -> list[dict[str, Any]]:
    """Recent records, oldest first.

    Without `since_id`: the last `limit` records. With it (`--follow`, polling): the first `limit` records after
    that id, so a poller that passes the last id it saw never skips one.
    """
    limit = max(1, min(limit, 1000))
    query = select(*(_TABLE.c[name] for name in _COLUMNS))
    if environment_id is not None:
        query = query.where(_TABLE.c.environment_id == environment_id)
    if since_id is not None:
        result = await session.execute(query.where(_TABLE.c.id > since_id).order_by(_TABLE.c.id).limit(limit))
        return [audit_json(row) for row in result]
    result = await session.execute(query.order_by(_TABLE.c.id.desc()).limit(limit))
    return [audit_json(row) for row in reversed(result.all())]


async def iter_jsonl(
    session: AsyncSession,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    environment_id: str | None = None,
    chunk: int = 1000,
) -> AsyncIterator[str]:
    """Records with `start <= ts < end`, in time order, one JSON line each; streamed from the database."""
    query = select(*(_TABLE.c[name] for name in _COLUMNS)).order_by(_TABLE.c.ts, _TABLE.c.id)
    if start is not None:
        query = query.where(_TABLE.c.ts >= _aware(start))
    if end is not None:
        query = query.where(_TABLE.c.ts < _aware(end))
    if environment_id is not None:
        query = query.where(_TABLE.c.environment_id == environment_id)
    result = await session.stream(query.execution_options(yield_per=chunk))
    try:
        async for partition in result.partitions():
            for row in partition:
                yield orjson.dumps(audit_json(row)).decode() + "\n"
    finally:
        await result.close()  # a consumer that stops early must not leave the cursor open


async def export_jsonl(
    session: AsyncSession,
    out: TextSink,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    environment_id: str | None = None,
) -> int:
    """Write records with `start <= ts < end` to `out` as JSON lines; returns how many."""
    count = 0
    async for line in iter_jsonl(session, start, end, environment_id=environment_id):
        out.write(line)
        count += 1
    return count


def _aware(value: datetime) -> datetime:
    # A naive bound from a CLI flag means UTC, like every timestamp the store keeps.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
