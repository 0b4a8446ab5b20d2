"""JQL errors, worded as Jira Cloud words them in `errorMessages`.

    JqlError            one or more messages; the route answers 400 {"errorMessages": messages}

Syntax errors carry Jira's prefix and a "(line L, character C)" position (1-based); validation errors
(unknown field, value, operator) carry neither, as in Jira.
"""

from __future__ import annotations

from collections.abc import Iterable

SYNTAX_PREFIX = "Error in the JQL Query: "
# Jira Cloud words this one family without "the" (observed answers:
# "Error in JQL Query: Expecting either a value, list or function but got 'OR'. ...").
VALUE_SYNTAX_PREFIX = "Error in JQL Query: "
VALID_OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', 'IS' and 'IS NOT'."
)
VALID_ESCAPES = "The valid escape sequences are \\', \\\", \\t, \\n, \\r, \\\\, '\\ ' and \\uXXXX."
VALID_DATES = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


class JqlError(Exception):
    """A query Jira would refuse with 400; `messages` are its `errorMessages`, in order."""

    def __init__(self, messages: str | Iterable[str]) -> None:
        self.messages: list[str] = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("; ".join(self.messages))


def position(line: int, column: int) -> str:
    return f" (line {line}, character {column})"


def syntax_error(message: str, line: int | None = None, column: int | None = None) -> JqlError:
    where = position(line, column) if line is not None and column is not None else ""
    return JqlError(f"{SYNTAX_PREFIX}{message}{where}")
