"""The simulator's seed world: fixed sites, users, projects and workflow, and a few hundred generated issues.

`build_world()` returns the same world on every call: the issues come from `random.Random(20261129)` and
fixed vocabularies, never from the wall clock. Issues are created in time order, so both the per-site ids
(from 10000) and the per-project key numbers (ENG-1, ...) grow with `created`.

Seed file (`policyarc sim --seed FILE`): a JSON object adding to the fixed world. Every key is optional;
unknown keys are rejected::

    {
      "apps": [{"client_id": "my-app", "client_secret": "s3cret", "name": "My app",
                "callback_urls": ["https://gw.example.com/oauth/idp/atlassian/callback"]}],
      "users": [{"email": "fay@example.com", "name": "Fay Fox", "account_id": "712020:optional"}],
      "memberships": [{"site": "acme", "email": "fay@example.com",
                       "projects": {"ENG": "FULL_ACCESS", "MKT": "READ_ONLY", "SEC": ["BROWSE_PROJECTS"]}}]
    }

- `apps`: OAuth 2.0 (3LO) apps. Callback URLs must be absolute http(s) URLs. An app with the demo client id
  (`policyarc-demo`) replaces the demo app.
- `users`: new users; the email must not belong to a seeded user. Without `account_id` one is derived from the
  email (stable across runs).
- `memberships`: makes a user (seeded or new) a member of a site and sets their permission in each listed project:
  `FULL_ACCESS`, `READ_ONLY`, `NONE` (removes it) or a list of permission keys (`BROWSE_PROJECTS`,
  `CREATE_ISSUES`, `EDIT_ISSUES`, `TRANSITION_ISSUES`, `ADD_COMMENTS`, `ASSIGNABLE_USER`).

Seed-file users get no generated issues: the generated data does not depend on the file.
A bad file raises `SeedError` whose message names the file and the problem (never a secret's value).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policyarc.sim.atlassian.model import (
    FULL_ACCESS,
    READ_ONLY,
    Comment,
    Issue,
    IssueType,
    OAuthApp,
    Permission,
    Priority,
    Project,
    Site,
    Status,
    Transition,
    User,
    Workflow,
    World,
)

__all__ = [
    "ACME_CLOUD_ID",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "GLOBEX_CLOUD_ID",
    "SeedError",
    "build_world",
    "load_seed_file",
]

SEED = 20261129
ACME_CLOUD_ID = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
GLOBEX_CLOUD_ID = "7b3e1f4a-2c5d-4a6b-8e9f-0c1d2e3f4a5b"
DEMO_CLIENT_ID = "policyarc-demo"
DEMO_CLIENT_SECRET = "policyarc-demo-secret"  # noqa: S105 - a published demo credential, part of the seed facts

ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
BOB = "712020:b0b00000-0000-4000-8000-000000000002"
CAROL = "712020:ca401000-0000-4000-8000-000000000003"
DAVE = "712020:da4e0000-0000-4000-8000-000000000004"
ERIN = "712020:e4140000-0000-4000-8000-000000000005"
USERS: tuple[tuple[str, str, str], ...] = (
    (ALICE, "alice@example.com", "Alice Adams"),
    (BOB, "bob@example.com", "Bob Brown"),
    (CAROL, "carol@example.com", "Carol Clark"),
    (DAVE, "dave@example.com", "Dave Davis"),
    (ERIN, "erin@example.com", "Erin Evans"),
)
_AVATAR = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials/{}-5.png"
# Namespace for account ids derived from a seed-file user's email.
_ACCOUNT_NAMESPACE = uuid.UUID("0c9a4e8e-3b1f-4d6a-9e2b-5f7c8d9e0a1b")


@dataclass(frozen=True)
class ProjectSpec:
    id: str
    key: str
    name: str
    issue_count: int
    description: str


@dataclass(frozen=True)
class SiteSpec:
    name: str
    cloud_id: str
    display_name: str
    projects: tuple[ProjectSpec, ...]
    # account id -> project key -> permissions; every key is a site member (an empty mapping: member, no access).
    access: Mapping[str, Mapping[str, frozenset[Permission]]]


SITES: tuple[SiteSpec, ...] = (
    SiteSpec(
        "acme",
        ACME_CLOUD_ID,
        "Acme",
        (
            ProjectSpec("10000", "ENG", "Engineering", 120, "Product engineering: services, web app and APIs."),
            ProjectSpec("10001", "OPS", "Operations", 80, "Infrastructure, on-call and incident follow-ups."),
            ProjectSpec("10002", "MKT", "Marketing", 60, "Campaigns, launches and the public website."),
            ProjectSpec("10003", "SEC", "Security", 60, "Vulnerabilities, audits and access reviews."),
        ),
        {
            ALICE: {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": FULL_ACCESS, "SEC": FULL_ACCESS},
            BOB: {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": READ_ONLY},
            CAROL: {},
            DAVE: {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": FULL_ACCESS},
            ERIN: {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": FULL_ACCESS},
        },
    ),
    SiteSpec(
        "globex",
        GLOBEX_CLOUD_ID,
        "Globex",
        (ProjectSpec("10000", "GLX", "Globex Core", 40, "The Globex core platform."),),
        {ALICE: {"GLX": FULL_ACCESS}, DAVE: {"GLX": FULL_ACCESS}},
    ),
)

# Statuses and transitions of the "Software Simplified Workflow" every project shares.
TO_DO, IN_PROGRESS, DONE = "10000", "3", "10001"

# --- vocabularies for generated issues ---------------------------------------------------------------------

START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 11, 15, tzinfo=UTC)
EPIC, TASK, BUG, STORY, SUBTASK = "10000", "10001", "10002", "10003", "10004"
TYPE_WEIGHTS = {EPIC: 6, TASK: 34, BUG: 25, STORY: 27, SUBTASK: 8}
STATUS_WEIGHTS = {TO_DO: 40, IN_PROGRESS: 25, DONE: 35}
PRIORITY_WEIGHTS = {"1": 5, "2": 15, "3": 50, "4": 20, "5": 10}
# fmt: off
LABELS = ("backend", "frontend", "security", "customer", "tech-debt", "release-blocker", "docs", "infra")
COMPONENTS = (
    "login page", "billing service", "search API", "export job", "audit log", "webhook relay", "admin console",
    "mobile app", "notification queue", "SSO flow", "rate limiter", "report builder", "landing page", "VPN gateway",
)
BUG_SYMPTOMS = (
    "times out", "returns a 500", "shows stale data", "drops the last row", "ignores the time zone",
    "leaks memory", "sends duplicate emails", "renders blank",
)
BUG_TRIGGERS = (
    "after a password reset", "for large accounts", "when the cache is cold", "on Safari", "during the nightly backup",
    "with non-ASCII names", "under load", "after the last upgrade",
)
TASK_VERBS = ("Upgrade", "Document", "Refactor", "Migrate", "Benchmark", "Clean up", "Automate", "Review", "Monitor")
ROLES = ("an admin", "a customer", "a support agent", "a new user", "an auditor", "a project lead")
STORY_ACTIONS = (
    "export my data as CSV", "see who changed a record", "reset my password without help", "filter reports by team",
    "get a digest email each Monday", "undo an accidental delete", "pin my favourite dashboards",
)
EPIC_THEMES = (
    "Reliability push", "Self-serve onboarding", "Audit and compliance", "Search overhaul", "Billing v2",
    "Mobile parity", "Observability", "Performance budget",
)
SUBTASK_STEPS = ("Write tests", "Update the runbook", "Code review", "Deploy to staging", "Add metrics", "Write docs")
SENTENCES = (
    "This affects several customers on the enterprise plan.",
    "We saw it first in the staging environment last week.",
    "The current behaviour is confusing and generates support tickets.",
    "A fix should keep backwards compatibility with the public API.",
    "Please coordinate with the on-call engineer before deploying.",
    "The numbers in the weekly report look off since the change.",
    "Nobody owns this area at the moment, so it keeps slipping.",
    "Expect the change to touch the database schema.",
    "Marketing wants this before the autumn launch.",
    "The logs below show the failing request.",
)
CRITERIA = (
    "Works for accounts with more than 10,000 records", "Covered by an automated test", "Documented in the changelog",
    "Reviewed by a second engineer", "Feature flag can turn it off", "No new warnings in the logs",
)
STEPS = ("Sign in as a regular user", "Open the {}", "Wait for the page to load", "Click Save twice", "Reload the page")
CODE_SNIPPETS = (
    ("python", "response = client.get('/api/items', timeout=5)\nresponse.raise_for_status()"),
    ("json", '{"error": "timeout", "elapsed_ms": 30012}'),
    ("bash", "kubectl rollout restart deployment/api\nkubectl rollout status deployment/api"),
    ("sql", "SELECT id, updated_at FROM accounts WHERE updated_at < now() - interval '1 day';"),
    ("text", "ERROR 2026-06-02T10:14:03Z worker-3 job export failed: connection reset by peer"),
)
LINKS = (
    ("the runbook", "https://wiki.example.com/runbooks/api"),
    ("the design doc", "https://docs.example.com/design/search-v2"),
    ("the incident report", "https://status.example.com/incidents/4711"),
)
COMMENT_LINES = (
    "I can reproduce this on the latest build.", "Looking into it now.", "Fixed in the next release.",
    "Can we get a screenshot?", "This is blocked on the infra work.", "Moved to the next sprint.",
    "Thanks, that explains it.", "Pairing on this tomorrow.", "Customer confirmed the workaround helps.",
)
# fmt: on


# --- ADF building blocks -----------------------------------------------------------------------------------


def _text(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def _paragraph(*inline: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(inline)}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": 3}, "content": [_text(text)]}


def _bullets(items: list[str]) -> dict[str, Any]:
    return {"type": "bulletList", "content": [{"type": "listItem", "content": [_paragraph(_text(i))]} for i in items]}


def _code_block(language: str, code: str) -> dict[str, Any]:
    return {"type": "codeBlock", "attrs": {"language": language}, "content": [_text(code)]}


def _doc(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": blocks}


# --- generated content -------------------------------------------------------------------------------------


def _summary(rng: random.Random, type_id: str) -> str:
    component = rng.choice(COMPONENTS)
    if type_id == EPIC:
        return f"{rng.choice(EPIC_THEMES)}: {component}"
    if type_id == BUG:
        summary = f"{component} {rng.choice(BUG_SYMPTOMS)} {rng.choice(BUG_TRIGGERS)}"
        return summary[0].upper() + summary[1:]
    if type_id == STORY:
        return f"As {rng.choice(ROLES)}, I can {rng.choice(STORY_ACTIONS)}"
    if type_id == SUBTASK:
        return f"{rng.choice(SUBTASK_STEPS)} for the {component}"
    return f"{rng.choice(TASK_VERBS)} the {component}"


def _prose(rng: random.Random) -> dict[str, Any]:
    """A paragraph of one to three sentences, sometimes with a bold or code-marked word, or a link."""
    inline = [_text(" ".join(rng.sample(SENTENCES, rng.randint(1, 3))))]
    roll = rng.random()
    if roll < 0.2:
        inline += [_text(" Owner: "), _text(rng.choice(("platform", "web", "data")), {"type": "strong"})]
    elif roll < 0.35:
        inline += [
            _text(" Config key: "),
            _text(rng.choice(("api.timeout", "cache.ttl", "queue.size")), {"type": "code"}),
        ]
    elif roll < 0.5:
        label, href = rng.choice(LINKS)
        inline += [_text(" See "), _text(label, {"type": "link", "attrs": {"href": href}}), _text(".")]
    return _paragraph(*inline)


def _description(rng: random.Random, type_id: str) -> dict[str, Any] | None:
    if rng.random() < 0.15:
        return None
    blocks = [_prose(rng)]
    if type_id == BUG:
        steps = [s.format(rng.choice(COMPONENTS)) for s in rng.sample(STEPS, rng.randint(2, 4))]
        blocks += [_heading("Steps to reproduce"), _bullets(steps)]
        if rng.random() < 0.5:
            blocks.append(_code_block(*rng.choice(CODE_SNIPPETS)))
    elif type_id == STORY:
        blocks += [_heading("Acceptance criteria"), _bullets(rng.sample(CRITERIA, rng.randint(2, 4)))]
    elif rng.random() < 0.4:
        blocks.append(_prose(rng))
        if rng.random() < 0.3:
            blocks.append(_code_block(*rng.choice(CODE_SNIPPETS)))
    return _doc(blocks)


def _comment_body(rng: random.Random) -> dict[str, Any]:
    blocks = [_paragraph(_text(rng.choice(COMMENT_LINES)))]
    if rng.random() < 0.15:
        blocks.append(_code_block(*rng.choice(CODE_SNIPPETS)))
    return _doc(blocks)


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A whole second in [start, end]."""
    return start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds())))


