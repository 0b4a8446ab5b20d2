"""From the v3 beans to Jira Server's v2 shapes, and the Server form of a user.

The v2 routes render with the v3 code (`render_issue`, `comment_bean`, `transition_bean`, ...) and then
convert: rich text (ADF) becomes wiki markup, users become Server users (`name`/`key`, no `accountId`),
links point at the Server instance (`{base}/rest/api/2/...`), and Cloud-only keys go.

A Server user's `name` and `key` are the local part of the email address (`alice`), the same everywhere.
"""

from __future__ import annotations

from typing import Any

from policyarc.sim.atlassian.adf_wiki import adf_to_wiki
from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.jira.beans import api_base
from policyarc.sim.atlassian.jira.users import avatar_urls
from policyarc.sim.atlassian.model import User, World

RICH_TEXT = ("description", "environment")
# Keys only Jira Cloud sends.
_CLOUD_ONLY = frozenset({"hierarchyLevel", "entityId", "simplified", "jsdPublic", "accountType", "accountId"})


def username(user: User) -> str:
    """The Server user name (and key) standing for a simulated user."""
    return user.server_name


def user_by_name(world: World, name: str) -> User | None:
    """The user whose Server name or key is `name` (case-insensitive), or whose email it is."""
    lowered = name.strip().lower()
    for user in world.users.values():
        if lowered in (username(user), user.email.lower()):
            return user
    return None


def server_user(base: str, user: User) -> dict[str, Any]:
    """A Server `User` bean as issues, comments and user searches nest it."""
    name = username(user)
    return {
        "self": f"{base}/rest/api/2/user?username={name}",
        "key": name,
        "name": name,
        "emailAddress": user.email,
        "avatarUrls": avatar_urls(user),
        "displayName": user.name,
        "active": user.account_status == "active",
        "timeZone": user.time_zone,
    }


def wiki(value: Any) -> str | None:
    """A rich-text value as wiki markup; no document is null, as Server stores it."""
    if not isinstance(value, dict):
        return None
    return adf_to_wiki(value)


class ServerShapes:
    """Converts v3 beans rendered for `caller` into what Jira Server at `base` returns."""

    def __init__(self, caller: Caller, base: str) -> None:
        self.caller = caller
        self.base = base
        self._api3 = api_base(caller.site)
        self._api2 = f"{base}/rest/api/2"
        self._site_url = caller.site.url

    def convert(self, value: Any) -> Any:
        """Links, users and Cloud-only keys, recursively (rich text must be converted before)."""
        if isinstance(value, dict):
            if "accountId" in value and "accountType" in value:
                user = self.caller.world.users.get(value["accountId"])
                return server_user(self.base, user) if user is not None else None
            return {k: self.convert(v) for k, v in value.items() if k not in _CLOUD_ONLY}
        if isinstance(value, list):
            return [self.convert(item) for item in value]
        if isinstance(value, str):
            if value.startswith(self._api3):
                return self._api2 + value[len(self._api3) :]
            if value.startswith(self._site_url):
                return self.base + value[len(self._site_url) :]
        return value

    def issue(self, bean: dict[str, Any]) -> dict[str, Any]:
        """An `IssueBean`: description, environment and comment bodies as wiki markup."""
        fields = bean.get("fields")
        if isinstance(fields, dict):
            for field_id in RICH_TEXT:
                if field_id in fields:
                    fields[field_id] = wiki(fields[field_id])
            page = fields.get("comment")
            if isinstance(page, dict):
                for comment in page.get("comments", []):
                    comment["body"] = wiki(comment.get("body")) or ""
        converted: dict[str, Any] = self.convert(bean)
        return converted

    def comment(self, bean: dict[str, Any]) -> dict[str, Any]:
        bean["body"] = wiki(bean.get("body")) or ""
        converted: dict[str, Any] = self.convert(bean)
        return converted
