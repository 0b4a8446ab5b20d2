"""GET/POST /search/jql, POST /search/approximate-count and the removed /search."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette

from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]

ACME = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
JQL_PATH = "/rest/api/3/search/jql"
COUNT_PATH = "/rest/api/3/search/approximate-count"
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _get(client: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await client.get(f"{ACME}/search/jql", params=params, headers=_auth(token))


async def _post(client: httpx.AsyncClient, token: str, body: Any) -> httpx.Response:
    return await client.post(f"{ACME}/search/jql", json=body, headers=_auth(token))


async def _count(client: httpx.AsyncClient, token: str, jql: str) -> int:
    response = await client.post(f"{ACME}/search/approximate-count", json={"jql": jql}, headers=_auth(token))
    assert response.status_code == 200, response.text
    assert_conforms("POST", COUNT_PATH, 200, response.json())
    return int(response.json()["count"])


async def _all_ids(client: httpx.AsyncClient, token: str, jql: str, page: int) -> list[str]:
    ids: list[str] = []
    params: dict[str, Any] = {"jql": jql, "maxResults": page}
    for _ in range(100):
        response = await _get(client, token, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert_conforms("GET", JQL_PATH, 200, body)
        ids += [issue["id"] for issue in body["issues"]]
        if body["isLast"]:
            assert "nextPageToken" not in body
            return ids
        params["nextPageToken"] = body["nextPageToken"]
    raise AssertionError("pagination did not end")


async def test_default_page_has_ids_only(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await _get(sim_client, mint("alice@example.com"), jql="project = ENG")
    assert response.status_code == 200
    body = response.json()
    assert_conforms("GET", JQL_PATH, 200, body)
    assert len(body["issues"]) == 50
    assert all(set(issue) == {"id"} for issue in body["issues"])
    assert body["isLast"] is False and isinstance(body["nextPageToken"], str)
    assert "total" not in body and "startAt" not in body


async def test_token_pagination_visits_every_issue_once(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    paged = await _all_ids(sim_client, token, "project = ENG ORDER BY created ASC", page=17)
    whole = await _all_ids(sim_client, token, "project = ENG ORDER BY created ASC", page=1000)
    assert len(paged) == 120 and len(set(paged)) == 120
    assert paged == whole
    assert await _count(sim_client, token, "project = ENG") == 120


async def test_only_browsable_issues_are_found(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    jql = "created >= 2026-01-01"
    alice, bob, carol = (mint(f"{name}@example.com") for name in ("alice", "bob", "carol"))
    assert await _count(sim_client, alice, jql) == 320
    assert await _count(sim_client, bob, jql) == 260  # ENG, OPS and MKT: no SEC
    assert await _count(sim_client, carol, jql) == 0
    response = await _get(sim_client, bob, jql=jql, fields="key", maxResults=1000)
    keys = [issue["key"] for issue in response.json()["issues"]]
    assert len(keys) == 260 and not any(key.startswith("SEC-") for key in keys)
    empty = (await _get(sim_client, carol, jql=jql)).json()
    assert empty == {"issues": [], "isLast": True}


async def test_requested_fields_are_rendered_and_conform(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (await _get(sim_client, mint("alice@example.com"), jql="project = OPS", fields="summary,status")).json()
    assert_conforms("GET", JQL_PATH, 200, body)
    issue = body["issues"][0]
    assert set(issue["fields"]) == {"summary", "status"}
    assert issue["key"].startswith("OPS-") and issue["self"].endswith(f"/issue/{issue['id']}")


async def test_all_fields_with_expansions_conform(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await _get(
        sim_client,
        mint("alice@example.com"),
        jql="project = SEC ORDER BY priority DESC, key ASC",
        fields="*all",
        expand="renderedFields,names,schema,transitions",
        maxResults=500,
    )
    body = response.json()
    assert_conforms("GET", JQL_PATH, 200, body)
    assert len(body["issues"]) == 60 and body["isLast"] is True
    assert body["names"]["summary"] == "Summary"
    assert "names" not in body["issues"][0]  # once per page, not per issue
    assert "transitions" in body["issues"][0] and "renderedFields" in body["issues"][0]


async def test_pages_with_fields_are_capped_at_100(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    with_fields = (await _get(sim_client, token, jql="project = ENG", fields="summary", maxResults=1000)).json()
    assert len(with_fields["issues"]) == 100 and with_fields["isLast"] is False
    ids_only = (await _get(sim_client, token, jql="project = ENG", maxResults=1000)).json()
    assert len(ids_only["issues"]) == 120 and ids_only["isLast"] is True


async def test_order_by_is_applied(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    body = (
        await _get(sim_client, mint("alice@example.com"), jql="project = MKT ORDER BY created DESC", fields="created")
    ).json()
    created = [issue["fields"]["created"] for issue in body["issues"]]
    assert created == sorted(created, reverse=True)


async def test_a_token_belongs_to_its_query_and_caller(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com")
    first = (await _get(sim_client, alice, jql="project = ENG", maxResults=10)).json()
    token = first["nextPageToken"]
    assert (await _get(sim_client, alice, jql="project = ENG", maxResults=10, nextPageToken=token)).status_code == 200
    for caller, jql in ((alice, "project = OPS"), (mint("dave@example.com"), "project = ENG")):
        response = await _get(sim_client, caller, jql=jql, nextPageToken=token)
        assert response.status_code == 400
        assert_conforms("GET", JQL_PATH, 400, response.json())
        assert "nextPageToken" in response.json()["errorMessages"][0]
    garbage = await _get(sim_client, alice, jql="project = ENG", nextPageToken="not-a-token!")
    assert garbage.status_code == 400


async def test_a_token_expires_after_seven_days(sim_client: httpx.AsyncClient, mint: Mint, sim_app: Starlette) -> None:
    alice = mint("alice@example.com", scopes=["read:jira-work"])
    token = (await _get(sim_client, alice, jql="project = ENG")).json()["nextPageToken"]
    sim_app.state.sim.clock.advance(6 * 86400)
    alice = mint("alice@example.com", scopes=["read:jira-work"])  # the access token itself lasts an hour
    assert (await _get(sim_client, alice, jql="project = ENG", nextPageToken=token)).status_code == 200
    sim_app.state.sim.clock.advance(2 * 86400)
    alice = mint("alice@example.com", scopes=["read:jira-work"])
    assert (await _get(sim_client, alice, jql="project = ENG", nextPageToken=token)).status_code == 400


async def test_unbounded_and_invalid_jql_are_400(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    for jql in ("order by key desc", "", "   "):
        response = await _get(sim_client, token, jql=jql)
        assert response.status_code == 400, jql
        assert response.json() == {"errorMessages": [UNBOUNDED], "errors": {}}
    missing = await sim_client.get(f"{ACME}/search/jql", headers=_auth(token))
    assert missing.json()["errorMessages"] == [UNBOUNDED]
    bad = await _get(sim_client, token, jql="colour = red")
    assert bad.status_code == 400
    assert_conforms("GET", JQL_PATH, 400, bad.json())
    assert "colour" in bad.json()["errorMessages"][0]
    count = await sim_client.post(
        f"{ACME}/search/approximate-count", json={"jql": "order by key"}, headers=_auth(token)
    )
    assert count.status_code == 400 and count.json()["errorMessages"] == [UNBOUNDED]
    assert_conforms("POST", COUNT_PATH, 400, count.json())


async def test_bad_parameters_are_400(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    for params in ({"maxResults": "ten"}, {"failFast": "maybe"}, {"reconcileIssues": "x"}):
        response = await _get(sim_client, token, jql="project = ENG", **params)
        assert response.status_code == 400, params
        assert_conforms("GET", JQL_PATH, 400, response.json())
    accepted = await _get(
        sim_client, token, jql="project = ENG", reconcileIssues="10001,10002", failFast="true", properties="a"
    )
    assert accepted.status_code == 200


async def test_post_matches_get(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    get = (await _get(sim_client, token, jql="project = OPS ORDER BY key ASC", fields="summary", maxResults=5)).json()
    post = await _post(
        sim_client, token, {"jql": "project = OPS ORDER BY key ASC", "fields": ["summary"], "maxResults": 5}
    )
    assert post.status_code == 200
    assert_conforms("POST", JQL_PATH, 200, post.json())
    assert post.json()["issues"] == get["issues"]
    second = await _post(
        sim_client,
        token,
        {"jql": "project = OPS ORDER BY key ASC", "maxResults": 5, "nextPageToken": get["nextPageToken"]},
    )
    assert second.status_code == 200 and len(second.json()["issues"]) == 5


async def test_post_rejects_bad_bodies(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    for body in ({"jql": 5}, {"jql": "project = ENG", "colour": "red"}, {"jql": "project = ENG", "maxResults": "9"}):
        response = await _post(sim_client, token, body)
        assert response.status_code == 400, body
        assert_conforms("POST", JQL_PATH, 400, response.json())
    not_json = await sim_client.post(
        f"{ACME}/search/jql", content=b"{", headers={**_auth(token), "content-type": "application/json"}
    )
    assert not_json.status_code == 400


async def test_scope_is_read_jira_work(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com", scopes=["read:jira-user"])
    response = await _get(sim_client, token, jql="project = ENG")
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized; scope does not match"}
    assert_conforms("GET", JQL_PATH, 401, response.json())


async def test_the_old_search_is_gone(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    for response in (
        await sim_client.get(f"{ACME}/search", params={"jql": "project = ENG"}, headers=_auth(token)),
        await sim_client.post(f"{ACME}/search", json={"jql": "project = ENG"}, headers=_auth(token)),
    ):
        assert response.status_code == 410
        assert "/rest/api/3/search/jql" in response.json()["errorMessages"][0]
        assert_conforms(response.request.method, "/rest/api/3/search", 410, response.json())
