"""The audit log page: filters (user, client, tool, outcome, time range), newest first a page at a time, and
exports of the same selection as JSON Lines or CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from policyarc.connectors.registry import TEMPLATES
from policyarc.console.auth import SignedIn
from policyarc.console.core import PREFIX, Console
from policyarc.services.audit_search import AuditQuery, csv_lines, jsonl_lines, search_audit
from policyarc.services.environments import get_environment
from policyarc.services.errors import InvalidInput

__all__ = ["AuditPages"]

FILTERS = ("user", "client_id", "tool", "outcome", "since", "until")


def _when(value: str | None, name: str) -> datetime | None:
    """A `datetime-local` field's value (the console shows UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("invalid_time", f"'{value[:40]}' is not a date and time for {name}.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


class AuditPages:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.api = console.api

    def _query(self, request: Request, environment_id: str) -> tuple[AuditQuery, dict[str, str]]:
        params = {name: request.query_params.get(name, "").strip() for name in FILTERS}
        before = request.query_params.get("before", "")
        try:
            query = AuditQuery(
                environment_id=environment_id,
                user=params["user"] or None,
                client_id=params["client_id"] or None,
                tool=params["tool"] or None,
                outcome=params["outcome"] or None,  # validated by pydantic
                since=_when(params["since"], "From"),
                until=_when(params["until"], "To"),
                before_id=int(before) if before.isdigit() else None,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise InvalidInput("invalid_filter", f"Check the filters: {problems}") from None
        return query, params

    async def log(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
            query, params = self._query(request, environment.id)
            page = await search_audit(db, query)
        kept = {k: v for k, v in params.items() if v}
        return self.console.render.page(
            "audit.html",
            **await self.console.frame(request, signed_in, name),
            page=page,
            filters=params,
            tools=sorted({tool.name for t in TEMPLATES.values() for tool in t.tools}),
            older=f"?{urlencode({**kept, 'before': page.older})}" if page.older else None,
            export=urlencode(kept),
        )

    async def export(self, request: Request, signed_in: SignedIn) -> Response:
        name = request.path_params["env"]
        kind = request.path_params["kind"]
        async with self.api.sessions() as db:
            environment = await get_environment(db, name)
        query, _ = self._query(request, environment.id)
        lines = jsonl_lines if kind == "jsonl" else csv_lines
        sessions = self.api.sessions

        async def body() -> AsyncIterator[str]:
            async with sessions() as db:
                async for line in lines(db, query):
                    yield line

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        media = "application/x-ndjson" if kind == "jsonl" else "text/csv; charset=utf-8"
        filename = f"policyarc-audit-{name}-{stamp}.{kind}"
        return StreamingResponse(
            body(), media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    def routes(self) -> list[BaseRoute]:
        base = f"{PREFIX}/e/{{env}}/audit"
        return [
            Route(base, self.console.page(self.log), methods=["GET"]),
            Route(f"{base}/export.{{kind:str}}", self.console.page(self._export_kind), methods=["GET"]),
        ]

    async def _export_kind(self, request: Request, signed_in: SignedIn) -> Response:
        if request.path_params["kind"] not in ("jsonl", "csv"):
            return self.console.error(signed_in, 404, "No such export", "Export as JSON Lines or CSV.")
        return await self.export(request, signed_in)
