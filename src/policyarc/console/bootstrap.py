"""The first start: a gateway with no admin prints a one-time link to create one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from policyarc.console.core import setup_url
from policyarc.services.admins import first_admin_link
from policyarc.settings import Settings
from policyarc.store import create_engine, session_factory, upgrade

__all__ = ["first_start_link"]


async def _link(settings: Settings) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with session_factory(engine)() as session:
            raw = await first_admin_link(session, now=datetime.now(UTC))
            await session.commit()
    finally:
        await engine.dispose()
    return setup_url(settings.public_url, raw) if raw else None


def first_start_link(settings: Settings) -> str | None:
    """A fresh set-up link while no admin can sign in (each start replaces the last one); None afterwards.
    Call it before the server's event loop starts."""
    return asyncio.run(_link(settings))
