from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from policyarc.sim.atlassian.model import FULL_ACCESS, READ_ONLY, World
from policyarc.sim.atlassian.seed import (
    ACME_CLOUD_ID,
    END,
    GLOBEX_CLOUD_ID,
    LABELS,
    START,
    SeedError,
    build_world,
    load_seed_file,
)

SHARED_ATLASSIAN = Path(__file__).resolve().parents[3] / ".." / "shared" / "atlassian"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
BOB = "712020:b0b00000-0000-4000-8000-000000000002"
CAROL = "712020:ca401000-0000-4000-8000-000000000003"
DAVE = "712020:da4e0000-0000-4000-8000-000000000004"
ERIN = "712020:e4140000-0000-4000-8000-000000000005"


def test_same_world_every_time() -> None:
    assert build_world() == build_world()


def test_users() -> None:
    world = build_world()
    assert [(u.account_id, u.email, u.name) for u in world.users.values()] == [
        (ALICE, "alice@example.com", "Alice Adams"),
        (BOB, "bob@example.com", "Bob Brown"),
        (CAROL, "carol@example.com", "Carol Clark"),
        (DAVE, "dave@example.com", "Dave Davis"),
        (ERIN, "erin@example.com", "Erin Evans"),
    ]
    assert world.user_by_email("Bob@Example.com") is world.users[BOB]


def test_sites_and_projects() -> None:
    world = build_world()
    acme, globex = world.sites["acme"], world.sites["globex"]
    assert (acme.cloud_id, acme.display_name, globex.cloud_id, globex.display_name) == (
        ACME_CLOUD_ID,
        "Acme",
        GLOBEX_CLOUD_ID,
        "Globex",
    )
    assert world.site_by_cloud_id(GLOBEX_CLOUD_ID) is globex
    assert [(p.id, p.key, p.name) for p in acme.projects.values()] == [
        ("10000", "ENG", "Engineering"),
        ("10001", "OPS", "Operations"),
        ("10002", "MKT", "Marketing"),
        ("10003", "SEC", "Security"),
    ]
    assert [(p.id, p.key, p.name) for p in globex.projects.values()] == [("10000", "GLX", "Globex Core")]


