"""GET /myself, /user/search and /user/assignable/search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]

ACME = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
GLOBEX = "/api/ex/jira/7b3e1f4a-2c5d-4a6b-8e9f-0c1d2e3f4a5b/rest/api/3"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
BOB = "712020:b0b00000-0000-4000-8000-000000000002"


async def _get(client: httpx.AsyncClient, token: str, path: str, **params: Any) -> httpx.Response:
    return await client.get(f"{ACME}{path}", params=params, headers={"Authorization": f"Bearer {token}"})


def _names(users: list[dict[str, Any]]) -> list[str]:
    return [u["displayName"] for u in users]


async def test_myself_is_the_token_owner(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await _get(sim_client, mint("alice@example.com"), "/myself")
    assert response.status_code == 200
    body = response.json()
    assert_conforms("GET", "/rest/api/3/myself", 200, body)
    assert (body["accountId"], body["emailAddress"], body["displayName"]) == (ALICE, "alice@example.com", "Alice Adams")
    assert (body["active"], body["accountType"], body["timeZone"], body["locale"]) == (
        True,
        "atlassian",
        "UTC",
        "en_US",
    )
    assert body["groups"]["items"] == [] and body["groups"]["size"] == 2
    assert set(body["avatarUrls"]) == {"16x16", "24x24", "32x32", "48x48"}


async def test_myself_expands_groups_and_roles(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await _get(sim_client, mint("bob@example.com"), "/myself", expand="groups,applicationRoles")).json()
    assert_conforms("GET", "/rest/api/3/myself", 200, body)
    assert len(body["groups"]["items"]) == 2
    assert body["applicationRoles"]["items"][0]["key"] == "jira-software"


async def test_myself_needs_read_jira_user(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await _get(sim_client, mint("alice@example.com", scopes=["read:jira-work"]), "/myself")
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized; scope does not match"
    assert_conforms("GET", "/rest/api/3/myself", 401, response.json())


async def test_user_search_by_name_word_and_email_prefix(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("bob@example.com")
    by_word = await _get(sim_client, token, "/user/search", query="brown")
    assert by_word.status_code == 200
    assert_conforms("GET", "/rest/api/3/user/search", 200, by_word.json())
    assert _names(by_word.json()) == ["Bob Brown"]
    assert _names((await _get(sim_client, token, "/user/search", query="car")).json()) == ["Carol Clark"]
    assert _names((await _get(sim_client, token, "/user/search", query="dave@ex")).json()) == ["Dave Davis"]
    # "example.com" is inside every address but a prefix of none.
    assert (await _get(sim_client, token, "/user/search", query="example.com")).json() == []


async def test_user_search_lists_only_site_members(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com", site=["acme", "globex"])
    acme = await sim_client.get(
        f"{ACME}/user/search", params={"query": ""}, headers={"Authorization": f"Bearer {token}"}
    )
    assert _names(acme.json()) == ["Alice Adams", "Bob Brown", "Carol Clark", "Dave Davis", "Erin Evans"]
    globex = await sim_client.get(
        f"{GLOBEX}/user/search", params={"query": ""}, headers={"Authorization": f"Bearer {token}"}
    )
    assert _names(globex.json()) == ["Alice Adams", "Dave Davis"]


async def test_user_search_pages_and_finds_by_account_id(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    page = (await _get(sim_client, token, "/user/search", query="", startAt=1, maxResults=2)).json()
    assert _names(page) == ["Bob Brown", "Carol Clark"]
    found = (await _get(sim_client, token, "/user/search", accountId=BOB)).json()
    assert _names(found) == ["Bob Brown"]


async def test_user_search_argument_errors(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    for params in ({}, {"query": "a", "accountId": BOB}, {"query": "a", "maxResults": "many"}):
        response = await _get(sim_client, token, "/user/search", **params)
        assert response.status_code == 400, params
        assert_conforms("GET", "/rest/api/3/user/search", 400, response.json())
    no_scope = await _get(sim_client, mint("alice@example.com", scopes=["read:jira-work"]), "/user/search", query="a")
    assert no_scope.status_code == 401


async def test_assignable_users_follow_project_permissions(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    mkt = await _get(sim_client, token, "/user/assignable/search", project="MKT")
    assert mkt.status_code == 200
    assert_conforms("GET", "/rest/api/3/user/assignable/search", 200, mkt.json())
    # bob is read-only on MKT, carol has no permission at all: neither is assignable.
    assert _names(mkt.json()) == ["Alice Adams", "Dave Davis", "Erin Evans"]
    sec = (await _get(sim_client, token, "/user/assignable/search", project="SEC", query="al")).json()
    assert _names(sec) == ["Alice Adams"]
    by_issue = (await _get(sim_client, token, "/user/assignable/search", issueKey="OPS-1")).json()
    assert "Bob Brown" in _names(by_issue)


async def test_assignable_users_need_a_browsable_project(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("bob@example.com")
    hidden = await _get(sim_client, token, "/user/assignable/search", project="SEC")
    assert hidden.status_code == 404
    assert_conforms("GET", "/rest/api/3/user/assignable/search", 404, hidden.json())
    hidden_issue = await _get(sim_client, token, "/user/assignable/search", issueKey="SEC-1")
    assert hidden_issue.status_code == 404
    missing = await _get(sim_client, token, "/user/assignable/search")
    assert missing.status_code == 400
    assert_conforms("GET", "/rest/api/3/user/assignable/search", 400, missing.json())