# --- issues ------------------------------------------------------------------------------------------------


@dataclass
class _ProjectPeople:
    """Who may hold which role on a project's generated issues, and what later issues may hang under."""

    assignable: list[str]
    reporters: list[str]
    commenters: list[str]
    epics: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)


def _people(site: Site, key: str) -> _ProjectPeople:
    def holding(permission: Permission) -> list[str]:
        return [
            account for (account, project), perms in site.permissions.items() if project == key and permission in perms
        ]

    return _ProjectPeople(holding("ASSIGNABLE_USER"), holding("CREATE_ISSUES"), holding("ADD_COMMENTS"))


def _type_and_parent(rng: random.Random, people: _ProjectPeople) -> tuple[str, str | None]:
    type_id = rng.choices(list(TYPE_WEIGHTS), weights=list(TYPE_WEIGHTS.values()))[0]
    if type_id == SUBTASK:
        if not people.tasks:
            return TASK, None
        return SUBTASK, rng.choice(people.tasks)
    if type_id != EPIC and people.epics and rng.random() < 0.35:
        return type_id, rng.choice(people.epics)
    return type_id, None


def _new_issue(rng: random.Random, site: Site, people: _ProjectPeople, key: str, created: datetime) -> Issue:
    number = site.next_issue_number.get(key, 1)
    site.next_issue_number[key] = number + 1
    issue_id, site.next_issue_id = str(site.next_issue_id), site.next_issue_id + 1
    type_id, parent = _type_and_parent(rng, people)
    status = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    assignee = rng.choice(people.assignable) if rng.random() < 0.8 else None
    updated = _moment(rng, created, min(END, created + timedelta(days=45)))
    issue = Issue(
        id=issue_id,
        key=f"{key}-{number}",
        project_key=key,
        issuetype_id=type_id,
        summary=_summary(rng, type_id),
        status_id=status,
        priority_id=rng.choices(list(PRIORITY_WEIGHTS), weights=list(PRIORITY_WEIGHTS.values()))[0],
        reporter_id=rng.choice(people.reporters),
        created=created,
        updated=updated,
        description=_description(rng, type_id),
        assignee_id=assignee,
        labels=sorted(rng.sample(LABELS, rng.choices((0, 1, 2, 3), weights=(30, 35, 25, 10))[0])),
        parent_key=parent,
    )
    if status == DONE:
        # "Won't Do" is an assignee-only transition, so only an assigned issue can have ended that way.
        issue.resolution = "Won't Do" if assignee and rng.random() < 0.15 else "Done"
        issue.resolution_date = updated
    if rng.random() < 0.25:
        issue.due_date = (created + timedelta(days=rng.randint(7, 60))).date().isoformat()
    times = sorted(_moment(rng, created, updated) for _ in range(rng.choices(range(5), weights=(35, 25, 20, 12, 8))[0]))
    # Ids are given out per site once every issue exists (see _number_comments).
    issue.comments = [Comment("", rng.choice(people.commenters), _comment_body(rng), t, t) for t in times]
    if type_id == EPIC:
        people.epics.append(issue.key)
    elif type_id == TASK:
        people.tasks.append(issue.key)
    return issue


