"""GET and POST /issue/{key}/comment (`jira/comments.py`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from policyarc.sim.atlassian.model import Comment, World
from tests.sim.atlassian.jira.spec import assert_conforms

Mint = Callable[..., str]
BASE = "/api/ex/jira/4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f/rest/api/3"
PATH = "/rest/api/3/issue/{issueIdOrKey}/comment"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
DOC = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Noted"}]}]}


async def call(client: httpx.AsyncClient, token: str, method: str, key: str, body: Any = None, **params: Any) -> Any:
    response = await client.request(
        method, f"{BASE}/issue/{key}/comment", json=body, params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert_conforms(method, PATH, response.status_code, response.json())
    return response.status_code, response.json()


def with_comments(world: World, key: str, count: int) -> None:
    issue = world.sites["acme"].issues[key]
    start = datetime(2026, 6, 1, tzinfo=UTC)
    issue.comments = [
        Comment(str(90000 + n), ALICE, DOC, start + timedelta(hours=n), start + timedelta(hours=n))
        for n in range(count)
    ]


async def test_comment_pages(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    with_comments(world, "ENG-20", 5)
    token = mint("alice@example.com")
    status, body = await call(sim_client, token, "GET", "ENG-20")
    assert status == 200 and (body["total"], body["startAt"], body["maxResults"]) == (5, 0, 100)
    assert [c["id"] for c in body["comments"]] == ["90000", "90001", "90002", "90003", "90004"]
    _, body = await call(sim_client, token, "GET", "ENG-20", startAt=1, maxResults=2)
    assert [c["id"] for c in body["comments"]] == ["90001", "90002"] and body["total"] == 5
    _, body = await call(sim_client, token, "GET", "ENG-20", orderBy="-created", maxResults=1)
    assert [c["id"] for c in body["comments"]] == ["90004"]
    _, body = await call(sim_client, token, "GET", "ENG-20", expand="renderedBody", maxResults=1)
    assert body["comments"][0]["renderedBody"] == "<p>Noted</p>"
    assert body["comments"][0]["author"]["accountId"] == ALICE


async def test_comment_page_errors(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint("alice@example.com")
    assert (await call(sim_client, token, "GET", "ENG-20", orderBy="author"))[0] == 400
    assert (await call(sim_client, token, "GET", "ENG-20", startAt="x"))[0] == 400
    assert (await call(sim_client, mint("bob@example.com"), "GET", "SEC-1"))[0] == 404
    assert (await call(sim_client, mint("bob@example.com"), "GET", "MKT-1"))[0] == 200


async def test_add_comment(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = world.sites["acme"].issues["ENG-21"]
    count, next_id = len(issue.comments), world.sites["acme"].next_comment_id
    status, body = await call(sim_client, mint("alice@example.com"), "POST", "ENG-21", {"body": DOC})
    assert status == 201 and body["id"] == str(next_id) and body["body"] == DOC
    assert body["author"]["accountId"] == ALICE and body["created"] == body["updated"]
    assert len(issue.comments) == count + 1 and issue.updated.strftime("%Y-%m-%dT%H:%M:%S") in body["created"]


async def test_add_comment_errors(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    token = mint("alice@example.com")
    issue = world.sites["acme"].issues["ENG-22"]
    count = len(issue.comments)
    not_adf = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
    assert await call(sim_client, token, "POST", "ENG-22", {"body": "plain"}) == (
        400,
        {"errorMessages": [], "errors": {"comment": not_adf}},
    )
    assert (await call(sim_client, token, "POST", "ENG-22", {}))[0] == 400
    bob = mint("bob@example.com")
    status, body = await call(sim_client, bob, "POST", "MKT-1", {"body": DOC})
    assert (status, body["errorMessages"]) == (400, ["You do not have the permission to comment on this issue."])
    assert (await call(sim_client, bob, "POST", "SEC-1", {"body": DOC}))[0] == 404
    read_only = mint("alice@example.com", scopes=["read:jira-work"])
    assert (await call(sim_client, read_only, "POST", "ENG-22", {"body": DOC}))[0] == 401
    assert len(issue.comments) == count
