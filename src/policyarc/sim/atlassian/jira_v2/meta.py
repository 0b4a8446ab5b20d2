"""Jira Server's instance and reference routes: `myself`, `serverInfo`, `field`, `project`, `issuetype`,
`priority`, `status`, `resolution`, and the user look-ups (`user`, `user/search`, `user/assignable/search`).

Lists show what the caller may see: projects it may browse, users who are active members of the site.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import ISSUE_NOT_FOUND, jira_error
from policyarc.sim.atlassian.jira.beans import issue_type_bean, json_response, priority_bean, status_bean
from policyarc.sim.atlassian.jira.fields import ALL_FIELDS, CUSTOM_FIELDS, NON_NAVIGABLE
from policyarc.sim.atlassian.jira.projects import find_project, project_bean
from policyarc.sim.atlassian.jira.users import int_param
from policyarc.sim.atlassian.jira.workflow import screen_field
from policyarc.sim.atlassian.jira_v2.access import PREFIX, authorize, site_base
from policyarc.sim.atlassian.jira_v2.shapes import ServerShapes, server_user, user_by_name, username
from policyarc.sim.atlassian.model import User

SERVER_VERSION = (9, 12, 0)
MAX_USERS = 1000
# Fields Jira Server's issue navigator cannot sort or search on.
_UNSEARCHABLE = frozenset({"comment", "subtasks", "issuelinks", "watches", "votes", "parent"})


async def myself(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    base = site_base(request)
    bean = server_user(base, caller.user)
    groups = [{"name": name, "self": f"{base}/rest/api/2/group?groupname={name}"} for name in ("jira-software-users",)]
    wanted = {part for value in request.query_params.getlist("expand") for part in value.split(",")}
    bean.update(
        {
            "locale": caller.user.locale,
            "groups": {"size": len(groups), "items": groups if "groups" in wanted else []},
            "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles",
        }
    )
    return json_response(bean)


async def server_info(request: Request) -> Response:
    """`serverInfo`: readable without a token on a real instance; the simulator only checks the site."""
    sim = request.app.state.sim
    site = sim.world.sites.get(request.path_params["site"].lower())
    if site is None:
        return jira_error(404, [f"null for uri: {request.url}"])
    now = sim.clock.now()
    return json_response(
        {
            "baseUrl": site_base(request),
            "version": ".".join(map(str, SERVER_VERSION)),
            "versionNumbers": list(SERVER_VERSION),
            "deploymentType": "Server",
            "buildNumber": 9120000,
            "buildDate": "2026-01-15T00:00:00.000+0000",
            "serverTime": now.isoformat(timespec="milliseconds").replace("+00:00", "+0000"),
            "scmInfo": "simulated",
            "serverTitle": site.display_name,
        }
    )


def _field_bean(field_id: str) -> dict[str, Any]:
    name, kind = ALL_FIELDS[field_id]
    custom = field_id in CUSTOM_FIELDS
    schema: dict[str, Any] = {"type": kind}
    if custom:
        plugin = "float" if kind == "number" else "datepicker"
        schema.update(
            {
                "custom": f"com.atlassian.jira.plugin.system.customfieldtypes:{plugin}",
                "customId": int(field_id.removeprefix("customfield_")),
            }
        )
    else:
        schema["system"] = field_id
    if kind == "array":
        schema["items"] = "issuelinks" if field_id in ("subtasks", "issuelinks") else "string"
    clause = f"cf[{field_id.removeprefix('customfield_')}]" if custom else field_id
    return {
        "id": field_id,
        "name": name,
        "custom": custom,
        "orderable": field_id not in _UNSEARCHABLE and field_id not in ("created", "updated", "resolutiondate"),
        "navigable": field_id not in NON_NAVIGABLE,
        "searchable": field_id not in _UNSEARCHABLE,
        "clauseNames": sorted({clause, name.lower()}) if custom else [clause],
        "schema": schema,
    }


async def fields(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    return json_response([_field_bean(field_id) for field_id in ALL_FIELDS])


async def projects(request: Request) -> Response:
    """`GET /project`: every project the caller may browse, as one list (no paging in v2)."""
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    site, account_id = caller.site, caller.user.account_id
    expand = [part for value in request.query_params.getlist("expand") for part in value.split(",") if part]
    shapes = ServerShapes(caller, site_base(request))
    visible = sorted(
        (p for p in site.projects.values() if site.can(account_id, p.key, "BROWSE_PROJECTS")), key=lambda p: p.key
    )
    return json_response([shapes.convert(project_bean(request, site, p, expand)) for p in visible])


async def project(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    id_or_key = request.path_params["projectIdOrKey"]
    found = find_project(caller, id_or_key)
    if found is None:
        return jira_error(404, [f"No project could be found with key '{id_or_key}'."])
    bean = project_bean(request, caller.site, found, {"description", "lead", "issueTypes"})
    bean.update({"components": [], "versions": [], "assigneeType": "UNASSIGNED", "roles": {}})
    return json_response(ServerShapes(caller, site_base(request)).convert(bean))


async def issue_types(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    shapes = ServerShapes(caller, site_base(request))
    return json_response([shapes.convert(issue_type_bean(caller.site, t)) for t in caller.site.issue_types.values()])


async def priorities(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    shapes = ServerShapes(caller, site_base(request))
    return json_response([shapes.convert(priority_bean(caller.site, p)) for p in caller.site.priorities.values()])


async def statuses(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    shapes = ServerShapes(caller, site_base(request))
    seen: dict[str, Any] = {}
    for proj in caller.site.projects.values():
        for status in proj.workflow.statuses:
            seen.setdefault(status.id, shapes.convert(status_bean(caller.site, status)))
    return json_response(list(seen.values()))


async def resolutions(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    shapes = ServerShapes(caller, site_base(request))
    return json_response(shapes.convert(screen_field(caller.site, "resolution")["allowedValues"]))


def _members(request: Request) -> list[User]:
    sim = request.app.state.sim
    site = sim.world.sites[request.path_params["site"].lower()]
    found = [sim.world.users[a] for a in site.members if a in sim.world.users]
    return sorted((u for u in found if u.account_status == "active"), key=lambda u: (u.name.lower(), username(u)))


def _matches(user: User, query: str) -> bool:
    """Server's user search: a prefix of the user name, email, display name or one of its words."""
    q = query.strip().lower()
    name = user.name.lower()
    return (
        not q
        or username(user).startswith(q)
        or user.email.lower().startswith(q)
        or name.startswith(q)
        or any(word.startswith(q) for word in name.split())
    )


