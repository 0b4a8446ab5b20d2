"""One admin API operation as data: method, path, handler, models, statuses. The route table (routes.py) serves a
list of these and the OpenAPI document (openapi.py) describes the same list, so neither imports the other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from policyarc.api.handlers import AdminApi, Call

__all__ = ["Endpoint", "Handler"]

Handler = Callable[[AdminApi, Call], Awaitable[BaseModel]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under PREFIX, with {name} path parameters
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()

    @property
    def error_statuses(self) -> set[int]:
        statuses = set(self.errors)
        if self.body is not None:
            statuses |= {400, 413}
        if self.query is not None:
            statuses.add(400)
        if "{environment}" in self.path:
            statuses.add(404)
        return statuses
