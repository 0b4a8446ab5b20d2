"""Problem details (RFC 9457) for the admin API: every error answers `application/problem+json`.

`type` is a stable URN per error code (`urn:policyarc:problem:<code>`), `code` repeats the code for clients
that do not parse URNs, and `errors` lists each problem when there are several (Cedar's messages, the
fields that failed validation). Nothing here echoes request input: a secret may be in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from policyarc.services.errors import ServiceError

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:policyarc:problem:"


class Problem(BaseModel):
    """RFC 9457 problem details, with PolicyArc's stable `code` and the list of `errors`."""

    model_config = ConfigDict(frozen=True)

    type: str = Field(description="A URN naming the kind of problem: urn:policyarc:problem:<code>.")
    title: str
    status: int
    detail: str
    code: str
    errors: list[str] = Field(default_factory=list)


class ApiError(Exception):
    """An error raised by the API layer itself (authentication, request parsing, routing)."""

    def __init__(
        self, status: int, code: str, detail: str, *, errors: Sequence[str] = (), headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def problem_response(
    status: int, code: str, detail: str, *, errors: Sequence[str] = (), headers: dict[str, str] | None = None
) -> Response:
    problem = Problem(
        type=TYPE_PREFIX + code,
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        errors=list(errors),
    )
    return Response(
        orjson.dumps(problem.model_dump()), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def render(exc: ApiError | ServiceError) -> Response:
    if isinstance(exc, ServiceError):
        return problem_response(exc.status, exc.code, exc.message, errors=exc.errors)
    return problem_response(exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers)
