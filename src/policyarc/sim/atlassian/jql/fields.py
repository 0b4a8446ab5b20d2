"""The JQL fields the simulator knows: names and aliases, the operators Jira allows on each, sorting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "project", "key", "issuetype", "status", "statuscategory", "user", "priority", "labels", "text", "date",
    "resolution", "parent",
]  # fmt: skip

_EQ = frozenset({"=", "!=", "in", "not in"})
_EMPTY = frozenset({"is", "is not"})
_REL = frozenset({">", ">=", "<", "<="})
_TEXT = frozenset({"~", "!~"})


@dataclass(frozen=True)
class Field:
    id: str  # the issue attribute (or pseudo-field) it reads
    kind: Kind
    operators: frozenset[str]
    sortable: bool = True
    # Jira's default direction when ORDER BY names no ASC/DESC.
    default_desc: bool = False


_SPECS = [
    (("project",), Field("project", "project", _EQ | _EMPTY)),
    (("key", "issuekey", "issue", "id"), Field("key", "key", _EQ | _REL)),
    (("issuetype", "type"), Field("issuetype", "issuetype", _EQ | _EMPTY)),
    (("status",), Field("status", "status", _EQ | _EMPTY)),
    (("statuscategory",), Field("statusCategory", "statuscategory", _EQ, sortable=False)),
    (("assignee",), Field("assignee", "user", _EQ | _EMPTY)),
    (("reporter",), Field("reporter", "user", _EQ | _EMPTY)),
    (("priority",), Field("priority", "priority", _EQ | _EMPTY | _REL, default_desc=True)),
    (("labels",), Field("labels", "labels", _EQ | _EMPTY, sortable=False)),
    (("summary",), Field("summary", "text", _TEXT)),
    (("description",), Field("description", "text", _TEXT | _EMPTY, sortable=False)),
    (("comment",), Field("comment", "text", _TEXT, sortable=False)),
    (("text",), Field("text", "text", frozenset({"~"}), sortable=False)),
    (("created", "createddate"), Field("created", "date", _EQ | _EMPTY | _REL, default_desc=True)),
    (("updated", "updateddate"), Field("updated", "date", _EQ | _EMPTY | _REL, default_desc=True)),
    (("resolved", "resolutiondate"), Field("resolutiondate", "date", _EQ | _EMPTY | _REL, default_desc=True)),
    (("due", "duedate"), Field("duedate", "date", _EQ | _EMPTY | _REL)),
    (("resolution",), Field("resolution", "resolution", _EQ | _EMPTY)),
    (("parent",), Field("parent", "parent", _EQ, sortable=False)),
]
FIELDS: dict[str, Field] = {alias: spec for aliases, spec in _SPECS for alias in aliases}


def lookup(name: str) -> Field | None:
    """The field a (case-insensitive) JQL name or alias stands for."""
    return FIELDS.get(name.lower())


def unknown_field(name: str) -> str:
    return f"Field '{name}' does not exist or you do not have permission to view it."


def unsupported_operator(operator: str, name: str) -> str:
    return f"The operator '{operator}' is not supported by the '{name}' field."


def not_sortable(name: str) -> str:
    return f"Not able to sort using field '{name}'."
