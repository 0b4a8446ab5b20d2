"""Applying a request's `fields` and `update` to an issue, with Jira's per-field validation and wording.

Create, edit and transition share this. Values are checked against a draft first; the issue changes only
when every field is valid, so a 400 never leaves an issue half-edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.jira.document import NOT_A_DOCUMENT, is_document
from policyarc.sim.atlassian.jira.fields import CUSTOM_FIELDS
from policyarc.sim.atlassian.model import Issue

SETTABLE = frozenset(
    {"summary", "description", "environment", "assignee", "reporter", "priority", "labels", "duedate", "parent"}
    | set(CUSTOM_FIELDS)
)
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
_NOT_OBJECT = "data was not an object"


def cannot_set(field_id: str) -> str:
    return f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."


@dataclass
class Draft:
    """Field values being edited (internal forms: account ids, priority ids, ADF, date strings)."""

    caller: Caller
    project_key: str
    issuetype_id: str
    issue_key: str | None  # None while creating
    values: dict[str, Any]
    comments: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)


def current_values(issue: Issue) -> dict[str, Any]:
    values: dict[str, Any] = {
        "summary": issue.summary,
        "description": issue.description,
        "assignee": issue.assignee_id,
        "reporter": issue.reporter_id,
        "priority": issue.priority_id,
        "labels": list(issue.labels),
        "duedate": issue.due_date,
        "parent": issue.parent_key,
    }
    values.update(issue.extra_fields)
    return values


def issue_draft(caller: Caller, issue: Issue) -> Draft:
    """A draft of an existing issue's current values, for an edit, an assignment or a transition."""
    return Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))


