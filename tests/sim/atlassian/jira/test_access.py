"""The request guard shared by every Jira route (`jira/access.py`), seen through GET issue and create issue."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from starlette.applications import Starlette

from policyarc.sim.atlassian.model import World
from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]
ACME_ID = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
GLOBEX_ID = "7b3e1f4a-2c5d-4a6b-8e9f-0c1d2e3f4a5b"
ISSUE = "/rest/api/3/issue/{issueIdOrKey}"


def _url(cloud_id: str, path: str) -> str:
    return f"/api/ex/jira/{cloud_id}/rest/api/3{path}"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _assert_unauthorized(response: httpx.Response, message: str = "Unauthorized") -> None:
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": message}
    assert_conforms("GET", ISSUE, 401, response.json())


async def test_a_valid_token_reads_an_issue(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    response = await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=_auth(mint("alice@example.com")))
    assert response.status_code == 200
    assert response.json()["key"] == "ENG-1"


async def test_the_bearer_scheme_is_case_insensitive(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    headers = {"Authorization": f"bearer {mint('alice@example.com')}"}
    assert (await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=headers)).status_code == 200


async def test_missing_or_unknown_tokens_are_unauthorized(sim_client: httpx.AsyncClient) -> None:
    await _assert_unauthorized(await sim_client.get(_url(ACME_ID, "/issue/ENG-1")))
    await _assert_unauthorized(await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=_auth("not-a-token")))
    basic = {"Authorization": "Basic YWxpY2U6cGFzc3dvcmQ="}
    await _assert_unauthorized(await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=basic))


async def test_an_expired_token_is_unauthorized(sim_client: httpx.AsyncClient, sim_app: Starlette, mint: Mint) -> None:
    token = mint("alice@example.com")
    sim_app.state.sim.clock.advance(3601)
    await _assert_unauthorized(await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=_auth(token)))


async def test_a_site_outside_the_grant_or_unknown_is_unauthorized(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    globex_only = mint("alice@example.com", site="globex")
    await _assert_unauthorized(await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=_auth(globex_only)))
    ok = await sim_client.get(_url(GLOBEX_ID, "/issue/GLX-1"), headers=_auth(globex_only))
    assert ok.status_code == 200
    unknown = "00000000-0000-4000-8000-000000000000"
    token = mint("alice@example.com")
    await _assert_unauthorized(await sim_client.get(_url(unknown, "/issue/ENG-1"), headers=_auth(token)))


async def test_a_user_removed_from_the_site_is_unauthorized(
    sim_client: httpx.AsyncClient, mint: Mint, world: World
) -> None:
    token = mint("bob@example.com")
    world.sites["acme"].members.discard("712020:b0b00000-0000-4000-8000-000000000002")
    await _assert_unauthorized(await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=_auth(token)))


async def test_scopes_are_enforced(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    user_only = mint("alice@example.com", scopes=["read:jira-user"])
    response = await sim_client.get(_url(ACME_ID, "/issue/ENG-1"), headers=_auth(user_only))
    await _assert_unauthorized(response, "Unauthorized; scope does not match")
    read_only = mint("alice@example.com", scopes=["read:jira-work"])
    body = {"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}, "summary": "x"}}
    created = await sim_client.post(_url(ACME_ID, "/issue"), json=body, headers=_auth(read_only))
    assert created.status_code == 401
    assert created.json()["message"] == "Unauthorized; scope does not match"


async def _post_raw(client: httpx.AsyncClient, token: str, content: bytes, content_type: str) -> httpx.Response:
    headers = {**_auth(token), "Content-Type": content_type}
    return await client.post(_url(ACME_ID, "/issue"), content=content, headers=headers)


async def test_bodies_that_are_not_json_objects_are_jira_400s(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    cases: list[tuple[bytes, str]] = [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b"", "application/json"),
        (b"   ", "application/json"),
        (b'{"fields": {}}', "text/plain"),
        (b"\xff\xfe", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
    ]
    for content, content_type in cases:
        response = await _post_raw(sim_client, token, content, content_type)
        assert response.status_code == 400, content[:20]
        body: dict[str, Any] = response.json()
        assert body["errorMessages"] and body["errors"] == {}
        assert_conforms("POST", "/rest/api/3/issue", 400, body)


async def test_json_with_a_charset_is_accepted(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    content = b'{"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}, "summary": "charset"}}'
    response = await _post_raw(sim_client, mint("alice@example.com"), content, "application/json; charset=utf-8")
    assert response.status_code == 201
