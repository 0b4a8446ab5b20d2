"""Jira's project routes: `GET /project/search` (a PageBeanProject) and `GET /project/{projectIdOrKey}`.

Both need `read:jira-work` and show only projects the caller may browse; a project the caller may not
browse is answered exactly like one that does not exist. `self` and `nextPage` links use the base an OAuth
app calls (`https://api.atlassian.com/ex/jira/{cloudId}/rest/api/3`), as the issue routes' links do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import READ_WORK, Caller, authorize
from policyarc.sim.atlassian.jira.beans import api_base, issue_type_bean, json_response, timestamp
from policyarc.sim.atlassian.jira.users import int_param, split_param, user_bean
from policyarc.sim.atlassian.model import Permission, Project, Site

MAX_PAGE = 100  # project/search: "maxResults ... maximum 100"
_EXPANDABLE = "description,lead,issueTypes,url,projectKeys,permissions,insight"
_AVATAR_SIZES = {"16x16": "xsmall", "24x24": "small", "32x32": "medium", "48x48": "large"}
# `action`: the permission a project must grant the caller to be listed. Administering projects is not
# modelled, so `edit` lists nothing.
_ACTIONS: dict[str, Permission | None] = {
    "view": "BROWSE_PROJECTS",
    "browse": "BROWSE_PROJECTS",
    "create": "CREATE_ISSUES",
    "edit": None,
}


def project_avatar_urls(site: Site) -> dict[str, str]:
    base = api_base(site)
    return {
        size: f"{base}/universal_avatar/view/type/project/avatar/10400?size={name}"
        for size, name in _AVATAR_SIZES.items()
    }


def _categories(site: Site) -> dict[str, str]:
    """Category name -> a stable id; categories exist only as names on projects in the model."""
    names = sorted({p.category for p in site.projects.values() if p.category})
    return {name: str(10000 + i) for i, name in enumerate(names)}


def project_bean(request: Request, site: Site, project: Project, expand: Iterable[str] = ()) -> dict[str, Any]:
    """The `Project` bean as project/search lists it, plus whatever `expand` asks for."""
    wanted = set(expand)
    bean: dict[str, Any] = {
        "expand": _EXPANDABLE,
        "self": f"{api_base(site)}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "avatarUrls": project_avatar_urls(site),
        "projectTypeKey": project.project_type_key,
        "simplified": project.style == "next-gen",
        "style": project.style,
        "isPrivate": False,
        "properties": {},
    }
    if project.category:
        category_id = _categories(site)[project.category]
        bean["projectCategory"] = {
            "self": f"{api_base(site)}/projectCategory/{category_id}",
            "id": category_id,
            "name": project.category,
            "description": "",
        }
    if "description" in wanted:
        bean["description"] = project.description
    if "lead" in wanted:
        lead = request.app.state.sim.world.users.get(project.lead_account_id)
        if lead is not None:
            bean["lead"] = user_bean(site, lead, with_email=False)
    if "issueTypes" in wanted:
        bean["issueTypes"] = [issue_type_bean(site, site.issue_types[t]) for t in project.issue_type_ids]
    if "permissions" in wanted:
        bean["permissions"] = {"canEdit": False}
    if "insight" in wanted:
        issues = [i for i in site.issues.values() if i.project_key == project.key]
        insight: dict[str, Any] = {"totalIssueCount": len(issues)}
        if issues:
            insight["lastIssueUpdateTime"] = timestamp(max(i.updated for i in issues))
        bean["insight"] = insight
    return bean


def find_project(caller: Caller, id_or_key: str) -> Project | None:
    """The project named by id or key, if the caller may browse it."""
    site = caller.site
    project = site.projects.get(id_or_key.upper()) or next(
        (p for p in site.projects.values() if p.id == id_or_key), None
    )
    if project is None or not site.can(caller.user.account_id, project.key, "BROWSE_PROJECTS"):
        return None
    return project


def _sort_key(request: Request, site: Site, field: str) -> Callable[[Project], Any] | None:
    if field in ("key", "archivedDate", "deletedDate"):  # nothing is archived or deleted
        return lambda p: p.key
    if field == "name":
        return lambda p: (p.name.lower(), p.key)
    if field == "category":
        return lambda p: (p.category or "", p.key)
    if field == "owner":
        users = request.app.state.sim.world.users
        return lambda p: (users[p.lead_account_id].name.lower() if p.lead_account_id in users else "", p.key)
    if field == "issueCount":
        counts: dict[str, int] = {}
        for issue in site.issues.values():
            counts[issue.project_key] = counts.get(issue.project_key, 0) + 1
        return lambda p: (counts.get(p.key, 0), p.key)
    # The enum says lastIssueUpdatedDate, the prose lastIssueUpdatedTime: accept both.
    if field in ("lastIssueUpdatedDate", "lastIssueUpdatedTime"):
        latest: dict[str, str] = {}
        for issue in site.issues.values():
            stamp = issue.updated.isoformat()
            latest[issue.project_key] = max(latest.get(issue.project_key, ""), stamp)
        return lambda p: (latest.get(p.key, ""), p.key)
    return None


def _filters(request: Request, caller: Caller) -> list[Callable[[Project], bool]] | Response:
    params = request.query_params
    checks: list[Callable[[Project], bool]] = []
    action = params.get("action", "view")
    if action not in _ACTIONS:
        return jira_error(400, [f"Invalid action '{action}'. Valid values are: {', '.join(_ACTIONS)}."])
    permission = _ACTIONS[action]
    site, account_id = caller.site, caller.user.account_id
    checks.append(lambda p: site.can(account_id, p.key, "BROWSE_PROJECTS"))
    checks.append(lambda p: permission is not None and site.can(account_id, p.key, permission))
    if query := params.get("query", "").strip().lower():
        checks.append(lambda p: query in p.key.lower() or query in p.name.lower())
    if keys := {k.upper() for k in split_param(params.getlist("keys"))}:
        checks.append(lambda p: p.key in keys)
    raw_ids = split_param(params.getlist("id"))
    if raw_ids:
        if not all(i.lstrip("-").isdigit() for i in raw_ids):
            return jira_error(400, ["The 'id' parameter must be a list of project ids (integers)."])
        ids = {str(int(i)) for i in raw_ids}
        checks.append(lambda p: p.id in ids)
    if type_keys := set(split_param(params.getlist("typeKey"))):
        checks.append(lambda p: p.project_type_key in type_keys)
    category_id = params.get("categoryId")
    if category_id:
        categories = _categories(site)
        checks.append(lambda p: p.category is not None and categories.get(p.category) == category_id)
    statuses = split_param(params.getlist("status")) or ["live"]
    if "live" not in statuses:
        checks.append(lambda p: False)  # no project is archived or deleted
    return checks


def _page_url(site: Site, request: Request, start_at: int, max_results: int) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("startAt", "maxResults")]
    params += [("startAt", str(start_at)), ("maxResults", str(max_results))]
    return f"{api_base(site)}/project/search?{urlencode(params)}"


async def search_projects(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    start_at = int_param(request, "startAt", 0, bits=64)
    if isinstance(start_at, Response):
        return start_at
    max_results = int_param(request, "maxResults", 50)
    if isinstance(max_results, Response):
        return max_results
    start_at, max_results = max(0, start_at), min(max(0, max_results), MAX_PAGE)
    checks = _filters(request, caller)
    if isinstance(checks, Response):
        return checks
    order_by = request.query_params.get("orderBy", "key")
    descending = order_by.startswith("-")
    sort_key = _sort_key(request, caller.site, order_by.lstrip("+-"))
    if sort_key is None:
        return jira_error(400, [f"Invalid orderBy value '{order_by}'."])

    site = caller.site
    found = sorted((p for p in site.projects.values() if all(check(p) for check in checks)), key=sort_key)
    if descending:
        found.reverse()
    page = found[start_at : start_at + max_results]
    expand = split_param(request.query_params.getlist("expand"))
    is_last = start_at + max_results >= len(found)
    body: dict[str, Any] = {"self": _page_url(site, request, start_at, max_results)}
    if not is_last and max_results > 0:
        body["nextPage"] = _page_url(site, request, start_at + max_results, max_results)
    body.update(
        {
            "maxResults": max_results,
            "startAt": start_at,
            "total": len(found),
            "isLast": is_last,
            "values": [project_bean(request, site, p, expand) for p in page],
        }
    )
    return json_response(body)


async def get_project(request: Request) -> Response:
    caller = authorize(request, READ_WORK)
    if isinstance(caller, Response):
        return caller
    id_or_key = request.path_params["projectIdOrKey"]
    project = find_project(caller, id_or_key)
    if project is None:
        return jira_error(404, [f"No project could be found with key '{id_or_key}'."])
    # Jira's GET project returns these without being asked; `expand` may add insight and permissions.
    expand = {"description", "lead", "issueTypes", *split_param(request.query_params.getlist("expand"))}
    bean = project_bean(request, caller.site, project, expand)
    bean.update({"components": [], "versions": [], "assigneeType": "UNASSIGNED", "roles": {}})
    return json_response(bean)


PREFIX = "/api/ex/jira/{cloudId}/rest/api/3"
routes: list[BaseRoute] = [
    Route(f"{PREFIX}/project/search", search_projects, methods=["GET"]),
    Route(f"{PREFIX}/project/{{projectIdOrKey}}", get_project, methods=["GET"]),
]
