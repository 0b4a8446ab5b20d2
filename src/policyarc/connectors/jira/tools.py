"""The seven Jira tools: what each sends to Jira as the caller, and the compact result it returns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from policyarc.connectors.base import ToolFailure
from policyarc.connectors.jira import inputs, shaping
from policyarc.connectors.jira.adf import markdown_to_adf_async
from policyarc.connectors.jira.client import JiraClient

READ = "jira:issues:read"
WRITE = "jira:issues:write"
PROJECTS = "jira:projects:read"
ROW_FIELDS = "summary,status,assignee,priority,issuetype,updated,labels"
DETAIL_FIELDS = (
    "summary,status,assignee,reporter,priority,issuetype,labels,created,updated,resolution,duedate,parent,"
    "subtasks,description"
)
ACCOUNT_ID = re.compile(r"^([0-9a-f]{24}|[0-9]+:[0-9a-f-]{36})$")


@dataclass(frozen=True)
class JiraCall:
    """One tool call's upstream context: the caller's own Atlassian token for this connector's site."""

    client: JiraClient
    cloud_id: str
    site_url: str  # https://acme.atlassian.net (browse links)
    token: str
    account_id: str  # the caller's Atlassian account id ("me")

    def __repr__(self) -> str:  # keep the token out of any log line
        return f"JiraCall(cloud_id={self.cloud_id!r}, account_id={self.account_id!r})"

    def browse(self, key: str) -> str:
        return f"{self.site_url}/browse/{key}"


async def search_issues(call: JiraCall, args: inputs.SearchIssuesInput) -> dict[str, Any]:
    fields = ROW_FIELDS + "".join(f",{name}" for name in args.fields)
    body: dict[str, Any] = {"jql": args.jql, "maxResults": args.max_results, "fields": fields.split(",")}
    if args.page_token:
        body["nextPageToken"] = args.page_token
    page = await call.client.request("POST", call.cloud_id, "search/jql", call.token, json=body, read_only=True)
    result: dict[str, Any] = {"issues": [shaping.issue_row(issue, args.fields) for issue in page.get("issues", [])]}
    if page.get("nextPageToken") and not page.get("isLast", True):
        result["next_page_token"] = page["nextPageToken"]
    return result


async def get_issue(call: JiraCall, args: inputs.GetIssueInput) -> dict[str, Any]:
    fields = DETAIL_FIELDS + (",comment" if args.include_comments else "")
    issue = await call.client.get(call.cloud_id, f"issue/{args.key}", call.token, params={"fields": fields})
    max_comments = args.max_comments if args.include_comments else 0
    return shaping.issue_detail(issue, call.browse(issue["key"]), max_comments)


async def list_projects(call: JiraCall, args: inputs.ListProjectsInput) -> dict[str, Any]:
    start = int(args.cursor or 0)
    params: dict[str, Any] = {"startAt": start, "maxResults": args.page_size, "orderBy": "key"}
    if args.query:
        params["query"] = args.query
    page = await call.client.get(call.cloud_id, "project/search", call.token, params=params)
    values = page.get("values", [])
    result: dict[str, Any] = {
        "projects": [{"key": p.get("key"), "name": p.get("name"), "type": p.get("projectTypeKey")} for p in values],
        "total": page.get("total", len(values)),
    }
    if not page.get("isLast", True):
        result["next_cursor"] = str(start + len(values))
    return result


async def create_issue(call: JiraCall, args: inputs.CreateIssueInput) -> dict[str, Any]:
    fields: dict[str, Any] = dict(args.fields)
    fields.update(
        {
            "project": {"key": args.project.upper()},
            "issuetype": {"name": args.issue_type},
            "summary": args.summary,
        }
    )
    if args.description:
        fields["description"] = await markdown_to_adf_async(args.description)
    if args.assignee:
        fields["assignee"] = {"accountId": await _account_id(call, args.assignee)}
    if args.priority:
        fields["priority"] = {"name": args.priority}
    if args.labels:
        fields["labels"] = args.labels
    if args.parent:
        fields["parent"] = {"key": args.parent.upper()}
    created = await call.client.request("POST", call.cloud_id, "issue", call.token, json={"fields": fields})
    return {"key": created["key"], "id": created.get("id"), "url": call.browse(created["key"])}


