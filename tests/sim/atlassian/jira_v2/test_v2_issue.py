"""GET/PUT/POST issue and PUT assignee on the Server v2 API (`jira_v2/issues.py`), and its PAT guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.sim.atlassian.adf_wiki import adf_to_wiki
from policyarc.sim.atlassian.model import World
from policyarc.sim.atlassian.seed import DEMO_CLIENT_ID
from policyarc.sim.atlassian.state import Clock

Mint = Callable[..., str]
V2 = "/site/acme/rest/api/2"
ALICE = "712020:a11ce000-0000-4000-8000-000000000001"
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
WIKI = "h2. Plan\n\n* one *bold*\n* two\n\nSee [the doc|https://example.com/doc]."


async def call(
    client: httpx.AsyncClient, token: str | None, method: str, path: str, body: Any = None, **params: Any
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.request(method, f"{V2}{path}", json=body, params=params, headers=headers)
    if not response.content:
        return response.status_code, None
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def task(summary: str = "A new task", project: str = "ENG", **fields: Any) -> dict[str, Any]:
    return {"fields": {"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary, **fields}}


# --- auth --------------------------------------------------------------------------------------------------


async def test_missing_or_unknown_token_is_401_in_servers_shape(sim_client: httpx.AsyncClient) -> None:
    for token in (None, "not-a-token"):
        status, body = await call(sim_client, token, "GET", "/issue/ENG-1")
        assert status == 401
        assert body["errorMessages"] == [
            "You are not authenticated. Authentication required to perform this operation."
        ]


async def test_a_user_who_is_not_a_member_of_the_site_is_401(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = mint("bob@example.com")
    response = await sim_client.get("/site/globex/rest/api/2/issue/GLX-1", headers={"Authorization": f"Bearer {bob}"})
    assert response.status_code == 401


async def test_a_site_nobody_owns_is_404(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com")
    response = await sim_client.get("/site/nope/rest/api/2/myself", headers={"Authorization": f"Bearer {alice}"})
    assert response.status_code == 404


async def test_scopes_do_not_apply_to_a_pat(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com", scopes=["read:me"])
    status, body = await call(sim_client, alice, "GET", "/issue/ENG-1")
    assert status == 200
    assert body["key"] == "ENG-1"


async def test_v2_paths_are_rate_limited_per_site(still_clock: Clock) -> None:
    app = create_sim_app(SimConfig(get_post_per_second=3), clock=still_clock)
    token = str(app.state.sim.tokens.mint(ALICE, DEMO_CLIENT_ID, ["read:me"], [])["access_token"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim") as client:
        statuses = [(await call(client, token, "GET", "/issue/ENG-1", fields="summary"))[0] for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        # Another site keeps its own bucket.
        response = await client.get("/site/globex/rest/api/2/issue/GLX-1", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


# --- get ---------------------------------------------------------------------------------------------------


async def test_get_issue_in_server_shapes(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    seeded = world.sites["acme"].issues["ENG-1"]
    status, body = await call(sim_client, mint("alice@example.com"), "GET", "/issue/ENG-1")
    assert status == 200
    assert body["key"] == "ENG-1"
    assert body["self"] == f"http://sim{V2}/issue/{seeded.id}"
    fields = body["fields"]
    assert fields["summary"] == seeded.summary
    assert fields["description"] == adf_to_wiki(seeded.description)
    reporter = fields["reporter"]
    assert "accountId" not in reporter
    assert reporter["name"] == reporter["key"] == world.users[seeded.reporter_id].email.split("@")[0]
    assert reporter["self"] == f"http://sim{V2}/user?username={reporter['name']}"
    assert "hierarchyLevel" not in fields["issuetype"]
    for comment, model in zip(fields["comment"]["comments"], seeded.comments, strict=True):
        assert comment["body"] == adf_to_wiki(model.body)
        assert "accountId" not in comment["author"]


async def test_get_issue_fields_and_rendered_fields(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    status, body = await call(
        sim_client,
        mint("alice@example.com"),
        "GET",
        "/issue/ENG-1",
        fields="summary,description",
        expand="renderedFields",
    )
    assert status == 200
    assert set(body["fields"]) == {"summary", "description"}
    assert body["renderedFields"]["description"].startswith("<p>")


async def test_get_issue_the_caller_may_not_browse_is_404(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    for email in ("bob@example.com", "carol@example.com"):
        status, body = await call(sim_client, mint(email), "GET", "/issue/SEC-1")
        assert (status, body["errorMessages"]) == (404, [NOT_FOUND])
    status, _ = await call(sim_client, mint("alice@example.com"), "GET", "/issue/ENG-99999")
    assert status == 404


# --- create ------------------------------------------------------------------------------------------------


async def test_create_round_trips_wiki_markup(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    alice = mint("alice@example.com")
    status, created = await call(
        sim_client, alice, "POST", "/issue", task(description=WIKI, assignee={"name": "bob"}, labels=["docs"])
    )
    assert status == 201
    assert created["self"].endswith(f"/rest/api/2/issue/{created['id']}")
    stored = world.sites["acme"].issues[created["key"]]
    assert stored.description is not None and stored.description["type"] == "doc"  # kept as ADF inside
    status, body = await call(sim_client, alice, "GET", f"/issue/{created['key']}")
    assert status == 200
    assert body["fields"]["description"] == WIKI
    assert body["fields"]["assignee"]["name"] == "bob"
    assert body["fields"]["reporter"]["name"] == "alice"
    # The same issue through v3 carries the ADF form of the same text.
    assert adf_to_wiki(stored.description) == WIKI


async def test_create_takes_numeric_project_and_issue_type_ids(
    sim_client: httpx.AsyncClient, mint: Mint, world: World
) -> None:
    site = world.sites["acme"]
    body = {"fields": {"project": {"id": int(site.projects["ENG"].id)}, "issuetype": {"id": 10002}, "summary": "S"}}
    status, created = await call(sim_client, mint("alice@example.com"), "POST", "/issue", body)
    assert status == 201
    assert site.issues[created["key"]].issuetype_id == "10002"


async def test_create_permission_answers(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = mint("bob@example.com")
    status, body = await call(sim_client, bob, "POST", "/issue", task(project="MKT"))
    assert (status, body["errorMessages"]) == (403, ["You do not have permission to create issues in this project."])
    status, body = await call(sim_client, bob, "POST", "/issue", task(project="SEC"))
    assert (status, body["errors"]) == (400, {"project": "Specify a valid project ID or key"})
    status, _ = await call(sim_client, mint("carol@example.com"), "POST", "/issue", task())
    assert status == 400


async def test_create_validation_errors_in_jiras_body(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    alice = mint("alice@example.com")
    status, body = await call(sim_client, alice, "POST", "/issue", task(summary=""))
    assert (status, body) == (
        400,
        {"errorMessages": [], "errors": {"summary": "You must specify a summary of the issue."}},
    )
    status, body = await call(sim_client, alice, "POST", "/issue", task(description={"type": "doc"}))
    assert (status, body["errors"]) == (400, {"description": "Operation value must be a string"})
    status, body = await call(sim_client, alice, "POST", "/issue", task(assignee={"name": "nobody"}))
    assert (status, body["errors"]) == (400, {"assignee": "User 'nobody' does not exist."})
    status, body = await call(sim_client, alice, "POST", "/issue", task(assignee={"name": "carol"}))
    assert (status, body["errors"]) == (400, {"assignee": "User 'carol' cannot be assigned issues."})
    status, body = await call(sim_client, alice, "POST", "/issue", {"fields": "x"})
    assert status == 400 and body["errorMessages"]


# --- edit and assign ---------------------------------------------------------------------------------------


async def test_edit_sets_wiki_description_and_adds_a_wiki_comment(
    sim_client: httpx.AsyncClient, mint: Mint, world: World
) -> None:
    alice = mint("alice@example.com")
    before = len(world.sites["acme"].issues["ENG-2"].comments)
    edit = {
        "fields": {"summary": "Edited", "description": "new _text_"},
        "update": {"comment": [{"add": {"body": "a *bold* note"}}], "labels": [{"add": "docs"}]},
    }
    status, _ = await call(sim_client, alice, "PUT", "/issue/ENG-2", edit)
    assert status == 204
    _, body = await call(sim_client, alice, "GET", "/issue/ENG-2")
    assert body["fields"]["summary"] == "Edited"
    assert body["fields"]["description"] == "new _text_"
    assert "docs" in body["fields"]["labels"]
    comments = body["fields"]["comment"]["comments"]
    assert len(comments) == before + 1
    assert comments[-1]["body"] == "a *bold* note"
    status, _ = await call(sim_client, alice, "PUT", "/issue/ENG-2", {"fields": {"description": None}})
    assert status == 204
    assert world.sites["acme"].issues["ENG-2"].description is None


async def test_edit_permission_answers(sim_client: httpx.AsyncClient, mint: Mint) -> None:
    bob = mint("bob@example.com")
    status, body = await call(sim_client, bob, "PUT", "/issue/MKT-1", {"fields": {"summary": "x"}})
    assert (status, body["errorMessages"]) == (403, ["You do not have permission to edit issues in this project."])
    status, _ = await call(sim_client, bob, "PUT", "/issue/SEC-1", {"fields": {"summary": "x"}})
    assert status == 404
    status, body = await call(sim_client, bob, "PUT", "/issue/ENG-1", {"fields": {"status": {"id": "3"}}})
    assert status == 400 and "status" in body["errors"]


async def test_assign_by_user_name(sim_client: httpx.AsyncClient, mint: Mint, world: World) -> None:
    alice = mint("alice@example.com")
    status, _ = await call(sim_client, alice, "PUT", "/issue/ENG-3/assignee", {"name": "dave"})
    assert status == 204
    assert world.sites["acme"].issues["ENG-3"].assignee_id == world.user_by_email("dave@example.com").account_id  # type: ignore[union-attr]
    status, _ = await call(sim_client, alice, "PUT", "/issue/ENG-3/assignee", {"name": None})
    assert status == 204
    assert world.sites["acme"].issues["ENG-3"].assignee_id is None
    status, _ = await call(sim_client, mint("bob@example.com"), "PUT", "/issue/MKT-1/assignee", {"name": "bob"})
    assert status == 403
