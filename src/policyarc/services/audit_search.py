"""Searching the audit trail as the console does: by user, client, tool, outcome and time range, a page at a time
(newest first), and exporting the same selection as JSON Lines or CSV, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from policyarc.services.audit import AuditRecordView, audit_view
from policyarc.store.models import AuditRecord, User

__all__ = ["CSV_COLUMNS", "AuditPage", "AuditQuery", "Outcome", "csv_lines", "jsonl_lines", "search_audit"]

Outcome = Literal["ok", "error", "denied"]
PAGE_MAX = 200
CSV_COLUMNS = (
    "id", "ts", "user_email", "user_id", "client_id", "tool", "decision", "error_code", "upstream_status",
    "latency_ms", "args_digest", "state", "note",
)  # fmt: skip


class AuditQuery(BaseModel):
    """Which records: every given filter must match. `before_id` pages back from a record (newest first)."""

    model_config = ConfigDict(frozen=True)

    environment_id: str
    user: str | None = Field(default=None, max_length=320)  # an email, matched without case
    client_id: str | None = Field(default=None, max_length=2048)
    tool: str | None = Field(default=None, max_length=128)
    outcome: Outcome | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = Field(default=50, ge=1, le=PAGE_MAX)


class AuditPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    records: list[AuditRecordView]
    older: int | None  # the `before_id` of the next page, None on the last


def _select(query: AuditQuery) -> Select[AuditRecord, str | None]:
    statement = (
        select(AuditRecord, User.email)
        .outerjoin(User, User.id == AuditRecord.user_id)  # the trail outlives deleted users
        .where(AuditRecord.environment_id == query.environment_id)
    )
    if query.user:
        statement = statement.where(func.lower(User.email) == query.user.strip().lower())
    if query.client_id:
        statement = statement.where(AuditRecord.client_id == query.client_id)
    if query.tool:
        statement = statement.where(AuditRecord.tool == query.tool)
    if query.outcome == "ok":
        statement = statement.where(AuditRecord.decision == "allowed", AuditRecord.error_code.is_(None))
    elif query.outcome == "error":
        statement = statement.where(AuditRecord.decision == "allowed", AuditRecord.error_code.is_not(None))
    elif query.outcome == "denied":
        statement = statement.where(AuditRecord.decision != "allowed")
    if query.since is not None:
        statement = statement.where(AuditRecord.ts >= query.since)
    if query.until is not None:
        statement = statement.where(AuditRecord.ts < query.until)
    return statement


async def search_audit(session: AsyncSession, query: AuditQuery) -> AuditPage:
    statement = _select(query)
    if query.before_id is not None:
        statement = statement.where(AuditRecord.id < query.before_id)
    rows = (await session.execute(statement.order_by(AuditRecord.id.desc()).limit(query.limit + 1))).all()
    views = [audit_view(record, email) for record, email in rows[: query.limit]]
    return AuditPage(records=views, older=views[-1].id if len(rows) > query.limit else None)


async def _all(session: AsyncSession, query: AuditQuery, chunk: int = 1000) -> AsyncIterator[AuditRecordView]:
    """Every matching record, oldest first, read `chunk` rows at a time (keyset paging, bounded memory)."""
    after = 0
    while True:
        statement = _select(query).where(AuditRecord.id > after).order_by(AuditRecord.id).limit(chunk)
        rows = (await session.execute(statement)).all()
        for record, email in rows:
            yield audit_view(record, email)
        if len(rows) < chunk:
            return
        after = rows[-1][0].id


async def jsonl_lines(session: AsyncSession, query: AuditQuery) -> AsyncIterator[str]:
    async for view in _all(session, query):
        yield orjson.dumps(view.model_dump(mode="json")).decode() + "\n"


async def csv_lines(session: AsyncSession, query: AuditQuery) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    async for view in _all(session, query):
        row = view.model_dump(mode="json")
        # A cell starting with = + - @ would run as a formula in a spreadsheet (CSV injection): quote it as text.
        writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value
