"""How the audit writer commits one batch of rows: one transaction per batch, on the cheapest connection.

A tool call at concurrency 1 waits for its audit commit, so the cost of a lone commit is on every call's latency.
Through SQLAlchemy's async adaptation of aiosqlite a one-row commit costs about 1.1 ms (a greenlet switch and a
thread hop per statement, two statements); the same insert and commit on a plain `sqlite3` connection in one
thread hop cost about 0.3 ms (`bench/audit_bench.py`). So a SQLite file gets `SqliteThreadInserter`, and every
other database (PostgreSQL, in-memory SQLite, which only the engine's one shared connection can see) gets
`EngineInserter`.

Both write exactly what SQLAlchemy would: the statement is compiled from the table for the engine's dialect and
each value passes through its column type's bind processor, so rows read back the same through the ORM.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policyarc.store.engine import SQLITE_PRAGMAS, is_sqlite, sqlite_path
from policyarc.store.models import AuditRecord

__all__ = ["BatchInserter", "EngineInserter", "SqliteThreadInserter", "inserter_for"]

_TABLE = cast(Table, AuditRecord.__table__)
# The columns an audit row carries (the id is the database's).
COLUMNS = tuple(column.name for column in _TABLE.columns if column.name != "id")


class BatchInserter(Protocol):
    async def insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` in one transaction and commit; on any error nothing of the batch is written."""

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
        self._statement = insert(_TABLE)
        self._connection: AsyncConnection | None = None

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        if self._connection is None:
            self._connection = await self._engine.connect()
        await self._connection.execute(self._statement, rows)
        await self._connection.commit()

    async def reset(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None

    async def aclose(self) -> None:
        await self.reset()


class SqliteThreadInserter:
    """A plain `sqlite3` connection owned by one thread: each batch is one hop to it (insert, commit) and back.

    The thread also keeps a slow commit (a WAL checkpoint's fsync, a lock held by another process, waited for up
    to busy_timeout) off the event loop.
    """

    def __init__(self, engine: AsyncEngine, path: Path) -> None:
        self._path = path
        dialect = engine.dialect
        self._sql = str(insert(_TABLE).compile(dialect=dialect, column_keys=list(COLUMNS)))
        # dialect_impl: a TypeDecorator's own bind_processor would skip its impl's (SQLite's datetime text form).
        types = [(name, _TABLE.c[name].type.dialect_impl(dialect)) for name in COLUMNS]
        self._processors = [(name, kind.bind_processor(dialect)) for name, kind in types]
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policyarc-audit-sqlite")
        self._connection: sqlite3.Connection | None = None  # touched only in the thread

    async def insert(self, rows: list[dict[str, Any]]) -> None:
        values = [
            tuple(row[name] if process is None else process(row[name]) for name, process in self._processors)
            for row in rows
        ]
        await asyncio.get_running_loop().run_in_executor(self._thread, self._insert, values)

    async def reset(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)

    async def aclose(self) -> None:
        await self.reset()
        self._thread.shutdown(wait=True)

    def _insert(self, values: list[tuple[Any, ...]]) -> None:
        connection = self._connection or self._open()
        try:
            connection.execute("BEGIN IMMEDIATE")  # take the write lock first: no upgrade deadlock with readers
            connection.executemany(self._sql, values)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise

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
