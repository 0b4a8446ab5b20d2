"""AuditWriter (group commit) and the audit queries, on SQLite and PostgreSQL (`db_url`, tests/conftest.py)."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from policyarc.audit import (
    OUTCOME_UNKNOWN,
    STATE_NOTES,
    AuditNotRunning,
    AuditWriteError,
    AuditWriter,
    completion_row,
    entry_row,
    export_jsonl,
    tail,
)
from policyarc.audit_batches import Batch, EngineInserter, SqliteThreadInserter, inserter_for
from policyarc.audit_intents import mark_interrupted
from policyarc.mcp_endpoint import AuditEntry
from policyarc.store import create_engine, session_factory, upgrade
from policyarc.store.engine import sqlite_path
from policyarc.store.models import AuditRecord

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC).timestamp()


def entry(n: int = 0, *, environment: str = "env-a", ts: float | None = None) -> AuditEntry:
    return AuditEntry(
        ts=T0 + n if ts is None else ts,
        environment_id=environment,
        user_id="user-1",
        client_id="https://client.example/metadata.json",
        tool="search_issues",
        args_digest=f"{n:032x}",
        decision="allowed",
        upstream_status=200,
        latency_ms=12.5 + n,
        error_code=None,
    )


@pytest.fixture
async def migrated(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    await upgrade(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def writer(migrated: AsyncEngine) -> AsyncIterator[AuditWriter]:
    writer = AuditWriter(migrated)
    await writer.start()
    try:
        yield writer
    finally:
        await writer.aclose()


async def count(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as db:
        return int(await db.scalar(select(func.count()).select_from(AuditRecord)) or 0)


async def test_concurrent_records_share_transactions(migrated: AsyncEngine, writer: AuditWriter) -> None:
    await asyncio.gather(*(writer.record(entry(n)) for n in range(100)))

    assert await count(session_factory(migrated)) == 100
    assert writer.written == 100
    assert 1 <= writer.batches < 100


def test_a_sqlite_file_is_written_on_the_driver_connection_and_the_rest_through_the_engine(
    sqlite_url: str,
) -> None:
    assert isinstance(inserter_for(create_engine(sqlite_url)), SqliteThreadInserter)
    in_memory = create_engine("sqlite+aiosqlite://")  # only the engine's one shared connection sees it
    assert isinstance(inserter_for(in_memory), EngineInserter)


async def test_the_driver_path_stores_exactly_what_the_engine_stores(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    inserters = [SqliteThreadInserter(engine, sqlite_path(engine.url) or Path()), EngineInserter(engine)]
    try:
        for inserter in inserters:
            await inserter.commit(Batch([entry_row(entry(5))]))
        async with engine.connect() as connection:
            rows = (await connection.exec_driver_sql("SELECT * FROM audit_records ORDER BY id")).all()
    finally:
        for inserter in inserters:
            await inserter.aclose()
        await engine.dispose()
    assert len(rows) == 2
    assert rows[0][1:] == rows[1][1:]  # every column but the id, as stored text and numbers


async def test_a_batch_with_a_bad_row_writes_none_of_it(migrated: AsyncEngine) -> None:
    inserter = inserter_for(migrated)
    good = entry_row(entry(1))
    bad = {**entry_row(entry(2)), "decision": None}  # NOT NULL
    try:
        with pytest.raises((sqlite3.IntegrityError, IntegrityError)):  # sqlite3's own, or SQLAlchemy's
            await inserter.commit(Batch([good, bad]))
        await inserter.reset()
        assert await count(session_factory(migrated)) == 0
        await inserter.commit(Batch([good]))  # a fresh connection after the failure
        assert await count(session_factory(migrated)) == 1
    finally:
        await inserter.aclose()


async def test_a_returned_record_is_readable_at_once_elsewhere(db_url: str, writer: AuditWriter) -> None:
    other = create_engine(db_url)  # another instance's connection pool
    try:
        await writer.record(entry(7))
        async with session_factory(other)() as db:
            rows = await tail(db)
    finally:
        await other.dispose()
    assert [row["args_digest"] for row in rows] == [f"{7:032x}"]
    assert rows[0]["ts"] == "2026-11-29T09:00:07.000+00:00"
    assert rows[0]["latency_ms"] == 19.5


async def test_a_failed_batch_fails_every_caller_and_the_writer_recovers(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)  # not migrated yet: the insert fails
    writer = AuditWriter(engine)
    await writer.start()
    try:
        results = await asyncio.gather(*(writer.record(entry(n)) for n in range(5)), return_exceptions=True)
        assert all(isinstance(result, AuditWriteError) for result in results)
        assert "audit log could not be written" in str(results[0])

        await upgrade(engine)
        await writer.record(entry(99))  # the background task survived the failure
        assert await count(session_factory(engine)) == 1
    finally:
        await writer.aclose()
        await engine.dispose()


async def test_record_outside_the_lifespan_is_refused(migrated: AsyncEngine) -> None:
    writer = AuditWriter(migrated)
    with pytest.raises(AuditNotRunning):
        await writer.record(entry())
    await writer.start()
    await writer.aclose()
    with pytest.raises(AuditNotRunning):
        await writer.record(entry())


async def test_close_drains_what_is_queued(migrated: AsyncEngine) -> None:
    writer = AuditWriter(migrated, max_batch=7)
    await writer.start()
    pending = [asyncio.create_task(writer.record(entry(n))) for n in range(30)]
    await asyncio.sleep(0)  # let them all queue

    await writer.aclose()

    await asyncio.gather(*pending)  # every one resolved, none failed
    assert await count(session_factory(migrated)) == 30
    assert writer.batches >= 5  # max_batch respected


async def test_a_cancelled_caller_still_gets_its_record_written(migrated: AsyncEngine, writer: AuditWriter) -> None:
    task = asyncio.create_task(writer.record(entry(1)))
    await asyncio.sleep(0)
    task.cancel()
    await writer.record(entry(2))  # committed after the first one's batch
    assert await count(session_factory(migrated)) == 2


async def test_tail_filters_and_follows(migrated: AsyncEngine, writer: AuditWriter) -> None:
    for n in range(10):
        await writer.record(entry(n, environment="env-a" if n % 2 == 0 else "env-b"))
    async with session_factory(migrated)() as db:
        last_three = await tail(db, limit=3)
        env_b = await tail(db, environment_id="env-b")
        first_id = (await tail(db, limit=10))[0]["id"]
        after = await tail(db, since_id=first_id + 5, limit=2)
        via_writer = await writer.tail(db, limit=1)

    assert [row["args_digest"][-1] for row in last_three] == ["7", "8", "9"]  # the newest, oldest first
    assert {row["environment_id"] for row in env_b} == {"env-b"} and len(env_b) == 5
    assert [row["id"] for row in after] == [first_id + 6, first_id + 7]  # the first after since_id, no gap
    assert via_writer == last_three[-1:]


async def test_export_jsonl_streams_a_time_window(migrated: AsyncEngine, writer: AuditWriter) -> None:
    await asyncio.gather(*(writer.record(entry(n, ts=T0 + 3600 * n)) for n in range(6)))
    out = io.StringIO()
    start = datetime.fromtimestamp(T0, UTC) + timedelta(hours=1)
    end = (start + timedelta(hours=3)).replace(tzinfo=None)  # a naive bound means UTC

    async with session_factory(migrated)() as db:
        written = await export_jsonl(db, out, start, end)

    lines = out.getvalue().splitlines()
    assert written == len(lines) == 3
    records = [json.loads(line) for line in lines]
    assert [record["ts"] for record in records] == [
        "2026-11-29T10:00:00.000+00:00",
        "2026-11-29T11:00:00.000+00:00",
        "2026-11-29T12:00:00.000+00:00",
    ]
    assert set(records[0]) == {
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
        "note",
    }


# --- write intents: committed pending before the write is sent, completed in place after --------------------------


def write_entry(n: int = 0, **changes: Any) -> AuditEntry:
    base = replace(entry(n), tool="create_issue", upstream_status=None, latency_ms=None)
    return replace(base, **changes)


async def rows_by_id(engine: AsyncEngine) -> dict[int, AuditRecord]:
    async with session_factory(engine)() as db:
        return {row.id: row for row in await db.scalars(select(AuditRecord))}


async def test_a_write_intent_is_committed_pending_then_completed_in_place(
    db_url: str, migrated: AsyncEngine, writer: AuditWriter
) -> None:
    intent_id = await writer.record_intent(write_entry(3))
    other = create_engine(db_url)  # what another process sees once record_intent has returned
    try:
        async with session_factory(other)() as db:
            (pending,) = await tail(db)
    finally:
        await other.dispose()
    assert pending["id"] == intent_id
    assert (pending["state"], pending["upstream_status"], pending["latency_ms"]) == ("pending", None, None)
    assert pending["note"] == STATE_NOTES["pending"] and OUTCOME_UNKNOWN in pending["note"]

    await writer.record(write_entry(3, upstream_status=201, latency_ms=40.25, ts=T0 + 99, intent_id=intent_id))

    (completed,) = (await rows_by_id(migrated)).values()  # the same record, not a second one
    assert completed.id == intent_id
    assert (completed.state, completed.upstream_status, completed.latency_ms) == ("completed", 201, 40.25)
    assert completed.ts == datetime.fromtimestamp(T0 + 3, UTC)  # the intent's time stays the record's time
    assert writer.batches == 2  # one commit for the intent, one for the completion


async def test_intents_records_and_completions_share_a_batch_and_each_intent_gets_its_own_id(
    migrated: AsyncEngine, writer: AuditWriter
) -> None:
    earlier = await writer.record_intent(write_entry(0))
    results = await asyncio.gather(
        *(writer.record_intent(write_entry(n)) for n in range(1, 21)),
        *(writer.record(entry(n)) for n in range(21, 41)),
        writer.record(write_entry(0, upstream_status=204, latency_ms=5.0, intent_id=earlier)),
    )
    ids = results[:20]
    rows = await rows_by_id(migrated)

    assert writer.batches < 1 + 41  # group commit: kinds mixed in shared transactions
    assert len(rows) == 41 and len(set(ids)) == 20
    for n, intent_id in enumerate(ids, start=1):  # each caller got the id of its own row
        assert (rows[intent_id].args_digest, rows[intent_id].state) == (f"{n:032x}", "pending")
    assert (rows[earlier].state, rows[earlier].upstream_status) == ("completed", 204)
    assert {row.state for row in rows.values() if row.tool == "search_issues"} == {"completed"}


async def test_the_driver_path_stores_intents_and_completions_exactly_as_the_engine_does(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    inserters = [SqliteThreadInserter(engine, sqlite_path(engine.url) or Path()), EngineInserter(engine)]
    ids: list[list[int]] = []
    try:
        for inserter in inserters:
            made = await inserter.commit(Batch([entry_row(entry(1))], [entry_row(write_entry(2), state="pending")] * 2))
            done = completion_row(write_entry(2, upstream_status=201, latency_ms=7.5, intent_id=made[0]))
            assert await inserter.commit(Batch(completions=[done])) == []
            ids.append(made)
        async with engine.connect() as connection:
            rows = (await connection.exec_driver_sql("SELECT * FROM audit_records ORDER BY id")).all()
    finally:
        for inserter in inserters:
            await inserter.aclose()
        await engine.dispose()
    assert ids == [[2, 3], [5, 6]]  # the intents' own ids, in order, after the plain record of each batch
    assert [row[1:] for row in rows[:3]] == [row[1:] for row in rows[3:]]  # every column but the id
    assert [row[-1] for row in rows] == ["completed", "completed", "pending"] * 2


async def test_the_sweep_marks_only_old_pending_intents_and_a_late_completion_still_wins(
    migrated: AsyncEngine, writer: AuditWriter
) -> None:
    old = await writer.record_intent(write_entry(1, ts=T0))
    young = await writer.record_intent(write_entry(2, ts=T0 + 600))
    done = await writer.record_intent(write_entry(3, ts=T0))
    await writer.record(write_entry(3, upstream_status=201, latency_ms=1.0, intent_id=done))
    await writer.record(entry(4, ts=T0))  # a read

    marked = await mark_interrupted(migrated, datetime.fromtimestamp(T0 + 300, UTC))

    rows = await rows_by_id(migrated)
    assert marked == 1
    assert {rows[i].state for i in (old, young, done)} == {"interrupted", "pending", "completed"}
    assert (rows[old].state, rows[young].state, rows[done].state) == ("interrupted", "pending", "completed")
    async with session_factory(migrated)() as db:
        shown = {row["id"]: row for row in await tail(db)}
    assert shown[old]["note"] == STATE_NOTES["interrupted"] and OUTCOME_UNKNOWN in shown[old]["note"]
    assert shown[done]["note"] is None

    # The gateway that made `old` was alive after all (a very slow write): its completion replaces the mark.
    await writer.record(write_entry(1, upstream_status=201, latency_ms=9.0, intent_id=old))
    assert (await rows_by_id(migrated))[old].state == "completed"
    assert await mark_interrupted(migrated, datetime.fromtimestamp(T0 + 300, UTC)) == 0


async def test_start_up_marks_intents_older_than_the_grace_and_leaves_younger_ones_to_their_gateway(
    migrated: AsyncEngine, writer: AuditWriter
) -> None:
    intent_id = await writer.record_intent(write_entry(1, ts=T0))
    now = T0 + 1000

    patient = AuditWriter(migrated, intent_grace=1001, clock=lambda: now)  # another instance: T0 is within grace
    await patient.start()
    await patient.aclose()
    assert (await rows_by_id(migrated))[intent_id].state == "pending"

    restarted = AuditWriter(migrated, intent_grace=999, clock=lambda: now)
    await restarted.start()  # returns once the start-up sweep is done
    assert (await rows_by_id(migrated))[intent_id].state == "interrupted"
    await restarted.aclose()
