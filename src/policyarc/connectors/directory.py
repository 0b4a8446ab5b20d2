"""Which Jira connector serves each environment: read from the store, kept in memory for the hot path.

A change made through this instance's API is applied at once (`reload()`); a change made elsewhere (the CLI,
another instance) is picked up within `interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.connectors.jira.template import TEMPLATE_ID
from policyarc.mcp_endpoint import JiraConnector
from policyarc.store.models import Connector

logger = logging.getLogger(__name__)


class ConnectorDirectory:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, site_url_template: str, interval: float = 5.0
    ) -> None:
        self._sessions = sessions
        self._site_url_template = site_url_template
        self._interval = interval
        self._jira: dict[str, JiraConnector] = {}
        self._task: asyncio.Task[None] | None = None

    def jira_for(self, environment_id: str) -> JiraConnector | None:
        return self._jira.get(environment_id)

    async def reload(self) -> None:
        async with self._sessions() as session:
            rows = (await session.scalars(select(Connector).where(Connector.template == TEMPLATE_ID))).all()
        self._jira = {
            row.environment_id: JiraConnector(
                environment_id=row.environment_id,
                site=row.site,
                cloud_id=row.cloud_id,
                site_url=self._site_url_template.replace("{site}", row.site),
            )
            for row in rows
            if row.site and row.cloud_id
        }

    async def start(self) -> None:
        await self.reload()
        self._task = asyncio.create_task(self._poll(), name="connector-directory")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.reload()
            except Exception:  # keep serving the last good view; the store may be restarting
                logger.warning("could not reload connectors; keeping the previous set", exc_info=True)
