"""Deleting what has expired: sign-in round trips, browser sessions, codes and tokens.

Rows are kept a day past their expiry, so a late request is still recognised and refused as expired rather
than unknown, and an operator can still see it. Runs hourly in the app's lifespan; every instance may run it
(the deletes are idempotent).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.periodic import Periodic
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
        # Nothing depends on a purge having happened: a failed round waits for the next.
        self._rounds = Periodic(
            self._purge,
            interval=interval,
            name="policyarc-janitor",
            failure="purging expired rows failed",
            logger=logger,
            run_first=True,
        )

    async def start(self) -> None:
        self._rounds.start()

    async def aclose(self) -> None:
        await self._rounds.aclose()

    async def _purge(self) -> None:
        counts = await purge_expired(self._sessions, utcnow())
        if any(counts.values()):
            logger.info("purged expired rows: %s", counts)