async def update_issue(call: JiraCall, args: inputs.UpdateIssueInput) -> dict[str, Any]:
    fields: dict[str, Any] = dict(args.fields)
    if args.summary is not None:
        fields["summary"] = args.summary
    if args.description is not None:
        fields["description"] = await markdown_to_adf_async(args.description)
    if args.priority:
        fields["priority"] = {"name": args.priority}
    if args.assignee:
        unassign = args.assignee.lower() in ("none", "unassigned")
        fields["assignee"] = None if unassign else {"accountId": await _account_id(call, args.assignee)}
    update: dict[str, Any] = {}
    label_ops = [{"add": label} for label in args.labels_add] + [{"remove": label} for label in args.labels_remove]
    if label_ops:
        update["labels"] = label_ops
    if not fields and not update:
        raise ToolFailure("nothing_to_update", "Give at least one field to change (summary, description, ...).")
    body: dict[str, Any] = {"fields": fields}
    if update:
        body["update"] = update
    await call.client.request("PUT", call.cloud_id, f"issue/{args.key}", call.token, json=body)
    changed = sorted(set(fields) | ({"labels"} if label_ops else set()))
    return {"key": args.key.upper(), "updated": changed, "url": call.browse(args.key.upper())}


async def get_transitions(call: JiraCall, args: inputs.GetTransitionsInput) -> dict[str, Any]:
    page = await call.client.get(
        call.cloud_id, f"issue/{args.key}/transitions", call.token, params={"expand": "transitions.fields"}
    )
    return {"key": args.key.upper(), "transitions": [shaping.transition_row(t) for t in page.get("transitions", [])]}


async def transition_issue(call: JiraCall, args: inputs.TransitionIssueInput) -> dict[str, Any]:
    page = await call.client.get(call.cloud_id, f"issue/{args.key}/transitions", call.token)
    available: list[dict[str, Any]] = page.get("transitions", [])
    chosen = _pick_transition(available, args.transition)
    if chosen is None:
        names = ", ".join(f"'{t.get('name')}' (id {t.get('id')})" for t in available) or "none"
        raise ToolFailure(
            "unknown_transition",
            f"{args.key.upper()} has no transition '{args.transition}' available to you now. Available: {names}.",
        )
    body: dict[str, Any] = {"transition": {"id": chosen["id"]}}
    if args.fields:
        body["fields"] = args.fields
    if args.comment:
        body["update"] = {"comment": [{"add": {"body": await markdown_to_adf_async(args.comment)}}]}
    await call.client.request("POST", call.cloud_id, f"issue/{args.key}/transitions", call.token, json=body)
    return {
        "key": args.key.upper(),
        "transition": chosen.get("name"),
        "status": (chosen.get("to") or {}).get("name"),
        "url": call.browse(args.key.upper()),
    }


def _pick_transition(available: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """By id, then by transition name, then by target status name when that is unambiguous."""
    folded = wanted.casefold()
    for transition in available:
        if str(transition.get("id")) == wanted:
            return transition
    for transition in available:
        if str(transition.get("name", "")).casefold() == folded:
            return transition
    by_target = [t for t in available if str((t.get("to") or {}).get("name", "")).casefold() == folded]
    return by_target[0] if len(by_target) == 1 else None


async def _account_id(call: JiraCall, who: str) -> str:
    if who.lower() == "me":
        return call.account_id
    if ACCOUNT_ID.match(who):
        return who
    users = await call.client.get(call.cloud_id, "user/search", call.token, params={"query": who, "maxResults": 10})
    matches = [u for u in users if str(u.get("emailAddress", "")).lower() == who.lower()] or (
        users if len(users) == 1 else []
    )
    if len(matches) != 1:
        raise ToolFailure(
            "unknown_user",
            f"No single Jira user matches '{who}'. Use 'me', an exact email, or an account id.",
        )
    return str(matches[0]["accountId"])
