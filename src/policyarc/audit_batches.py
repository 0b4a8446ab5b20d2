"""How the audit writer commits one batch: one transaction per batch, on the cheapest connection.

A tool call at concurrency 1 waits for its audit commit, so the cost of a lone commit is on every call's latency.
Through SQLAlchemy's async adaptation of aiosqlite a one-row commit costs about 1.1 ms (a greenlet switch and a
thread hop per statement, two statements); the same insert and commit on a plain `sqlite3` connection in one
thread hop cost about 0.3 ms (`bench/audit_bench.py`). So a SQLite file gets `SqliteThreadInserter`, and every
other database (PostgreSQL, in-memory SQLite, which only the engine's one shared connection can see) gets
`EngineInserter`.

A batch holds up to three kinds of statement, all in its one transaction (`Batch`): finished records (one
executemany insert, as before write intents existed: a read pays nothing more), write intents (inserted with
their new ids returned, in order, for the caller to complete later), and completions (an executemany update by
primary key of the outcome columns, `COMPLETION_COLUMNS`).

Both write exactly what SQLAlchemy would: the statements are compiled from the table for the engine's dialect
and each value passes through its column type's bind processor, so rows read back the same through the ORM.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policyarc.store.engine import SQLITE_PRAGMAS, is_sqlite, sqlite_path
from policyarc.store.models import AuditRecord

__all__ = [
    "COLUMNS",
    "COMPLETION_COLUMNS",
    "INTENT_KEY",
    "Batch",
    "BatchInserter",
    "EngineInserter",
    "SqliteThreadInserter",
    "inserter_for",
]

_TABLE = cast(Table, AuditRecord.__table__)
# The columns an audit row carries (the id is the database's).
COLUMNS = tuple(column.name for column in _TABLE.columns if column.name != "id")
# What completing a write intent sets: its outcome. The rest (who, what, when) was written with the intent.
COMPLETION_COLUMNS = ("state", "upstream_status", "latency_ms", "error_code")
INTENT_KEY = "intent_id"  # a completion row's key for the id of the intent it completes

_INSERT = insert(_TABLE)
# The SET clause is the completion row's other keys (COMPLETION_COLUMNS); bound by primary key.
_COMPLETE = update(_TABLE).where(_TABLE.c.id == bindparam(INTENT_KEY))


@dataclass(frozen=True)
class Batch:
    """What one transaction writes: `records` and `intents` are rows of `COLUMNS`; `completions` rows of
    `COMPLETION_COLUMNS` plus `INTENT_KEY`."""

    records: Sequence[dict[str, Any]] = field(default_factory=list)
    intents: Sequence[dict[str, Any]] = field(default_factory=list)
    completions: Sequence[dict[str, Any]] = field(default_factory=list)


class BatchInserter(Protocol):
    async def commit(self, batch: Batch) -> list[int]:
        """Write `batch` in one transaction and commit; returns the new ids of `batch.intents`, in order.
        On any error nothing of the batch is written."""

    async def reset(self) -> None:
        """Drop the connection after a failure: the next batch starts on a fresh one."""

    async def aclose(self) -> None: ...


def inserter_for(engine: AsyncEngine) -> BatchInserter:
    path = sqlite_path(engine.url) if is_sqlite(engine.url) else None
    return SqliteThreadInserter(engine, path) if path is not None else EngineInserter(engine)


class EngineInserter:
    """Through the engine, on one connection held between batches (a pool checkout per batch doubled the cost)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # sort_by_parameter_order: the ids come back in the order of the rows, whichever way the driver batches.
        self._insert_intents = _INSERT.returning(_TABLE.c.id, sort_by_parameter_order=True)
        self._connection: AsyncConnection | None = None

    async def commit(self, batch: Batch) -> list[int]:
        if self._connection is None:
            self._connection = await self._engine.connect()
        connection = self._connection
        ids: list[int] = []
        # On a failure the writer calls reset(): closing the connection rolls the transaction back.
        if batch.records:
            await connection.execute(_INSERT, list(batch.records))
        if batch.intents:
            result = await connection.execute(self._insert_intents, list(batch.intents))
            ids = [int(value) for value in result.scalars()]
        if batch.completions:
            await connection.execute(_COMPLETE, list(batch.completions))
        await connection.commit()
        return ids

    async def reset(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    async def aclose(self) -> None:
        await self.reset()


class _Compiled:
    """A statement compiled for the dialect, with the bind processor of each positional parameter."""

    def __init__(self, statement: Any, dialect: Any, keys: Sequence[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        self.sql = str(compiled)
        names: list[str] = list(compiled.positiontup or ())
        # dialect_impl: a TypeDecorator's own bind_processor would skip its impl's (SQLite's datetime text form).
        self._processors = [
            (name, _TABLE.c["id" if name == INTENT_KEY else name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in names
        ]

    def values(self, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return [
            tuple(row[name] if process is None else process(row[name]) for name, process in self._processors)
            for row in rows
        ]


class SqliteThreadInserter:
    """A plain `sqlite3` connection owned by one thread: each batch is one hop to it (insert, commit) and back.

    The thread also keeps a slow commit (a WAL checkpoint's fsync, a lock held by another process, waited for up
    to busy_timeout) off the event loop.
    """

    def __init__(self, engine: AsyncEngine, path: Path) -> None:
        self._path = path
        self._insert = _Compiled(_INSERT, engine.dialect, COLUMNS)
        self._complete = _Compiled(_COMPLETE, engine.dialect, COMPLETION_COLUMNS)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policyarc-audit-sqlite")
        self._connection: sqlite3.Connection | None = None  # touched only in the thread

    async def commit(self, batch: Batch) -> list[int]:
        records = self._insert.values(batch.records)
        intents = self._insert.values(batch.intents)
        completions = self._complete.values(batch.completions)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._commit, records, intents, completions)

    async def reset(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)

    async def aclose(self) -> None:
        await self.reset()
        self._thread.shutdown(wait=True)

    def _commit(
        self, records: list[tuple[Any, ...]], intents: list[tuple[Any, ...]], completions: list[tuple[Any, ...]]
    ) -> list[int]:
        connection = self._connection or self._open()
        try:
            connection.execute("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlock with readers
            if records:
                connection.executemany(self._insert.sql, records)
            ids = [self._insert_one(connection, values) for values in intents]  # executemany keeps no rowids
            if completions:
                connection.executemany(self._complete.sql, completions)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise
        return ids

    def _insert_one(self, connection: sqlite3.Connection, values: tuple[Any, ...]) -> int:
        row_id = connection.execute(self._insert.sql, values).lastrowid
        if row_id is None:  # not for a plain INSERT into a rowid table; checked rather than assumed
            raise sqlite3.DatabaseError("the audit intent's insert reported no row id")
        return row_id

    def _open(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are exactly the BEGIN/COMMIT above, nothing implicit.
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
        try:
            for pragma in SQLITE_PRAGMAS:
                connection.execute(pragma)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
            self._connection = None