def apply_request(
    draft: Draft, fields: Any, update: Any, *, allowed: frozenset[str] = SETTABLE, allow_comment: bool = True
) -> None:
    """Fold `fields` (each a `set`) and then `update` (lists of operations) into the draft, noting errors."""
    if fields is None:
        fields = {}
    if update is None:
        update = {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        draft.messages.append(BAD_PAYLOAD)
        return
    for field_id, value in fields.items():
        _operate(draft, field_id, "set", value, allowed)
    for field_id, operations in update.items():
        if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
            draft.messages.append(BAD_PAYLOAD)
            return
        for operation in operations:
            for verb, value in operation.items():
                if field_id == "comment" and allow_comment:
                    _comment(draft, verb, value)
                else:
                    _operate(draft, field_id, verb, value, allowed)


def _comment(draft: Draft, verb: str, value: Any) -> None:
    caller = draft.caller
    if verb != "add":
        draft.errors["comment"] = f"Field 'comment' does not support operation '{verb}'"
    elif not caller.site.can(caller.user.account_id, draft.project_key, "ADD_COMMENTS"):
        draft.errors["comment"] = "You do not have the permission to comment on this issue."
    elif not isinstance(value, dict) or not is_document(value.get("body")):
        draft.errors["comment"] = NOT_A_DOCUMENT
    else:
        draft.comments.append(value["body"])


def _operate(draft: Draft, field_id: str, verb: str, value: Any, allowed: frozenset[str]) -> None:
    if field_id not in allowed:
        draft.errors[field_id] = cannot_set(field_id)
        return
    if field_id == "labels" and verb in ("add", "remove"):
        if not isinstance(value, str):
            draft.errors["labels"] = "Operation value must be a string"
            return
        labels = [label for label in draft.values.get("labels", []) if label != value]
        draft.values["labels"] = [*labels, value] if verb == "add" else labels
        _check_labels(draft, draft.values["labels"])
        return
    if verb != "set":
        draft.errors[field_id] = f"Field '{field_id}' does not support operation '{verb}'"
        return
    error = _set(draft, field_id, value)
    if error is not None:
        draft.errors[field_id] = error


def _set(draft: Draft, field_id: str, value: Any) -> str | None:
    """Validate `value` for `field_id` and put it in the draft; the error message when it is invalid."""
    site, caller = draft.caller.site, draft.caller
    if field_id == "summary":
        if not isinstance(value, str):
            return "Operation value must be a string"
        if not value.strip():
            return "You must specify a summary of the issue."
        if "\n" in value or "\r" in value:
            return "The summary is invalid because it contains newline characters."
        if len(value) > 255:
            return "Summary must be less than 255 characters."
        draft.values["summary"] = value
    elif field_id in ("description", "environment"):
        if value is not None and not is_document(value):
            return NOT_A_DOCUMENT
        draft.values[field_id] = value
    elif field_id in ("assignee", "reporter"):
        if value is None:
            if field_id == "reporter":
                return "Reporter is required."
            draft.values["assignee"] = None
            return None
        if not isinstance(value, dict):
            return _NOT_OBJECT
        account_id = value.get("accountId", value.get("id"))
        if field_id == "assignee" and account_id in (None, "-1"):
            draft.values["assignee"] = None  # "-1": the project's default assignee, which is nobody here
            return None
        if not isinstance(account_id, str) or account_id not in caller.world.users:
            return (
                "The reporter specified is not a user."
                if field_id == "reporter"
                else f"User '{account_id}' does not exist."
            )
        if field_id == "assignee" and not site.can(account_id, draft.project_key, "ASSIGNABLE_USER"):
            return f"User '{account_id}' cannot be assigned issues."
        if field_id == "reporter" and account_id not in site.members:
            return "The reporter specified is not a user."
        draft.values[field_id] = account_id
    elif field_id == "priority":
        if not isinstance(value, dict):
            return "Specify the Priority (id or name) in the string format"
        found = _by_id_or_name(site.priorities, value)
        if found is None:
            return "The priority selected is invalid."
        draft.values["priority"] = found
    elif field_id == "labels":
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
            return "data was not an array"
        draft.values["labels"] = list(value)
        _check_labels(draft, value)
    elif field_id == "duedate" or CUSTOM_FIELDS.get(field_id, ("", ""))[1] == "date":
        if value is not None and not _is_date(value):
            return f"Error parsing date string: {value}"
        draft.values[field_id] = value
    elif field_id in CUSTOM_FIELDS:  # the number fields
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return "Operation value must be a number"
        draft.values[field_id] = value
    elif field_id == "parent":
        return _set_parent(draft, value)
    return None


def _set_parent(draft: Draft, value: Any) -> str | None:
    site, caller = draft.caller.site, draft.caller
    if value is None:
        draft.values["parent"] = None
        return None
    if not isinstance(value, dict):
        return _NOT_OBJECT
    ref = value.get("key", value.get("id"))
    parent = site.find_issue(ref) if isinstance(ref, str) else None
    if parent is None or not site.can(caller.user.account_id, parent.project_key, "BROWSE_PROJECTS"):
        return "Could not find issue by id or key."
    child_level = site.issue_types[draft.issuetype_id].hierarchy_level
    parent_level = site.issue_types[parent.issuetype_id].hierarchy_level
    if (
        parent.key == draft.issue_key
        or parent_level != child_level + 1
        or (child_level == -1 and parent.project_key != draft.project_key)
    ):
        return "Given parent work item does not belong to appropriate hierarchy."
    draft.values["parent"] = parent.key
    return None


def _check_labels(draft: Draft, labels: list[str]) -> None:
    for label in labels:
        if not label or any(ch.isspace() for ch in label):
            draft.errors["labels"] = f"The label '{label}' contains spaces which is invalid."
            return
        if len(label) > 255:
            draft.errors["labels"] = "The label must not be longer than 255 characters."
            return


def _by_id_or_name(table: dict[str, Any], ref: dict[str, Any]) -> str | None:
    if isinstance(ref.get("id"), str) and ref["id"] in table:
        return str(ref["id"])
    name = ref.get("name")
    if isinstance(name, str):
        for item_id, item in table.items():
            if item.name.lower() == name.lower():
                return str(item_id)
    return None


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def commit(issue: Issue, values: dict[str, Any]) -> None:
    """Write a validated draft's values to the issue."""
    issue.summary = values["summary"]
    issue.description = values.get("description")
    issue.assignee_id = values.get("assignee")
    issue.reporter_id = values["reporter"]
    issue.priority_id = values["priority"]
    issue.labels = sorted(set(values.get("labels", [])))
    issue.due_date = values.get("duedate")
    issue.parent_key = values.get("parent")
    for field_id in ("environment", *CUSTOM_FIELDS):
        if values.get(field_id) is not None:
            issue.extra_fields[field_id] = values[field_id]
        else:
            issue.extra_fields.pop(field_id, None)
