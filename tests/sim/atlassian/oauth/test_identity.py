import pytest

from tests.sim.atlassian.oauth.oauth_sim import ACME, ALICE, DEMO_ID, GLOBEX, Sim, bearer

UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}


async def test_me_needs_read_me(sim: Sim) -> None:
    token = sim.store.mint(ALICE, DEMO_ID, ["read:jira-work"], [ACME])["access_token"]
    response = await sim.client.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.json() == {"code": 401, "message": "Unauthorized; scope does not match"}


async def test_me_profile(sim: Sim) -> None:
    token = sim.store.mint(ALICE, DEMO_ID, ["read:me"], [])["access_token"]
    profile = (await sim.client.get("/api/me", headers=bearer(token))).json()
    assert profile["account_type"] == "atlassian"
    assert profile["account_id"] == ALICE
    assert profile["email"] == "alice@example.com"
    assert profile["name"] == "Alice Adams"
    assert profile["account_status"] == "active"
    assert profile["picture"].startswith("https://")
    for key in ("nickname", "zoneinfo", "locale", "extended_profile"):
        assert key in profile


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer not-a-token"}],
)
@pytest.mark.parametrize("path", ["/api/me", "/api/oauth/token/accessible-resources"])
async def test_missing_or_unknown_token_is_401(sim: Sim, headers: dict[str, str], path: str) -> None:
    response = await sim.client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


async def test_expired_and_revoked_tokens_are_401(sim: Sim) -> None:
    expiring = sim.store.mint(ALICE, DEMO_ID, ["read:me"], [ACME])["access_token"]
    revoked = sim.store.mint(ALICE, DEMO_ID, ["read:me"], [ACME])["access_token"]
    sim.store.revoke_family_of(revoked)
    assert (await sim.client.get("/api/me", headers=bearer(revoked))).status_code == 401
    sim.clock.advance(3600)
    assert (await sim.client.get("/api/me", headers=bearer(expiring))).status_code == 401


async def test_accessible_resources_lists_granted_sites_and_site_scopes(sim: Sim) -> None:
    scopes = ["write:jira-work", "read:jira-work", "read:me", "offline_access"]
    token = sim.store.mint(ALICE, DEMO_ID, scopes, [GLOBEX])["access_token"]
    response = await sim.client.get("/api/oauth/token/accessible-resources", headers=bearer(token))
    assert response.status_code == 200
    [resource] = response.json()
    assert resource["id"] == GLOBEX
    assert resource["url"] == "https://globex.atlassian.net"
    assert resource["name"] == "globex"
    assert resource["scopes"] == ["read:jira-work", "write:jira-work"]
    assert resource["avatarUrl"].startswith("https://")
