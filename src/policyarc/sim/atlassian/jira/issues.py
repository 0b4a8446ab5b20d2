"""Jira's issue routes: get (`getIssue`), create (`createIssue`), edit (`editIssue`) and assign (`assignIssue`).

Permission answers, chosen from the spec's documented statuses and Jira Cloud's behaviour:
- an issue the caller may not browse is 404 with the same wording as one that does not exist;
- create in a project the caller cannot see (or that does not exist): 400 `errors.project`;
  in a project the caller can see but not create in: 403 "You do not have permission to create issues
  in this project.";
- edit without EDIT_ISSUES: 403 "You do not have permission to edit issues in this project.";
- assign without EDIT_ISSUES (the simulator's stand-in for ASSIGN_ISSUES): 403.

The steps of a create (`create_target`, `create_draft`, `check_required`, `add_issue`) and of an edit
(`save_edit`) are public: the Server v2 routes (`jira_v2.issues`) run the same steps on a body whose values
they first translate.
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
from policyarc.sim.atlassian.jira.writes import BAD_PAYLOAD, Draft, apply_request, commit, issue_draft
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


def issue_in_path(request: Request, caller: Caller | Response) -> tuple[Caller, Issue] | Response:
    """The authorized caller and the issue the path names, if the caller may browse it; else the refusal or
    Jira's 404 (which does not say whether the issue exists)."""
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    return caller, issue


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
    found = issue_in_path(request, authorize(request, READ_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
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
        elif isinstance(project_id, str | int) and not isinstance(project_id, bool):
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


def create_target(caller: Caller, fields: dict[str, Any]) -> tuple[Project, str] | Response:
    """The project and issue type id that a create request's `fields` name, or Jira's answer when either is
    missing, unknown or off limits to the caller (see the module docstring)."""
    project = _project(caller, fields.get("project"))
    if isinstance(project, Response):
        return project
    type_id = _issue_type(caller, project, fields.get("issuetype"))
    if type_id is None:
        message = "Specify an issue type" if fields.get("issuetype") is None else "Specify a valid issue type"
        return jira_error(400, errors={"issuetype": message})
    return project, type_id


def create_draft(caller: Caller, project: Project, type_id: str, fields: dict[str, Any], update: Any) -> Draft:
    """A new issue's values: the defaults (the caller reports, the site's default priority) with the request's
    `fields` (but `project` and `issuetype`, see `create_target`) and `update` applied; a create takes no comment."""
    site = caller.site
    values = {"reporter": caller.user.account_id, "priority": site.default_priority_id, "labels": [], "summary": ""}
    draft = Draft(caller, project.key, type_id, None, values)
    rest = {k: v for k, v in fields.items() if k not in ("project", "issuetype")}
    apply_request(draft, rest, update, allow_comment=False)
    return draft


def check_required(draft: Draft) -> None:
    """Note what a new issue cannot do without: a summary, and a parent when its type is a sub-task."""
    if not draft.values["summary"] and "summary" not in draft.errors:
        draft.errors["summary"] = "You must specify a summary of the issue."
    subtask = draft.caller.site.issue_types[draft.issuetype_id].subtask
    if subtask and not draft.values.get("parent") and "parent" not in draft.errors:
        draft.errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."


def add_issue(request: Request, draft: Draft) -> Issue:
    """Create the issue a valid create draft describes: the project's next key, the site's next id, the
    workflow's initial status."""
    site = draft.caller.site
    project = site.projects[draft.project_key]
    now = _sim(request).clock.now()
    number = site.next_issue_number.get(project.key, 1)
    site.next_issue_number[project.key] = number + 1
    issue_id, site.next_issue_id = str(site.next_issue_id), site.next_issue_id + 1
    issue = Issue(
        id=issue_id,
        key=f"{project.key}-{number}",
        project_key=project.key,
        issuetype_id=draft.issuetype_id,
        summary=draft.values["summary"],
        status_id=project.workflow.initial_status_id,
        priority_id=draft.values["priority"],
        reporter_id=draft.values["reporter"],
        created=now,
        updated=now,
    )
    commit(issue, draft.values)
    site.add_issue(issue)
    return issue


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
    target = create_target(caller, fields)
    if isinstance(target, Response):
        return target
    draft = create_draft(caller, *target, fields, body.get("update"))
    check_required(draft)
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, draft.errors)
    issue = add_issue(request, draft)
    created = {"id": issue.id, "key": issue.key, "self": f"{api_base(caller.site)}/issue/{issue.id}"}
    return json_response(created, status=201)


def save_edit(request: Request, issue: Issue, draft: Draft) -> None:
    """Write a valid edit draft (an edit's, an assignment's) to the issue: its values, a new `updated`, then
    the comments made on the way."""
    commit(issue, draft.values)
    issue.updated = _sim(request).clock.now()
    add_comments(request, draft.caller, issue, draft.comments)


async def edit_issue(request: Request) -> Response:
    found = issue_in_path(request, authorize(request, WRITE_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
    if not caller.site.can(caller.user.account_id, issue.project_key, "EDIT_ISSUES"):
        return jira_error(403, [NO_EDIT])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    draft = issue_draft(caller, issue)
    apply_request(draft, body.get("fields"), body.get("update"))
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, draft.errors)
    save_edit(request, issue, draft)
    if request.query_params.get("returnIssue", "false").lower() == "true":
        expand = split_expand(request.query_params.getlist("expand"))
        return json_response(render_issue(caller, issue, parse_fields_param([]), expand))
    return Response(status_code=204)


async def assign_issue(request: Request) -> Response:
    found = issue_in_path(request, authorize(request, WRITE_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
    if not caller.site.can(caller.user.account_id, issue.project_key, "EDIT_ISSUES"):
        return jira_error(403, ["You do not have permission to assign issues."])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    if "accountId" not in body:
        return jira_error(400, errors={"accountId": "accountId is required."})
    draft = issue_draft(caller, issue)
    apply_request(draft, {"assignee": body if body["accountId"] is not None else None}, None)
    if draft.errors:
        return jira_error(400, errors=draft.errors)
    save_edit(request, issue, draft)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue", create_issue, methods=["POST"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", get_issue, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", edit_issue, methods=["PUT"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/assignee", assign_issue, methods=["PUT"]),
]
