"""Workflow transitions as one caller sees them: which are available now, their beans, and applying one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.jira.beans import RESOLUTIONS, api_base, resolution_bean, status_bean
from policyarc.sim.atlassian.model import Issue, Site, Transition

# What a transition screen says about the fields it offers (FieldMetadata, minus allowed values).
_SCREEN_FIELDS: dict[str, dict[str, Any]] = {
    "resolution": {"name": "Resolution", "schema": {"type": "resolution", "system": "resolution"}, "required": True},
    "assignee": {"name": "Assignee", "schema": {"type": "user", "system": "assignee"}, "required": False},
    "comment": {"name": "Comment", "schema": {"type": "comments-page", "system": "comment"}, "required": False},
}


def available_transitions(caller: Caller, issue: Issue) -> list[Transition]:
    """Transitions from the issue's current status whose condition holds for the caller.

    Without TRANSITION_ISSUES in the project the list is empty, as Jira shows it.
    """
    if not caller.site.can(caller.user.account_id, issue.project_key, "TRANSITION_ISSUES"):
        return []
    workflow = caller.site.projects[issue.project_key].workflow
    return [
        transition
        for transition in workflow.transitions
        if (transition.from_status_ids is None or issue.status_id in transition.from_status_ids)
        and condition_holds(caller, issue, transition)
    ]


def condition_holds(caller: Caller, issue: Issue, transition: Transition) -> bool:
    if transition.condition == "assignee_only":
        return issue.assignee_id == caller.user.account_id
    if transition.condition == "has_assignee":
        return issue.assignee_id is not None
    return True


def transition_bean(site: Site, issue: Issue, transition: Transition, *, with_fields: bool) -> dict[str, Any]:
    """An `IssueTransition`; `with_fields` adds the screen's fields (`expand=transitions.fields`)."""
    workflow = site.projects[issue.project_key].workflow
    bean: dict[str, Any] = {
        "id": transition.id,
        "name": transition.name,
        "to": status_bean(site, workflow.status(transition.to_status_id)),
        "hasScreen": bool(transition.screen_fields),
        "isGlobal": transition.from_status_ids is None,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": transition.condition is not None,
        "isLooped": False,
    }
    if with_fields:
        bean["fields"] = {field_id: screen_field(site, field_id) for field_id in transition.screen_fields}
    return bean


def screen_field(site: Site, field_id: str) -> dict[str, Any]:
    meta = _SCREEN_FIELDS.get(field_id, {"name": field_id, "schema": {"type": "any", "system": field_id}})
    field: dict[str, Any] = {
        "required": meta.get("required", False),
        "schema": meta["schema"],
        "name": meta["name"],
        "key": field_id,
        "hasDefaultValue": False,
        "operations": ["set"],
    }
    if field_id == "resolution":
        field["allowedValues"] = [resolution_bean(site, name) for name in RESOLUTIONS]
    elif field_id == "assignee":
        field["autoCompleteUrl"] = f"{api_base(site)}/user/assignable/search?query="
    return field


def apply_transition(
    site: Site, issue: Issue, transition: Transition, now: datetime, resolution: str | None = None
) -> None:
    """Move the issue; entering a done status sets a resolution, leaving one clears it."""
    workflow = site.projects[issue.project_key].workflow
    target = workflow.status(transition.to_status_id)
    issue.status_id = target.id
    if target.category == "done":
        issue.resolution = resolution or transition.resolution or issue.resolution or "Done"
        issue.resolution_date = now
    else:
        issue.resolution = None
        issue.resolution_date = None
    issue.updated = now
