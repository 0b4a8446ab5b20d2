"""The small JSON beans Jira nests inside issues, comments and transitions.

Links (`self`, avatars, icons) use the base an OAuth app calls, `https://api.atlassian.com/ex/jira/{cloudId}`,
as Jira does for requests that come through api.atlassian.com.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response

from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.model import STATUS_CATEGORIES, Comment, Issue, IssueType, Priority, Site, Status, User

API_URL = "https://api.atlassian.com"
# Jira Cloud's default resolutions; the model names a resolution, Jira also gives it an id.
RESOLUTIONS: dict[str, tuple[str, str]] = {
    "Done": ("10000", "Work has been completed on this issue."),
    "Won't Do": ("10001", "This issue won't be actioned."),
    "Duplicate": ("10002", "The problem is a duplicate of an existing issue."),
    "Cannot Reproduce": ("10003", "All attempts at reproducing this issue failed."),
}
_PRIORITY_COLOURS = {"1": "#d04437", "2": "#f15C75", "3": "#f79232", "4": "#707070", "5": "#999999"}
_PRIORITY_ICONS = {"1": "highest", "2": "high", "3": "medium", "4": "low", "5": "lowest"}
_TYPE_AVATARS = {"Epic": 10307, "Task": 10318, "Bug": 10303, "Story": 10315, "Sub-task": 10316}
_DEFAULT_AVATAR = "https://secure.gravatar.com/avatar/default.png"


def json_response(body: object, status: int = 200) -> Response:
    """A JSON response serialised with orjson (the GET issue hot path)."""
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def api_base(site: Site) -> str:
    """`https://api.atlassian.com/ex/jira/{cloudId}/rest/api/3`."""
    return f"{API_URL}/ex/jira/{site.cloud_id}/rest/api/3"


def timestamp(moment: datetime | None) -> str | None:
    """Jira's timestamp form, `2026-05-01T10:00:00.000+0000` (isoformat is far cheaper than strftime)."""
    if moment is None:
        return None
    text = moment.isoformat(timespec="milliseconds")
    return text[:-3] + text[-2:]  # "+00:00" -> "+0000"


def user_details(site: Site, user: User | None) -> dict[str, Any] | None:
    """`UserDetails` as Jira nests it in issues and comments (null for nobody)."""
    if user is None:
        return None
    avatar = user.picture or _DEFAULT_AVATAR
    return {
        "self": f"{api_base(site)}/user?accountId={user.account_id}",
        "accountId": user.account_id,
        "emailAddress": user.email,
        "avatarUrls": {f"{n}x{n}": f"{avatar}?size={n}&s={n}" for n in (16, 24, 32, 48)},
        "displayName": user.name,
        "active": user.account_status == "active",
        "timeZone": user.time_zone,
        "accountType": "atlassian",
    }


def user_of(caller: Caller, account_id: str | None) -> dict[str, Any] | None:
    return user_details(caller.site, caller.world.users.get(account_id) if account_id else None)


def status_bean(site: Site, status: Status) -> dict[str, Any]:
    category_id, category_name, colour = STATUS_CATEGORIES[status.category]
    base = api_base(site)
    return {
        "self": f"{base}/status/{status.id}",
        "description": "",
        "iconUrl": f"{site.url}/images/icons/statuses/generic.png",
        "name": status.name,
        "id": status.id,
        "statusCategory": {
            "self": f"{base}/statuscategory/{category_id}",
            "id": category_id,
            "key": status.category,
            "colorName": colour,
            "name": category_name,
        },
    }


def issue_type_bean(site: Site, issue_type: IssueType) -> dict[str, Any]:
    avatar = _TYPE_AVATARS.get(issue_type.name, 10318)
    return {
        "self": f"{api_base(site)}/issuetype/{issue_type.id}",
        "id": issue_type.id,
        "description": issue_type.description,
        "iconUrl": f"{api_base(site)}/universal_avatar/view/type/issuetype/avatar/{avatar}?size=medium",
        "name": issue_type.name,
        "subtask": issue_type.subtask,
        "avatarId": avatar,
        "hierarchyLevel": issue_type.hierarchy_level,
    }


def priority_bean(site: Site, priority: Priority) -> dict[str, Any]:
    icon = _PRIORITY_ICONS.get(priority.id, "medium")
    return {
        "self": f"{api_base(site)}/priority/{priority.id}",
        "iconUrl": f"{site.url}/images/icons/priorities/{icon}_new.svg",
        "name": priority.name,
        "id": priority.id,
    }


def resolution_bean(site: Site, name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    resolution_id, description = RESOLUTIONS.get(name, ("10000", ""))
    return {
        "self": f"{api_base(site)}/resolution/{resolution_id}",
        "id": resolution_id,
        "description": description,
        "name": name,
    }


def project_details(site: Site, project_key: str) -> dict[str, Any]:
    project = site.projects[project_key]
    base = api_base(site)
    return {
        "self": f"{base}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": project.project_type_key,
        "simplified": project.style == "next-gen",
        "avatarUrls": {
            f"{n}x{n}": f"{base}/universal_avatar/view/type/project/avatar/10400?size={size}"
            for n, size in ((16, "xsmall"), (24, "small"), (32, "medium"), (48, "large"))
        },
    }


def issue_link(site: Site, issue: Issue) -> dict[str, Any]:
    """The short form Jira uses for `parent` and `subtasks` entries."""
    return {
        "id": issue.id,
        "key": issue.key,
        "self": f"{api_base(site)}/issue/{issue.id}",
        "fields": {
            "summary": issue.summary,
            "status": status_bean(site, site.projects[issue.project_key].workflow.status(issue.status_id)),
            "priority": priority_bean(site, site.priorities[issue.priority_id]),
            "issuetype": issue_type_bean(site, site.issue_types[issue.issuetype_id]),
        },
    }


def comment_bean(caller: Caller, issue: Issue, comment: Comment, *, rendered: str | None = None) -> dict[str, Any]:
    """A `Comment`; `rendered` adds `renderedBody` (the `expand=renderedBody` form)."""
    author = user_of(caller, comment.author_account_id)
    bean: dict[str, Any] = {
        "self": f"{api_base(caller.site)}/issue/{issue.id}/comment/{comment.id}",
        "id": comment.id,
        "author": author,
        "body": comment.body,
        "updateAuthor": author,
        "created": timestamp(comment.created),
        "updated": timestamp(comment.updated),
        "jsdPublic": True,
    }
    if rendered is not None:
        bean["renderedBody"] = rendered
    return bean
