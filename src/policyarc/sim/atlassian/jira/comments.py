"""Jira's comment routes: `GET .../comment` (getComments, a PageOfComments) and `POST .../comment` (addComment).

Adding needs ADD_COMMENTS; addComment documents no 403, so a caller without it gets 400, as Jira answers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import READ_WORK, WRITE_WORK, authorize, read_json
from policyarc.sim.atlassian.jira.beans import comment_bean, json_response
from policyarc.sim.atlassian.jira.document import NOT_A_DOCUMENT, is_document, to_html
from policyarc.sim.atlassian.jira.fields import split_expand
from policyarc.sim.atlassian.jira.issues import PREFIX, add_comments, issue_in_path

MAX_RESULTS = 5000  # Jira caps a comment page at 5000
NO_COMMENT = "You do not have the permission to comment on this issue."


def _int(request: Request, name: str, default: int) -> int | Response:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        return jira_error(400, [f"The value '{raw}' is not valid for the parameter '{name}'; an integer is expected."])


async def get_comments(request: Request) -> Response:
    found = issue_in_path(request, authorize(request, READ_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
    start_at = _int(request, "startAt", 0)
    if isinstance(start_at, Response):
        return start_at
    max_results = _int(request, "maxResults", 100)
    if isinstance(max_results, Response):
        return max_results
    order_by = request.query_params.get("orderBy", "created")
    if order_by not in ("created", "+created", "-created"):
        return jira_error(400, [f"Invalid orderBy parameter: '{order_by}'. Only 'created' is supported."])
    start_at, max_results = max(0, start_at), min(max(0, max_results), MAX_RESULTS)
    ordered = sorted(issue.comments, key=lambda c: (c.created, int(c.id)), reverse=order_by == "-created")
    rendered = "renderedBody" in split_expand(request.query_params.getlist("expand"))
    page = ordered[start_at : start_at + max_results]
    return json_response(
        {
            "startAt": start_at,
            "maxResults": max_results,
            "total": len(ordered),
            "comments": [
                comment_bean(caller, issue, c, rendered=(to_html(c.body) or "") if rendered else None) for c in page
            ],
        }
    )


async def add_comment(request: Request) -> Response:
    found = issue_in_path(request, authorize(request, WRITE_WORK))
    if isinstance(found, Response):
        return found
    caller, issue = found
    if not caller.site.can(caller.user.account_id, issue.project_key, "ADD_COMMENTS"):
        return jira_error(400, [NO_COMMENT])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    if "body" not in body:
        return jira_error(400, errors={"comment": "Comment body can not be empty!"})
    if not is_document(body["body"]):
        return jira_error(400, errors={"comment": NOT_A_DOCUMENT})
    if "visibility" in body and body["visibility"] is not None:
        # Roles and groups are not modelled; Jira rejects a restriction it cannot resolve.
        return jira_error(400, errors={"commentLevel": "You are currently not a member of the project role."})
    (comment,) = add_comments(request, caller, issue, [body["body"]])
    rendered = "renderedBody" in split_expand(request.query_params.getlist("expand"))
    bean = comment_bean(caller, issue, comment, rendered=(to_html(comment.body) or "") if rendered else None)
    return json_response(bean, status=201)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/comment", get_comments, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/comment", add_comment, methods=["POST"]),
]
