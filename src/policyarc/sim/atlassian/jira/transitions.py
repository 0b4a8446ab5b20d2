"""Jira's transition routes: `GET .../transitions` (getTransitions) and `POST .../transitions` (doTransition).

Only transitions from the issue's current status whose condition holds for the caller are listed or
accepted. doTransition documents no 403, so a caller without TRANSITION_ISSUES gets 400, as Jira answers.

The steps of a transition (`requested_transition`, `transition_fields`, `transition_draft`,
`complete_transition`) and `listed_transitions` are public for the Server v2 routes (`jira_v2.transitions`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import READ_WORK, WRITE_WORK, Caller, authorize, read_json
from policyarc.sim.atlassian.jira.beans import RESOLUTIONS, json_response
from policyarc.sim.atlassian.jira.fields import split_expand
from policyarc.sim.atlassian.jira.issues import PREFIX, add_comments, issue_in_path
from policyarc.sim.atlassian.jira.workflow import apply_transition, available_transitions, transition_bean
from policyarc.sim.atlassian.jira.writes import (
    BAD_PAYLOAD,
    SETTABLE,
    Draft,
    apply_request,
    cannot_set,
    commit,
    issue_draft,
)
from policyarc.sim.atlassian.model import Issue, Transition
from policyarc.sim.atlassian.state import SimState

NO_TRANSITION = "You do not have permission to transition this issue."
BAD_RESOLUTION = "Could not find valid 'id' or 'name' in resolution object."


def listed_transitions(request: Request, caller: Caller, issue: Issue) -> list[dict[str, Any]]:
    """The transitions beans getTransitions lists: `transitionId` narrows the list, `expand=transitions.fields`
    adds each transition's screen fields."""
    with_fields = "transitions.fields" in split_expand(request.query_params.getlist("expand"))
    wanted_id = request.query_params.get("transitionId")
    return [
        transition_bean(caller.site, issue, transition, with_fields=with_fields)
        for transition in available_transitions(caller, issue)
        if wanted_id is None or transition.id == wanted_id
    ]


async def get_transitions(request: Request) -> Response:
    found = issue_in_path(request, authorize(request, READ_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
    return json_response({"expand": "transitions", "transitions": listed_transitions(request, caller, issue)})


def _resolution(value: Any) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) and value["name"] in RESOLUTIONS:
            return str(value["name"])
        return next((name for name, (rid, _) in RESOLUTIONS.items() if rid == value.get("id")), None)
    return None


def requested_transition(caller: Caller, issue: Issue, body: dict[str, Any]) -> Transition | Response:
    """The transition a doTransition body names (`transition.id`), or the 400 when it is missing, not an
    integer, not available to the caller from the issue's status, or the caller lacks TRANSITION_ISSUES."""
    ref = body.get("transition")
    transition_id = ref.get("id") if isinstance(ref, dict) else None
    if transition_id is None:
        return jira_error(400, ["Missing 'transition' identifier"])
    if isinstance(transition_id, bool) or not str(transition_id).strip().isdigit():
        return jira_error(400, ["'transition' identifier must be an integer"])
    if not caller.site.can(caller.user.account_id, issue.project_key, "TRANSITION_ISSUES"):
        return jira_error(400, [NO_TRANSITION])
    wanted = str(int(str(transition_id).strip()))
    transition = next((t for t in available_transitions(caller, issue) if t.id == wanted), None)
    if transition is None:
        return jira_error(400, [f"Transition id '{wanted}' is not valid for this issue."])
    return transition


def transition_fields(
    transition: Transition, fields: Any
) -> tuple[dict[str, Any], str | None, dict[str, str]] | Response:
    """A doTransition body's `fields` split into the other fields, the resolution it sets and the errors
    found in that resolution (which only a transition whose screen offers it may set); 400 for a non-object."""
    fields = fields or {}
    if not isinstance(fields, dict):
        return jira_error(400, [BAD_PAYLOAD])
    errors: dict[str, str] = {}
    resolution = None
    if "resolution" in fields:
        if "resolution" not in transition.screen_fields:
            errors["resolution"] = cannot_set("resolution")
        elif (resolution := _resolution(fields["resolution"])) is None:
            errors["resolution"] = BAD_RESOLUTION
    other_fields = {k: v for k, v in fields.items() if k != "resolution"}
    return other_fields, resolution, errors


def transition_draft(caller: Caller, issue: Issue, transition: Transition, fields: Any, update: Any) -> Draft:
    """The issue's values with `fields` and `update` applied, where only the transition screen's fields may change."""
    draft = issue_draft(caller, issue)
    apply_request(draft, fields, update, allowed=SETTABLE & frozenset(transition.screen_fields))
    return draft


def complete_transition(
    request: Request, caller: Caller, issue: Issue, transition: Transition, draft: Draft, resolution: str | None
) -> None:
    """Write a valid draft, move the issue along the transition, then add the comments made on the way."""
    sim: SimState = request.app.state.sim
    commit(issue, draft.values)
    apply_transition(caller.site, issue, transition, sim.clock.now(), resolution)
    add_comments(request, caller, issue, draft.comments)


async def do_transition(request: Request) -> Response:
    found = issue_in_path(request, authorize(request, WRITE_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    transition = requested_transition(caller, issue, body)
    if isinstance(transition, Response):
        return transition
    split = transition_fields(transition, body.get("fields"))
    if isinstance(split, Response):
        return split
    fields, resolution, errors = split
    draft = transition_draft(caller, issue, transition, fields, body.get("update"))
    errors.update(draft.errors)
    if draft.messages or errors:
        return jira_error(400, draft.messages, errors)
    complete_transition(request, caller, issue, transition, draft, resolution)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", get_transitions, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/transitions", do_transition, methods=["POST"]),
]
