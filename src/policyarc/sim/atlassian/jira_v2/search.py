"""Jira Server's issue search: `GET`/`POST /search`, paged by `startAt` with a `total`.

Unlike Cloud's `/search/jql`, Server accepts an empty JQL (every issue the caller may browse, newest key
first) and an unbounded one. `fields` defaults to `*navigable`; `maxResults` to 50, at most 1000 (the
`jira.search.views.default.max` default). The JQL engine is the v3 routes' (`policyarc.sim.atlassian.jql`).
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
from policyarc.sim.atlassian.jira.users import int_param
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes
from policyarc.sim.atlassian.jql import JqlContext, JqlError, compile_query, parse_jql
from policyarc.sim.atlassian.model import Issue

DEFAULT_PAGE = 50
MAX_PAGE = 1000
_POST_KEYS = frozenset(
    {"jql", "startAt", "maxResults", "fields", "expand", "validateQuery", "properties", "fieldsByKeys"}
)


def matching(request: Request, caller: Caller, jql: str) -> list[Issue] | JqlError:
    """The issues the caller may browse that match `jql`, sorted; or the JQL error."""
    sim = request.app.state.sim
    site, account_id = caller.site, caller.user.account_id
    visible = frozenset(key for key in site.projects if site.can(account_id, key, "BROWSE_PROJECTS"))
    context = JqlContext(
        world=sim.world,
        site=site,
        account_id=account_id,
        now=sim.clock.now(),
        visible_projects=visible,
        server_names=True,
    )
    try:
        query = compile_query(parse_jql(jql), context)
    except JqlError as exc:
        return exc
    return query.sort([i for i in site.issues.values() if i.project_key in visible and query.matches(i)])


def _split(values: Any) -> list[str] | None:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


async def _search(
    request: Request, caller: Caller, jql: str, start_at: int, max_results: int, fields: list[str], expand: list[str]
) -> Response:
    found = matching(request, caller, jql)
    if isinstance(found, JqlError):
        return jira_error(400, found.messages)
    start_at, size = max(0, start_at), min(max(0, max_results), MAX_PAGE)
    selection = parse_fields_param(fields, default="*navigable")
    wanted = split_expand(expand)
    shapes = ServerShapes(caller, site_base(request))
    issues = [shapes.issue(render_issue(caller, i, selection, wanted)) for i in found[start_at : start_at + size]]
    body: dict[str, Any] = {"expand": "schema,names", "startAt": start_at, "maxResults": size, "total": len(found)}
    for key in ("names", "schema"):
        if key in wanted:
            merged: dict[str, Any] = {}
            for bean in issues:
                merged.update(bean.pop(key, {}))
            body[key] = merged
    body["issues"] = issues
    return json_response(body)


async def search_get(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    params = request.query_params
    start_at = int_param(request, "startAt", 0)
    if isinstance(start_at, Response):
        return start_at
    max_results = int_param(request, "maxResults", DEFAULT_PAGE)
    if isinstance(max_results, Response):
        return max_results
    fields, expand = _split(params.getlist("fields")) or [], _split(params.getlist("expand")) or []
    return await _search(request, caller, params.get("jql", ""), start_at, max_results, fields, expand)


async def search_post(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    body = await read_json(request)
    if isinstance(body, Response):
        return body
    unknown = sorted(set(body) - _POST_KEYS)
    if unknown:
        return jira_error(
            400, [f'Unrecognized field "{unknown[0]}" (class SearchRequestBean), not marked as ignorable']
        )
    jql, start_at, max_results = body.get("jql") or "", body.get("startAt", 0), body.get("maxResults", DEFAULT_PAGE)
    fields, expand = _split(body.get("fields")), _split(body.get("expand"))
    if (
        not isinstance(jql, str)
        or not isinstance(start_at, int)
        or isinstance(start_at, bool)
        or not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or fields is None
        or expand is None
    ):
        return jira_error(400, ["Invalid request payload. Refer to the REST API documentation and try again."])
    return await _search(request, caller, jql, start_at, max_results, fields, expand)


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/search", search_get, methods=["GET"]),
    Route(f"{PREFIX}/search", search_post, methods=["POST"]),
]
