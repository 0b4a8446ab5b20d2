"""Jira Server's transition routes: `GET`/`POST /issue/{issueIdOrKey}/transitions`.

The workflow logic is the v3 routes' (`jira.workflow`): only transitions from the current status whose
condition holds for the caller are listed or accepted; without TRANSITION_ISSUES the list is empty and
a transition is 400. A comment added on the way (`update.comment[].add.body`) is wiki markup.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import ISSUE_NOT_FOUND, jira_error
from policyarc.sim.atlassian.jira.access import read_json
from policyarc.sim.atlassian.jira.beans import RESOLUTIONS, json_response
from policyarc.sim.atlassian.jira.fields import split_expand
from policyarc.sim.atlassian.jira.issues import add_comments, browsable_issue
from policyarc.sim.atlassian.jira.transitions import BAD_RESOLUTION, NO_TRANSITION
from policyarc.sim.atlassian.jira.workflow import apply_transition, available_transitions, transition_bean
from policyarc.sim.atlassian.jira.writes import SETTABLE, Draft, apply_request, cannot_set, commit, current_values
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.payload import restore_names, translate
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes
from policyarc.sim.atlassian.state import SimState


async def get_transitions(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    with_fields = "transitions.fields" in split_expand(request.query_params.getlist("expand"))
    wanted_id = request.query_params.get("transitionId")
    beans = [
        transition_bean(caller.site, issue, transition, with_fields=with_fields)
        for transition in available_transitions(caller, issue)
        if wanted_id is None or transition.id == wanted_id
    ]
    shapes = ServerShapes(caller, site_base(request))
    return json_response({"expand": "transitions", "transitions": shapes.convert(beans)})


def _resolution(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and value["name"] in RESOLUTIONS:
            return str(value["name"])
        return next((name for name, (rid, _) in RESOLUTIONS.items() if rid == str(value.get("id"))), None)
    return None


async def do_transition(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    issue = browsable_issue(caller, request.path_params["issueIdOrKey"])
    if issue is None:
        return jira_error(404, [ISSUE_NOT_FOUND])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    ref = body.get("transition")
    transition_id = ref.get("id") if isinstance(ref, dict) else None
    if transition_id is None:
        return jira_error(400, ["Missing 'transition' identifier"])
    if isinstance(transition_id, bool) or not str(transition_id).strip().isdigit():
        return jira_error(400, ["'transition' identifier must be an integer"])
    site = caller.site
    if not site.can(caller.user.account_id, issue.project_key, "TRANSITION_ISSUES"):
        return jira_error(400, [NO_TRANSITION])
    wanted = str(int(str(transition_id).strip()))
    transition = next((t for t in available_transitions(caller, issue) if t.id == wanted), None)
    if transition is None:
        return jira_error(400, [f"Transition id '{wanted}' is not valid for this issue."])

    raw_fields = body.get("fields") or {}
    if not isinstance(raw_fields, dict):
        return jira_error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
    errors: dict[str, str] = {}
    resolution = None
    if "resolution" in raw_fields:
        if "resolution" not in transition.screen_fields:
            errors["resolution"] = cannot_set("resolution")
        elif (resolution := _resolution(raw_fields["resolution"])) is None:
            errors["resolution"] = BAD_RESOLUTION
    other = {k: v for k, v in raw_fields.items() if k != "resolution"}
    fields, update, translate_errors = translate(caller, other, body.get("update"))
    draft = Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))
    apply_request(draft, fields, update, allowed=SETTABLE & frozenset(transition.screen_fields))
    errors.update(draft.errors)
    errors.update(translate_errors)
    if draft.messages or errors:
        return jira_error(400, draft.messages, restore_names(caller, errors))

    sim: SimState = request.app.state.sim
    commit(issue, draft.values)
    apply_transition(site, issue, transition, sim.clock.now(), resolution)
    add_comments(request, caller, issue, draft.comments)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", get_transitions, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", do_transition, methods=["POST"]),
]
