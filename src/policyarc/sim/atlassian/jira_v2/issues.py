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

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import Caller, read_json
from policyarc.sim.atlassian.jira.beans import json_response
from policyarc.sim.atlassian.jira.fields import parse_fields_param, render_issue, split_expand
from policyarc.sim.atlassian.jira.issues import (
    NO_EDIT,
    add_issue,
    check_required,
    create_draft,
    create_target,
    issue_in_path,
    save_edit,
)
from policyarc.sim.atlassian.jira.writes import BAD_PAYLOAD, apply_request, issue_draft
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.payload import restore_names, string_ids, translate
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes
from policyarc.sim.atlassian.model import Issue


def render(request: Request, caller: Caller, issue: Issue, fields: list[str], expand: list[str]) -> dict[str, Any]:
    """The v2 `IssueBean` for `issue`, `fields` defaulting to `*all`."""
    bean = render_issue(caller, issue, parse_fields_param(fields, default="*all"), split_expand(expand))
    return ServerShapes(caller, site_base(request)).issue(bean)


async def get_issue(request: Request) -> Response:
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    params = request.query_params
    return json_response(render(request, caller, issue, params.getlist("fields"), params.getlist("expand")))


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
    raw_fields = string_ids(raw_fields, "issuetype")
    target = create_target(caller, raw_fields)
    if isinstance(target, Response):
        return target
    fields, update, errors = translate(caller, raw_fields, body.get("update"))
    draft = create_draft(caller, *target, fields, update)
    draft.errors.update(errors)
    check_required(draft)
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, restore_names(caller, draft.errors))
    issue = add_issue(request, draft)
    created = {"id": issue.id, "key": issue.key, "self": f"{site_base(request)}/rest/api/2/issue/{issue.id}"}
    return json_response(created, status=201)


async def edit_issue(request: Request) -> Response:
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    if not caller.site.can(caller.user.account_id, issue.project_key, "EDIT_ISSUES"):
        return jira_error(403, [NO_EDIT])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    fields, update, errors = translate(caller, body.get("fields"), body.get("update"))
    draft = issue_draft(caller, issue)
    apply_request(draft, fields, update)
    draft.errors.update(errors)
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, restore_names(caller, draft.errors))
    save_edit(request, issue, draft)
    return Response(status_code=204)


async def assign_issue(request: Request) -> Response:
    """`PUT /issue/{key}/assignee` with `{"name": ...}`; a null or empty name unassigns, "-1" is automatic."""
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    if not caller.site.can(caller.user.account_id, issue.project_key, "EDIT_ISSUES"):
        return jira_error(403, ["You do not have permission to assign issues."])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    fields, _, errors = translate(caller, {"assignee": body}, None)
    draft = issue_draft(caller, issue)
    apply_request(draft, fields, None)
    draft.errors.update(errors)
    if draft.messages or draft.errors:
        return jira_error(400, draft.messages, restore_names(caller, draft.errors))
    save_edit(request, issue, draft)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue", create_issue, methods=["POST"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", get_issue, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}", edit_issue, methods=["PUT"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/assignee", assign_issue, methods=["PUT"]),
]
