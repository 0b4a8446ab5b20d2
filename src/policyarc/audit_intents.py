"""Write intents left behind: a `pending` audit record whose gateway stopped before completing it.

The tool pipeline commits a write to Jira as `pending` before sending it and completes it in place after
(`policyarc.audit`). A gateway killed in between (SIGKILL, OOM, power) never completes it, so the record would
stay `pending` for ever; `IntentSweeper` marks such records `interrupted`: the write may have reached Jira and its
outcome is unknown (Jira's own issue history tells).

Which pending records are left behind? Several instances (and `serve --workers N` processes) share one database,
so "everything pending at my start-up" would take another live instance's write in flight for a dead one. No
instance registry with heartbeats is kept (one more table and one more failure mode for a single signal), so the
rule is age: a record still pending `grace` seconds after its intent was made is taken as left behind. `grace`
(`POLICYARC_AUDIT_INTENT_GRACE`, 15 minutes by default) is far longer than a live write can be in flight: a
write tool makes at most a few upstream calls, each waiting at most `POLICYARC_UPSTREAM_TIMEOUT` (at most 300 s)
for an answer, its reads retried at most twice after short waits and the write itself never. If a live write
outlives it all the same, nothing is lost: its completion updates the record by id whatever its state, so the true
outcome replaces the `interrupted` mark. A single-instance operator may set `grace` to 0 to mark everything
pending at start-up at once.

The sweep runs once when the audit writer starts, then every `interval` seconds (a crash followed by a restart
within `grace` is marked once the grace has passed, without waiting for the next restart). It reads the partial
index `ix_audit_records_pending_ts`, so it costs a few index entries however long the log is. Every instance may
run it: the update is idempotent, and a completion racing it wins either way (the sweep only touches rows still
`pending`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, literal_column, update
from sqlalchemy.ext.asyncio import AsyncEngine

from policyarc.periodic import Periodic
from policyarc.store.models import AUDIT_INTERRUPTED, AUDIT_PENDING, AuditRecord

__all__ = ["DEFAULT_GRACE", "DEFAULT_INTERVAL", "IntentSweeper", "mark_interrupted"]

logger = logging.getLogger(__name__)

DEFAULT_GRACE = 900.0
DEFAULT_INTERVAL = 60.0
_TABLE = cast(Table, AuditRecord.__table__)
# A literal, as in the partial index's predicate: the planner uses that index only for a WHERE that implies it.
_PENDING: ColumnElement[str] = literal_column(f"'{AUDIT_PENDING}'")


async def mark_interrupted(engine: AsyncEngine, before: datetime) -> int:
    """Mark the write intents still pending that were made before `before` as interrupted; returns how many."""
    statement = update(_TABLE).where(_TABLE.c.state == _PENDING, _TABLE.c.ts < before).values(state=AUDIT_INTERRUPTED)
    async with engine.begin() as connection:
        result = await connection.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


class IntentSweeper:
    """Runs `mark_interrupted` for intents older than `grace` at start and every `interval` seconds."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        grace: float = DEFAULT_GRACE,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._grace = grace
        self._clock = clock
        self._rounds = Periodic(
            self.sweep,
            interval=interval,
            name="policyarc-audit-intent-sweeper",
            failure="marking interrupted audit write intents failed",
            logger=logger,
            run_first=False,
        )

    async def start(self) -> None:
        """One sweep before returning (start-up leaves no stale intent pending), then the periodic rounds."""
        try:
            await self.sweep()
        except Exception:  # the database may be briefly away: the next round tries again
            logger.warning("marking interrupted audit write intents failed", exc_info=True)
        self._rounds.start()

    async def aclose(self) -> None:
        await self._rounds.aclose()

    async def sweep(self) -> int:
        before = datetime.fromtimestamp(self._clock() - self._grace, UTC)
        count = await mark_interrupted(self._engine, before)
        if count:
            logger.warning(
                "%d audit record%s of writes marked interrupted: their gateway stopped before recording the "
                "outcome; each may have reached Jira (check the issue's history there)",
                count,
                "" if count == 1 else "s",
            )
        return count
