"""The parsed form of a JQL query: frozen, hashable dataclasses (so `parse_jql` can be cached).

Values keep how they were written (`kind`), because Jira treats an unquoted number as an id
("A value with ID '7' ...") and renders quoted and unquoted values differently in messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Operator = Literal["=", "!=", "~", "!~", ">", ">=", "<", "<=", "in", "not in", "is", "is not"]
ValueKind = Literal["string", "number"]


@dataclass(frozen=True)
class Value:
    text: str
    kind: ValueKind = "string"

    def display(self) -> str:
        # Jira's operand display string: strings double-quoted, numbers bare.
        if self.kind == "number":
            return self.text
        return '"' + self.text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Empty:
    def display(self) -> str:
        return "EMPTY"


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[str, ...] = ()

    def display(self) -> str:
        return f"{self.name}({', '.join(self.args)})"


@dataclass(frozen=True)
class ValueList:
    items: tuple[Operand, ...]

    def display(self) -> str:
        return "(" + ", ".join(item.display() for item in self.items) + ")"


Operand = Value | Empty | Function | ValueList


@dataclass(frozen=True)
class Terminal:
    """One `field operator operand` clause; `field` as written (Jira quotes it back as written)."""

    field: str
    operator: Operator
    operand: Operand


@dataclass(frozen=True)
class And:
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class Or:
    clauses: tuple[Clause, ...]


@dataclass(frozen=True)
class Not:
    clause: Clause


Clause = Terminal | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    direction: Literal["asc", "desc"] | None = None  # None: the field's default (ASC)


@dataclass(frozen=True)
class Query:
    where: Clause | None = None
    order_by: tuple[SortKey, ...] = ()
