"""Which Jira connector serves each environment: read from the store, kept in memory for the hot path.

A change made through this instance's API is applied at once (`reload()`); one made through another instance's
API is announced on PostgreSQL (notify.py) and reloaded here at once; otherwise (the CLI, SQLite, the channel down)
it is picked up within `interval` seconds.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.connectors.jira.client import JiraClient
from policyarc.connectors.jira.connection import JiraConnection
from policyarc.connectors.jira.template import TEMPLATE_ID
from policyarc.periodic import Periodic
from policyarc.store.models import Connector

logger = logging.getLogger(__name__)


class ConnectorDirectory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        site_url_template: str,
        jira: JiraClient,
        interval: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._site_url_template = site_url_template
        self._client = jira
        self._jira: dict[str, JiraConnection] = {}
        # A failed reload keeps serving the last good view; the store may be restarting.
        self._polling = Periodic(
            self.reload,
            interval=interval,
            name="connector-directory",
            failure="could not reload connectors; keeping the previous set",
            logger=logger,
            run_first=False,  # start() has just loaded
        )

    def connection_for(self, environment_id: str) -> JiraConnection | None:
        return self._jira.get(environment_id)

    async def reload(self) -> None:
        async with self._sessions() as session:
            rows = (await session.scalars(select(Connector).where(Connector.template == TEMPLATE_ID))).all()
        self._jira = {
            row.environment_id: JiraConnection(
                environment_id=row.environment_id,
                site=row.site,
                cloud_id=row.cloud_id,
                site_url=self._site_url_template.replace("{site}", row.site),
                client=self._client,
            )
            for row in rows
            if row.site and row.cloud_id
        }

    async def start(self) -> None:
        await self.reload()
        self._polling.start()

    async def aclose(self) -> None:
        await self._polling.aclose()
