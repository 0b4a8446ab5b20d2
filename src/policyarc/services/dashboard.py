"""An environment at a glance: its identity provider, connectors, and today's calls and errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.services.audit import AuditFilter, AuditRecordView, tail_audit
from policyarc.services.connectors import ConnectorView, list_connectors
from policyarc.services.errors import NotFound
from policyarc.services.idp import ATLASSIAN, IdpView, show_idp
from policyarc.store.models import AuditRecord, Environment

__all__ = ["CallCounts", "Overview", "call_counts", "environment_overview"]


@dataclass(frozen=True)
class CallCounts:
    calls: int
    errors: int  # refused (scope, policy, input) or failed upstream


@dataclass(frozen=True)
class Overview:
    idp: IdpView | None
    connectors: list[ConnectorView]
    today: CallCounts
    recent: list[AuditRecordView]


async def call_counts(session: AsyncSession, environment_id: str, *, since: datetime) -> CallCounts:
    failed = (AuditRecord.error_code.is_not(None)) | (AuditRecord.decision != "allowed")
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((failed, 1), else_=0)), 0)).where(
                AuditRecord.environment_id == environment_id, AuditRecord.ts >= since
            )
        )
    ).one()
    return CallCounts(calls=int(row[0]), errors=int(row[1]))


async def environment_overview(
    session: AsyncSession, environment: Environment, *, public_url: str, since: datetime, recent: int = 10
) -> Overview:
    try:
        idp: IdpView | None = await show_idp(session, environment, ATLASSIAN, public_url=public_url)
    except NotFound:
        idp = None
    records = await tail_audit(session, AuditFilter(environment_id=environment.id, limit=recent))
    return Overview(
        idp=idp,
        connectors=await list_connectors(session, environment),
        today=await call_counts(session, environment.id, since=since),
        recent=list(reversed(records)),  # newest first on the page
    )