def _number_comments(site: Site) -> None:
    """Comment ids, like issue ids, grow with creation time across the whole site."""
    comments = [(c.created, int(i.id), n, c) for i in site.issues.values() for n, c in enumerate(i.comments)]
    for *_, comment in sorted(comments, key=lambda row: row[:3]):
        comment.id, site.next_comment_id = str(site.next_comment_id), site.next_comment_id + 1


def _generate_issues(site: Site, counts: Mapping[str, int], rng: random.Random) -> None:
    """Create `counts[project]` issues per project, in creation-time order across the site."""
    plan = sorted(
        (_moment(rng, START, END), order, key) for order, key in enumerate(counts) for _ in range(counts[key])
    )
    people = {key: _people(site, key) for key in counts}
    for created, _, key in plan:
        site.add_issue(_new_issue(rng, site, people[key], key, created))
    _number_comments(site)


def _users() -> dict[str, User]:
    users = {}
    for account_id, email, name in USERS:
        initials = "".join(part[0] for part in name.split())
        users[account_id] = User(account_id, email, name, picture=_AVATAR.format(initials))
    return users


def _workflow() -> Workflow:
    statuses = [
        Status(TO_DO, "To Do", "new"),
        Status(IN_PROGRESS, "In Progress", "indeterminate"),
        Status(DONE, "Done", "done"),
    ]
    transitions = [
        Transition("21", "Start Progress", IN_PROGRESS, (TO_DO,)),
        Transition("11", "Stop Progress", TO_DO, (IN_PROGRESS,)),
        Transition("31", "Done", DONE, (TO_DO, IN_PROGRESS), resolution="Done", screen_fields=("resolution",)),
        Transition("41", "Reopen", TO_DO, (DONE,)),
        Transition("51", "Won't Do", DONE, (TO_DO, IN_PROGRESS), condition="assignee_only", resolution="Won't Do"),
    ]
    return Workflow("Software Simplified Workflow", statuses, transitions, initial_status_id=TO_DO)


