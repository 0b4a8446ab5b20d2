"""Comments and transitions on the Server v2 API (`jira_v2/comments.py`, `jira_v2/transitions.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from policyarc.sim.atlassian.adf_wiki import adf_to_wiki
from policyarc.sim.atlassian.model import World

Mint = Callable[..., str]
V2 = "/site/acme/rest/api/2"


async def call(
    client: httpx.AsyncClient, token: str, method: str, path: str, body: Any = None, **params: Any
) -> tuple[int, Any]:
    response = await client.request(
        method, f"{V2}{path}", json=body, params=params, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, (response.json() if response.content else None)


def first_issue(world: World, project: str, status_id: str, assigned_to: str | None = "any") -> str:
    for issue in world.sites["acme"].issues.values():
        wanted = assigned_to == "any" or issue.assignee_id == assigned_to
        if issue.project_key == project and issue.status_id == status_id and wanted:
            return issue.key
    raise LookupError(project)


# --- comments ----------------------------------------------------------------------------------------------


async def test_get_comments_as_wiki(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    issue = next(i for i in world.sites["acme"].issues.values() if i.project_key == "ENG" and len(i.comments) >= 2)
    status, body = await call(sim_client, mint("alice@example.com"), "GET", f"/issue/{issue.key}/comment")
    assert status == 200
    assert body["total"] == len(issue.comments)
    assert [c["body"] for c in body["comments"]] == [adf_to_wiki(c.body) for c in issue.comments]
    assert "name" in body["comments"][0]["author"]
    _, page = await call(
        sim_client, mint("alice@example.com"), "GET", f"/issue/{issue.key}/comment", startAt=1, maxResults=1
    )
    assert [c["id"] for c in page["comments"]] == [issue.comments[1].id]


async def test_add_comment_in_wiki_markup(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    alice = mint("alice@example.com")
    status, bean = await call(sim_client, alice, "POST", "/issue/ENG-1/comment", {"body": "h3. Note\n\n*done*"})
    assert status == 201
    assert bean["body"] == "h3. Note\n\n*done*"
    assert bean["author"]["name"] == "alice"
    stored = world.sites["acme"].issues["ENG-1"].comments[-1]
    assert stored.body["content"][0]["type"] == "heading"


async def test_comment_permission_and_validation(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = mint("bob@example.com")
    status, body = await call(sim_client, bob, "POST", "/issue/MKT-1/comment", {"body": "hi"})
    assert (status, body["errorMessages"]) == (400, ["You do not have the permission to comment on this issue."])
    status, _ = await call(sim_client, bob, "GET", "/issue/SEC-1/comment")
    assert status == 404
    alice = mint("alice@example.com")
    status, body = await call(sim_client, alice, "POST", "/issue/ENG-1/comment", {"body": ""})
    assert (status, body["errors"]) == (400, {"comment": "Comment body can not be empty!"})
    status, body = await call(sim_client, alice, "POST", "/issue/ENG-1/comment", {"body": {"type": "doc"}})
    assert status == 400


# --- transitions -------------------------------------------------------------------------------------------


async def test_get_and_do_transition(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    alice = mint("alice@example.com")
    key = first_issue(world, "ENG", "10000")
    status, body = await call(sim_client, alice, "GET", f"/issue/{key}/transitions", expand="transitions.fields")
    assert status == 200
    ids = [t["id"] for t in body["transitions"]]
    assert "21" in ids and "31" in ids
    done = next(t for t in body["transitions"] if t["id"] == "31")
    assert done["to"]["name"] == "Done"
    assert done["to"]["self"].startswith(f"http://sim{V2}/status/")
    assert "resolution" in done["fields"]
    move = {"transition": {"id": "21"}, "update": {"comment": [{"add": {"body": "on *it*"}}]}}
    status, _ = await call(sim_client, alice, "POST", f"/issue/{key}/transitions", move)
    assert status == 204
    issue = world.sites["acme"].issues[key]
    assert issue.status_id == "3"
    assert adf_to_wiki(issue.comments[-1].body) == "on *it*"
    status, _ = await call(
        sim_client,
        alice,
        "POST",
        f"/issue/{key}/transitions",
        {"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}},
    )
    assert status == 204
    assert (issue.status_id, issue.resolution) == ("10001", "Done")


async def test_transition_takes_a_numeric_resolution_id(
    sim_client: httpx.AsyncClient, mint: Mint, world: World
) -> None:
    # Server binds a JSON number to the string id, as Jackson does.
    key = first_issue(world, "ENG", "10000")
    move = {"transition": {"id": 31}, "fields": {"resolution": {"id": 10002}}}
    status, _ = await call(sim_client, mint("alice@example.com"), "POST", f"/issue/{key}/transitions", move)
    assert status == 204
    assert world.sites["acme"].issues[key].resolution == "Duplicate"


async def test_transition_permissions_and_errors(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    bob = mint("bob@example.com")
    mkt = first_issue(world, "MKT", "10000")
    status, body = await call(sim_client, bob, "GET", f"/issue/{mkt}/transitions")
    assert (status, body["transitions"]) == (200, [])
    status, body = await call(sim_client, bob, "POST", f"/issue/{mkt}/transitions", {"transition": {"id": "21"}})
    assert (status, body["errorMessages"]) == (400, ["You do not have permission to transition this issue."])
    status, _ = await call(sim_client, bob, "GET", "/issue/SEC-1/transitions")
    assert status == 404
    alice = mint("alice@example.com")
    eng = first_issue(world, "ENG", "10000")
    status, body = await call(sim_client, alice, "POST", f"/issue/{eng}/transitions", {"transition": {"id": "41"}})
    assert (status, body["errorMessages"]) == (400, ["Transition id '41' is not valid for this issue."])
    status, body = await call(sim_client, alice, "POST", f"/issue/{eng}/transitions", {})
    assert (status, body["errorMessages"]) == (400, ["Missing 'transition' identifier"])


async def test_wont_do_is_only_for_the_assignee(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    bob_id = world.user_by_email("bob@example.com").account_id  # type: ignore[union-attr]
    key = first_issue(world, "ENG", "10000", assigned_to=bob_id)
    _, as_bob = await call(sim_client, mint("bob@example.com"), "GET", f"/issue/{key}/transitions")
    _, as_alice = await call(sim_client, mint("alice@example.com"), "GET", f"/issue/{key}/transitions")
    assert "51" in [t["id"] for t in as_bob["transitions"]]
    assert "51" not in [t["id"] for t in as_alice["transitions"]]
