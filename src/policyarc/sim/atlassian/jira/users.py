"""Jira's user routes: `GET /myself`, `GET /user/search` and `GET /user/assignable/search`.

All three need the `read:jira-user` scope. Only members of the caller's site are ever listed, and only
active ones (Jira's user search "returns a list of active users"). Email addresses are shown: the seeded
users keep their profile visible, which is Jira's behaviour for such users.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from policyarc.sim.atlassian.errors import ISSUE_NOT_FOUND, jira_error
from policyarc.sim.atlassian.jira.access import READ_USER, Caller, authorize
from policyarc.sim.atlassian.jira.beans import api_base, json_response
from policyarc.sim.atlassian.model import Site, User

# Jira reads at most this many users for one search ("up to the thousandth user").
MAX_USERS = 1000
_DEFAULT_AVATAR = "https://secure.gravatar.com/avatar/default.png"
# Groups every site member belongs to in a fresh Jira Cloud site.
_MEMBER_GROUPS = ("jira-software-users", "jira-users")
_GROUP_NAMESPACE = uuid.UUID("5f0c3a52-8d1e-4b6f-a2c9-7e4d1b0f3a86")


def avatar_urls(user: User) -> dict[str, str]:
    """Jira's four avatar sizes for a user."""
    base = user.picture or _DEFAULT_AVATAR
    return {f"{n}x{n}": f"{base}?size={n}&s={n}" for n in (16, 24, 32, 48)}


def user_bean(site: Site, user: User, *, with_email: bool = True) -> dict[str, object]:
    """The `User` bean as the user searches return it."""
    bean: dict[str, object] = {
        "self": f"{api_base(site)}/user?accountId={user.account_id}",
        "accountId": user.account_id,
        "accountType": "atlassian",
    }
    if with_email:
        bean["emailAddress"] = user.email
    bean["avatarUrls"] = avatar_urls(user)
    bean["displayName"] = user.name
    bean["active"] = user.account_status == "active"
    bean["timeZone"] = user.time_zone
    bean["locale"] = user.locale
    return bean


def _group(site: Site, name: str) -> dict[str, str]:
    group_id = str(uuid.uuid5(_GROUP_NAMESPACE, f"{site.cloud_id}/{name}"))
    return {"name": name, "groupId": group_id, "self": f"{api_base(site)}/group?groupId={group_id}"}


def myself_bean(site: Site, user: User, expand: Iterable[str] = ()) -> dict[str, object]:
    """`/myself`: the User bean with the group and application-role lists (items only when expanded)."""
    wanted = set(expand)
    groups = [_group(site, name) for name in _MEMBER_GROUPS]
    roles = [{"key": "jira-software", "name": "Jira Software"}]
    bean = user_bean(site, user)
    bean["groups"] = {"size": len(groups), "items": groups if "groups" in wanted else []}
    bean["applicationRoles"] = {"size": len(roles), "items": roles if "applicationRoles" in wanted else []}
    bean["expand"] = "groups,applicationRoles"
    return bean


