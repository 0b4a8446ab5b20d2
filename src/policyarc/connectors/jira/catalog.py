"""The Jira tool catalogue: names, descriptions an agent can act on, scopes, schemas and hints."""

from __future__ import annotations

from typing import Any

from policyarc.connectors.base import ToolHints, ToolSpec
from policyarc.connectors.jira import inputs, shaping, tools
from policyarc.connectors.jira.tools import PROJECTS, READ, WRITE, JiraCall


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


STR: dict[str, Any] = {"type": "string"}
STRS: dict[str, Any] = {"type": "array", "items": STR}
ROW = _obj(
    {
        "key": STR,
        "summary": STR,
        "status": STR,
        "type": STR,
        "priority": STR,
        "assignee": STR,
        "updated": STR,
        "labels": STRS,
        "fields": {"type": "object"},
    },
    ["key"],
)
LINK = _obj({"key": STR, "id": STR, "url": STR}, ["key", "url"])

READ_HINTS = ToolHints(read_only=True, destructive=False, idempotent=True)

JIRA_TOOLS: list[ToolSpec[JiraCall]] = [
    ToolSpec(
        name="search_issues",
        title="Search Jira issues",
        description="Find Jira issues with JQL (e.g. 'assignee = currentUser() AND statusCategory != Done ORDER BY "
        "updated DESC'). Returns key, summary, status, type, priority, assignee, updated, labels; pass "
        "next_page_token to get the next page.",
        scope=READ,
        input_model=inputs.SearchIssuesInput,
        output_schema=_obj({"issues": {"type": "array", "items": ROW}, "next_page_token": STR}, ["issues"]),
        hints=READ_HINTS,
        handler=tools.search_issues,
    ),
    ToolSpec(
        name="get_issue",
        title="Get a Jira issue",
        description="Read one issue by key: status, people, dates, links and its description as Markdown; "
        "set include_comments for the latest comments.",
        scope=READ,
        input_model=inputs.GetIssueInput,
        # The main fields only: the result may carry more (dates, people, resolution...), which agents read as-is.
        output_schema=_obj(
            {
                "key": STR,
                "url": STR,
                "summary": STR,
                "status": STR,
                "assignee": STR,
                "description": STR,
                "comments": {"type": "array", "items": {"type": "object"}},
            },
            ["key", "url"],
        ),
        hints=READ_HINTS,
        handler=tools.get_issue,
        text=shaping.issue_text,
    ),
    ToolSpec(
        name="list_projects",
        title="List Jira projects",
        description="List the Jira projects you can see (key, name, type), optionally filtered by query; "
        "pass next_cursor as cursor for the next page.",
        scope=PROJECTS,
        input_model=inputs.ListProjectsInput,
        output_schema=_obj(
            {
                "projects": {"type": "array", "items": _obj({"key": STR, "name": STR, "type": STR}, ["key"])},
                "total": {"type": "integer"},
                "next_cursor": STR,
            },
            ["projects"],
        ),
        hints=READ_HINTS,
        handler=tools.list_projects,
    ),
    ToolSpec(
        name="create_issue",
        title="Create a Jira issue",
        description="Create an issue in a project. Description is Markdown. Assignee: 'me', an email or an account "
        "id. Returns the new key and its link.",
        scope=WRITE,
        input_model=inputs.CreateIssueInput,
        output_schema=LINK,
        hints=ToolHints(read_only=False, destructive=False, idempotent=False),
        handler=tools.create_issue,
    ),
    ToolSpec(
        name="update_issue",
        title="Update a Jira issue",
        description="Change an issue's summary, description (Markdown, replaces it), labels (add/remove), assignee "
        "('me', email, account id or 'none'), priority or other fields.",
        scope=WRITE,
        input_model=inputs.UpdateIssueInput,
        output_schema=_obj({"key": STR, "updated": STRS, "url": STR}, ["key", "updated"]),
        hints=ToolHints(read_only=False, destructive=True, idempotent=True),
        handler=tools.update_issue,
    ),
    ToolSpec(
        name="get_transitions",
        title="List an issue's transitions",
        description="List the workflow transitions you can take on an issue now, with their target status and "
        "required fields.",
        scope=READ,
        input_model=inputs.GetTransitionsInput,
        output_schema=_obj(
            {
                "key": STR,
                "transitions": {
                    "type": "array",
                    "items": _obj(
                        {"id": STR, "name": STR, "to_status": STR, "to_category": STR, "required_fields": STRS},
                        ["id", "name"],
                    ),
                },
            },
            ["key", "transitions"],
        ),
        hints=READ_HINTS,
        handler=tools.get_transitions,
    ),
    ToolSpec(
        name="transition_issue",
        title="Move an issue through its workflow",
        description="Move an issue to another status by transition id or name (or target status name), "
        "optionally with a Markdown comment and screen fields such as resolution.",
        scope=WRITE,
        input_model=inputs.TransitionIssueInput,
        output_schema=_obj({"key": STR, "transition": STR, "status": STR, "url": STR}, ["key", "status"]),
        hints=ToolHints(read_only=False, destructive=True, idempotent=False),
        handler=tools.transition_issue,
    ),
]
