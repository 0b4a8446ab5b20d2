"""Jira Server's issue routes: `GET`/`PUT /issue/{issueIdOrKey}`, `POST /issue` and `PUT .../assignee`.

Permissions, validation and wording are the v3 routes' (`jira.issues`, `jira.writes`): an issue the caller
may not browse is 404; create in a project the caller cannot see is 400 `errors.project`, in one it can see
but not create in 403; edit without EDIT_ISSUES 403. Rich text comes and goes as wiki markup.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import ISSUE_NOT_FOUND, jira_error
from policyarc.sim.atlassian.jira.access import Caller, read_json
from policyarc.sim.atlassian.jira.beans import json_response
from policyarc.sim.atlassian.jira.fields import parse_fields_param, render_issue, split_expand
from policyarc.sim.atlassian.jira.issues import BAD_PROJECT, NO_CREATE, NO_EDIT, add_comments, browsable_issue
from policyarc.sim.atlassian.jira.writes import BAD_PAYLOAD, Draft, apply_request, commit, current_values
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.payload import restore_names, translate
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes
from policyarc.sim.atlassian.model import Issue, Project
from policyarc.sim.atlassian.state import SimState


def _sim(request: Request) -> SimState:
    state: SimState = request.app.state.sim
    return state


def render(request: Request, caller: Caller, issue: Issue, fields: list[str], expand: list[str]) -> dict[str, Any]:
    """The v2 `IssueBean` for `issue`, `fields` defaulting to `*all`."""
    bean = render_issue(caller, issue, parse_fields_param(fields, default="*all"), split_expand(expand))
    return ServerShapes(caller, site_base(request)).issue(bean)


async def get_issue(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    params = request.query_params
    return json_response(render(request, caller, issue, params.getlist("fields"), params.getlist("expand")))


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
    types = {type_id: caller.site.issue_types[type_id] for type_id in project.issue_type_ids}
    if str(ref.get("id")) in types:
        return str(ref["id"])
    name = ref.get("name")
    if not isinstance(name, str):
        return None
    return next((type_id for type_id, kind in types.items() if kind.name.lower() == name.lower()), None)


async def create_issue(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    raw_fields = body.get("fields")
    if not isinstance(raw_fields, dict):
        return jira_error(400, [BAD_PAYLOAD])
    project = _project(caller, raw_fields.get("project"))
    if isinstance(project, Response):
        return project
    site = caller.site
    type_id = _issue_type(caller, project, raw_fields.get("issuetype"))
    if type_id is None:
        message = "Specify an issue type" if raw_fields.get("issuetype") is None else "Specify a valid issue type"
        return jira_error(400, errors={"issuetype": message})
    rest = {k: v for k, v in raw_fields.items() if k not in ("project", "issuetype")}
    fields, update, errors = translate(caller, rest, body.get("update"))
    values = {"reporter": caller.user.account_id, "priority": site.default_priority_id, "labels": [], "summary": ""}
    draft = Draft(caller, project.key, type_id, None, values)
    apply_request(draft, fields, update, allow_comment=False)
    draft.errors.update(errors)
    if not draft.values["summary"] and "summary" not in draft.errors:
        draft.errors["summary"] = "You must specify a summary of the issue."
    if site.issue_types[type_id].subtask and not draft.values.get("parent") and "parent" not in draft.errors:
        draft.errors["parent"] = "Issue type is a sub-task but parent issue key or id not specified."
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, restore_names(caller, draft.errors))

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
    created = {"id": issue.id, "key": issue.key, "self": f"{site_base(request)}/rest/api/2/issue/{issue.id}"}
    return json_response(created, status=201)


async def edit_issue(request: Request) -> Response:
    caller = authorize(request)
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
    fields, update, errors = translate(caller, body.get("fields"), body.get("update"))
    draft = Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))
    apply_request(draft, fields, update)
    draft.errors.update(errors)
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, restore_names(caller, draft.errors))
    commit(issue, draft.values)
    issue.updated = _sim(request).clock.now()
    add_comments(request, caller, issue, draft.comments)
    return Response(status_code=204)


async def assign_issue(request: Request) -> Response:
    """`PUT /issue/{key}/assignee` with `{"name": ...}`; a null or empty name unassigns, "-1" is automatic."""
    caller = authorize(request)
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
    fields, _, errors = translate(caller, {"assignee": body}, None)
    draft = Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))
    apply_request(draft, fields, None)
    draft.errors.update(errors)
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, restore_names(caller, draft.errors))
    commit(issue, draft.values)
    issue.updated = _sim(request).clock.now()
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue", create_issue, methods=["POST"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", get_issue, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", edit_issue, methods=["PUT"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/assignee", assign_issue, methods=["PUT"]),
]
