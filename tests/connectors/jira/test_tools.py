"""The seven Jira tools against the in-process simulator, as different users."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from policyarc.connectors.base import ToolFailure
from policyarc.connectors.jira import inputs, tools
from policyarc.connectors.jira.client import JiraClient, RetryPolicy
from policyarc.connectors.jira.errors import JiraBadRequest, JiraForbidden, JiraNotFound, JiraUnauthorized
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.upstream import HttpxUpstream

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
BOB = "712020:b0b00000-0000-4000-8000-000000000002"
DAVE = "712020:da4e0000-0000-4000-8000-000000000004"
ALL_SCOPES = ("read:jira-work", "read:jira-user", "write:jira-work", "read:me", "offline_access")


@pytest.fixture
def sim() -> Starlette:
    return create_sim_app(SimConfig(rate_limits_enabled=False))


def call_as(sim: Starlette, account_id: str, scopes: tuple[str, ...] = ALL_SCOPES) -> tools.JiraCall:
    token = sim.state.sim.tokens.mint(account_id, "policyarc-demo", scopes, [ACME])["access_token"]
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://sim")
    client = JiraClient(HttpxUpstream(http), api_url="http://sim/api", retry=RetryPolicy(attempts=1))
    return tools.JiraCall(client, ACME, "https://acme.atlassian.net", token, account_id)


async def test_search_returns_compact_rows_and_pages(sim: Starlette) -> None:
    call = call_as(sim, ALICE)
    args = inputs.SearchIssuesInput(jql="project = ENG ORDER BY key ASC", max_results=20)
    first = await tools.search_issues(call, args)
    assert [row["key"] for row in first["issues"]][:3] == ["ENG-1", "ENG-2", "ENG-3"]
    assert len(first["issues"]) == 20
    assert set(first["issues"][0]) <= {"key", "summary", "status", "type", "priority", "assignee", "updated", "labels"}
    second = await tools.search_issues(
        call, inputs.SearchIssuesInput(jql=args.jql, max_results=20, page_token=first["next_page_token"])
    )
    assert second["issues"][0]["key"] == "ENG-21"


async def test_search_with_extra_fields(sim: Starlette) -> None:
    call = call_as(sim, ALICE)
    result = await tools.search_issues(
        call, inputs.SearchIssuesInput(jql="key = ENG-1", fields=["reporter", "created"])
    )
    assert set(result["issues"][0]["fields"]) == {"reporter", "created"}
    assert "next_page_token" not in result


async def test_bad_jql_keeps_jiras_words(sim: Starlette) -> None:
    with pytest.raises(JiraBadRequest, match="The value 'FOO' does not exist for the field 'project'"):
        await tools.search_issues(call_as(sim, ALICE), inputs.SearchIssuesInput(jql="project = FOO"))


async def test_each_user_sees_only_what_jira_lets_them(sim: Starlette) -> None:
    query = inputs.SearchIssuesInput(jql="project in (ENG, OPS, MKT) OR labels = security", max_results=100)
    alice = await tools.search_issues(call_as(sim, ALICE), query)
    with pytest.raises(JiraBadRequest):
        # bob cannot browse SEC: naming it is an unknown value for him, as in Jira
        await tools.search_issues(call_as(sim, BOB), inputs.SearchIssuesInput(jql="project = SEC"))
    bob_rows = await tools.search_issues(call_as(sim, BOB), query)
    assert all(not row["key"].startswith("SEC-") for row in bob_rows["issues"])
    assert alice["issues"]
    with pytest.raises(JiraNotFound, match="Issue does not exist or you do not have permission to see it"):
        await tools.get_issue(call_as(sim, BOB), inputs.GetIssueInput(key="SEC-1"))


async def test_get_issue_gives_markdown_and_comments(sim: Starlette) -> None:
    world = sim.state.sim.world
    issue = next(i for i in world.sites["acme"].issues.values() if i.comments and i.description)
    result = await tools.get_issue(
        call_as(sim, ALICE), inputs.GetIssueInput(key=issue.key, include_comments=True, max_comments=2)
    )
    assert result["key"] == issue.key
    assert result["url"] == f"https://acme.atlassian.net/browse/{issue.key}"
    assert isinstance(result["description"], str) and result["description"]
    assert '"type"' not in result["description"]  # Markdown, not ADF JSON
    assert len(result["comments"]) == min(2, len(issue.comments))
    assert result["comment_count"] == len(issue.comments)


async def test_list_projects_pages_with_a_cursor(sim: Starlette) -> None:
    call = call_as(sim, ALICE)
    first = await tools.list_projects(call, inputs.ListProjectsInput(page_size=3))
    assert [p["key"] for p in first["projects"]] == ["ENG", "MKT", "OPS"]
    assert first["total"] == 4
    rest = await tools.list_projects(call, inputs.ListProjectsInput(page_size=3, cursor=first["next_cursor"]))
    assert [p["key"] for p in rest["projects"]] == ["SEC"]
    assert "next_cursor" not in rest
    bob = await tools.list_projects(call_as(sim, BOB), inputs.ListProjectsInput())
    assert {p["key"] for p in bob["projects"]} == {"ENG", "MKT", "OPS"}


async def test_create_with_markdown_assignee_by_email_and_labels(sim: Starlette) -> None:
    call = call_as(sim, ALICE)
    created = await tools.create_issue(
        call,
        inputs.CreateIssueInput(
            project="eng",
            summary="Rotate the signing keys",
            description="Steps:\n\n- **revoke** the old key\n- publish `jwks`",
            assignee="dave@example.com",
            priority="High",
            labels=["security"],
        ),
    )
    assert created["key"].startswith("ENG-")
    stored = sim.state.sim.world.sites["acme"].issues[created["key"]]
    assert stored.assignee_id == DAVE
    assert stored.reporter_id == ALICE
    assert stored.description is not None and stored.description["type"] == "doc"
    detail = await tools.get_issue(call, inputs.GetIssueInput(key=created["key"]))
    assert "**revoke**" in detail["description"]
    assert detail["priority"] == "High"


async def test_create_assignee_me(sim: Starlette) -> None:
    created = await tools.create_issue(
        call_as(sim, BOB), inputs.CreateIssueInput(project="OPS", summary="On call notes", assignee="me")
    )
    assert sim.state.sim.world.sites["acme"].issues[created["key"]].assignee_id == BOB


async def test_create_where_the_user_may_only_read_is_refused_by_jira(sim: Starlette) -> None:
    with pytest.raises(JiraForbidden):
        await tools.create_issue(call_as(sim, BOB), inputs.CreateIssueInput(project="MKT", summary="nope"))


async def test_unknown_assignee_is_a_clear_tool_failure(sim: Starlette) -> None:
    with pytest.raises(ToolFailure, match=r"No single Jira user matches 'nobody@example\.com'"):
        await tools.create_issue(
            call_as(sim, ALICE), inputs.CreateIssueInput(project="ENG", summary="x", assignee="nobody@example.com")
        )


async def test_update_labels_summary_and_unassign(sim: Starlette) -> None:
    call = call_as(sim, ALICE)
    issue = sim.state.sim.world.sites["acme"].issues["ENG-2"]
    keep = list(issue.labels)
    result = await tools.update_issue(
        call,
        inputs.UpdateIssueInput(key="ENG-2", summary="Renamed", labels_add=["triaged"], assignee="none"),
    )
    assert result["updated"] == ["assignee", "labels", "summary"]
    assert issue.summary == "Renamed"
    assert issue.assignee_id is None
    assert issue.labels == [*keep, "triaged"] or sorted(issue.labels) == sorted([*keep, "triaged"])
    await tools.update_issue(call, inputs.UpdateIssueInput(key="ENG-2", labels_remove=["triaged"]))
    assert "triaged" not in issue.labels


async def test_update_with_nothing_to_change(sim: Starlette) -> None:
    with pytest.raises(ToolFailure) as info:
        await tools.update_issue(call_as(sim, ALICE), inputs.UpdateIssueInput(key="ENG-2"))
    assert info.value.code == "nothing_to_update"


async def test_transitions_by_name_case_insensitive_with_comment(sim: Starlette) -> None:
    call = call_as(sim, ALICE)
    site = sim.state.sim.world.sites["acme"]
    issue = next(i for i in site.issues.values() if i.project_key == "ENG" and i.status_id == "10000")
    listed = await tools.get_transitions(call, inputs.GetTransitionsInput(key=issue.key))
    names = {t["name"] for t in listed["transitions"]}
    assert "Start Progress" in names
    comments_before = len(issue.comments)
    moved = await tools.transition_issue(
        call, inputs.TransitionIssueInput(key=issue.key, transition="start progress", comment="Picking this up")
    )
    assert moved["status"] == "In Progress"
    assert issue.status_id == "3"
    assert len(issue.comments) == comments_before + 1
    done = await tools.transition_issue(call, inputs.TransitionIssueInput(key=issue.key, transition="31"))
    assert done["status"] == "Done"
    assert issue.resolution == "Done"


async def test_unavailable_transition_lists_what_is_available(sim: Starlette) -> None:
    site = sim.state.sim.world.sites["acme"]
    issue = next(i for i in site.issues.values() if i.project_key == "ENG" and i.status_id == "10000")
    with pytest.raises(ToolFailure, match="Available: 'Start Progress' \\(id 21\\)") as info:
        await tools.transition_issue(
            call_as(sim, ALICE), inputs.TransitionIssueInput(key=issue.key, transition="Reopen")
        )
    assert info.value.code == "unknown_transition"


async def test_token_without_write_scope_is_refused_upstream(sim: Starlette) -> None:
    call = call_as(sim, ALICE, scopes=("read:jira-work", "read:me"))
    with pytest.raises(JiraUnauthorized, match="scope does not match"):
        await tools.create_issue(call, inputs.CreateIssueInput(project="ENG", summary="x"))


def test_tool_catalogue_is_small_enough_for_an_agent() -> None:
    import mcp_types as types
    import orjson

    from policyarc.connectors.jira.catalog import JIRA_TOOLS

    listing = [
        types.Tool(
            name=t.name,
            title=t.title,
            description=t.description,
            input_schema=t.input_schema,
            output_schema=t.output_schema,
            annotations=types.ToolAnnotations(
                read_only_hint=t.hints.read_only,
                destructive_hint=t.hints.destructive,
                idempotent_hint=t.hints.idempotent,
                open_world_hint=t.hints.open_world,
            ),
        )
        for t in JIRA_TOOLS
    ]
    wire: dict[str, Any] = types.ListToolsResult(tools=listing).model_dump(
        by_alias=True, exclude_none=True, mode="json"
    )
    assert [t["name"] for t in wire["tools"]] == [
        "search_issues",
        "get_issue",
        "list_projects",
        "create_issue",
        "update_issue",
        "get_transitions",
        "transition_issue",
    ]
    for tool in wire["tools"]:
        assert "title" not in tool["inputSchema"]["properties"].get("key", {})
        assert "anyOf" not in orjson.dumps(tool["inputSchema"]).decode()
    assert len(orjson.dumps(wire)) <= 8192  # issue 4: tools/list at most 8 KB


async def test_get_issue_text_is_compact_and_carries_the_facts(sim: Starlette) -> None:
    from policyarc.connectors.jira.shaping import issue_text

    detail = await tools.get_issue(call_as(sim, ALICE), inputs.GetIssueInput(key="ENG-1", include_comments=True))
    text = issue_text(detail)
    assert text.startswith(f"ENG-1: {detail['summary']}\n")
    for fact in (detail["status"], detail["type"], detail["assignee"], detail["reporter"], detail["url"]):
        assert fact in text
    assert detail["description"] in text
    assert all(comment["body"] in text for comment in detail["comments"])
    assert detail["assignee"].endswith("<alice@example.com>")
    assert detail["created"].endswith("Z") and len(detail["created"]) == len("2026-03-01 06:10Z")
