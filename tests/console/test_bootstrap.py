"""The first start: while no admin can sign in, each start of `serve` prints a fresh one-time link (the last one
printed is the only one that works); once an admin exists, none."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policyarc.console.bootstrap import first_start_link
from policyarc.services.admins import complete_setup
from policyarc.services.errors import NotFound
from policyarc.settings import load_settings
from policyarc.store import create_engine, session_factory


def test_a_fresh_link_per_start_until_an_admin_exists(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, public_url="https://gw.example.com")
    first = first_start_link(settings)
    second = first_start_link(settings)
    assert first and second and first != second
    assert second.startswith("https://gw.example.com/console/setup/pa_setup_")

    async def set_up(raw: str) -> None:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine).begin() as session:
                await complete_setup(session, raw, "a long enough password", now=datetime.now(UTC), email="a@b.example")
        finally:
            await engine.dispose()

    with pytest.raises(NotFound, match="not valid"):  # the second start replaced the first link
        asyncio.run(set_up(first.rsplit("/", 1)[1]))
    asyncio.run(set_up(second.rsplit("/", 1)[1]))
    assert first_start_link(settings) is None
