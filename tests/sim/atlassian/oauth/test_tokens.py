import pytest

from policyarc.sim.atlassian.oauth import InvalidGrantError, TokenStore
from policyarc.sim.atlassian.state import Clock, SimConfig
from tests.sim.atlassian.oauth.oauth_sim import ACME, ALICE, BOB, DEMO_ID, OTHER_ID, make_world

DAY = 86400.0
SCOPES = ["read:jira-work", "offline_access"]


def make_store(**config: float) -> tuple[TokenStore, Clock]:
    clock = Clock()
    return TokenStore(SimConfig(**config), clock, make_world()), clock  # type: ignore[arg-type]


def test_lookup_access_returns_the_grant() -> None:
    store, clock = make_store()
    issued = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])
    grant = store.lookup_access(issued["access_token"])
    assert grant is not None
    assert (grant.account_id, grant.client_id, grant.cloud_ids) == (ALICE, DEMO_ID, {ACME})
    assert grant.scopes == {"read:jira-work", "offline_access"}
    assert grant.expires_at == pytest.approx(clock.time() + 3600, abs=1)
    assert store.lookup_access("nope") is None
    assert store.lookup_access(issued["refresh_token"]) is None


def test_access_token_expires_at_its_ttl() -> None:
    store, clock = make_store(token_ttl=3600)
    access = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])["access_token"]
    clock.advance(3599)
    assert store.lookup_access(access) is not None
    clock.advance(1)
    assert store.lookup_access(access) is None


def test_mint_without_offline_access_has_no_refresh_token() -> None:
    store, _ = make_store()
    assert "refresh_token" not in store.mint(ALICE, DEMO_ID, ["read:jira-work"], [ACME])


def test_refresh_token_expires_after_90_days_unused() -> None:
    store, clock = make_store()
    issued = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])
    clock.advance(90 * DAY)
    with pytest.raises(InvalidGrantError, match=r"Unknown or invalid refresh token\."):
        store.refresh(issued["refresh_token"], DEMO_ID)


def test_regular_use_keeps_a_family_alive_until_365_days_from_consent() -> None:
    store, clock = make_store()
    refresh = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])["refresh_token"]
    for _ in range(4):  # 4 x 89 days = 356 days, each refresh inside the inactivity window
        clock.advance(89 * DAY)
        refresh = store.refresh(refresh, DEMO_ID)["refresh_token"]
    clock.advance(9 * DAY)  # 365 days since consent
    with pytest.raises(InvalidGrantError):
        store.refresh(refresh, DEMO_ID)


def test_revoke_family_of_either_token() -> None:
    store, _ = make_store()
    first = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])
    second = store.refresh(first["refresh_token"], DEMO_ID)
    unrelated = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])
    assert store.revoke_family_of(second["access_token"]) is True
    for token in (first["access_token"], second["access_token"]):
        assert store.lookup_access(token) is None
    with pytest.raises(InvalidGrantError):
        store.refresh(second["refresh_token"], DEMO_ID)
    assert store.lookup_access(unrelated["access_token"]) is not None
    assert store.revoke_family_of(unrelated["refresh_token"]) is True
    assert store.lookup_access(unrelated["access_token"]) is None
    assert store.revoke_family_of("unknown") is False


def test_revoke_user_ends_every_grant_of_that_user_only() -> None:
    store, _ = make_store()
    alice = [store.mint(ALICE, DEMO_ID, SCOPES, [ACME]), store.mint(ALICE, OTHER_ID, SCOPES, [ACME])]
    bob = store.mint(BOB, DEMO_ID, SCOPES, [ACME])
    assert store.revoke_user(ALICE, client_id=OTHER_ID) == 1
    assert store.lookup_access(alice[0]["access_token"]) is not None
    assert store.lookup_access(alice[1]["access_token"]) is None
    assert store.revoke_user(ALICE) == 1
    assert store.lookup_access(alice[0]["access_token"]) is None
    assert store.lookup_access(bob["access_token"]) is not None
    assert store.revoke_user(ALICE) == 0


def test_codes_are_bound_to_client_and_redirect_uri() -> None:
    store, _ = make_store()
    code = store.issue_code(DEMO_ID, "http://127.0.0.1/cb", ALICE, SCOPES, [ACME])
    with pytest.raises(InvalidGrantError):
        store.redeem_code(code, OTHER_ID, "http://127.0.0.1/cb")
    with pytest.raises(InvalidGrantError):
        store.redeem_code(code, DEMO_ID, "http://127.0.0.1/other")
    issued = store.redeem_code(code, DEMO_ID, "http://127.0.0.1/cb")
    assert store.lookup_access(issued["access_token"]) is not None


def test_abandoned_codes_are_swept() -> None:
    store, clock = make_store()
    old = store.issue_code(DEMO_ID, "http://127.0.0.1/cb", ALICE, SCOPES, [ACME])
    clock.advance(601)
    store.issue_code(DEMO_ID, "http://127.0.0.1/cb", ALICE, SCOPES, [ACME])
    assert old not in store._codes


def test_scopes_keep_request_order_without_repeats() -> None:
    store, _ = make_store()
    issued = store.mint(ALICE, DEMO_ID, ["read:me", "read:jira-work", "read:me"], [])
    assert issued["scope"] == "read:me read:jira-work"


def test_refreshing_forgets_expired_access_tokens_of_the_family() -> None:
    store, clock = make_store(token_ttl=60)
    refresh = store.mint(ALICE, DEMO_ID, SCOPES, [ACME])["refresh_token"]
    for _ in range(5):
        clock.advance(61)
        refresh = store.refresh(refresh, DEMO_ID)["refresh_token"]
    assert len(store._access) == 1
