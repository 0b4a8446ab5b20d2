"""GET and POST /issue/{key}/transitions (`jira/transitions.py`, `jira/workflow.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from policyarc.sim.atlassian.model import Issue, World
from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]
BASE = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
PATH = "/rest/api/3/issue/{issueIdOrKey}/transitions"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
DAVE = "712020:da4e0000-0000-4000-8000-000000000004"
DOC = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Bye"}]}]}


async def transitions(client: httpx.AsyncClient, token: str, key: str, **params: Any) -> tuple[int, Any]:
    response = await client.get(
        f"{BASE}/issue/{key}/transitions", params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert_conforms("GET", PATH, response.status_code, response.json())
    return response.status_code, response.json()


async def move(client: httpx.AsyncClient, token: str, key: str, body: Any) -> tuple[int, Any]:
    response = await client.post(
        f"{BASE}/issue/{key}/transitions", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    parsed = response.json() if response.content else None
    assert_conforms("POST", PATH, response.status_code, parsed)
    return response.status_code, parsed


def to_do(world: World, key: str, assignee: str | None) -> Issue:
    issue = world.sites["acme"].issues[key]
    issue.status_id, issue.assignee_id, issue.resolution, issue.resolution_date = "10000", assignee, None, None
    return issue


async def test_available_transitions_depend_on_status_and_assignee(
    sim_client: httpx.AsyncClient, mint: Mint, world: World
) -> None:
    token = mint("alice@example.com")
    to_do(world, "ENG-10", DAVE)
    _, body = await transitions(sim_client, token, "ENG-10")
    assert [t["id"] for t in body["transitions"]] == ["21", "31"]
    to_do(world, "ENG-10", ALICE)
    _, body = await transitions(sim_client, token, "ENG-10")
    assert [t["id"] for t in body["transitions"]] == ["21", "31", "51"]
    assert body["transitions"][2]["isConditional"] is True and body["transitions"][2]["to"]["name"] == "Done"
    world.sites["acme"].issues["ENG-10"].status_id = "10001"
    _, body = await transitions(sim_client, token, "ENG-10")
    assert [t["id"] for t in body["transitions"]] == ["41"]


async def test_transition_fields_and_filter(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    to_do(world, "ENG-11", None)
    token = mint("alice@example.com")
    _, body = await transitions(sim_client, token, "ENG-11", expand="transitions.fields", transitionId="31")
    (done,) = body["transitions"]
    assert done["hasScreen"] is True
    assert "Won't Do" in [v["name"] for v in done["fields"]["resolution"]["allowedValues"]]
    _, body = await transitions(sim_client, token, "ENG-11")
    assert all("fields" not in t for t in body["transitions"])


async def test_a_workflow_round_trip(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = to_do(world, "ENG-12", None)
    token = mint("alice@example.com")
    assert await move(sim_client, token, "ENG-12", {"transition": {"id": "21"}}) == (204, None)
    assert issue.status_id == "3" and issue.resolution is None
    assert await move(sim_client, token, "ENG-12", {"transition": {"id": 31}}) == (204, None)
    assert issue.status_id == "10001" and issue.resolution == "Done" and issue.resolution_date is not None
    assert await move(sim_client, token, "ENG-12", {"transition": {"id": "41"}}) == (204, None)
    assert issue.status_id == "10000" and issue.resolution is None and issue.resolution_date is None


async def test_resolution_and_comment_on_a_transition(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = to_do(world, "ENG-13", None)
    count = len(issue.comments)
    body = {
        "transition": {"id": "31"},
        "fields": {"resolution": {"name": "Duplicate"}},
        "update": {"comment": [{"add": {"body": DOC}}]},
    }
    assert await move(sim_client, mint("alice@example.com"), "ENG-13", body) == (204, None)
    assert issue.resolution == "Duplicate" and len(issue.comments) == count + 1


async def test_invalid_transition_requests(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = to_do(world, "ENG-14", DAVE)
    token = mint("alice@example.com")
    cases: list[tuple[Any, list[str], dict[str, str]]] = [
        ({"transition": {"id": "51"}}, ["Transition id '51' is not valid for this issue."], {}),
        ({"transition": {"id": "41"}}, ["Transition id '41' is not valid for this issue."], {}),
        ({}, ["Missing 'transition' identifier"], {}),
        ({"transition": {"id": "abc"}}, ["'transition' identifier must be an integer"], {}),
        (
            {"transition": {"id": "21"}, "fields": {"resolution": {"name": "Done"}}},
            [],
            {"resolution": "Field 'resolution' cannot be set. It is not on the appropriate screen, or unknown."},
        ),
        (
            {"transition": {"id": "31"}, "fields": {"resolution": {"name": "Nope"}}},
            [],
            {"resolution": "Could not find valid 'id' or 'name' in resolution object."},
        ),
        (
            {"transition": {"id": "31"}, "fields": {"summary": "x"}},
            [],
            {"summary": "Field 'summary' cannot be set. It is not on the appropriate screen, or unknown."},
        ),
    ]
    for body, messages, errors in cases:
        assert await move(sim_client, token, "ENG-14", body) == (400, {"errorMessages": messages, "errors": errors})
    assert issue.status_id == "10000"
    dave = mint("dave@example.com")
    assert await move(sim_client, dave, "ENG-14", {"transition": {"id": "51"}}) == (204, None)
    assert issue.resolution == "Won't Do"


async def test_transition_permissions(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    to_do(world, "MKT-2", None)
    bob = mint("bob@example.com")
    assert await transitions(sim_client, bob, "MKT-2") == (200, {"expand": "transitions", "transitions": []})
    status, body = await move(sim_client, bob, "MKT-2", {"transition": {"id": "21"}})
    assert (status, body["errorMessages"]) == (400, ["You do not have permission to transition this issue."])
    assert (await transitions(sim_client, bob, "SEC-1"))[0] == 404
    assert (await move(sim_client, bob, "SEC-1", {"transition": {"id": "21"}}))[0] == 404
    read_only = mint("alice@example.com", scopes=["read:jira-work"])
    assert (await move(sim_client, read_only, "ENG-1", {"transition": {"id": "21"}}))[0] == 401
