"""Deleting what has expired: sign-in round trips, browser sessions, codes and tokens.

Rows are kept a day past their expiry, so a late request is still recognised and refused as expired rather
than unknown, and an operator can still see it. Runs hourly in the app's lifespan; every instance may run it
(the deletes are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.store.models import AccessToken, AuthorizationCode, BrowserSession, LoginState, RefreshToken, utcnow

logger = logging.getLogger(__name__)

EXPIRING = (LoginState, BrowserSession, AuthorizationCode, AccessToken, RefreshToken)
GRACE = timedelta(days=1)


async def purge_expired(sessions: async_sessionmaker[AsyncSession], now: datetime) -> dict[str, int]:
    """Delete rows that expired more than GRACE before `now`; returns the count per table."""
    cutoff = now - GRACE
    counts: dict[str, int] = {}
    async with sessions.begin() as db:
        for model in EXPIRING:
            result = await db.execute(delete(model).where(model.expires_at < cutoff))
            counts[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    return counts


class Janitor:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, interval: float = 3600.0) -> None:
        self._sessions = sessions
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="policyarc-janitor")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                counts = await purge_expired(self._sessions, utcnow())
                if any(counts.values()):
                    logger.info("purged expired rows: %s", counts)
            except Exception:  # the next round tries again; nothing depends on a purge having happened
                logger.warning("purging expired rows failed", exc_info=True)
            await asyncio.sleep(self._interval)
