"""Fixtures of the multi-instance tests: one throwaway PostgreSQL database for the module, and the `multi` marker.

These tests start real processes (the simulator and two gateways) once per module. They need PostgreSQL: without
it they are skipped, except where `POLICYARC_REQUIRE_POSTGRES=1` (CI, scripts/test), where that is a failure, as
for every PostgreSQL test (tests/conftest.py). `pytest -m "not multi"` leaves them out of a quick local run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from tests.conftest import PG_ADMIN_URL


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "multi: real gateway processes sharing one PostgreSQL database")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_pg_url() -> AsyncIterator[str]:
    """A throwaway database that every instance of the module's cluster shares."""
    try:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({type(exc).__name__}: {exc})"
        if os.environ.get("POLICYARC_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"policyarc_multi_{secrets.token_hex(6)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        user, _, host = PG_ADMIN_URL.removeprefix("postgresql://").partition("@")
        yield f"postgresql+asyncpg://{user}@{host.rsplit('/', 1)[0]}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