@pytest.mark.parametrize(
    ("site", "user", "expected"),
    [
        ("acme", ALICE, {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": FULL_ACCESS, "SEC": FULL_ACCESS}),
        ("acme", BOB, {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": READ_ONLY, "SEC": frozenset()}),
        ("acme", CAROL, {"ENG": frozenset(), "OPS": frozenset(), "MKT": frozenset(), "SEC": frozenset()}),
        ("acme", DAVE, {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": FULL_ACCESS, "SEC": frozenset()}),
        ("acme", ERIN, {"ENG": FULL_ACCESS, "OPS": FULL_ACCESS, "MKT": FULL_ACCESS, "SEC": frozenset()}),
        ("globex", ALICE, {"GLX": FULL_ACCESS}),
        ("globex", DAVE, {"GLX": FULL_ACCESS}),
        ("globex", BOB, {"GLX": frozenset()}),
    ],
)
def test_permissions(site: str, user: str, expected: dict[str, frozenset[str]]) -> None:
    s = build_world().sites[site]
    assert {key: s.permissions.get((user, key), frozenset()) for key in s.projects} == expected
    assert s.can(user, "ENG" if site == "acme" else "GLX", "BROWSE_PROJECTS") == bool(next(iter(expected.values())))


def test_site_members() -> None:
    world = build_world()
    assert world.sites["acme"].members == {ALICE, BOB, CAROL, DAVE, ERIN}
    assert world.sites["globex"].members == {ALICE, DAVE}


def test_issue_types_priorities_and_workflow() -> None:
    for site in build_world().sites.values():
        types = {t.id: (t.name, t.subtask, t.hierarchy_level) for t in site.issue_types.values()}
        assert types == {
            "10000": ("Epic", False, 1),
            "10001": ("Task", False, 0),
            "10002": ("Bug", False, 0),
            "10003": ("Story", False, 0),
            "10004": ("Sub-task", True, -1),
        }
        assert {p.id: p.name for p in site.priorities.values()} == {
            "1": "Highest",
            "2": "High",
            "3": "Medium",
            "4": "Low",
            "5": "Lowest",
        }
        assert site.default_priority_id == "3"
        workflows = {id(p.workflow) for p in site.projects.values()}
        assert len(workflows) == 1
        for project in site.projects.values():
            assert sorted(project.issue_type_ids) == ["10000", "10001", "10002", "10003", "10004"]
        workflow = next(iter(site.projects.values())).workflow
        assert workflow.name == "Software Simplified Workflow"
        assert workflow.initial_status_id == "10000"
        assert [(s.id, s.name, s.category) for s in workflow.statuses] == [
            ("10000", "To Do", "new"),
            ("3", "In Progress", "indeterminate"),
            ("10001", "Done", "done"),
        ]
        transitions = {
            t.id: (t.name, t.from_status_ids, t.to_status_id, t.resolution, t.condition, t.screen_fields)
            for t in workflow.transitions
        }
        assert transitions == {
            "21": ("Start Progress", ("10000",), "3", None, None, ()),
            "11": ("Stop Progress", ("3",), "10000", None, None, ()),
            "31": ("Done", ("10000", "3"), "10001", "Done", None, ("resolution",)),
            "41": ("Reopen", ("10001",), "10000", None, None, ()),
            "51": ("Won't Do", ("10000", "3"), "10001", "Won't Do", "assignee_only", ()),
        }


def test_issue_counts_keys_and_ids() -> None:
    world = build_world()
    expected = {"acme": {"ENG": 120, "OPS": 80, "MKT": 60, "SEC": 60}, "globex": {"GLX": 40}}
    for name, counts in expected.items():
        site = world.sites[name]
        assert Counter(i.project_key for i in site.issues.values()) == counts
        for key, count in counts.items():
            numbers = sorted(int(i.key.split("-")[1]) for i in site.issues.values() if i.project_key == key)
            assert numbers == list(range(1, count + 1))
            assert site.next_issue_number[key] == count + 1
        in_id_order = sorted(site.issues.values(), key=lambda i: int(i.id))
        assert [int(i.id) for i in in_id_order] == list(range(10000, 10000 + len(site.issues)))
        assert [i.created for i in in_id_order] == sorted(i.created for i in in_id_order)
        assert site.next_issue_id == 10000 + len(site.issues)
        assert all(site.find_issue(i.id) is i for i in site.issues.values())
        comment_ids = sorted(int(c.id) for i in site.issues.values() for c in i.comments)
        assert comment_ids == list(range(10000, site.next_comment_id))


def _members(world: World, site: str, project: str, permission: str) -> set[str]:
    s = world.sites[site]
    return {a for (a, key), perms in s.permissions.items() if key == project and permission in perms}


def test_every_issue_is_well_formed() -> None:
    world = build_world()
    for site in world.sites.values():
        statuses = {s.id for s in next(iter(site.projects.values())).workflow.statuses}
        for issue in site.issues.values():
            assert issue.key.startswith(issue.project_key + "-")
            assert issue.issuetype_id in site.issue_types
            assert issue.priority_id in site.priorities
            assert issue.status_id in statuses
            assert issue.summary
            assert START <= issue.created < END
            assert issue.created <= issue.updated
            assert set(issue.labels) <= set(LABELS)
            assert issue.labels == sorted(set(issue.labels))
            if issue.assignee_id is not None:
                assert issue.assignee_id in _members(world, site.name, issue.project_key, "ASSIGNABLE_USER")
            assert issue.reporter_id in _members(world, site.name, issue.project_key, "BROWSE_PROJECTS")
            done = issue.status_id == "10001"
            assert (issue.resolution is not None) == done
            assert (issue.resolution_date is not None) == done
            if issue.resolution == "Won't Do":
                assert issue.assignee_id is not None
            if issue.resolution_date:
                assert issue.created <= issue.resolution_date <= issue.updated
            if issue.due_date:
                assert issue.due_date >= issue.created.date().isoformat()
            assert 0 <= len(issue.comments) <= 4
            for comment in issue.comments:
                assert comment.author_account_id in _members(world, site.name, issue.project_key, "BROWSE_PROJECTS")
                assert issue.created <= comment.created == comment.updated <= issue.updated


def test_hierarchy() -> None:
    acme = build_world().sites["acme"]
    children: Counter[str] = Counter()
    subtasks = 0
    for issue in acme.issues.values():
        if issue.issuetype_id == "10004":
            subtasks += 1
            assert issue.parent_key is not None
        if issue.parent_key is None:
            continue
        parent = acme.issues[issue.parent_key]
        assert parent.project_key == issue.project_key
        assert int(parent.id) < int(issue.id)
        if issue.issuetype_id == "10004":
            assert parent.issuetype_id == "10001"
        else:
            assert issue.issuetype_id in ("10001", "10002", "10003")
            assert parent.issuetype_id == "10000"
            children[parent.key] += 1
    assert len(children) >= 5  # Epics with children
    assert subtasks >= 5


def test_variety() -> None:
    issues = [i for site in build_world().sites.values() for i in site.issues.values()]
    nodes = Counter(node["type"] for i in issues if i.description for node in i.description["content"])
    assert {"paragraph", "bulletList", "codeBlock", "heading"} <= set(nodes)
    assert 0 < sum(i.description is None for i in issues) < len(issues) // 4
    links = [i for i in issues if i.description and '"link"' in json.dumps(i.description)]
    assert links
    assert {i.status_id for i in issues} == {"10000", "3", "10001"}
    assert {i.priority_id for i in issues} == {"1", "2", "3", "4", "5"}
    assert {i.resolution for i in issues} == {None, "Done", "Won't Do"}
    assert any(i.assignee_id is None for i in issues)
    assert any(i.comments for i in issues)
    assert any(not i.labels for i in issues) and any(len(i.labels) > 1 for i in issues)


def _shape(node: Any) -> Any:
    """The document with every string replaced by "x" (empty stays empty): what the schema checks, bar formats."""
    if isinstance(node, dict):
        return {k: (v if k == "type" else _shape(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return ("x" if node else "") if isinstance(node, str) else node


def test_adf_documents_match_the_schema() -> None:
    schema_file = SHARED_ATLASSIAN / "adf-schema-v1-full.json"
    if not schema_file.exists():
        pytest.skip(f"ADF schema not found at {schema_file} (../shared/atlassian is absent)")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    shapes: dict[str, Any] = {}  # distinct shapes only: the schema is slow to check
    for site in build_world().sites.values():
        for issue in site.issues.values():
            documents = [issue.description] if issue.description else []
            for document in documents + [c.body for c in issue.comments]:
                assert document["version"] == 1
                shape = _shape(document)
                shapes[json.dumps(shape, sort_keys=True)] = shape
    for shape in shapes.values():
        errors = list(validator.iter_errors(shape))
        assert not errors, errors[0].message


def test_demo_app() -> None:
    app = build_world().apps["policyarc-demo"]
    assert (app.client_secret, app.name) == ("policyarc-demo-secret", "PolicyArc (demo)")
    assert all(url.startswith(("http://127.0.0.1/", "http://localhost/")) for url in app.callback_urls)


# --- seed files -------------------------------------------------------------------------------------------

SECRET = "seed-secret-value-0123456789"


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "seed.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_seed_file_adds_apps_users_and_memberships(tmp_path: Path) -> None:
    data = {
        "apps": [
            {"client_id": "other", "client_secret": SECRET, "name": "Other", "callback_urls": ["https://x.test/cb"]}
        ],
        "users": [{"email": "fay@example.com", "name": "Fay Fox"}],
        "memberships": [
            {"site": "globex", "email": "fay@example.com", "projects": {"GLX": "READ_ONLY"}},
            {"site": "globex", "email": "carol@example.com"},
            {"site": "acme", "email": "bob@example.com", "projects": {"SEC": ["BROWSE_PROJECTS"], "MKT": "NONE"}},
        ],
    }
    extra = load_seed_file(_write(tmp_path, data))
    world = build_world(extra)
    assert world.apps["other"].client_secret == SECRET
    assert "policyarc-demo" in world.apps
    fay = world.user_by_email("fay@example.com")
    assert fay is not None and fay.account_id.startswith("712020:")
    assert build_world(extra).user_by_email("fay@example.com") == fay  # the derived id is stable
    globex, acme = world.sites["globex"], world.sites["acme"]
    assert fay.account_id in globex.members and CAROL in globex.members
    assert globex.permissions[(fay.account_id, "GLX")] == READ_ONLY
    assert (CAROL, "GLX") not in globex.permissions
    assert acme.permissions[(BOB, "SEC")] == frozenset({"BROWSE_PROJECTS"})
    assert (BOB, "MKT") not in acme.permissions
    # The generated issues do not depend on the file.
    assert world.sites["acme"].issues == build_world().sites["acme"].issues


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("{not json", "not valid JSON: Expecting property name"),
        ([], "expected a JSON object"),
        ({"aps": []}, "aps: Extra inputs are not permitted"),
        ({"apps": [{"client_id": "a", "name": "A", "callback_urls": ["https://a.test/cb"]}]}, "apps.0.client_secret"),
        (
            {"apps": [{"client_id": "a", "client_secret": SECRET, "name": "A", "callback_urls": ["/cb"]}]},
            "callback URL",
        ),
        ({"users": [{"email": "alice@example.com", "name": "A"}]}, "already a seeded user"),
        ({"users": [{"email": "not-an-email", "name": "A"}]}, "users.0.email"),
        ({"memberships": [{"site": "initech", "email": "bob@example.com"}]}, "unknown site 'initech'"),
        ({"memberships": [{"site": "acme", "email": "zed@example.com"}]}, "zed@example.com is neither"),
        ({"memberships": [{"site": "acme", "email": "bob@example.com", "projects": {"XYZ": "NONE"}}]}, "'XYZ'"),
        ({"memberships": [{"site": "acme", "email": "bob@example.com", "projects": {"ENG": "ALL"}}]}, "projects.ENG"),
    ],
)
def test_bad_seed_file_is_rejected_clearly(tmp_path: Path, data: Any, problem: str) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(SeedError) as caught:
        load_seed_file(path)
    assert problem in str(caught.value)
    assert str(path) in str(caught.value)
    assert SECRET not in str(caught.value)


def test_duplicate_app_is_rejected_without_naming_the_secret(tmp_path: Path) -> None:
    app = {"client_id": "a", "client_secret": SECRET, "name": "A", "callback_urls": ["https://a.test/cb"]}
    with pytest.raises(SeedError, match="client_id 'a' appears more than once") as caught:
        load_seed_file(_write(tmp_path, {"apps": [app, app]}))
    assert SECRET not in str(caught.value)


def test_missing_seed_file(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read seed file"):
        load_seed_file(tmp_path / "absent.json")


def test_build_world_checks_extra_too() -> None:
    with pytest.raises(SeedError, match="unknown site"):
        build_world({"memberships": [{"site": "nope", "email": "bob@example.com"}]})
