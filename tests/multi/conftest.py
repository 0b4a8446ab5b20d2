"""Fixtures of the multi-instance tests: one throwaway PostgreSQL database for the module, and the `multi` marker.

These tests start real processes (the simulator and two gateways) once per module. They need PostgreSQL: without
it they are skipped, except where `POLICYARC_REQUIRE_POSTGRES=1` (CI, scripts/test), where that is a failure, as
for every PostgreSQL test (tests/conftest.py). `pytest -m "not multi"` leaves them out of a quick local run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.conftest import throwaway_database


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "multi: real gateway processes sharing one PostgreSQL database")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_pg_url() -> AsyncIterator[str]:
    """A throwaway database that every instance of the module's cluster shares."""
    async with throwaway_database("policyarc_multi") as url:
        yield url
