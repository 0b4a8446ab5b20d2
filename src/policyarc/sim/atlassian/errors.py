"""Jira-shaped error responses, rendered in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.responses import JSONResponse


def jira_error(
    status: int,
    messages: Sequence[str] = (),
    errors: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Jira's error body: `{"errorMessages": [...], "errors": {field: message}}`."""
    body = {"errorMessages": list(messages), "errors": dict(errors or {})}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def scope_mismatch() -> JSONResponse:
    """What api.atlassian.com answers when the token's scopes do not cover the call."""
    return JSONResponse({"code": 401, "message": "Unauthorized; scope does not match"}, status_code=401)


def unauthorized() -> JSONResponse:
    """A missing, unknown, expired or revoked bearer token at api.atlassian.com."""
    return JSONResponse({"code": 401, "message": "Unauthorized"}, status_code=401)


ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
