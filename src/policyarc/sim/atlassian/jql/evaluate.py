"""Compile a parsed JQL query against a site into plain Python closures, and sort by ORDER BY.

Negation follows Jira, which pushes NOT down to the clauses (De Morgan) and flips each operator:
`NOT assignee = bob` is `assignee != bob`, which, like every `!=`, leaves out issues with no assignee.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from policyarc.sim.atlassian.adf import plain_text
from policyarc.sim.atlassian.jql import ast
from policyarc.sim.atlassian.jql.errors import JqlError
from policyarc.sim.atlassian.jql.fields import Field, lookup, not_sortable, unknown_field, unsupported_operator
from policyarc.sim.atlassian.jql.sorting import sort_issues
from policyarc.sim.atlassian.jql.text import TextQueryError, compile_text_query
from policyarc.sim.atlassian.jql.values import LIST_FUNCTIONS, Resolver
from policyarc.sim.atlassian.model import Issue, Site, World

Predicate = Callable[[Issue], bool]
_FLIP: dict[ast.Operator, ast.Operator] = {
    "=": "!=", "!=": "=", "in": "not in", "not in": "in", "is": "is not", "is not": "is",
    "~": "!~", "!~": "~", ">": "<=", "<=": ">", ">=": "<", "<": ">=",
}  # fmt: skip
_COMPARE = {">": op.gt, ">=": op.ge, "<": op.lt, "<=": op.le}


@dataclass(frozen=True)
class JqlContext:
    world: World
    site: Site
    account_id: str  # the caller, for currentUser()
    now: datetime  # from the sim Clock
    visible_projects: frozenset[str]  # project keys the caller may browse
    server_names: bool = False  # users may be named by their Server name (the v2 API only)


class CompiledQuery:
    """A query bound to a site and caller: `matches` filters, `sort` orders, `bounded` says if it restricts."""

    def __init__(
        self, predicate: Predicate, sort_keys: list[tuple[Field, bool]], bounded: bool, ctx: JqlContext
    ) -> None:
        self.matches: Predicate = predicate
        self.bounded = bounded
        self._sort_keys = sort_keys
        self._site = ctx.site
        self._names = {u.account_id: u.name for u in ctx.world.users.values()}

    def sort(self, issues: list[Issue]) -> list[Issue]:
        """Issues in ORDER BY order; ties (and a query without ORDER BY) by key, newest first."""
        return sort_issues(issues, self._sort_keys, self._site, self._names)


def compile_query(query: ast.Query, ctx: JqlContext) -> CompiledQuery:
    """Resolve fields, operators and values of `query` for `ctx`. Raises `JqlError` listing every problem."""
    user = ctx.world.users.get(ctx.account_id)
    tz = _zone(user.time_zone if user else "UTC")
    compiler = _Compiler(ctx, tz)
    predicate = compiler.clause(query.where, negated=False) if query.where is not None else _always
    sort_keys: list[tuple[Field, bool]] = []
    for key in query.order_by:
        field = lookup(key.field)
        if field is None:
            compiler.errors.append(unknown_field(key.field))
        elif not field.sortable:
            compiler.errors.append(not_sortable(key.field))
        else:
            sort_keys.append((field, key.direction == "desc" if key.direction else field.default_desc))
    if compiler.errors:
        raise JqlError(dict.fromkeys(compiler.errors))
    return CompiledQuery(predicate, sort_keys, query.where is not None, ctx)


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return UTC


def _always(issue: Issue) -> bool:
    return True


class _Compiler:
    def __init__(self, ctx: JqlContext, tz: tzinfo) -> None:
        self.ctx, self.tz = ctx, tz
        self.errors: list[str] = []
        self.resolver = Resolver(ctx, tz)
        self.categories = {s.id: s.category for p in ctx.site.projects.values() for s in p.workflow.statuses}
        self.ranks = {pid: -i for i, pid in enumerate(ctx.site.priorities)}  # Highest is the greatest

    def clause(self, clause: ast.Clause, negated: bool) -> Predicate:
        if isinstance(clause, ast.Not):
            return self.clause(clause.clause, not negated)
        if isinstance(clause, ast.And | ast.Or):
            parts = [self.clause(c, negated) for c in clause.clauses]
            if isinstance(clause, ast.And) != negated:
                return lambda issue: all(p(issue) for p in parts)
            return lambda issue: any(p(issue) for p in parts)
        return self.terminal(clause, negated)

    def terminal(self, clause: ast.Terminal, negated: bool) -> Predicate:
        name, operand = clause.field, clause.operand
        field = lookup(name)
        if field is None:
            return self._fail(unknown_field(name))
        if usage := _usage_error(name, clause.operator, operand):
            return self._fail(usage)
        if clause.operator not in field.operators:
            return self._fail(unsupported_operator(clause.operator, name))
        operator = _FLIP[clause.operator] if negated else clause.operator
        if field.kind == "text":
            return self._text(field, name, operator, operand)
        items = _flatten(operand)
        with_empty = any(isinstance(i, ast.Empty) for i in items)
        before = len(self.errors)
        values: set[Hashable] = set()
        for item in items:
            if not isinstance(item, ast.Empty):
                values |= self.resolver.resolve(field, name, item, self.errors)
        if len(self.errors) > before:
            return _always
        get = self._getter(field)
        if field.kind == "labels":
            return _multi(get, operator, values, with_empty)
        if operator in _COMPARE:
            return self._relational(field, get, operator, values)
        return _single(get, operator, values, with_empty)

    def _fail(self, message: str) -> Predicate:
        self.errors.append(message)
        return _always

    def _relational(self, field: Field, get: Callable[[Issue], Any], operator: str, values: set[Hashable]) -> Predicate:
        compare = _COMPARE[operator]
        bound: Any = next(iter(values))
        if field.kind == "priority":
            ranks = self.ranks
            bound = ranks[bound]
            return lambda issue: compare(ranks[issue.priority_id], bound)
        if field.kind == "key":
            project, _, number = str(bound).rpartition("-")
            limit = int(number)

            def in_order(issue: Issue) -> bool:
                p, _, n = issue.key.rpartition("-")
                return p == project and compare(int(n), limit)

            return in_order
        return lambda issue: (x := get(issue)) is not None and compare(x, bound)

    def _text(self, field: Field, name: str, operator: str, operand: ast.Operand) -> Predicate:
        get = _TEXT_GETTERS[field.id]
        if isinstance(operand, ast.Empty) or operator in ("is", "is not"):
            empty = operator in ("is", "~", "=")
            return lambda issue: (not get(issue).strip()) == empty
        if isinstance(operand, ast.Function):
            return self._fail(f"A value provided by the function '{operand.name}' is invalid for the field '{name}'.")
        assert isinstance(operand, ast.Value)  # lists were refused by _usage_error
        try:
            found = compile_text_query(operand.text, name)
        except TextQueryError as exc:
            return self._fail(str(exc))
        if operator == "~":
            return lambda issue: found(get(issue))
        return lambda issue: not found(get(issue))

    def _getter(self, field: Field) -> Callable[[Issue], Any]:
        kind, tz = field.id, self.tz
        if kind == "statusCategory":
            categories = self.categories
            return lambda issue: categories.get(issue.status_id)
        if kind == "duedate":
            return lambda issue: _due(issue.due_date, tz)
        return _GETTERS[kind]


def _single(get: Callable[[Issue], Any], operator: str, values: set[Hashable], with_empty: bool) -> Predicate:
    if operator in ("=", "in"):
        return lambda issue: (x := get(issue)) in values or (with_empty and x is None)
    if operator in ("!=", "not in"):
        return lambda issue: (x := get(issue)) is not None and x not in values
    if operator == "is":
        return lambda issue: get(issue) is None
    return lambda issue: get(issue) is not None


def _multi(get: Callable[[Issue], Any], operator: str, values: set[Hashable], with_empty: bool) -> Predicate:
    if operator in ("=", "in"):
        return lambda issue: bool((x := get(issue)) & values) or (with_empty and not x)
    if operator in ("!=", "not in"):
        return lambda issue: bool(x := get(issue)) and not x & values
    if operator == "is":
        return lambda issue: not get(issue)
    return lambda issue: bool(get(issue))


def _usage_error(name: str, operator: str, operand: ast.Operand) -> str | None:
    """Jira's operator/operand checks, made before the field's own (so `summary in x` says this)."""
    is_list = isinstance(operand, ast.ValueList) or (
        isinstance(operand, ast.Function) and operand.name.lower() in LIST_FUNCTIONS
    )
    shown = operand.display()
    if operator in ("in", "not in"):
        if isinstance(operand, ast.Empty):
            return f"Operator '{operator}' does not support the empty value representation 'EMPTY' for field '{name}'."
        if not is_list:
            return f"Operator '{operator}' does not support the non-list value '{shown}' for field '{name}'."
    elif is_list:
        return f"Operator '{operator}' does not support the list value '{shown}' for field '{name}'."
    elif operator in ("is", "is not") and not isinstance(operand, ast.Empty):
        return f"Operator '{operator}' does not support searching for non-empty values for field '{name}'."
    elif operator in _COMPARE and isinstance(operand, ast.Empty):
        return f"Operator '{operator}' does not support the empty value representation 'EMPTY' for field '{name}'."
    return None


def _flatten(operand: ast.Operand) -> list[ast.Value | ast.Function | ast.Empty]:
    if isinstance(operand, ast.ValueList):
        return [leaf for item in operand.items for leaf in _flatten(item)]
    return [operand]


@lru_cache(maxsize=4096)
def _due(value: str | None, tz: tzinfo) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value[:10]).replace(tzinfo=tz)
    except ValueError:
        return None


def _comments(issue: Issue) -> str:
    return "\n".join(plain_text(c.body) for c in issue.comments)


_GETTERS: dict[str, Callable[[Issue], Any]] = {
    "project": lambda i: i.project_key,
    "key": lambda i: i.key,
    "issuetype": lambda i: i.issuetype_id,
    "status": lambda i: i.status_id,
    "assignee": lambda i: i.assignee_id,
    "reporter": lambda i: i.reporter_id,
    "priority": lambda i: i.priority_id,
    "labels": lambda i: frozenset(label.lower() for label in i.labels),
    "created": lambda i: i.created,
    "updated": lambda i: i.updated,
    "resolutiondate": lambda i: i.resolution_date,
    "resolution": lambda i: i.resolution,
    "parent": lambda i: i.parent_key,
}
_TEXT_GETTERS: dict[str, Callable[[Issue], str]] = {
    "summary": lambda i: i.summary,
    "description": lambda i: plain_text(i.description),
    "comment": _comments,
    "text": lambda i: "\n".join((i.summary, plain_text(i.description), _comments(i))),
}
