"""Database fixtures: `sqlite_url`, `pg_url` (a throwaway PostgreSQL database), `db_url` (either, parametrised)
and `engine` (an `AsyncEngine` migrated to head, over both backends).

PostgreSQL is reached as `POLICYARC_TEST_PG_ADMIN_URL` (default postgres@127.0.0.1:5432; scripts/test sets it to
the throwaway server `scripts/services` starts on a free port). When no server answers,
its tests are skipped with the reason, except where `POLICYARC_REQUIRE_POSTGRES=1` (the README's test command and
CI set it): there a missing server is a failure, so a green run always covers PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.store import create_engine, upgrade

# CI runs property tests with a fixed seed so a run is reproducible; locally every run explores new examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

PG_ADMIN_URL = os.environ.get("POLICYARC_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'policyarc.db'}"


@contextlib.asynccontextmanager
async def throwaway_database(prefix: str) -> AsyncIterator[str]:
    """A new PostgreSQL database, dropped on the way out; skipped (or failed, when PostgreSQL is required) when
    the server cannot be reached."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({type(exc).__name__}: {exc})"
        if os.environ.get("POLICYARC_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        user, _, host = PG_ADMIN_URL.removeprefix("postgresql://").partition("@")
        server = host.rsplit("/", 1)[0]
        yield f"postgresql+asyncpg://{user}@{server}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    async with throwaway_database("policyarc_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def pg_engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    """An unmigrated engine on a throwaway PostgreSQL database (migrate it yourself if you need the tables)."""
    engine = create_engine(pg_url)
    try:
        yield engine
    finally:
        await engine.dispose()


BROWSER_FIXTURES = frozenset({"page", "browser", "context"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last. Playwright's sync API keeps an event loop running in the main thread from its first
    use until the session ends, and pytest-asyncio cannot run a test's loop beside it; so every asyncio test must
    have run before the first browser test starts Playwright."""
    items.sort(key=lambda item: bool(BROWSER_FIXTURES & set(getattr(item, "fixturenames", ()))))
