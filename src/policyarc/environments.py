"""Which environments the gateway serves, by name, id and MCP resource: read from the store, kept in memory.

Each environment is its own RFC 8707 resource: the default one at `{public_url}/mcp`, another one NAME at
`{public_url}/mcp/NAME` (`services.environments.mcp_url`). The OAuth server picks the environment of an
authorization by the `resource` a client asks for, and `/mcp/{name}` finds its environment here, so environments
created at run time (console, admin API, CLI, another instance) are served without rebuilding the app.

A change made through this instance's API is applied at once (`reload()`, an admin API listener); one made
elsewhere within `interval` seconds, or sooner: a look-up that misses reloads once (at most once a second, so a
stream of unknown names costs one query a second, not one each), so a client that signs in to an environment
created a moment ago on another instance is not refused.

The default environment's request on `/mcp` never comes here: it is served from the app's own wiring, so the hot
path pays nothing for environments.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.periodic import Periodic
from policyarc.services.environments import DEFAULT_ENVIRONMENT, mcp_url, resource_metadata_url
from policyarc.store.models import Environment

__all__ = ["EnvironmentDirectory", "ServedEnvironment"]

logger = logging.getLogger(__name__)

_MISS_RELOAD_EVERY = 1.0


@dataclass(frozen=True, slots=True)
class ServedEnvironment:
    id: str
    name: str
    resource: str  # its MCP URL: the RFC 8707 resource its tokens are bound to
    metadata_url: str  # its RFC 9728 protected-resource metadata

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_ENVIRONMENT


class EnvironmentDirectory:
    """`sessions=None` serves only the environments given to the constructor (tests of one part)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession] | None,
        *,
        public_url: str,
        known: dict[str, str] | None = None,
        interval: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._public_url = public_url.rstrip("/")
        self._by_name: dict[str, ServedEnvironment] = {}
        self._by_id: dict[str, ServedEnvironment] = {}
        self._by_resource: dict[str, ServedEnvironment] = {}
        self._apply(known or {})
        self._last_miss = 0.0
        self._polling = Periodic(
            self.reload,
            interval=interval,
            name="environment-directory",
            failure="could not reload environments; keeping the previous set",
            logger=logger,
            run_first=False,  # start() has just loaded
        )

    def served(self, name: str, environment_id: str) -> ServedEnvironment:
        return ServedEnvironment(
            id=environment_id,
            name=name,
            resource=mcp_url(self._public_url, name),
            metadata_url=resource_metadata_url(self._public_url, name),
        )

    def by_id(self, environment_id: str) -> ServedEnvironment | None:
        return self._by_id.get(environment_id)

    def all(self) -> list[ServedEnvironment]:
        return sorted(self._by_name.values(), key=lambda environment: environment.name)

    async def find_name(self, name: str) -> ServedEnvironment | None:
        found = self._by_name.get(name)
        if found is None and await self._reload_on_miss():
            found = self._by_name.get(name)
        return found

    async def find_resource(self, resource: str) -> ServedEnvironment | None:
        """The environment whose MCP URL `resource` is (RFC 8707; a trailing slash is tolerated)."""
        key = resource.rstrip("/")
        found = self._by_resource.get(key)
        if found is None and await self._reload_on_miss():
            found = self._by_resource.get(key)
        return found

    async def find_id(self, environment_id: str) -> ServedEnvironment | None:
        found = self._by_id.get(environment_id)
        if found is None and await self._reload_on_miss():
            found = self._by_id.get(environment_id)
        return found

    async def reload(self) -> None:
        if self._sessions is None:
            return
        async with self._sessions() as session:
            rows = (await session.execute(select(Environment.name, Environment.id))).all()
        self._apply({str(name): str(environment_id) for name, environment_id in rows})

    async def start(self) -> None:
        await self.reload()
        self._polling.start()

    async def aclose(self) -> None:
        await self._polling.aclose()

    async def _reload_on_miss(self) -> bool:
        now = time.monotonic()
        if self._sessions is None or now - self._last_miss < _MISS_RELOAD_EVERY:
            return False
        self._last_miss = now
        await self.reload()
        return True

    def _apply(self, names: dict[str, str]) -> None:
        served = [self.served(name, environment_id) for name, environment_id in names.items()]
        # Swapped whole, never mutated: readers on the loop see the old view or the new one.
        self._by_name = {environment.name: environment for environment in served}
        self._by_id = {environment.id: environment for environment in served}
        self._by_resource = {environment.resource: environment for environment in served}
