"""Jira's transition routes: `GET .../transitions` (getTransitions) and `POST .../transitions` (doTransition).

Only transitions from the issue's current status whose condition holds for the caller are listed or
accepted. doTransition documents no 403, so a caller without TRANSITION_ISSUES gets 400, as Jira answers.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import ISSUE_NOT_FOUND, jira_error
from policyarc.sim.atlassian.jira.access import READ_WORK, WRITE_WORK, authorize, read_json
from policyarc.sim.atlassian.jira.beans import RESOLUTIONS, json_response
from policyarc.sim.atlassian.jira.fields import split_expand
from policyarc.sim.atlassian.jira.issues import PREFIX, add_comments, browsable_issue
from policyarc.sim.atlassian.jira.workflow import apply_transition, available_transitions, transition_bean
from policyarc.sim.atlassian.jira.writes import SETTABLE, Draft, apply_request, cannot_set, commit, current_values
from policyarc.sim.atlassian.state import SimState

NO_TRANSITION = "You do not have permission to transition this issue."
BAD_RESOLUTION = "Could not find valid 'id' or 'name' in resolution object."


async def get_transitions(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
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
    return json_response({"expand": "transitions", "transitions": beans})


def _resolution(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and value["name"] in RESOLUTIONS:
            return str(value["name"])
        return next((name for name, (rid, _) in RESOLUTIONS.items() if rid == value.get("id")), None)
    return None


async def do_transition(request: Request) -> Response:
    caller = authorize(request, WRITE_WORK)
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
    site, account_id = caller.site, caller.user.account_id
    if not site.can(account_id, issue.project_key, "TRANSITION_ISSUES"):
        return jira_error(400, [NO_TRANSITION])
    wanted = str(int(str(transition_id).strip()))
    transition = next((t for t in available_transitions(caller, issue) if t.id == wanted), None)
    if transition is None:
        return jira_error(400, [f"Transition id '{wanted}' is not valid for this issue."])

    fields = body.get("fields") or {}
    if not isinstance(fields, dict):
        return jira_error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
    errors: dict[str, str] = {}
    resolution = None
    if "resolution" in fields:
        if "resolution" not in transition.screen_fields:
            errors["resolution"] = cannot_set("resolution")
        elif (resolution := _resolution(fields["resolution"])) is None:
            errors["resolution"] = BAD_RESOLUTION
    draft = Draft(caller, issue.project_key, issue.issuetype_id, issue.key, current_values(issue))
    allowed = SETTABLE & frozenset(transition.screen_fields)
    other_fields = {k: v for k, v in fields.items() if k != "resolution"}
    apply_request(draft, other_fields, body.get("update"), allowed=allowed)
    errors.update(draft.errors)
    if draft.messages or errors:
        return jira_error(400, draft.messages, errors)

    sim: SimState = request.app.state.sim
    commit(issue, draft.values)
    apply_transition(site, issue, transition, sim.clock.now(), resolution)
    add_comments(request, caller, issue, draft.comments)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", get_transitions, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", do_transition, methods=["POST"]),
]
