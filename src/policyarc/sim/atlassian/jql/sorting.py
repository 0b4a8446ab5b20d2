"""ORDER BY: Jira's sort values per field; an empty value sorts after every other value (last on ASC).

Without ORDER BY, and as the final tie-break, issues come by key descending (newest first per project).
Priority sorts by the site's priority order with Highest as the greatest (DESC: Highest first),
status by its position in the workflow (To Do, In Progress, Done), users by display name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from policyarc.sim.atlassian.jql.values import key_rank
from policyarc.sim.atlassian.model import Issue, Site

if TYPE_CHECKING:
    from policyarc.sim.atlassian.jql.fields import Field


def sort_issues(issues: list[Issue], keys: list[tuple[Field, bool]], site: Site, names: dict[str, str]) -> list[Issue]:
    """`issues` in ORDER BY order; `names`: account id -> display name."""
    ordered = sorted(issues, key=lambda i: key_rank(i.key), reverse=True)
    for field, descending in reversed(keys):
        value = _sort_value(field.id, site, names)

        def key(issue: Issue, value: Callable[[Issue], Any] = value) -> tuple[bool, Any]:
            v = value(issue)
            return (True, 0) if v is None else (False, v)

        ordered.sort(key=key, reverse=descending)
    return ordered


def _sort_value(field_id: str, site: Site, names: dict[str, str]) -> Callable[[Issue], Any]:
    if field_id == "priority":
        ranks = {pid: -i for i, pid in enumerate(site.priorities)}
        return lambda i: ranks.get(i.priority_id)
    if field_id == "status":
        order = {s.id: n for p in site.projects.values() for n, s in enumerate(p.workflow.statuses)}
        return lambda i: order.get(i.status_id)
    if field_id == "issuetype":
        types = {tid: n for n, tid in enumerate(site.issue_types)}
        return lambda i: types.get(i.issuetype_id)
    if field_id == "project":
        names = {p.key: p.name.casefold() for p in site.projects.values()}
        return lambda i: names.get(i.project_key)
    if field_id in ("assignee", "reporter"):
        attr = "assignee_id" if field_id == "assignee" else "reporter_id"

        def user(issue: Issue) -> Any:
            account = getattr(issue, attr)
            return names.get(account, account).casefold() if account else None

        return user
    simple: dict[str, Callable[[Issue], Any]] = {
        "key": lambda i: key_rank(i.key),
        "summary": lambda i: i.summary.casefold(),
        "created": lambda i: i.created,
        "updated": lambda i: i.updated,
        "resolutiondate": lambda i: i.resolution_date,
        "duedate": lambda i: i.due_date,
        "resolution": lambda i: i.resolution.casefold() if i.resolution else None,
    }
    return simple[field_id]
