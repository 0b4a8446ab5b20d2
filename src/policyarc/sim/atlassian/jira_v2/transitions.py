"""Jira Server's transition routes: `GET`/`POST /issue/{issueIdOrKey}/transitions`.

The workflow logic is the v3 routes' (`jira.workflow`): only transitions from the current status whose
condition holds for the caller are listed or accepted; without TRANSITION_ISSUES the list is empty and
a transition is 400. A comment added on the way (`update.comment[].add.body`) is wiki markup.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import read_json
from policyarc.sim.atlassian.jira.beans import json_response
from policyarc.sim.atlassian.jira.issues import issue_in_path
from policyarc.sim.atlassian.jira.transitions import (
    complete_transition,
    listed_transitions,
    requested_transition,
    transition_draft,
    transition_fields,
)
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.payload import restore_names, string_ids, translate
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes


async def get_transitions(request: Request) -> Response:
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    beans = listed_transitions(request, caller, issue)
    shapes = ServerShapes(caller, site_base(request))
    return json_response({"expand": "transitions", "transitions": shapes.convert(beans)})


async def do_transition(request: Request) -> Response:
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    transition = requested_transition(caller, issue, body)
    if isinstance(transition, Response):
        return transition
    split = transition_fields(transition, string_ids(body.get("fields"), "resolution"))
    if isinstance(split, Response):
        return split
    other, resolution, errors = split
    fields, update, translate_errors = translate(caller, other, body.get("update"))
    draft = transition_draft(caller, issue, transition, fields, update)
    errors.update(draft.errors)
    errors.update(translate_errors)
    if draft.messages or errors:
        return jira_error(400, draft.messages, restore_names(caller, errors))
    complete_transition(request, caller, issue, transition, draft, resolution)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", get_transitions, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", do_transition, methods=["POST"]),
]
