"""Deleting what has expired: sign-in round trips, browser sessions, codes, tokens and unused clients.

Rows are kept a day past their expiry, so a late request is still recognised and refused as expired rather
than unknown, and an operator can still see it. Registered clients (and cached metadata-document clients) are
deleted when no code or token was issued to them within `client_unused` of registering (anyone can register,
so abandoned registrations must not pile up), or none for `client_idle`; their codes, tokens and consents go
with them (foreign keys with ON DELETE CASCADE). Runs hourly in the app's lifespan; every instance may run it
(the deletes are idempotent).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, or_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.periodic import Periodic
from policyarc.store.models import (
    AccessToken,
    AuthorizationCode,
    BrowserSession,
    LoginState,
    OAuthClient,
    RefreshToken,
    utcnow,
)

if TYPE_CHECKING:
    from policyarc.settings import Settings

logger = logging.getLogger(__name__)

EXPIRING = (LoginState, BrowserSession, AuthorizationCode, AccessToken, RefreshToken)
GRACE = timedelta(days=1)
CLIENT_UNUSED = timedelta(days=1)
CLIENT_IDLE = timedelta(days=90)


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    client_unused: timedelta = CLIENT_UNUSED,
    client_idle: timedelta = CLIENT_IDLE,
) -> dict[str, int]:
    """Delete rows that expired more than GRACE before `now`, and clients unused for too long (see the module
    docstring); returns the count per table."""
    cutoff = now - GRACE
    counts: dict[str, int] = {}
    async with sessions.begin() as db:
        for model in EXPIRING:
            result = await db.execute(delete(model).where(model.expires_at < cutoff))
            counts[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
        unused = or_(
            and_(OAuthClient.last_used_at.is_(None), OAuthClient.created_at < now - client_unused),
            OAuthClient.last_used_at < now - client_idle,
        )
        result = await db.execute(delete(OAuthClient).where(unused))
        counts[OAuthClient.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    return counts


class Janitor:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        interval: float = 3600.0,
        client_unused: timedelta = CLIENT_UNUSED,
        client_idle: timedelta = CLIENT_IDLE,
    ) -> None:
        self._sessions = sessions
        self._client_unused = client_unused
        self._client_idle = client_idle
        # Nothing depends on a purge having happened: a failed round waits for the next.
        self._rounds = Periodic(
            self._purge,
            interval=interval,
            name="policyarc-janitor",
            failure="purging expired rows failed",
            logger=logger,
            run_first=True,
        )

    @classmethod
    def from_settings(cls, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> Janitor:
        # A client is never idle while one of its refresh tokens could still be valid.
        idle = max(settings.client_idle_ttl, settings.refresh_token_ttl)
        return cls(
            sessions, client_unused=timedelta(seconds=settings.client_unused_ttl), client_idle=timedelta(seconds=idle)
        )

    @property
    def client_limits(self) -> tuple[timedelta, timedelta]:
        """(never used within, idle for): how long a client may go unused before it is deleted."""
        return self._client_unused, self._client_idle

    async def start(self) -> None:
        self._rounds.start()

    async def aclose(self) -> None:
        await self._rounds.aclose()

    async def _purge(self) -> None:
        counts = await purge_expired(
            self._sessions, utcnow(), client_unused=self._client_unused, client_idle=self._client_idle
        )
        if any(counts.values()):
            logger.info("purged expired rows: %s", counts)
