"""Jira Server's comment routes: `GET`/`POST /issue/{issueIdOrKey}/comment`, bodies as wiki markup.

Browsing and ADD_COMMENTS are checked as the v3 routes check them (404 for an issue the caller may not
browse, 400 without ADD_COMMENTS).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.adf_wiki import wiki_to_adf
from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import read_json
from policyarc.sim.atlassian.jira.beans import comment_bean, json_response
from policyarc.sim.atlassian.jira.comments import MAX_RESULTS, NO_COMMENT
from policyarc.sim.atlassian.jira.document import to_html
from policyarc.sim.atlassian.jira.fields import split_expand
from policyarc.sim.atlassian.jira.issues import add_comments, issue_in_path
from policyarc.sim.atlassian.jira.users import int_param
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.payload import NOT_A_STRING
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes


async def get_comments(request: Request) -> Response:
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    start_at = int_param(request, "startAt", 0)
    if isinstance(start_at, Response):
        return start_at
    max_results = int_param(request, "maxResults", MAX_RESULTS)
    if isinstance(max_results, Response):
        return max_results
    order_by = request.query_params.get("orderBy", "created")
    if order_by not in ("created", "+created", "-created"):
        return jira_error(400, [f"Invalid orderBy parameter: '{order_by}'. Only 'created' is supported."])
    start_at, max_results = max(0, start_at), min(max(0, max_results), MAX_RESULTS)
    ordered = sorted(issue.comments, key=lambda c: (c.created, int(c.id)), reverse=order_by == "-created")
    rendered = "renderedBody" in split_expand(request.query_params.getlist("expand"))
    shapes = ServerShapes(caller, site_base(request))
    comments = [
        shapes.comment(comment_bean(caller, issue, c, rendered=(to_html(c.body) or "") if rendered else None))
        for c in ordered[start_at : start_at + max_results]
    ]
    return json_response({"startAt": start_at, "maxResults": max_results, "total": len(ordered), "comments": comments})


async def add_comment(request: Request) -> Response:
    found = issue_in_path(request, authorize(request))
    if isinstance(found, Response):
        return found
    caller, issue = found
    if not caller.site.can(caller.user.account_id, issue.project_key, "ADD_COMMENTS"):
        return jira_error(400, [NO_COMMENT])
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    text = body.get("body")
    if text is None or (isinstance(text, str) and not text.strip()):
        return jira_error(400, errors={"comment": "Comment body can not be empty!"})
    if not isinstance(text, str):
        return jira_error(400, errors={"comment": NOT_A_STRING})
    if body.get("visibility") is not None:
        # Roles and groups are not modelled; Jira rejects a restriction it cannot resolve.
        return jira_error(400, errors={"commentLevel": "You are currently not a member of the project role."})
    (comment,) = add_comments(request, caller, issue, [wiki_to_adf(text)])
    rendered = "renderedBody" in split_expand(request.query_params.getlist("expand"))
    bean = comment_bean(caller, issue, comment, rendered=(to_html(comment.body) or "") if rendered else None)
    return json_response(ServerShapes(caller, site_base(request)).comment(bean), status=201)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/comment", get_comments, methods=["GET"]),
    Route(f"{PREFIX}/issue/{{issueIdOrKey}}/comment", add_comment, methods=["POST"]),
]
