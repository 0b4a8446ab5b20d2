"""`Periodic`: one background task that runs some work every `interval` seconds until closed.

A round that raises is logged and the next round runs anyway: the janitor and the connector directory both keep
going through a database restart. Started and closed from the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from policyarc.store.outage import describe_outage, is_database_unreachable

__all__ = ["Periodic"]


class Periodic:
    def __init__(
        self,
        work: Callable[[], Awaitable[object]],
        *,
        interval: float,
        name: str,
        failure: str,
        logger: logging.Logger,
        run_first: bool,
    ) -> None:
        """`failure` is the warning logged when a round raises; `run_first` runs a round before the first wait."""
        self._work = work
        self._interval = interval
        self._name = name
        self._failure = failure
        self._logger = logger
        self._run_first = run_first
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if not self._run_first:
            await asyncio.sleep(self._interval)
        while True:
            try:
                await self._work()
            except Exception as exc:
                if is_database_unreachable(exc):  # an outage, logged each round: its words, not a traceback
                    self._logger.warning("%s (%s)", self._failure, describe_outage(exc))
                else:
                    self._logger.warning(self._failure, exc_info=True)
            await asyncio.sleep(self._interval)
