"""Reading the audit trail and the admin change log: tail with filters, and JSON Lines export.

`policyarc.audit` owns writing and the export format; `tail_audit` adds what its `tail` does not have yet:
filters (user, tool, decision) and the user's email, which the console and `policyarc audit tail` show.

A write's record is committed `pending` before the write is sent and completed in place after, so a follower that
has shown a record as pending reads it again by id (`audit_records_by_id`) to show how it ended.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TextIO

import orjson
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc import audit
from policyarc.store.models import AUDIT_COMPLETED, AUDIT_PENDING, AdminChange, AuditRecord, User

MAX_LIMIT = 500


class AuditRecordView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    ts: datetime
    environment_id: str | None
    user_id: str | None
    user_email: str | None
    client_id: str | None
    tool: str | None
    args_digest: str | None
    decision: str
    upstream_status: int | None
    latency_ms: float | None
    error_code: str | None
    state: str = AUDIT_COMPLETED  # completed, or for a write: pending (in flight) or interrupted
    note: str | None = None  # for a write whose outcome is not recorded: it may have reached Jira

    @property
    def settled(self) -> bool:
        """No later change expected: the outcome is recorded, or its gateway is known to have stopped."""
        return self.state != AUDIT_PENDING


class AuditFilter(BaseModel):
    """Which records to read. `since_id` reads forward from a record id (for following); without it, the
    newest `limit` records. Either way, results are oldest first."""

    model_config = ConfigDict(frozen=True)

    environment_id: str | None = None
    user_id: str | None = None
    tool: str | None = None
    decision: str | None = None
    since_id: int | None = None
    limit: int = 50


class ChangeView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    ts: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, object]


async def tail_audit(session: AsyncSession, where: AuditFilter) -> list[AuditRecordView]:
    limit = max(1, min(where.limit, MAX_LIMIT))
    query = _audit_query(where)
    if where.since_id is not None:
        query = query.where(AuditRecord.id > where.since_id).order_by(AuditRecord.id).limit(limit)
        rows = (await session.execute(query)).all()
    else:
        query = query.order_by(AuditRecord.id.desc()).limit(limit)
        rows = list(reversed((await session.execute(query)).all()))
    return [audit_view(record, email) for record, email in rows]


async def audit_records_by_id(session: AsyncSession, ids: Iterable[int]) -> list[AuditRecordView]:
    """The records with these ids, oldest first (a follower re-reading the writes it showed as pending)."""
    wanted = sorted(set(ids))[:MAX_LIMIT]
    if not wanted:
        return []
    query = _audit_query(AuditFilter()).where(AuditRecord.id.in_(wanted)).order_by(AuditRecord.id)
    return [audit_view(record, email) for record, email in (await session.execute(query)).all()]


async def export_audit_jsonl(
    session: AsyncSession,
    out: TextIO,
    *,
    environment_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write records with `since <= ts < until` to `out` as JSON Lines; returns how many.

    Delegates to `policyarc.audit.export_jsonl`, so an export has the audit log's own line shape.
    """
    return await audit.export_jsonl(session, out, since, until, environment_id=environment_id)


def audit_json(view: AuditRecordView) -> str:
    return orjson.dumps(view.model_dump(mode="json")).decode()


async def list_changes(session: AsyncSession, *, limit: int = 50, before_id: int | None = None) -> list[ChangeView]:
    """Admin changes, newest first; page back with `before_id`."""
    query = select(AdminChange).order_by(AdminChange.id.desc()).limit(max(1, min(limit, MAX_LIMIT)))
    if before_id is not None:
        query = query.where(AdminChange.id < before_id)
    return [
        ChangeView(id=row.id, ts=row.ts, actor=row.actor, action=row.action, target=row.target, details=row.details)
        for row in await session.scalars(query)
    ]


def _audit_query(where: AuditFilter) -> Select[AuditRecord, str | None]:
    # An outer join: the trail outlives deleted users, whose records then show no email.
    query = select(AuditRecord, User.email).outerjoin(User, User.id == AuditRecord.user_id)
    if where.environment_id is not None:
        query = query.where(AuditRecord.environment_id == where.environment_id)
    if where.user_id is not None:
        query = query.where(AuditRecord.user_id == where.user_id)
    if where.tool is not None:
        query = query.where(AuditRecord.tool == where.tool)
    if where.decision is not None:
        query = query.where(AuditRecord.decision == where.decision)
    return query


def audit_view(record: AuditRecord, email: str | None) -> AuditRecordView:
    """A stored record as the console, the API and the CLI show it (with the user's email, when known)."""
    return AuditRecordView(
        id=record.id,
        ts=record.ts,
        environment_id=record.environment_id,
        user_id=record.user_id,
        user_email=email,
        client_id=record.client_id,
        tool=record.tool,
        args_digest=record.args_digest,
        decision=record.decision,
        upstream_status=record.upstream_status,
        latency_ms=record.latency_ms,
        error_code=record.error_code,
        state=record.state,
        note=audit.STATE_NOTES.get(record.state),
    )
