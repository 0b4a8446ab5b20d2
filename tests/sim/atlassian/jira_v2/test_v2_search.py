"""`GET`/`POST /rest/api/2/search` (`jira_v2/search.py`): startAt paging, totals, JQL errors, permissions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from policyarc.sim.atlassian.adf_wiki import adf_to_wiki
from policyarc.sim.atlassian.model import World
from policyarc.sim.atlassian.seed import ALICE

Mint = Callable[..., str]
V2 = "/site/acme/rest/api/2"


async def search(client: httpx.AsyncClient, token: str, method: str = "GET", **params: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if method == "GET":
        response = await client.get(f"{V2}/search", params=params, headers=headers)
    else:
        response = await client.post(f"{V2}/search", json=params, headers=headers)
    return response.status_code, response.json()


async def test_search_pages_with_start_at_and_total(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    alice = mint("alice@example.com")
    eng = len([i for i in world.sites["acme"].issues.values() if i.project_key == "ENG"])
    status, first = await search(sim_client, alice, jql="project = ENG ORDER BY key ASC", maxResults=20)
    assert status == 200
    assert (first["startAt"], first["maxResults"], first["total"]) == (0, 20, eng)
    assert [i["key"] for i in first["issues"]] == [f"ENG-{n}" for n in range(1, 21)]
    _, second = await search(
        sim_client, alice, "POST", jql="project = ENG ORDER BY key ASC", startAt=20, maxResults=5, fields=["summary"]
    )
    assert [i["key"] for i in second["issues"]] == [f"ENG-{n}" for n in range(21, 26)]
    assert set(second["issues"][0]["fields"]) == {"summary"}


async def test_search_default_fields_are_navigable_in_server_shapes(
    sim_client: httpx.AsyncClient, mint: Mint, world: World
) -> None:
    _, body = await search(sim_client, mint("alice@example.com"), jql="key = ENG-1")
    (issue,) = body["issues"]
    fields = issue["fields"]
    assert "comment" not in fields  # not navigable
    assert fields["description"] == adf_to_wiki(world.sites["acme"].issues["ENG-1"].description)
    assert fields["summary"] == world.sites["acme"].issues["ENG-1"].summary
    assert all("accountId" not in (fields.get(k) or {}) for k in ("assignee", "reporter", "creator"))


async def test_search_shows_only_browsable_projects(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    _, body = await search(sim_client, mint("bob@example.com"), jql="", maxResults=1000, fields="project")
    projects = {i["fields"]["project"]["key"] for i in body["issues"]}
    assert projects == {"ENG", "OPS", "MKT"}
    assert body["total"] == len([i for i in world.sites["acme"].issues.values() if i.project_key != "SEC"])
    carol = mint("carol@example.com")
    _, body = await search(sim_client, carol, jql="")
    assert (body["total"], body["issues"]) == (0, [])
    # A project the caller cannot see is a value that does not exist, as Jira words it.
    status, body = await search(sim_client, carol, jql="project = ENG")
    assert status == 400 and "ENG" in body["errorMessages"][0]


async def test_search_names_users_by_server_user_name(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    alice = mint("alice@example.com")
    mine = {i.key for i in world.sites["acme"].issues.values() if i.assignee_id == ALICE}
    assert mine
    status, body = await search(sim_client, alice, jql="assignee = alice", maxResults=1000, fields="assignee")
    assert status == 200
    assert {i["key"] for i in body["issues"]} == mine
    assert {i["fields"]["assignee"]["name"] for i in body["issues"]} == {"alice"}
    status, body = await search(sim_client, alice, jql="assignee = nobody")
    assert status == 400
    assert body["errorMessages"] == ["The value 'nobody' does not exist for the field 'assignee'."]


async def test_search_expand_names_once_for_the_page(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    _, body = await search(
        sim_client, mint("alice@example.com"), jql="project = OPS", maxResults=2, fields="summary", expand="names"
    )
    assert body["names"] == {"summary": "Summary"}
    assert all("names" not in i for i in body["issues"])


async def test_search_errors_use_jiras_body(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com")
    status, body = await search(sim_client, alice, jql="project = = ENG")
    assert status == 400 and body["errorMessages"] and body["errors"] == {}
    status, body = await search(sim_client, alice, jql="nosuchfield = 1")
    assert status == 400 and body["errorMessages"]
    status, body = await search(sim_client, alice, maxResults="many")
    assert status == 400
    status, body = await search(sim_client, alice, "POST", jql="project = ENG", bogus=1)
    assert status == 400 and "bogus" in body["errorMessages"][0]
    status, body = await search(sim_client, alice, "POST", jql=5)
    assert status == 400
    response = await sim_client.get(f"{V2}/search", params={"jql": "project = ENG"})
    assert response.status_code == 401