def _issue_types() -> dict[str, IssueType]:
    types = [
        IssueType("10000", "Epic", "A big user story that needs to be broken down.", hierarchy_level=1),
        IssueType("10001", "Task", "A small, distinct piece of work."),
        IssueType("10002", "Bug", "A problem or error."),
        IssueType("10003", "Story", "A user story, a feature from the user's perspective."),
        IssueType("10004", "Sub-task", "A small piece of a larger task.", subtask=True, hierarchy_level=-1),
    ]
    return {t.id: t for t in types}


def _priorities() -> dict[str, Priority]:
    names = ("Highest", "High", "Medium", "Low", "Lowest")
    return {str(n): Priority(str(n), name) for n, name in enumerate(names, start=1)}


def _build_site(spec: SiteSpec, rng: random.Random) -> Site:
    workflow = _workflow()  # one per site, shared by its projects
    issue_types = _issue_types()
    projects = {
        p.key: Project(p.id, p.key, p.name, ALICE, list(issue_types), workflow, description=p.description)
        for p in spec.projects
    }
    permissions = {
        (account_id, key): perms for account_id, grants in spec.access.items() for key, perms in grants.items()
    }
    site = Site(
        spec.cloud_id,
        spec.name,
        spec.display_name,
        issue_types,
        _priorities(),
        "3",
        projects,
        {},
        permissions,
        set(spec.access),
    )
    _generate_issues(site, {p.key: p.issue_count for p in spec.projects}, rng)
    return site


