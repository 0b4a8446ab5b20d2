"""Input models of the Jira tools: validated at the edge, their JSON schemas are what agents see."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from policyarc.connectors.jira.markdown_to_adf import MAX_MARKDOWN

ISSUE_KEY = r"^[A-Za-z][A-Za-z0-9_]*-[0-9]+$|^[0-9]+$"


def _plain_json(value: dict[str, Any]) -> dict[str, Any]:
    """What is sent to Jira as it is must encode as JSON: no integer past 64 bits (Jira's own limit too)."""
    try:
        orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise ValueError(f"must be plain JSON that Jira can take ({exc}); send such numbers as strings") from exc
    return value


# Jira's text fields hold at most 32,767 characters; the Markdown's own markup only shortens the text.
Markdown = Annotated[str, Field(max_length=MAX_MARKDOWN)]
Label = Annotated[str, Field(max_length=255)]  # Jira's limit for a label
JiraFields = Annotated[dict[str, Any], AfterValidator(_plain_json)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SearchIssuesInput(_Input):
    jql: str = Field(min_length=1, max_length=4000, description="JQL, e.g. project = ENG AND status != Done")
    fields: list[str] = Field(default=[], max_length=30, description="Extra field ids to include")
    max_results: int = Field(default=20, ge=1, le=100)
    page_token: str | None = Field(default=None, max_length=2000, description="next_page_token of a previous page")


class GetIssueInput(_Input):
    key: str = Field(pattern=ISSUE_KEY, description="Issue key, e.g. ENG-12")
    include_comments: bool = False
    max_comments: int = Field(default=10, ge=1, le=100)


class ListProjectsInput(_Input):
    query: str | None = Field(default=None, max_length=200, description="Filter on key or name")
    page_size: int = Field(default=50, ge=1, le=100)
    cursor: str | None = Field(default=None, pattern=r"^[0-9]{1,6}$", description="next_cursor of a previous page")


class CreateIssueInput(_Input):
    project: str = Field(min_length=1, max_length=40, description="Project key, e.g. ENG")
    summary: str = Field(min_length=1, max_length=255)
    issue_type: str = Field(default="Task", max_length=60, description="Task, Bug, Story, Epic, Sub-task...")
    description: Markdown | None = Field(default=None, description="Markdown")
    assignee: str | None = Field(default=None, max_length=200, description="'me', an email or an account id")
    priority: str | None = Field(default=None, max_length=60, description="Highest, High, Medium, Low, Lowest")
    labels: list[Label] = Field(default=[], max_length=50)
    parent: str | None = Field(default=None, pattern=ISSUE_KEY, description="Parent issue key (epic or task)")
    fields: JiraFields = Field(default={}, description="Other Jira fields by id, as Jira's REST API takes them")


class UpdateIssueInput(_Input):
    key: str = Field(pattern=ISSUE_KEY)
    summary: str | None = Field(default=None, min_length=1, max_length=255)
    description: Markdown | None = Field(default=None, description="Markdown; replaces the old one")
    labels_add: list[Label] = Field(default=[], max_length=50)
    labels_remove: list[Label] = Field(default=[], max_length=50)
    assignee: str | None = Field(default=None, max_length=200, description="'me', an email, an account id or 'none'")
    priority: str | None = Field(default=None, max_length=60)
    fields: JiraFields = Field(default={}, description="Other Jira fields by id, as Jira's REST API takes them")


class GetTransitionsInput(_Input):
    key: str = Field(pattern=ISSUE_KEY)


class TransitionIssueInput(_Input):
    key: str = Field(pattern=ISSUE_KEY)
    transition: str = Field(min_length=1, max_length=100, description="Transition id or name (case-insensitive)")
    comment: Markdown | None = Field(default=None, description="Markdown comment to add")
    fields: JiraFields = Field(default={}, description="Fields the transition screen takes, e.g. resolution")