def split_param(values: Iterable[str]) -> list[str]:
    """A repeatable query parameter that Jira also accepts comma-separated: `a,b&c` -> [a, b, c]."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def int_param(request: Request, name: str, default: int, *, bits: int = 32) -> int | Response:
    """An integer query parameter (the spec's int32 or int64), or Jira's 400 when it is not one."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        return jira_error(400, [f"The value '{raw}' is not valid for the parameter '{name}'; an integer is expected."])
    return value


def _page(request: Request) -> tuple[int, int] | Response:
    start_at = int_param(request, "startAt", 0)
    if isinstance(start_at, Response):
        return start_at
    max_results = int_param(request, "maxResults", 50)
    if isinstance(max_results, Response):
        return max_results
    return max(0, start_at), min(max(0, max_results), MAX_USERS)


def _matches(user: User, query: str) -> bool:
    """Jira's user query: a prefix of the email address, the display name, or one of its words."""
    q = query.strip().lower()
    if not q:
        return True
    name = user.name.lower()
    return user.email.lower().startswith(q) or name.startswith(q) or any(w.startswith(q) for w in name.split())


def _members(site: Site, users: dict[str, User]) -> list[User]:
    found = [users[a] for a in site.members if a in users and users[a].account_status == "active"]
    return sorted(found, key=lambda u: (u.name.lower(), u.account_id))


async def myself(request: Request) -> Response:
    caller = authorize(request, READ_USER)
    if isinstance(caller, Response):
        return caller
    expand = split_param(request.query_params.getlist("expand"))
    return json_response(myself_bean(caller.site, caller.user, expand))


async def find_users(request: Request) -> Response:
    caller = authorize(request, READ_USER)
    if isinstance(caller, Response):
        return caller
    params = request.query_params
    query, account_id = params.get("query"), params.get("accountId")
    if params.get("username"):
        # GDPR: Jira Cloud stopped resolving user names.
        return jira_error(400, ["The username query parameter was provided, but it is not supported."])
    if query is None and account_id is None and params.get("property") is None:
        return jira_error(400, ["One of 'query' or 'accountId' or 'property' query parameters must be provided."])
    if query is not None and account_id is not None:
        return jira_error(400, ["Only one of 'query' or 'accountId' query parameters can be provided."])
    page = _page(request)
    if isinstance(page, Response):
        return page
    found = _members(caller.site, request.app.state.sim.world.users)
    if account_id is not None:
        found = [u for u in found if u.account_id == account_id]
    elif query is not None:
        found = [u for u in found if _matches(u, query)]
    else:
        found = []  # user properties are not modelled: no user matches a property query
    start_at, max_results = page
    return json_response([user_bean(caller.site, u) for u in found[start_at : start_at + max_results]])


def _assignable_project(caller: Caller, request: Request) -> str | Response:
    """The project whose assignable users are asked for, from `project`, `issueKey` or `issueId`."""
    params = request.query_params
    site = caller.site
    issue_ref = params.get("issueKey") or params.get("issueId")
    if issue_ref:
        issue = site.find_issue(issue_ref)
        if issue is None or not site.can(caller.user.account_id, issue.project_key, "BROWSE_PROJECTS"):
            return jira_error(404, [ISSUE_NOT_FOUND])
        return issue.project_key
    project_ref = params.get("project")
    if not project_ref:
        return jira_error(400, ["The 'project', 'issueKey' or 'issueId' query parameter must be provided."])
    project = site.projects.get(project_ref.upper()) or next(
        (p for p in site.projects.values() if p.id == project_ref), None
    )
    if project is None or not site.can(caller.user.account_id, project.key, "BROWSE_PROJECTS"):
        return jira_error(404, [f"No project could be found with key '{project_ref}'."])
    return project.key


async def find_assignable_users(request: Request) -> Response:
    caller = authorize(request, READ_USER)
    if isinstance(caller, Response):
        return caller
    project_key = _assignable_project(caller, request)
    if isinstance(project_key, Response):
        return project_key
    page = _page(request)
    if isinstance(page, Response):
        return page
    site = caller.site
    # Lenient where the spec says 400: real Jira lists every assignable user when `query` is left out.
    query = request.query_params.get("query", "")
    account_id = request.query_params.get("accountId")
    found = [
        u
        for u in _members(site, request.app.state.sim.world.users)
        if site.can(u.account_id, project_key, "ASSIGNABLE_USER")
        and _matches(u, query)
        and (account_id is None or u.account_id == account_id)
    ]
    start_at, max_results = page
    return json_response([user_bean(site, u) for u in found[start_at : start_at + max_results]])


PREFIX = "/api/ex/jira/{cloudId}/rest/api/3"
routes: list[BaseRoute] = [
    Route(f"{PREFIX}/myself", myself, methods=["GET"]),
    Route(f"{PREFIX}/user/search", find_users, methods=["GET"]),
    Route(f"{PREFIX}/user/assignable/search", find_assignable_users, methods=["GET"]),
]
