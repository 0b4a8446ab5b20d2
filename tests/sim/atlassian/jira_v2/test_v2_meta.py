"""myself, serverInfo, field, project, issuetype, priority and the user look-ups on v2 (`jira_v2/meta.py`)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

Mint = Callable[..., str]
V2 = "/site/acme/rest/api/2"


async def get(client: httpx.AsyncClient, token: str | None, path: str, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await client.get(f"{V2}{path}", params=params, headers=headers)


async def test_myself_is_a_server_user(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await get(sim_client, mint("bob@example.com"), "/myself")
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["key"], body["emailAddress"], body["displayName"]) == (
        "bob",
        "bob",
        "bob@example.com",
        "Bob Brown",
    )
    assert "accountId" not in body
    assert (await get(sim_client, None, "/myself")).status_code == 401


async def test_server_info_says_server(sim_client: httpx.AsyncClient) -> None:
    body = (await get(sim_client, None, "/serverInfo")).json()
    assert body["deploymentType"] == "Server"
    assert body["baseUrl"] == "http://sim/site/acme"
    assert body["versionNumbers"][0] >= 8


async def test_fields_list(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await get(sim_client, mint("alice@example.com"), "/field")).json()
    by_id = {f["id"]: f for f in body}
    assert by_id["summary"]["schema"] == {"type": "string", "system": "summary"}
    assert by_id["customfield_10016"]["custom"] is True
    assert by_id["customfield_10016"]["clauseNames"] == ["cf[10016]", "story point estimate"]


async def test_projects_are_the_browsable_ones(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = (await get(sim_client, mint("bob@example.com"), "/project")).json()
    assert [p["key"] for p in bob] == ["ENG", "MKT", "OPS"]
    assert bob[0]["self"] == f"http://sim{V2}/project/10000"
    assert (await get(sim_client, mint("carol@example.com"), "/project")).json() == []
    assert (await get(sim_client, mint("bob@example.com"), "/project/SEC")).status_code == 404
    eng = (await get(sim_client, mint("bob@example.com"), "/project/ENG")).json()
    assert eng["lead"]["name"] and "accountId" not in eng["lead"]


async def test_reference_lists(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com")
    types = (await get(sim_client, alice, "/issuetype")).json()
    assert [t["name"] for t in types] == ["Epic", "Task", "Bug", "Story", "Sub-task"]
    priorities = (await get(sim_client, alice, "/priority")).json()
    assert [p["name"] for p in priorities][:2] == ["Highest", "High"]
    statuses = {s["name"] for s in (await get(sim_client, alice, "/status")).json()}
    assert statuses == {"To Do", "In Progress", "Done"}
    assert "Done" in {r["name"] for r in (await get(sim_client, alice, "/resolution")).json()}


async def test_user_lookups(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com")
    found = (await get(sim_client, alice, "/user/search", username="bob@example.com")).json()
    assert [u["name"] for u in found] == ["bob"]
    assert [u["name"] for u in (await get(sim_client, alice, "/user/search", username="c")).json()] == ["carol"]
    assert (await get(sim_client, alice, "/user/search")).status_code == 400
    assert (await get(sim_client, alice, "/user", username="dave")).json()["displayName"] == "Dave Davis"
    assert (await get(sim_client, alice, "/user", username="zed")).status_code == 404
    assignable = (await get(sim_client, alice, "/user/assignable/search", project="SEC")).json()
    assert [u["name"] for u in assignable] == ["alice"]
    assert (await get(sim_client, mint("bob@example.com"), "/user/assignable/search", project="SEC")).status_code == 404
