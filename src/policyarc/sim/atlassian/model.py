"""The simulator's in-memory world: sites, users, projects, workflows and issues.

Plain dataclasses with no behaviour beyond look-ups, so the seed, the JQL engine, the OAuth server and
the REST routes can share them without importing each other. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Jira's project permission keys, the subset the simulator enforces.
Permission = Literal[
    "BROWSE_PROJECTS",
    "CREATE_ISSUES",
    "EDIT_ISSUES",
    "TRANSITION_ISSUES",
    "ADD_COMMENTS",
    "ASSIGNABLE_USER",
]
READ_ONLY: frozenset[Permission] = frozenset({"BROWSE_PROJECTS"})
FULL_ACCESS: frozenset[Permission] = frozenset(
    {"BROWSE_PROJECTS", "CREATE_ISSUES", "EDIT_ISSUES", "TRANSITION_ISSUES", "ADD_COMMENTS", "ASSIGNABLE_USER"}
)

StatusCategoryKey = Literal["new", "indeterminate", "done"]
# Jira's fixed status categories: key -> (id, display name, colour).
STATUS_CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}

# A transition condition the simulator understands (Jira's workflow conditions, simplified):
# "assignee_only": only the issue's current assignee sees and may perform the transition;
# "has_assignee": the issue must be assigned to someone.
TransitionCondition = Literal["assignee_only", "has_assignee"]


@dataclass
class User:
    account_id: str
    email: str
    name: str
    picture: str = ""
    account_status: Literal["active", "inactive", "closed"] = "active"
    time_zone: str = "UTC"
    locale: str = "en_US"

    @property
    def server_name(self) -> str:
        """The user's name on the Jira Server/DC (v2) API: the email's local part, lowercased."""
        return self.email.partition("@")[0].lower()


@dataclass
class Status:
    id: str
    name: str
    category: StatusCategoryKey


@dataclass
class Transition:
    id: str
    name: str
    to_status_id: str
    # None means a global transition, available from every status.
    from_status_ids: tuple[str, ...] | None = None
    condition: TransitionCondition | None = None
    # A transition to a done status sets this resolution; one out of done clears it.
    resolution: str | None = None
    # Fields the transition screen offers (field ids), e.g. ("resolution", "assignee").
    screen_fields: tuple[str, ...] = ()


@dataclass
class Workflow:
    name: str
    statuses: list[Status]
    transitions: list[Transition]
    initial_status_id: str

    def status(self, status_id: str) -> Status:
        for status in self.statuses:
            if status.id == status_id:
                return status
        raise KeyError(status_id)


@dataclass
class IssueType:
    id: str
    name: str
    description: str = ""
    subtask: bool = False
    hierarchy_level: int = 0


@dataclass
class Priority:
    id: str
    name: str


@dataclass
class Project:
    id: str
    key: str
    name: str
    lead_account_id: str
    issue_type_ids: list[str]
    workflow: Workflow
    description: str = ""
    project_type_key: str = "software"
    style: Literal["classic", "next-gen"] = "classic"
    category: str | None = None


@dataclass
class Comment:
    id: str
    author_account_id: str
    body: dict[str, Any]  # ADF document
    created: datetime
    updated: datetime


@dataclass
class Issue:
    id: str
    key: str
    project_key: str
    issuetype_id: str
    summary: str
    status_id: str
    priority_id: str
    reporter_id: str
    created: datetime
    updated: datetime
    description: dict[str, Any] | None = None  # ADF document
    assignee_id: str | None = None
    labels: list[str] = field(default_factory=list)
    resolution: str | None = None
    resolution_date: datetime | None = None
    parent_key: str | None = None
    due_date: str | None = None  # YYYY-MM-DD
    comments: list[Comment] = field(default_factory=list)
    # Other fields set through create/edit (customfield_*, environment, ...): field id -> JSON value.
    extra_fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Site:
    """One Jira Cloud site (tenant): `{name}.atlassian.net`, identified by its cloud ID."""

    cloud_id: str
    name: str
    display_name: str
    issue_types: dict[str, IssueType]  # by id
    priorities: dict[str, Priority]  # by id
    default_priority_id: str
    projects: dict[str, Project]  # by key
    issues: dict[str, Issue]  # by key
    # (account_id, project_key) -> the permissions that user holds in that project.
    permissions: dict[tuple[str, str], frozenset[Permission]]
    # Account ids of users who are members of this site (can be granted access by 3LO).
    members: set[str]
    issues_by_id: dict[str, str] = field(default_factory=dict)  # issue id -> key
    next_issue_id: int = 10000
    next_comment_id: int = 10000
    # Per project, the next issue number (PROJ-<n>).
    next_issue_number: dict[str, int] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://{self.name}.atlassian.net"

    def can(self, account_id: str, project_key: str, permission: Permission) -> bool:
        return permission in self.permissions.get((account_id, project_key), frozenset())

    def find_issue(self, key_or_id: str) -> Issue | None:
        key = self.issues_by_id.get(key_or_id, key_or_id.upper())
        return self.issues.get(key)

    def add_issue(self, issue: Issue) -> None:
        self.issues[issue.key] = issue
        self.issues_by_id[issue.id] = issue.key


@dataclass
class OAuthApp:
    """A registered OAuth 2.0 (3LO) app in Atlassian's developer console."""

    client_id: str
    client_secret: str
    name: str
    # Callback URLs; a host of 127.0.0.1 or localhost matches any port (Atlassian lets a dev app list them).
    callback_urls: list[str]


@dataclass
class World:
    """Everything the simulator knows. Mutated in place by the REST routes (one event loop, no locks)."""

    users: dict[str, User]  # by account id
    sites: dict[str, Site]  # by site name
    apps: dict[str, OAuthApp]  # by client id

    def user_by_email(self, email: str) -> User | None:
        lowered = email.lower()
        for user in self.users.values():
            if user.email.lower() == lowered:
                return user
        return None

    def site_by_cloud_id(self, cloud_id: str) -> Site | None:
        for site in self.sites.values():
            if site.cloud_id == cloud_id:
                return site
        return None