def _demo_app() -> OAuthApp:
    # Loopback callbacks: the OAuth server lets any port and path on these hosts through for this app.
    callbacks = ["http://127.0.0.1/oauth/idp/atlassian/callback", "http://localhost/oauth/idp/atlassian/callback"]
    return OAuthApp(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, "PolicyArc (demo)", callbacks)


def build_world(extra: Mapping[str, Any] | None = None) -> World:
    """The seed world (identical on every call), plus what a seed file's content `extra` adds."""
    rng = random.Random(SEED)
    sites = {spec.name: _build_site(spec, rng) for spec in SITES}
    world = World(users=_users(), sites=sites, apps={DEMO_CLIENT_ID: _demo_app()})
    if extra:
        _apply(world, _validate(extra, source="seed data"))
    return world


# --- seed files -------------------------------------------------------------------------------------------


class SeedError(ValueError):
    """A seed file that cannot be used; the message names the file and what is wrong."""


Level = Literal["FULL_ACCESS", "READ_ONLY", "NONE"]
_LEVELS: dict[str, frozenset[Permission]] = {"FULL_ACCESS": FULL_ACCESS, "READ_ONLY": READ_ONLY, "NONE": frozenset()}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _AppIn(_Strict):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    name: str = Field(min_length=1)
    callback_urls: list[str] = Field(min_length=1)