def _page(request: Request) -> tuple[int, int] | Response:
    start_at = int_param(request, "startAt", 0)
    if isinstance(start_at, Response):
        return start_at
    max_results = int_param(request, "maxResults", 50)
    if isinstance(max_results, Response):
        return max_results
    return max(0, start_at), min(max(0, max_results), MAX_USERS)


async def user(request: Request) -> Response:
    """`GET /user?username=` (or `key=`)."""
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    ref = request.query_params.get("username") or request.query_params.get("key")
    if not ref:
        return jira_error(400, ["The username query parameter was not provided"])
    found = user_by_name(caller.world, ref)
    if found is None or found.account_id not in caller.site.members:
        return jira_error(404, [f"The user named '{ref}' does not exist"])
    return json_response(server_user(site_base(request), found))


async def user_search(request: Request) -> Response:
    """`GET /user/search?username=`: Server matches the text against name, email and display name."""
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    query = request.query_params.get("username")
    if query is None:
        return jira_error(400, ["The username query parameter was not provided"])
    page = _page(request)
    if isinstance(page, Response):
        return page
    start_at, max_results = page
    found = [u for u in _members(request) if _matches(u, query)]
    base = site_base(request)
    return json_response([server_user(base, u) for u in found[start_at : start_at + max_results]])


async def assignable_search(request: Request) -> Response:
    caller = authorize(request)
    if isinstance(caller, Response):
        return caller
    params, site = request.query_params, caller.site
    issue_ref, project_ref = params.get("issueKey"), params.get("project")
    if issue_ref:
        issue = site.find_issue(issue_ref)
        if issue is None or not site.can(caller.user.account_id, issue.project_key, "BROWSE_PROJECTS"):
            return jira_error(404, [ISSUE_NOT_FOUND])
        project_key = issue.project_key
    elif project_ref:
        found_project = find_project(caller, project_ref)
        if found_project is None:
            return jira_error(404, [f"No project could be found with key '{project_ref}'."])
        project_key = found_project.key
    else:
        return jira_error(400, ["The 'project' or 'issueKey' query parameter must be provided."])
    page = _page(request)
    if isinstance(page, Response):
        return page
    start_at, max_results = page
    query = params.get("username", params.get("query", ""))
    found = [
        u for u in _members(request) if site.can(u.account_id, project_key, "ASSIGNABLE_USER") and _matches(u, query)
    ]
    base = site_base(request)
    return json_response([server_user(base, u) for u in found[start_at : start_at + max_results]])


routes: list[BaseRoute] = [
    Route(f"{PREFIX}/myself", myself, methods=["GET"]),
    Route(f"{PREFIX}/serverInfo", server_info, methods=["GET"]),
    Route(f"{PREFIX}/field", fields, methods=["GET"]),
    Route(f"{PREFIX}/project", projects, methods=["GET"]),
    Route(f"{PREFIX}/project/{{projectIdOrKey}}", project, methods=["GET"]),
    Route(f"{PREFIX}/issuetype", issue_types, methods=["GET"]),
    Route(f"{PREFIX}/priority", priorities, methods=["GET"]),
    Route(f"{PREFIX}/status", statuses, methods=["GET"]),
    Route(f"{PREFIX}/resolution", resolutions, methods=["GET"]),
    Route(f"{PREFIX}/user", user, methods=["GET"]),
    Route(f"{PREFIX}/user/search", user_search, methods=["GET"]),
    Route(f"{PREFIX}/user/assignable/search", assignable_search, methods=["GET"]),
]
