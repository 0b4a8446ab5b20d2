"""Rendering an issue the way Jira's REST v3 does (`IssueBean`), and the `fields` parameter that shapes it.

Get issue and search share this: get issue defaults to `*all`, search/jql to `id` only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.jira.beans import (
    api_base,
    comment_bean,
    issue_link,
    issue_type_bean,
    priority_bean,
    project_details,
    resolution_bean,
    status_bean,
    timestamp,
    user_of,
)
from policyarc.sim.atlassian.jira.document import to_html
from policyarc.sim.atlassian.jira.workflow import available_transitions, transition_bean
from policyarc.sim.atlassian.model import Issue

ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
# Custom fields the simulated sites define: id -> (name, JSON type). Create and edit accept them.
CUSTOM_FIELDS: dict[str, tuple[str, str]] = {
    "customfield_10015": ("Start date", "date"),
    "customfield_10016": ("Story point estimate", "number"),
}
# Field id -> (display name, schema type): every field an issue shows, in Jira's order of rendering.
SYSTEM_FIELDS: dict[str, tuple[str, str]] = {
    "summary": ("Summary", "string"),
    "issuetype": ("Issue Type", "issuetype"),
    "project": ("Project", "project"),
    "status": ("Status", "status"),
    "priority": ("Priority", "priority"),
    "assignee": ("Assignee", "user"),
    "reporter": ("Reporter", "user"),
    "creator": ("Creator", "user"),
    "created": ("Created", "datetime"),
    "updated": ("Updated", "datetime"),
    "description": ("Description", "string"),
    "environment": ("Environment", "string"),
    "labels": ("Labels", "array"),
    "duedate": ("Due date", "date"),
    "resolution": ("Resolution", "resolution"),
    "resolutiondate": ("Resolved", "datetime"),
    "parent": ("Parent", "issuelink"),
    "subtasks": ("Sub-tasks", "array"),
    "issuelinks": ("Linked Issues", "array"),
    "comment": ("Comment", "comments-page"),
    "watches": ("Watchers", "watches"),
    "votes": ("Votes", "votes"),
    "lastViewed": ("Last Viewed", "datetime"),
}
ALL_FIELDS: dict[str, tuple[str, str]] = {**SYSTEM_FIELDS, **CUSTOM_FIELDS}
# Fields that cannot be Issue Navigator columns: `*navigable` (search's old default) leaves them out.
NON_NAVIGABLE = frozenset({"comment"})
_RICH_TEXT = ("description", "environment")


@dataclass(frozen=True, slots=True)
class FieldSelection:
    """Which fields to render, as the `fields` parameter asked."""

    all: bool = False
    navigable: bool = False
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    def wants(self, field_id: str) -> bool:
        if field_id in self.exclude:
            return False
        if field_id in self.include or self.all:
            return True
        return self.navigable and field_id not in NON_NAVIGABLE

    @property
    def id_only(self) -> bool:
        """Only the issue id was asked for (search/jql's default): Jira answers `{"id": ...}`."""
        return not self.all and not self.navigable and self.include <= {"id"}


def parse_fields_param(values: Iterable[str], default: str = "*all") -> FieldSelection:
    """`fields` as Jira reads it: comma lists and repeats, `*all`, `*navigable`, `-field` exclusions.

    With no field named positively (nothing, or only exclusions) the caller's `default` applies.
    """
    tokens = [part.strip() for value in values for part in value.split(",") if part.strip()]
    positive = [t for t in tokens if not t.startswith("-")]
    exclude = frozenset(t[1:] for t in tokens if t.startswith("-"))
    if not positive:
        positive = [part.strip() for part in default.split(",") if part.strip()]
    return FieldSelection(
        all="*all" in positive,
        navigable="*navigable" in positive,
        include=frozenset(t for t in positive if not t.startswith("*")),
        exclude=exclude,
    )


def split_expand(expand: Iterable[str]) -> set[str]:
    return {part.strip() for value in expand for part in value.split(",") if part.strip()}


def render_issue(caller: Caller, issue: Issue, fields: FieldSelection, expand: Collection[str]) -> dict[str, Any]:
    """The `IssueBean` for `issue` as `caller` sees it (the caller's right to browse is checked before)."""
    wanted = split_expand(expand)
    if fields.id_only and not wanted:
        return {"id": issue.id}
    site = caller.site
    rendered = {field_id: _field(caller, issue, field_id) for field_id in ALL_FIELDS if fields.wants(field_id)}
    if "parent" in rendered and rendered["parent"] is None:
        del rendered["parent"]  # Jira leaves `parent` out rather than null
    for field_id, value in issue.extra_fields.items():
        if field_id not in rendered and fields.wants(field_id):
            rendered[field_id] = value
    bean: dict[str, Any] = {
        "expand": ISSUE_EXPAND,
        "id": issue.id,
        "self": f"{api_base(site)}/issue/{issue.id}",
        "key": issue.key,
    }
    if "renderedFields" in wanted:
        bean["renderedFields"] = _rendered(caller, issue, rendered)
    if "names" in wanted:
        bean["names"] = {field_id: ALL_FIELDS.get(field_id, (field_id, ""))[0] for field_id in rendered}
    if "schema" in wanted:
        bean["schema"] = {field_id: _schema(field_id) for field_id in rendered}
    if "transitions" in wanted or "transitions.fields" in wanted:
        with_fields = "transitions.fields" in wanted
        bean["transitions"] = [
            transition_bean(site, issue, t, with_fields=with_fields) for t in available_transitions(caller, issue)
        ]
    if "changelog" in wanted:
        bean["changelog"] = {"startAt": 0, "maxResults": 0, "total": 0, "histories": []}
    bean["fields"] = rendered
    return bean


def _field(caller: Caller, issue: Issue, field_id: str) -> Any:
    site = caller.site
    if field_id == "summary":
        return issue.summary
    if field_id == "status":
        return status_bean(site, site.projects[issue.project_key].workflow.status(issue.status_id))
    if field_id == "issuetype":
        return issue_type_bean(site, site.issue_types[issue.issuetype_id])
    if field_id == "project":
        return project_details(site, issue.project_key)
    if field_id == "priority":
        return priority_bean(site, site.priorities[issue.priority_id])
    if field_id == "assignee":
        return user_of(caller, issue.assignee_id)
    if field_id in ("reporter", "creator"):
        return user_of(caller, issue.reporter_id)
    if field_id == "description":
        return issue.description
    if field_id == "labels":
        return issue.labels
    if field_id in ("created", "updated", "resolutiondate"):
        moment = {"created": issue.created, "updated": issue.updated, "resolutiondate": issue.resolution_date}
        return timestamp(moment[field_id])
    if field_id == "duedate":
        return issue.due_date
    if field_id == "resolution":
        return resolution_bean(site, issue.resolution)
    if field_id == "parent":
        parent = site.issues.get(issue.parent_key) if issue.parent_key else None
        return issue_link(site, parent) if parent is not None else None
    if field_id == "subtasks":
        if site.issue_types[issue.issuetype_id].hierarchy_level != 0:
            return []  # only standard issues (level 0) have sub-tasks: skip the scan
        return [
            issue_link(site, child)
            for child in site.issues.values()
            if child.parent_key == issue.key and site.issue_types[child.issuetype_id].subtask
        ]
    if field_id == "comment":
        return comment_page(caller, issue)
    if field_id == "issuelinks":
        return []
    if field_id == "watches":
        return {"self": f"{api_base(site)}/issue/{issue.key}/watchers", "watchCount": 0, "isWatching": False}
    if field_id == "votes":
        return {"self": f"{api_base(site)}/issue/{issue.key}/votes", "votes": 0, "hasVoted": False}
    return issue.extra_fields.get(field_id)


def comment_page(caller: Caller, issue: Issue, *, rendered: bool = False) -> dict[str, Any]:
    """The `comment` field: every comment, oldest first, in PageOfComments form."""
    comments = [
        comment_bean(caller, issue, c, rendered=to_html(c.body) or "" if rendered else None) for c in issue.comments
    ]
    return {
        "comments": comments,
        "self": f"{api_base(caller.site)}/issue/{issue.id}/comment",
        "maxResults": len(comments),
        "total": len(comments),
        "startAt": 0,
    }


def _rendered(caller: Caller, issue: Issue, rendered: dict[str, Any]) -> dict[str, Any]:
    """`renderedFields`: rich text as HTML, dates in Jira's display form, other fields null."""
    out: dict[str, Any] = {}
    for field_id, value in rendered.items():
        if field_id in _RICH_TEXT:
            out[field_id] = to_html(value) if isinstance(value, dict) else None
        elif field_id == "comment":
            page = comment_page(caller, issue)
            for bean, comment in zip(page["comments"], issue.comments, strict=True):
                bean["body"] = to_html(comment.body) or ""
            out[field_id] = page
        elif field_id in ("created", "updated", "resolutiondate"):
            moment = {"created": issue.created, "updated": issue.updated, "resolutiondate": issue.resolution_date}
            stamp = moment[field_id]
            out[field_id] = f"{stamp:%d/%b/%y} {stamp:%I:%M %p}" if stamp is not None else None
        else:
            out[field_id] = None
    return out


def _schema(field_id: str) -> dict[str, Any]:
    _, kind = ALL_FIELDS.get(field_id, (field_id, "any"))
    if field_id in CUSTOM_FIELDS:
        custom = "float" if kind == "number" else "datepicker"
        return {
            "type": kind,
            "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{custom}",
            "customId": int(field_id.removeprefix("customfield_")),
        }
    schema: dict[str, Any] = {"type": kind, "system": field_id}
    if kind == "array":
        schema["items"] = {"labels": "string", "subtasks": "issuelinks", "issuelinks": "issuelinks"}.get(
            field_id, "string"
        )
    return schema
