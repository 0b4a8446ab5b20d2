"""Shape Jira's payloads into the compact results an agent reads: the facts, not Jira's whole JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policyarc.connectors.jira.adf import adf_to_markdown


def name_of(value: Any) -> Any:
    """Reduce a Jira field value to what a reader needs: a user's name, an option's value, a doc's text."""
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_to_markdown(value)
        for key in ("displayName", "name", "value", "key"):
            if key in value:
                return value[key]
        return value
    if isinstance(value, list):
        return [name_of(item) for item in value]
    return value


def user(value: Any) -> str | None:
    """`Name <email>` (or the name alone): what an agent needs to mention or assign someone."""
    if not isinstance(value, dict):
        return None
    name = str(value.get("displayName") or value.get("accountId") or "")
    email = value.get("emailAddress")
    return f"{name} <{email}>" if email else name


def when(value: Any) -> str | None:
    """Jira's `2026-03-01T06:10:25.000+0000` as `2026-03-01 06:10Z`: minutes in UTC are what a reader uses."""
    if not isinstance(value, str):
        return None
    if len(value) == 28 and value.endswith("+0000") and value[10] == "T":
        return f"{value[:10]} {value[11:16]}Z"  # already UTC, as Jira Cloud sends it: no parse (a hot path)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value  # no offset: which zone it is in is unknown, so it is shown as Jira gave it
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def status(fields: dict[str, Any]) -> tuple[str | None, str | None]:
    raw = fields.get("status")
    if not isinstance(raw, dict):
        return None, None
    category = raw.get("statusCategory")
    return raw.get("name"), category.get("name") if isinstance(category, dict) else None


def issue_row(issue: dict[str, Any], extra_fields: list[str]) -> dict[str, Any]:
    """One search hit: key, summary, status, type, priority, assignee, updated, labels (+ asked fields)."""
    fields = issue.get("fields") or {}
    status_name, _ = status(fields)
    row: dict[str, Any] = {"key": issue.get("key"), "summary": fields.get("summary")}
    optional = {
        "status": status_name,
        "type": name_of(fields.get("issuetype")),
        "priority": name_of(fields.get("priority")),
        "assignee": name_of(fields.get("assignee")),
        "updated": when(fields.get("updated")),
        "labels": fields.get("labels") or None,
    }
    row.update({key: value for key, value in optional.items() if value is not None})
    extras = {name: name_of(fields.get(name)) for name in extra_fields if fields.get(name) is not None}
    if extras:
        row["fields"] = extras
    return row


def issue_detail(issue: dict[str, Any], browse_url: str, max_comments: int) -> dict[str, Any]:
    fields = issue.get("fields") or {}
    status_name, category = status(fields)
    detail: dict[str, Any] = {
        "key": issue.get("key"),
        "id": issue.get("id"),
        "url": browse_url,
        "summary": fields.get("summary"),
        "status": status_name,
        "status_category": category if category != status_name else None,  # only when it adds something
        "type": name_of(fields.get("issuetype")),
        "priority": name_of(fields.get("priority")),
        "assignee": user(fields.get("assignee")),
        "reporter": user(fields.get("reporter")),
        "labels": fields.get("labels") or [],
        "created": when(fields.get("created")),
        "updated": when(fields.get("updated")),
        "resolution": name_of(fields.get("resolution")),
        "due_date": fields.get("duedate"),
        "parent": (fields.get("parent") or {}).get("key"),
        "subtasks": [sub.get("key") for sub in fields.get("subtasks") or [] if isinstance(sub, dict)],
        "description": adf_to_markdown(fields.get("description")) if fields.get("description") else "",
    }
    detail = {key: value for key, value in detail.items() if value not in (None, [], "")}
    comment_page = fields.get("comment")
    if max_comments and isinstance(comment_page, dict):
        comments = comment_page.get("comments") or []
        detail["comments"] = [
            {
                "author": name_of(comment.get("author")),
                "created": when(comment.get("created")),
                "body": adf_to_markdown(comment.get("body")),
            }
            for comment in comments[-max_comments:]
        ]
        detail["comment_count"] = comment_page.get("total", len(comments))
    return detail


def transition_row(transition: dict[str, Any]) -> dict[str, Any]:
    target = transition.get("to") or {}
    category = target.get("statusCategory") or {}
    row = {"id": transition.get("id"), "name": transition.get("name"), "to_status": target.get("name")}
    if category.get("name"):
        row["to_category"] = category["name"]
    required = [
        field_id
        for field_id, meta in (transition.get("fields") or {}).items()
        if isinstance(meta, dict) and meta.get("required")
    ]
    if required:
        row["required_fields"] = required
    return row


def issue_text(detail: dict[str, Any]) -> str:
    """get_issue's result as an agent reads it: a header, the description, the latest comments."""
    facts = [detail.get("type"), detail.get("status"), detail.get("status_category"), detail.get("priority")]
    lines = [f"{detail['key']}: {detail.get('summary', '')}", " · ".join(str(f) for f in facts if f)]
    people = [f"{role}: {detail[role]}" for role in ("assignee", "reporter") if detail.get(role)]
    if detail.get("labels"):
        people.append("labels: " + ", ".join(detail["labels"]))
    for extra in ("parent", "resolution", "due_date"):
        if detail.get(extra):
            people.append(f"{extra.replace('_', ' ')}: {detail[extra]}")
    if detail.get("subtasks"):
        people.append("subtasks: " + ", ".join(detail["subtasks"]))
    lines.append(" · ".join(people))
    lines.append(f"created {detail.get('created')} · updated {detail.get('updated')} · {detail['url']}")
    text = "\n".join(line for line in lines if line)
    if detail.get("description"):
        text += "\n\n" + detail["description"]
    if "comments" in detail:
        shown, total = len(detail["comments"]), detail.get("comment_count", 0)
        text += "\n\nComments:" if shown == total else f"\n\nComments (latest {shown} of {total}):"
        for comment in detail["comments"]:
            text += f"\n- {comment.get('author')}, {comment.get('created')}: {comment.get('body')}"
    return text
