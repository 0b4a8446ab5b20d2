"""Keeping the in-memory `PolicyRegistry` in step with the `policies` table, and the gate the hot path asks.

    watcher = PolicyWatcher(sessions, registry, interval=2.0)
    await watcher.start()              # in the lifespan: loads every environment's policy, then polls
    gate = PolicyGate(registry)        # mcp_endpoint.PolicyCheck: a dict look-up and a cached decision
    ...
    await watcher.reload()             # right after a local `set`: this instance denies at once
    await watcher.aclose()

How fast a change is seen: on the instance that saved it, at once (the API calls `reload()` after the commit).
On every other instance, on PostgreSQL, at once too: the change is announced (notify.py) and the app calls
`reload()` when it hears of it. Otherwise (SQLite, the channel down, `policyarc policy set` from the CLI, which
announces nothing), within `interval` seconds plus one query: each tick asks only `max(version)` per
environment, an index-only read of a small table, and reads text only for an environment whose version moved.
Decisions are cached per engine, and a new version is a new engine, so no decision made under an old version
outlives the tick that installs the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from policyarc.caller import Caller
from policyarc.policy.errors import PolicyError
from policyarc.policy.registry import PolicyRegistry
from policyarc.store.models import Policy
from policyarc.store.outage import describe_outage, is_database_unreachable

__all__ = ["DEFAULT_INTERVAL", "PolicyGate", "PolicyWatcher", "load_policies"]

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 2.0
Sleep = Callable[[float], Awaitable[None]]


async def load_policies(session: AsyncSession, registry: PolicyRegistry) -> list[str]:
    """Install each environment's newest stored policy that the registry does not already hold.

    Returns the environment ids whose engine changed. A stored version that no longer validates (say a
    connector's scope was withdrawn) is logged and skipped; the environment keeps the engine it had.
    """
    changed, _ = await _install_latest(session, registry)
    return changed


async def _install_latest(session: AsyncSession, registry: PolicyRegistry) -> tuple[list[str], set[str]]:
    query = select(Policy.environment_id, func.max(Policy.version)).group_by(Policy.environment_id)
    latest: dict[str, int] = {env: version for env, version in (await session.execute(query)).all()}
    changed: list[str] = []
    for environment_id, version in latest.items():
        if registry.version(environment_id) == version:
            continue
        text = await session.scalar(
            select(Policy.text).where(Policy.environment_id == environment_id, Policy.version == version)
        )
        if text is None:  # deleted between the two reads (environment removed); the next tick sees that
            continue
        try:
            registry.install(environment_id, text, version)
        except PolicyError as exc:
            logger.error(
                "stored policy does not install; keeping the previous one (%d problems)",
                len(exc.errors),
                extra={"environment_id": environment_id, "policy_version": version},
            )
            continue
        changed.append(environment_id)
    return changed, set(latest)


class PolicyWatcher:
    """Polls the `policies` table and installs new versions into `registry`.

    `sleep` is how the loop waits between ticks (injected in tests to drive ticks by hand).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        registry: PolicyRegistry,
        *,
        interval: float = DEFAULT_INTERVAL,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.interval = interval
        self._sessions = sessions
        self._registry = registry
        self._sleep = sleep
        self._known: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def reload(self) -> list[str]:
        """Read the table now and install what changed; returns the environment ids whose engine changed.

        Concurrent calls share the work: one reads while the others wait, then each finds nothing left.
        """
        async with self._lock, self._sessions() as session:
            changed = await load_policies(session, self._registry)
            present = set((await session.scalars(select(Policy.environment_id).group_by(Policy.environment_id))).all())
        for gone in self._known - present:  # environment deleted: refuse its callers from now on
            self._registry.remove(gone)
        self._known = present
        return changed

    async def changed(self, what: str, environment_id: str) -> None:
        """`api.ChangeListener`: a policy or environment saved through this instance applies here at once."""
        if what in ("policy", "environment"):
            await self.reload()

    async def start(self) -> None:
        """Load every policy (errors propagate: better not to start than to serve without policy), then poll."""
        if self._task is not None:
            raise RuntimeError("PolicyWatcher already started")
        await self.reload()
        self._task = asyncio.create_task(self._run(), name="policyarc-policy-watcher")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        while True:
            await self._sleep(self.interval)
            try:
                await self.reload()
            except Exception as exc:  # a database blip must not stop the watcher; the old policy stays in force
                if is_database_unreachable(exc):
                    logger.warning("policy reload failed (%s); retrying in %.1f s", describe_outage(exc), self.interval)
                else:
                    logger.exception("policy reload failed; retrying in %.1f s", self.interval)


class PolicyGate:
    """`mcp_endpoint.PolicyCheck` over the registry the watcher maintains: decisions cached per version by
    G2's engines, so the hot path costs a dict look-up on a hit. Refuses an environment with no policy."""

    def __init__(self, registry: PolicyRegistry) -> None:
        self._registry = registry

    def allowed(self, caller: Caller, scope: str) -> bool:
        return self._registry.allowed(caller, scope)

    def allowed_scopes(self, caller: Caller, requested: Iterable[str]) -> frozenset[str]:
        """What the consent page shows as granted."""
        return self._registry.allowed_scopes(caller, requested)

    def version(self, environment_id: str) -> int | None:
        return self._registry.version(environment_id)