class _UserIn(_Strict):
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str = Field(min_length=1)
    account_id: str | None = Field(default=None, min_length=1)


class _MembershipIn(_Strict):
    site: str
    email: str
    projects: dict[str, Level | list[Permission]] = Field(default_factory=dict)


class _SeedIn(_Strict):
    apps: list[_AppIn] = Field(default_factory=list)
    users: list[_UserIn] = Field(default_factory=list)
    memberships: list[_MembershipIn] = Field(default_factory=list)


def load_seed_file(path: str | Path) -> dict[str, Any]:
    """Read and check a seed file; the result is what `build_world(extra=...)` takes. Raises `SeedError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"cannot read seed file {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeedError(
            f"seed file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    return _validate(data, source=f"seed file {path}").model_dump()


def _validate(data: Any, source: str) -> _SeedIn:
    if not isinstance(data, Mapping):
        raise SeedError(f"{source}: expected a JSON object with 'apps', 'users' and/or 'memberships'")
    try:
        seed = _SeedIn.model_validate(data)
    except ValidationError as exc:
        # include_input=False: the offending value may be a client secret.
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SeedError(f"{source}: {where}: {first['msg']}{more}") from None
    _check_refs(seed, source)
    return seed


def _check_refs(seed: _SeedIn, source: str) -> None:
    """The checks pydantic cannot make: references to sites, projects and users, duplicates, URLs."""
    client_ids = [app.client_id for app in seed.apps]
    for i, app in enumerate(seed.apps):
        if client_ids.count(app.client_id) > 1:
            raise SeedError(f"{source}: apps[{i}]: client_id {app.client_id!r} appears more than once")
        for url in app.callback_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SeedError(f"{source}: apps[{i}]: callback URL {url!r} is not an absolute http(s) URL")
    seeded = {email for _, email, _ in USERS}
    new_emails = [user.email.lower() for user in seed.users]
    for i, email in enumerate(new_emails):
        if email in seeded:
            raise SeedError(f"{source}: users[{i}]: {email} is already a seeded user")
        if new_emails.count(email) > 1:
            raise SeedError(f"{source}: users[{i}]: {email} appears more than once")
    sites = {spec.name: spec for spec in SITES}
    for i, member in enumerate(seed.memberships):
        spec = sites.get(member.site)
        if spec is None:
            raise SeedError(f"{source}: memberships[{i}]: unknown site {member.site!r} (known: {', '.join(sites)})")
        if member.email.lower() not in seeded | set(new_emails):
            raise SeedError(f"{source}: memberships[{i}]: {member.email} is neither a seeded user nor in 'users'")
        keys = [p.key for p in spec.projects]
        for key in member.projects:
            if key not in keys:
                raise SeedError(
                    f"{source}: memberships[{i}]: unknown project {key!r} on site {spec.name}"
                    f" (known: {', '.join(keys)})"
                )


def _apply(world: World, seed: _SeedIn) -> None:
    for app in seed.apps:
        world.apps[app.client_id] = OAuthApp(app.client_id, app.client_secret, app.name, list(app.callback_urls))
    for new in seed.users:
        account_id = new.account_id or f"712020:{uuid.uuid5(_ACCOUNT_NAMESPACE, new.email.lower())}"
        world.users[account_id] = User(account_id, new.email, new.name)
    for member in seed.memberships:
        user = world.user_by_email(member.email)
        if user is None:  # _check_refs rules this out
            raise SeedError(f"unknown user {member.email}")
        site = world.sites[member.site]
        site.members.add(user.account_id)
        for key, level in member.projects.items():
            perms = _LEVELS[level] if isinstance(level, str) else frozenset(level)
            if perms:
                site.permissions[(user.account_id, key)] = perms
            else:
                site.permissions.pop((user.account_id, key), None)
