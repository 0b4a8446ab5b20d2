"""GET /project/search and GET /project/{projectIdOrKey}."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]

ACME = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
GLOBEX = "/api/ex/jira/7b3e1f4a-2c5d-4a6b-8e9f-0c1d2e3f4a5b/rest/api/3"
SEARCH = "/rest/api/3/project/search"
GET_PROJECT = "/rest/api/3/project/{projectIdOrKey}"


async def _search(client: httpx.AsyncClient, token: str, base: str = ACME, **params: Any) -> httpx.Response:
    return await client.get(f"{base}/project/search", params=params, headers={"Authorization": f"Bearer {token}"})


def _keys(body: dict[str, Any]) -> list[str]:
    return [p["key"] for p in body["values"]]


async def test_alice_sees_every_acme_project_in_key_order(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await _search(sim_client, mint("alice@example.com"))
    assert response.status_code == 200
    body = response.json()
    assert_conforms("GET", SEARCH, 200, body)
    assert _keys(body) == ["ENG", "MKT", "OPS", "SEC"]
    assert (body["startAt"], body["maxResults"], body["total"], body["isLast"]) == (0, 50, 4, True)
    assert "nextPage" not in body
    eng = body["values"][0]
    assert (eng["id"], eng["name"], eng["projectTypeKey"], eng["style"]) == (
        "10000",
        "Engineering",
        "software",
        "classic",
    )
    assert eng["self"].endswith("/rest/api/3/project/10000")
    assert "description" not in eng and "lead" not in eng


async def test_only_browsable_projects_are_listed(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = (await _search(sim_client, mint("bob@example.com"))).json()
    assert _keys(bob) == ["ENG", "MKT", "OPS"]
    assert bob["total"] == 3
    carol = (await _search(sim_client, mint("carol@example.com"))).json()
    assert (carol["values"], carol["total"], carol["isLast"]) == ([], 0, True)
    assert_conforms("GET", SEARCH, 200, carol)


async def test_pages_with_start_at_and_next_page(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    first = (await _search(sim_client, token, maxResults=3)).json()
    assert_conforms("GET", SEARCH, 200, first)
    assert _keys(first) == ["ENG", "MKT", "OPS"]
    assert (first["isLast"], first["total"]) == (False, 4)
    assert "startAt=3" in first["nextPage"] and "maxResults=3" in first["nextPage"]
    second = (await _search(sim_client, token, maxResults=3, startAt=3)).json()
    assert _keys(second) == ["SEC"]
    assert second["isLast"] is True and "nextPage" not in second
    beyond = (await _search(sim_client, token, startAt=10)).json()
    assert beyond["values"] == [] and beyond["isLast"] is True


async def test_max_results_is_clamped_to_100(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await _search(sim_client, mint("alice@example.com"), maxResults=500)).json()
    assert body["maxResults"] == 100


async def test_query_matches_key_or_name_case_insensitively(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    assert _keys((await _search(sim_client, token, query="eng")).json()) == ["ENG"]
    assert _keys((await _search(sim_client, token, query="RATIONS")).json()) == ["OPS"]
    assert _keys((await _search(sim_client, token, query="sec")).json()) == ["SEC"]
    assert _keys((await _search(sim_client, token, query="nothing-like-it")).json()) == []


async def test_order_by_name_and_descending_key(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    assert _keys((await _search(sim_client, token, orderBy="name")).json()) == ["ENG", "MKT", "OPS", "SEC"]
    assert _keys((await _search(sim_client, token, orderBy="-key")).json()) == ["SEC", "OPS", "MKT", "ENG"]
    assert _keys((await _search(sim_client, token, orderBy="-issueCount")).json())[0] == "ENG"
    bad = await _search(sim_client, token, orderBy="colour")
    assert bad.status_code == 400
    assert_conforms("GET", SEARCH, 400, bad.json())


async def test_keys_and_id_filters(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("bob@example.com")
    response = await sim_client.get(
        f"{ACME}/project/search?keys=OPS&keys=SEC&keys=eng", headers={"Authorization": f"Bearer {token}"}
    )
    assert _keys(response.json()) == ["ENG", "OPS"]  # SEC exists but bob may not browse it
    by_id = await sim_client.get(f"{ACME}/project/search?id=10002", headers={"Authorization": f"Bearer {token}"})
    assert _keys(by_id.json()) == ["MKT"]
    bad = await sim_client.get(f"{ACME}/project/search?id=abc", headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400


async def test_action_create_lists_projects_the_caller_may_create_in(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await _search(sim_client, mint("bob@example.com"), action="create")).json()
    assert _keys(body) == ["ENG", "OPS"]  # MKT is read-only for bob


async def test_expand_adds_description_lead_issue_types_insight(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await _search(sim_client, mint("alice@example.com"), expand="description,lead,issueTypes,insight")).json()
    assert_conforms("GET", SEARCH, 200, body)
    eng = body["values"][0]
    assert eng["description"].startswith("Product engineering")
    assert eng["lead"]["displayName"] == "Alice Adams"
    assert [t["name"] for t in eng["issueTypes"]] == ["Epic", "Task", "Bug", "Story", "Sub-task"]
    assert eng["insight"]["totalIssueCount"] == 120


async def test_other_site_lists_its_own_projects(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await _search(sim_client, mint("alice@example.com", site=["acme", "globex"]), base=GLOBEX)).json()
    assert _keys(body) == ["GLX"]


async def test_scope_and_token_errors(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    no_scope = await _search(sim_client, mint("alice@example.com", scopes=["read:jira-user"]))
    assert no_scope.status_code == 401
    assert no_scope.json() == {"code": 401, "message": "Unauthorized; scope does not match"}
    assert_conforms("GET", SEARCH, 401, no_scope.json())
    anonymous = await sim_client.get(f"{ACME}/project/search")
    assert anonymous.status_code == 401


async def test_get_project_by_key_or_id_with_issue_types(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    headers = {"Authorization": f"Bearer {mint('bob@example.com')}"}
    for ref in ("ENG", "eng", "10000"):
        response = await sim_client.get(f"{ACME}/project/{ref}", headers=headers)
        assert response.status_code == 200, ref
        body = response.json()
        assert_conforms("GET", GET_PROJECT, 200, body)
        assert body["key"] == "ENG"
        types = {t["name"]: t for t in body["issueTypes"]}
        assert types["Sub-task"]["subtask"] is True and types["Epic"]["hierarchyLevel"] == 1
        assert body["lead"]["accountId"].startswith("712020:")


async def test_get_project_hides_missing_and_forbidden_alike(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    headers = {"Authorization": f"Bearer {mint('bob@example.com')}"}
    forbidden = await sim_client.get(f"{ACME}/project/SEC", headers=headers)
    missing = await sim_client.get(f"{ACME}/project/NOPE", headers=headers)
    assert (forbidden.status_code, missing.status_code) == (404, 404)
    assert forbidden.json() == {"errorMessages": ["No project could be found with key 'SEC'."], "errors": {}}
    assert missing.json()["errorMessages"] == ["No project could be found with key 'NOPE'."]
    assert_conforms("GET", GET_PROJECT, 404, forbidden.json())
