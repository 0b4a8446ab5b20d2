from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from policyarc.store import create_engine
from policyarc.store.engine import sqlite_path


async def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'x.db'}")
    try:
        async with engine.connect() as connection:
            values = {
                pragma: (await connection.exec_driver_sql(f"PRAGMA {pragma}")).scalar()
                for pragma in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
            }
    finally:
        await engine.dispose()

    assert values == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000, "synchronous": 1}
    assert (tmp_path / "nested").stat().st_mode & 0o777 == 0o700


async def test_in_memory_sqlite_is_one_shared_database() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("SELECT count(*) FROM t"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_postgres_engine_connects(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("SELECT 1"))).scalar() == 1
    finally:
        await engine.dispose()


def test_other_drivers_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database driver 'postgresql\\+psycopg'"):
        create_engine("postgresql+psycopg://localhost/db")


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite+aiosqlite:////var/lib/x.db") == Path("/var/lib/x.db")
    assert sqlite_path("sqlite+aiosqlite://") is None
    assert sqlite_path("sqlite+aiosqlite:///:memory:") is None
