"""Bring a database to the newest schema with the Alembic migrations shipped in this package.

`upgrade()` is safe to run from every instance at start-up: on PostgreSQL the instances queue on an advisory
lock and the later ones find nothing left to do; on a SQLite file they queue on a lock file beside it.

A database already at `HEAD_REVISION` (every start but the first after an upgrade) is recognised by one query of
`alembic_version`, and Alembic is not even imported: loading it and its script directory was ~0.2 s of every
start (issue 10's start-time target). `HEAD_REVISION` names the newest file in `migrations/versions/`; a test
compares it with what Alembic finds there, so a new migration without it fails the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from policyarc.store.engine import create_engine, sqlite_path

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD_REVISION", "MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

HEAD_REVISION = "0005"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# pg_advisory_lock takes a bigint; any fixed value unlikely to collide with another application's locks.
_PG_LOCK_KEY = int.from_bytes(b"PArcMigr", "big") & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic `Config` for the shipped migrations, without an alembic.ini."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))  # configparser interpolation
    return config


def head_revision() -> str:
    """The newest revision the shipped migrations reach, as Alembic finds it in their files."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


async def upgrade(target: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Migrate the database at `target` (a URL, or an engine the caller keeps) up to `revision`."""
    async with _engine(target) as engine:
        if revision in ("head", HEAD_REVISION) and await _stamped(engine) == HEAD_REVISION:
            return
        async with _sqlite_file_lock(engine), engine.connect() as connection:
            await connection.run_sync(_upgrade, revision)


async def current_revision(target: str | URL | AsyncEngine) -> str | None:
    """The revision the database is at; None when it has never been migrated."""
    from alembic.runtime.migration import MigrationContext

    async with _engine(target) as engine, engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def _stamped(engine: AsyncEngine) -> str | None:
    """The one revision `alembic_version` holds, or None (no such table yet, several heads, or no row)."""
    async with engine.connect() as connection:
        exists = await connection.run_sync(lambda sync: sync.dialect.has_table(sync, "alembic_version"))
        if not exists:
            return None
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    return rows[0] if len(rows) == 1 else None


def _upgrade(connection: Connection, revision: str) -> None:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # A session-level lock, held across the migration's own transaction; committing here leaves the
        # connection outside a transaction so Alembic begins and commits its own.
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
        connection.commit()
    from alembic import command

    try:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    finally:
        if postgres:
            if connection.in_transaction():
                connection.rollback()
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            connection.commit()


@contextlib.asynccontextmanager
async def _engine(target: str | URL | AsyncEngine) -> AsyncIterator[AsyncEngine]:
    if isinstance(target, AsyncEngine):
        yield target
        return
    if sqlite_path(target) is None and str(target).startswith("sqlite"):
        raise ValueError("an in-memory SQLite URL would be migrated and thrown away; pass the engine instead")
    engine = create_engine(target, poolclass=NullPool)
    try:
        yield engine
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def _sqlite_file_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    # SQLite runs DDL outside a transaction under the default driver settings, so two processes migrating
    # one file at once could both try to create the same table; they take turns on a lock file instead.
    path = sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".migrate-lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
