"""GET/POST/PUT issue and PUT assignee (`jira/issues.py`, rendering from `jira/fields.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from policyarc.sim.atlassian.model import World
from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]
BASE = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
ISSUE = "/rest/api/3/issue/{issueIdOrKey}"
CREATE = "/rest/api/3/issue"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
BOB = "712020:b0b00000-0000-4000-8000-000000000002"
CAROL = "712020:ca401000-0000-4000-8000-000000000003"
DAVE = "712020:da4e0000-0000-4000-8000-000000000004"
DOC = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]}
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"


async def call(
    client: httpx.AsyncClient, token: str, method: str, path: str, body: Any = None, **params: Any
) -> tuple[int, Any]:
    response = await client.request(
        method, f"{BASE}{path}", json=body, params=params, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, (response.json() if response.content else None)


async def get(client: httpx.AsyncClient, token: str, key: str, **params: Any) -> tuple[int, Any]:
    status, body = await call(client, token, "GET", f"/issue/{key}", **params)
    assert_conforms("GET", ISSUE, status, body)
    return status, body


async def create(client: httpx.AsyncClient, token: str, fields: dict[str, Any], **extra: Any) -> tuple[int, Any]:
    status, body = await call(client, token, "POST", "/issue", {"fields": fields, **extra})
    assert_conforms("POST", CREATE, status, body)
    return status, body


async def edit(client: httpx.AsyncClient, token: str, key: str, body: Any, **params: Any) -> tuple[int, Any]:
    status, answer = await call(client, token, "PUT", f"/issue/{key}", body, **params)
    assert_conforms("PUT", ISSUE, status, answer)
    return status, answer


def task(summary: str = "A new task", project: str = "ENG", **fields: Any) -> dict[str, Any]:
    return {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary, **fields}


# --- get issue -------------------------------------------------------------------------------------------


async def test_get_issue_renders_every_field(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = world.sites["acme"].issues["ENG-1"]
    status, body = await get(sim_client, mint("alice@example.com"), "ENG-1")
    assert status == 200
    assert (body["id"], body["key"]) == (issue.id, "ENG-1")
    assert body["self"] == f"https://api.atlassian.com{BASE.removeprefix('/api')}/issue/{issue.id}"
    fields = body["fields"]
    assert fields["summary"] == issue.summary
    assert fields["status"]["statusCategory"]["key"] in ("new", "indeterminate", "done")
    assert fields["project"]["key"] == "ENG" and fields["issuetype"]["id"] == issue.issuetype_id
    assert fields["reporter"]["accountId"] == issue.reporter_id == fields["creator"]["accountId"]
    assert fields["reporter"]["accountType"] == "atlassian" and "emailAddress" in fields["reporter"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", fields["created"])
    assert fields["comment"]["total"] == len(issue.comments)
    assert "comment" in fields and "labels" in fields and "duedate" in fields


async def test_get_issue_by_id_matches_by_key(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    token = mint("alice@example.com")
    issue_id = world.sites["acme"].issues["OPS-3"].id
    assert (await get(sim_client, token, issue_id))[1] == (await get(sim_client, token, "ops-3"))[1]


async def test_fields_parameter(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    _, body = await get(sim_client, token, "ENG-2", fields="summary,status")
    assert set(body["fields"]) == {"summary", "status"}
    response = await sim_client.get(
        f"{BASE}/issue/ENG-2",
        params=[("fields", "summary"), ("fields", "labels")],
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert set(body["fields"]) == {"summary", "labels"}
    _, body = await get(sim_client, token, "ENG-2", fields="-description,-comment")
    assert "description" not in body["fields"] and "comment" not in body["fields"] and "summary" in body["fields"]
    _, body = await get(sim_client, token, "ENG-2", fields="*navigable")
    assert "comment" not in body["fields"] and "summary" in body["fields"]


async def test_expand_names_rendered_fields_and_transitions(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    _, body = await get(sim_client, mint("alice@example.com"), "ENG-1", expand="names,renderedFields,transitions")
    assert body["names"]["summary"] == "Summary"
    description = body["fields"]["description"]
    rendered = body["renderedFields"]["description"]
    assert (description is None and rendered is None) or rendered.startswith("<")
    assert isinstance(body["transitions"], list) and all("to" in t for t in body["transitions"])


async def test_sub_tasks_and_parents(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    site = world.sites["acme"]
    child = next(i for i in site.issues.values() if i.issuetype_id == "10004" and i.project_key != "SEC")
    token = mint("alice@example.com")
    _, body = await get(sim_client, token, child.key)
    assert body["fields"]["parent"]["key"] == child.parent_key
    _, parent = await get(sim_client, token, str(child.parent_key))
    assert child.key in [s["key"] for s in parent["fields"]["subtasks"]]
    assert "parent" not in parent["fields"] or parent["fields"]["parent"]["key"] != child.key


async def test_issues_the_caller_cannot_browse_are_404(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    expected = {"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}
    assert await get(sim_client, mint("bob@example.com"), "SEC-1") == (404, expected)
    assert await get(sim_client, mint("bob@example.com"), "NOPE-1") == (404, expected)
    assert await get(sim_client, mint("carol@example.com"), "ENG-1") == (404, expected)
    assert (await get(sim_client, mint("bob@example.com"), "MKT-1"))[0] == 200


# --- create issue ----------------------------------------------------------------------------------------


async def test_create_issue(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    site = world.sites["acme"]
    token = mint("alice@example.com")
    expected_key = f"ENG-{site.next_issue_number['ENG']}"
    fields = task(
        description=DOC,
        labels=["backend", "docs"],
        assignee={"accountId": DAVE},
        priority={"name": "High"},
        duedate="2026-12-24",
        customfield_10016=5,
    )
    status, created = await create(sim_client, token, fields)
    assert status == 201 and created["key"] == expected_key
    assert created["self"].endswith(f"/issue/{created['id']}")
    _, body = await get(sim_client, token, created["key"])
    got = body["fields"]
    assert got["status"]["name"] == "To Do" and got["resolution"] is None
    assert (got["assignee"]["accountId"], got["reporter"]["accountId"]) == (DAVE, ALICE)
    assert (got["priority"]["name"], got["labels"], got["duedate"]) == ("High", ["backend", "docs"], "2026-12-24")
    assert got["description"] == DOC and got["customfield_10016"] == 5


async def test_create_defaults_and_sub_tasks(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    token = mint("alice@example.com")
    _, parent = await create(sim_client, token, task())
    _, body = await get(sim_client, token, parent["key"])
    assert body["fields"]["priority"]["name"] == "Medium" and body["fields"]["assignee"] is None
    sub = {
        "project": {"id": "10000"},
        "issuetype": {"id": "10004"},
        "summary": "Step",
        "parent": {"key": parent["key"]},
    }
    status, child = await create(sim_client, token, sub)
    assert status == 201
    assert world.sites["acme"].issues[child["key"]].parent_key == parent["key"]
    no_parent = {**sub, "parent": None}
    del no_parent["parent"]
    status, body = await create(sim_client, token, no_parent)
    assert status == 400 and "parent" in body["errors"]


async def test_create_validation_errors(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    token = mint("alice@example.com")
    before = len(world.sites["acme"].issues)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (task(summary=""), {"summary": "You must specify a summary of the issue."}),
        ({k: v for k, v in task().items() if k != "summary"}, {"summary": "You must specify a summary of the issue."}),
        (task(description={"type": "paragraph"}), {"description": NOT_ADF}),
        (task(description={"type": "doc", "version": 1, "content": [{"type": "bogus"}]}), {"description": NOT_ADF}),
        (task(labels=["two words"]), {"labels": "The label 'two words' contains spaces which is invalid."}),
        (task(assignee={"accountId": CAROL}), {"assignee": f"User '{CAROL}' cannot be assigned issues."}),
        (task(priority={"id": "99"}), {"priority": "The priority selected is invalid."}),
        (task(duedate="24/12/2026"), {"duedate": "Error parsing date string: 24/12/2026"}),
        (task(foo=1), {"foo": "Field 'foo' cannot be set. It is not on the appropriate screen, or unknown."}),
        ({**task(), "project": {"key": "NOPE"}}, {"project": "Specify a valid project ID or key"}),
        ({**task(), "issuetype": {"name": "Saga"}}, {"issuetype": "Specify a valid issue type"}),
    ]
    for fields, errors in cases:
        status, body = await create(sim_client, token, fields)
        assert (status, body) == (400, {"errorMessages": [], "errors": errors}), fields
    assert len(world.sites["acme"].issues) == before


async def test_create_permissions(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = mint("bob@example.com")
    status, body = await create(sim_client, bob, task(project="MKT"))
    assert (status, body["errorMessages"]) == (403, ["You do not have permission to create issues in this project."])
    status, body = await create(sim_client, bob, task(project="SEC"))
    assert (status, body["errors"]) == (400, {"project": "Specify a valid project ID or key"})
    assert (await create(sim_client, bob, task(project="OPS")))[0] == 201


# --- edit issue ------------------------------------------------------------------------------------------


async def test_edit_fields_and_update_operations(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = world.sites["acme"].issues["ENG-5"]
    issue.labels = ["backend", "docs"]
    before = issue.updated
    body = {
        "fields": {"summary": "Renamed", "priority": {"id": "1"}, "assignee": {"accountId": DAVE}},
        "update": {"labels": [{"add": "infra"}, {"remove": "docs"}], "description": [{"set": DOC}]},
    }
    assert await edit(sim_client, mint("alice@example.com"), "ENG-5", body) == (204, None)
    assert (issue.summary, issue.priority_id, issue.assignee_id) == ("Renamed", "1", DAVE)
    assert issue.labels == ["backend", "infra"] and issue.description == DOC
    assert issue.updated > before


async def test_edit_can_unassign_and_return_the_issue(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    status, body = await edit(
        sim_client, mint("alice@example.com"), "ENG-6", {"fields": {"assignee": None}}, returnIssue="true"
    )
    assert status == 200 and body["key"] == "ENG-6" and body["fields"]["assignee"] is None


async def test_edit_errors_leave_the_issue_unchanged(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = world.sites["acme"].issues["ENG-7"]
    summary, labels = issue.summary, list(issue.labels)
    token = mint("alice@example.com")
    body = {"fields": {"summary": "Changed", "foo": "x"}, "update": {"labels": [{"add": "ok"}]}}
    status, answer = await edit(sim_client, token, "ENG-7", body)
    assert status == 400
    assert answer["errors"] == {"foo": "Field 'foo' cannot be set. It is not on the appropriate screen, or unknown."}
    status, answer = await edit(sim_client, token, "ENG-7", {"fields": {"description": "plain text"}})
    assert (status, answer["errors"]) == (400, {"description": NOT_ADF})
    status, answer = await edit(sim_client, token, "ENG-7", {"update": {"summary": [{"add": "x"}]}})
    assert status == 400 and "summary" in answer["errors"]
    status, answer = await edit(sim_client, token, "ENG-7", {"update": {"labels": {"add": "x"}}})
    assert status == 400 and answer["errorMessages"]
    assert (issue.summary, issue.labels) == (summary, labels)


async def test_edit_permissions(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = mint("bob@example.com")
    status, body = await edit(sim_client, bob, "MKT-1", {"fields": {"summary": "x"}})
    assert (status, body["errorMessages"]) == (403, ["You do not have permission to edit issues in this project."])
    assert (await edit(sim_client, bob, "SEC-1", {"fields": {"summary": "x"}}))[0] == 404
    assert (await edit(sim_client, bob, "ENG-1", {"fields": {"summary": "x"}}))[0] == 204


async def test_edit_can_add_a_comment(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = world.sites["acme"].issues["ENG-8"]
    count = len(issue.comments)
    body = {"update": {"comment": [{"add": {"body": DOC}}]}}
    assert (await edit(sim_client, mint("alice@example.com"), "ENG-8", body))[0] == 204
    assert len(issue.comments) == count + 1 and issue.comments[-1].author_account_id == ALICE


# --- assign ----------------------------------------------------------------------------------------------


async def test_assign_issue(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = world.sites["acme"].issues["ENG-9"]
    token = mint("alice@example.com")
    assert await call(sim_client, token, "PUT", "/issue/ENG-9/assignee", {"accountId": DAVE}) == (204, None)
    assert issue.assignee_id == DAVE
    assert await call(sim_client, token, "PUT", "/issue/ENG-9/assignee", {"accountId": None}) == (204, None)
    assert issue.assignee_id is None
    status, body = await call(sim_client, token, "PUT", "/issue/ENG-9/assignee", {"accountId": CAROL})
    assert status == 400 and body["errors"] == {"assignee": f"User '{CAROL}' cannot be assigned issues."}
    status, _ = await call(sim_client, mint("bob@example.com"), "PUT", "/issue/MKT-1/assignee", {"accountId": BOB})
    assert status == 403
