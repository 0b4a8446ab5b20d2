"""What a connector offers the MCP endpoint: tools, each with its scope, schemas and handler.

A connector template (connectors/jira/...) builds a list of `ToolSpec`s; mcp_endpoint.py serves them.
Handlers receive a `ToolCall` carrying the caller's upstream token, never the gateway token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

ContextT = TypeVar("ContextT")


@dataclass(frozen=True)
class ToolHints:
    """MCP tool annotations (hints for clients)."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True


class ToolFailure(Exception):
    """A tool failed in a way the agent should be told about (rendered as an MCP tool error).

    `code` is stable for audit and tests; `message` is written for the agent and the user: it says what
    went wrong and what to do, in upstream's own words where there are some.
    """

    def __init__(
        self, code: str, message: str, *, upstream_status: int | None = None, pause_for: float | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.upstream_status = upstream_status
        # Upstream asked for no calls to this tenant for so many seconds (a 429's Retry-After): quota.py pauses it.
        self.pause_for = pause_for


class Connection(Protocol):
    """One environment's connector as the tool pipeline reaches it. A template's folder implements it (for Jira,
    `connectors/jira/connection.py`), so the pipeline in mcp_endpoint.py names no upstream service."""

    @property
    def tenant(self) -> str:
        """Whose rate limits upstream counts this connection's calls against (for Jira, the site's cloud ID)."""
        ...

    def context(self, token: str, account_id: str) -> Any:
        """What the template's tool handlers receive: the caller's own upstream token, and the site to reach."""
        ...

    def refused_token(self, exc: BaseException) -> bool:
        """Did upstream refuse the token itself, having run nothing? (The pipeline then tries a newer token.)"""
        ...

    def failure(self, tool: str, exc: BaseException) -> ToolFailure | None:
        """An upstream error as the agent should read it; None when `exc` is not one of this connector's."""
        ...


@dataclass(frozen=True)
class ToolSpec(Generic[ContextT]):
    name: str
    title: str
    description: str
    scope: str
    input_model: type[BaseModel]
    output_schema: dict[str, Any]
    hints: ToolHints
    handler: Callable[[ContextT, Any], Awaitable[dict[str, Any]]]
    # How the result reads as text content; compact JSON of the structured result when None.
    text: Callable[[dict[str, Any]], str] | None = None
    input_schema: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_schema", compact_schema(self.input_model.model_json_schema()))


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """Shrink pydantic's schema to what an agent needs; every tools/list costs each agent context bytes.

    Drops per-property `title`s (they repeat the names), length limits (still enforced on input), empty
    defaults, and collapses `anyOf: [X, null]` of optional fields to X (not being required says the same).
    """

    def strip(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, list):
            return [strip(item) for item in node]
        if not isinstance(node, dict):
            return node
        if in_properties:
            return {name: strip(value) for name, value in node.items()}
        options = node.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            merged = {k: v for k, v in node.items() if k != "anyOf"}
            merged.update(next(option for option in options if option != {"type": "null"}))
            node = merged
        return {
            key: strip(value, key == "properties")
            for key, value in node.items()
            if key not in DROPPED_KEYWORDS
            and not (key == "title" and isinstance(value, str))
            and not (key == "default" and value in (None, [], {}))
        }

    result: dict[str, Any] = strip(schema)
    return result


DROPPED_KEYWORDS = frozenset({"maxLength", "maxItems"})
