"""Resolving JQL operands to the simulator's ids: project keys, status ids, account ids, dates, ...

Each resolver returns the set of matching internal values (a display name may match several users)
or records Jira's message for a value that does not exist (a project the caller may not browse
does not exist either: Jira does not reveal it). A user is named by account id, email, display name or,
for Jira Server clients of the v2 routes, by user name.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from policyarc.sim.atlassian.jql import ast
from policyarc.sim.atlassian.jql.dates import DATE_FUNCTIONS, DateFunctionError, call_date_function, parse_date
from policyarc.sim.atlassian.jql.errors import VALID_DATES
from policyarc.sim.atlassian.jql.fields import Field
from policyarc.sim.atlassian.model import STATUS_CATEGORIES, User

if TYPE_CHECKING:
    from policyarc.sim.atlassian.jql.evaluate import JqlContext

# Jira Cloud's default resolutions (name -> id); the workflow's own resolutions are among them.
DEFAULT_RESOLUTIONS = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002", "Cannot Reproduce": "10003"}
LIST_FUNCTIONS = frozenset({"membersof", "standardissuetypes", "subtaskissuetypes"})
_FUNCTION_KINDS = {
    "currentuser": "user",
    "membersof": "user",
    "standardissuetypes": "issuetype",
    "subtaskissuetypes": "issuetype",
    "now": "date",
    **{name: "date" for name in DATE_FUNCTIONS},
}
_KEY = re.compile(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)")
_ALL_USERS_GROUPS = frozenset({"jira-users", "jira-software-users"})


def _index(pairs: list[tuple[str, str, str]]) -> dict[str, str]:
    """(id, name, extra alias) triples -> {lowercased name/alias: id, id: id}."""
    out: dict[str, str] = {}
    for ident, name, alias in pairs:
        out[ident] = ident
        out[name.lower()] = ident
        if alias:
            out[alias.lower()] = ident
    return out


def _server_names(members: list[User]) -> dict[str, str]:
    """{Server user name: account id} for the names only one member has.

    Jira Server names users by `name` (`User.server_name`); two members with the same name leave it naming
    nobody. Used only for queries on the v2 (Server) API: Jira Cloud does not know these names.
    """
    owners: dict[str, list[str]] = {}
    for user in members:
        owners.setdefault(user.server_name, []).append(user.account_id)
    return {name: ids[0] for name, ids in owners.items() if len(ids) == 1}


class Resolver:
    def __init__(self, ctx: JqlContext, tz: tzinfo) -> None:
        site = ctx.site
        self.ctx, self.tz = ctx, tz
        visible = [p for p in site.projects.values() if p.key in ctx.visible_projects]
        self.projects = _index([(p.key, p.name, p.id) for p in visible])
        statuses = {s.id: s for p in site.projects.values() for s in p.workflow.statuses}
        self.statuses = _index([(s.id, s.name, "") for s in statuses.values()])
        self.categories = _index([(key, name, str(ident)) for key, (ident, name, _) in STATUS_CATEGORIES.items()])
        self.issuetypes = _index([(t.id, t.name, "") for t in site.issue_types.values()])
        self.priorities = _index([(p.id, p.name, "") for p in site.priorities.values()])
        names = dict(DEFAULT_RESOLUTIONS)
        for issue in site.issues.values():
            if issue.resolution and issue.resolution not in names:
                names[issue.resolution] = issue.resolution
        self.resolutions = _index([(name, name, ident) for name, ident in names.items()])
        self.members = [ctx.world.users[a] for a in sorted(site.members) if a in ctx.world.users]
        self.server_names = _server_names(self.members) if ctx.server_names else {}

    def resolve(self, field: Field, name: str, item: ast.Value | ast.Function, errors: list[str]) -> set[Hashable]:
        """The internal values `item` stands for in `field` (empty set, with a message, when it does not exist)."""
        if isinstance(item, ast.Function):
            return self._function(field, name, item, errors)
        text, kind = item.text, field.kind
        found: set[Hashable] = set()
        if kind in ("project", "issuetype", "status", "statuscategory", "priority", "resolution"):
            table = {"project": self.projects, "issuetype": self.issuetypes, "status": self.statuses,
                     "statuscategory": self.categories, "priority": self.priorities,
                     "resolution": self.resolutions}[kind]  # fmt: skip
            if kind == "resolution" and text.lower() == "unresolved":
                found.add(None)
            elif (ident := table.get(text) or table.get(text.lower())) is not None:
                found.add(ident)
        elif kind == "user":
            lowered = text.lower()
            found.update(u.account_id for u in self.members
                         if text == u.account_id or lowered in (u.email.lower(), u.name.lower()))  # fmt: skip
            if lowered in self.server_names:
                found.add(self.server_names[lowered])
        elif kind == "labels":
            return {text.lower()}
        elif kind in ("key", "parent"):
            return self._issue_key(field, name, item, errors)
        elif kind == "date":
            moment = parse_date(text, item.kind, self.ctx.now, self.tz)
            if moment is None:
                errors.append(f"Date value '{text}' for field '{name}' is invalid. {VALID_DATES}")
                return set()
            return {moment}
        if not found:
            errors.append(_no_value(name, item))
        return found

    def _issue_key(self, field: Field, name: str, item: ast.Value, errors: list[str]) -> set[Hashable]:
        text = item.text
        issue = self.ctx.site.find_issue(text) if item.kind == "number" or _KEY.fullmatch(text) else None
        if item.kind != "number" and not _KEY.fullmatch(text):
            errors.append(f"The issue key '{text}' for field '{name}' is invalid.")
        elif issue is None or issue.project_key not in self.ctx.visible_projects:
            errors.append(f"An issue with key '{text}' does not exist for field '{name}'.")
        else:
            return {issue.key}
        return set()

    def _function(self, field: Field, name: str, call: ast.Function, errors: list[str]) -> set[Hashable]:
        lowered = call.name.lower()
        if lowered not in _FUNCTION_KINDS:
            errors.append(f"Unable to find JQL function '{call.display()}'.")
            return set()
        if _FUNCTION_KINDS[lowered] != field.kind:
            errors.append(f"A value provided by the function '{call.name}' is invalid for the field '{name}'.")
            return set()
        expected = 1 if lowered == "membersof" else 0
        if lowered in DATE_FUNCTIONS or lowered == "now":
            try:
                return {call_date_function(call.name, call.args, self.ctx.now, self.tz)}
            except DateFunctionError as exc:
                errors.append(str(exc))
                return set()
        if len(call.args) != expected:
            errors.append(f"Function '{call.name}' expected '{expected}' arguments but received '{len(call.args)}'.")
            return set()
        if lowered == "currentuser":
            return {self.ctx.account_id}
        if lowered == "membersof":
            if call.args[0].lower() in _ALL_USERS_GROUPS:
                return {u.account_id for u in self.members}
            errors.append(f"Function 'membersOf' can not generate a list of usernames for group '{call.args[0]}'; "
                          "the group does not exist.")  # fmt: skip
            return set()
        subtask = lowered == "subtaskissuetypes"
        return {t.id for t in self.ctx.site.issue_types.values() if t.subtask == subtask}


def _no_value(name: str, item: ast.Value) -> str:
    if item.kind == "number":
        return f"A value with ID '{item.text}' does not exist for the field '{name}'."
    return f"The value '{item.text}' does not exist for the field '{name}'."


def key_rank(key: str) -> tuple[str, int]:
    """How Jira orders issue keys: by project key, then by number."""
    project, _, number = key.rpartition("-")
    return project, int(number) if number.isdigit() else 0


def is_datetime(value: Hashable) -> bool:
    return isinstance(value, datetime)
