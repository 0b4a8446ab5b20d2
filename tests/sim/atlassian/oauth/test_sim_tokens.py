import pytest

from tests.sim.atlassian.oauth.oauth_sim import ACME, ALICE, BOB, DEMO_ID, GLOBEX, OTHER_ID, Sim, bearer


async def test_mint_defaults(sim: Sim) -> None:
    response = await sim.client.post("/_sim/tokens", json={"email": "alice@example.com"})
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["scope"].split() == [
        "read:jira-work",
        "read:jira-user",
        "write:jira-work",
        "manage:jira-project",
        "manage:jira-configuration",
        "read:me",
        "offline_access",
    ]
    assert tokens["refresh_token"]
    grant = sim.store.lookup_access(tokens["access_token"])
    assert grant is not None
    assert (grant.account_id, grant.client_id, grant.cloud_ids) == (ALICE, DEMO_ID, {ACME, GLOBEX})
    me = await sim.client.get("/api/me", headers=bearer(tokens["access_token"]))
    assert me.json()["email"] == "alice@example.com"


async def test_mint_with_scopes_client_and_sites(sim: Sim) -> None:
    body = {"email": "alice@example.com", "scopes": ["read:jira-work"], "client_id": OTHER_ID, "sites": ["globex"]}
    tokens = (await sim.client.post("/_sim/tokens", json=body)).json()
    assert "refresh_token" not in tokens
    grant = sim.store.lookup_access(tokens["access_token"])
    assert grant is not None
    assert (grant.client_id, grant.cloud_ids, grant.scopes) == (OTHER_ID, {GLOBEX}, {"read:jira-work"})


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"email": "nobody@example.com"}, 404),
        ({}, 404),
        ({"email": "alice@example.com", "client_id": "nope"}, 400),
        ({"email": "alice@example.com", "scopes": ["bogus"]}, 400),
        ({"email": "alice@example.com", "scopes": "read:me"}, 400),
        ({"email": "bob@example.com", "sites": ["globex"]}, 400),
        ({"email": "alice@example.com", "sites": ["nowhere"]}, 400),
        ({"email": "alice@example.com", "sites": "acme"}, 400),
    ],
)
async def test_mint_rejects_bad_requests(sim: Sim, body: dict[str, object], status: int) -> None:
    assert (await sim.client.post("/_sim/tokens", json=body)).status_code == status


async def test_mint_rejects_malformed_json(sim: Sim) -> None:
    response = await sim.client.post("/_sim/tokens", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


async def test_revoke_ends_every_grant_of_the_user(sim: Sim) -> None:
    alice = [(await sim.client.post("/_sim/tokens", json={"email": "alice@example.com"})).json() for _ in range(2)]
    bob = (await sim.client.post("/_sim/tokens", json={"email": "bob@example.com"})).json()
    response = await sim.client.post("/_sim/tokens/revoke", json={"email": "alice@example.com"})
    assert response.json() == {"revoked_families": 2}
    for tokens in alice:
        assert sim.store.lookup_access(tokens["access_token"]) is None
        refreshed = await sim.refresh(tokens["refresh_token"])
        assert refreshed.status_code == 403
    grant = sim.store.lookup_access(bob["access_token"])
    assert grant is not None
    assert grant.account_id == BOB
    assert (await sim.client.post("/_sim/tokens/revoke", json={"email": "x@example.com"})).status_code == 404
