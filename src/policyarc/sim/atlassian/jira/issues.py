"""Jira's issue routes: get (`getIssue`), create (`createIssue`), edit (`editIssue`) and assign (`assignIssue`).

Permission answers, chosen from the spec's documented statuses and Jira Cloud's behaviour:
- an issue the caller may not browse is 404 with the same wording as one that does not exist;
- create in a project the caller cannot see (or that does not exist): 400 `errors.project`;
  in a project the caller can see but not create in: 403 "You do not have permission to create issues
  in this project.";
- edit without EDIT_ISSUES: 403 "You do not have permission to edit issues in this project.";
- assign without EDIT_ISSUES (the simulator's stand-in for ASSIGN_ISSUES): 403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import ISSUE_NOT_FOUND, jira_error
from policyarc.sim.atlassian.jira.access import READ_WORK, WRITE_WORK, Caller, authorize, read_json
from policyarc.sim.atlassian.jira.beans import api_base, json_response
from policyarc.sim.atlassian.jira.fields import parse_fields_param, render_issue, split_expand
from policyarc.sim.atlassian.jira.writes import BAD_PAYLOAD, Draft, apply_request, commit, current_values
from policyarc.sim.atlassian.model import Comment, Issue, Project
from policyarc.sim.atlassian.state import SimState

PREFIX = "/api/ex/jira/{cloudId}/rest/api/3"
NO_CREATE = "You do not have permission to create issues in this project."
NO_EDIT = "You do not have permission to edit issues in this project."
BAD_PROJECT = "Specify a valid project ID or key"


def browsable_issue(caller: Caller, key_or_id: str) -> Issue | None:
    """The issue, if it exists and the caller may browse its project."""
    issue = caller.site.find_issue(key_or_id)
    if issue is None or not caller.site.can(caller.user.account_id, issue.project_key, "BROWSE_PROJECTS"):
        return None
    return issue


def add_comments(request: Request, caller: Caller, issue: Issue, bodies: list[dict[str, Any]]) -> list[Comment]:
    """Append comments by the caller (ids from the site's counter); the issue's `updated` moves too."""
    now = _sim(request).clock.now()
    site = caller.site
    added = []
    for body in bodies:
        comment = Comment(str(site.next_comment_id), caller.user.account_id, body, now, now)
        site.next_comment_id += 1
        issue.comments.append(comment)
        added.append(comment)
    if added:
        issue.updated = now
    return added


def _sim(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


async def get_issue(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    params = request.query_params
    selection = parse_fields_param(params.getlist("fields"), default="*all")
    return json_response(render_issue(caller, issue, selection, params.getlist("expand")))


def _project(caller: Caller, ref: Any) -> Project | Response:
    site = caller.site
    project = None
    if isinstance(ref, dict):
        key, project_id = ref.get("key"), ref.get("id")
        if isinstance(key, str):
            project = site.projects.get(key.upper())
        elif isinstance(project_id, str | int):
            project = next((p for p in site.projects.values() if p.id == str(project_id)), None)
    account_id = caller.user.account_id
    if project is None or not site.can(account_id, project.key, "BROWSE_PROJECTS"):
        return jira_error(400, errors={"project": BAD_PROJECT})
    if not site.can(account_id, project.key, "CREATE_ISSUES"):
        return jira_error(403, [NO_CREATE])
    return project


def _issue_type(caller: Caller, project: Project, ref: Any) -> str | None:
    if not isinstance(ref, dict):
        return None
    types = {t: caller.site.issue_types[t] for t in project.issue_type_ids}
    if isinstance(ref.get("id"), str) and ref["id"] in types:
        return str(ref["id"])
    name = ref.get("name")
    return next((t for t, it in types.items() if isinstance(name, str) and it.name.lower() == name.lower()), None)


async def create_issue(request: Request) -> Response:
    caller = authorize(request, WRITE_WORK)
    if isinstance(caller, Response):
        return caller
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    fields = body.get("fields", {})
    if not isinstance(fields, dict):
        return jira_error(400, [BAD_PAYLOAD])
    project = _project(caller, fields.get("project"))
    if isinstance(project, Response):
        return project
    site = caller.site
    type_id = _issue_type(caller, project, fields.get("issuetype"))
    if type_id is None:
        message = "Specify an issue type" if fields.get("issuetype") is None else "Specify a valid issue type"
        return jira_error(400, errors={"issuetype": message})
    values = {"reporter": caller.user.account_id, "priority": site.default_priority_id, "labels": [], "summary": ""}
    draft = Draft(caller, project.key, type_id, None, values)
    rest = {k: v for k, v in fields.items() if k not in ("project", "issuetype")}
    apply_request(draft, rest, body.get("update"), allow_comment=False)
    if not draft.values["summary"] and "summary" not in draft.errors:
        draft.errors["summary"] = "You must specify a summary of the issue."
    if site.issue_types[type_id].subtask and not draft.values.get("parent") and "parent" not in draft.errors:
        draft.errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, draft.errors)

    now = _sim(request).clock.now()
    number = site.next_issue_number.get(project.key, 1)
    site.next_issue_number[project.key] = number + 1
    issue_id, site.next_issue_id = str(site.next_issue_id), site.next_issue_id + 1
    issue = Issue(
        id=issue_id,
        key=f"{project.key}-{number}",
        project_key=project.key,
        issuetype_id=type_id,
        summary=draft.values["summary"],
        status_id=project.workflow.initial_status_id,
        priority_id=draft.values["priority"],
        reporter_id=draft.values["reporter"],
        created=now,
        updated=now,
    )
    commit(issue, draft.values)
    site.add_issue(issue)
    created = {"id": issue.id, "key": issue.key, "self": f"{api_base(site)}/issue/{issue.id}"}
    return json_response(created, status=201)


async def edit_issue(request: Request) -> Response:
    caller = authorize(request, WRITE_WORK)
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    if not caller.site.can(caller.user.account_id, issue.project_key, "EDIT_ISSUES"):
        return jira_error(403, [NO_EDIT])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    draft = Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))
    apply_request(draft, body.get("fields"), body.get("update"))
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, draft.errors)
    commit(issue, draft.values)
    issue.updated = _sim(request).clock.now()
    add_comments(request, caller, issue, draft.comments)
    if request.query_params.get("returnIssue", "false").lower() == "true":
        expand = split_expand(request.query_params.getlist("expand"))
        return json_response(render_issue(caller, issue, parse_fields_param([]), expand))
    return Response(status_code=204)


async def assign_issue(request: Request) -> Response:
    caller = authorize(request, WRITE_WORK)
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    if not caller.site.can(caller.user.account_id, issue.project_key, "EDIT_ISSUES"):
        return jira_error(403, ["You do not have permission to assign issues."])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    if "accountId" not in body:
        return jira_error(400, errors={"accountId": "accountId is required."})
    draft = Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))
    apply_request(draft, {"assignee": body if body["accountId"] is not None else None}, None)
    if draft.errors:
        return jira_error(400, errors=draft.errors)
    commit(issue, draft.values)
    issue.updated = _sim(request).clock.now()
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue", create_issue, methods=["POST"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", get_issue, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", edit_issue, methods=["PUT"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/assignee", assign_issue, methods=["PUT"]),
]
