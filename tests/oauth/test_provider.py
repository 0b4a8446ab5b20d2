"""The authorization server end to end: registration, /authorize, codes, tokens, refresh rotation, revocation."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Collection
from pathlib import Path

import sqlalchemy as sa

from policyarc.secrets import hash_token
from policyarc.store.models import AccessToken, OAuthClient, RefreshToken
from tests.oauth.gateway_harness import CLIENT_REDIRECT, RESOURCE, Gateway, query_of


async def test_full_flow_issues_hashed_resource_bound_tokens(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)

    assert tokens["token_type"] == "Bearer"
    assert tokens["access_token"].startswith("pa_at_") and tokens["refresh_token"].startswith("pa_rt_")
    assert tokens["scope"] == "jira:issues:read"
    assert tokens["expires_in"] == gateway.config.access_token_ttl
    async with gateway.sessions() as db:
        row = await db.get(AccessToken, hash_token(tokens["access_token"]))
        assert row is not None and row.resource == RESOURCE and row.environment_id == gateway.environment_id
        assert await db.get(RefreshToken, hash_token(tokens["refresh_token"])) is not None
    stored = gateway.db_bytes()
    for raw in (tokens["access_token"], tokens["refresh_token"], client["client_secret"]):
        assert raw.encode() not in stored


async def test_client_secret_is_stored_hashed_and_still_authenticates(gateway: Gateway) -> None:
    client = await gateway.register()
    async with gateway.sessions() as db:
        row = await db.get(OAuthClient, client["client_id"])
    assert row is not None and row.client_secret_hash == hash_token(client["client_secret"])
    assert "client_secret" not in row.client_metadata

    code, verifier = await gateway.code_for(client)
    wrong = await gateway.token(
        client,
        grant_type="authorization_code",
        code=code,
        code_verifier=verifier,
        redirect_uri=CLIENT_REDIRECT,
        client_secret="not-the-secret",
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    missing = await gateway.client.post(
        "/token",
        data={
            "client_id": client["client_id"],
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": CLIENT_REDIRECT,
        },
    )
    assert missing.status_code == 401
    good = await gateway.exchange(client, code, verifier)
    assert good.status_code == 200, good.text


async def test_client_secret_basic_works_and_post_is_refused_for_it(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="client_secret_basic")
    code, verifier = await gateway.code_for(client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": CLIENT_REDIRECT,
        "client_id": client["client_id"],
    }
    posted = await gateway.client.post("/token", data={**form, "client_secret": client["client_secret"]})
    assert posted.status_code == 401  # registered for Basic: the secret in the body does not count
    basic = await gateway.client.post("/token", data=form, auth=(client["client_id"], client["client_secret"]))
    assert basic.status_code == 200, basic.text


async def test_public_client_without_secret(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="none")
    assert "client_secret" not in client
    tokens = await gateway.tokens_for(client)
    assert tokens["access_token"]


async def test_registration_refuses_remote_http_redirects(gateway: Gateway) -> None:
    response = await gateway.client.post(
        "/register", json={"redirect_uris": ["http://evil.example/cb"], "client_name": "x"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_redirect_uri"


async def test_wrong_resource_is_invalid_target(gateway: Gateway) -> None:
    client = await gateway.register()
    response, _ = await gateway.authorize(client["client_id"], resource="https://other.example/mcp")
    assert response.status_code == 302
    assert query_of(response)["error"] == "invalid_target"
    assert query_of(response)["state"] == "client-state-1"


async def test_authorize_without_resource_binds_to_ours(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)  # resource given
    response, _ = await gateway.authorize(client["client_id"], resource="")
    assert response.status_code == 302 and "/oauth/login?request=" in response.headers["location"]
    assert tokens


async def test_authorize_needs_pkce(gateway: Gateway) -> None:
    client = await gateway.register()
    response, _ = await gateway.authorize(client["client_id"], code_challenge_method="plain")
    assert query_of(response)["error"] == "invalid_request"


async def test_pkce_verifier_mismatch(gateway: Gateway) -> None:
    client = await gateway.register()
    code, _ = await gateway.code_for(client)
    response = await gateway.exchange(client, code, "x" * 50)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_code_is_single_use_and_replay_revokes_what_it_issued(gateway: Gateway) -> None:
    client = await gateway.register()
    code, verifier = await gateway.code_for(client)
    first = await gateway.exchange(client, code, verifier)
    assert first.status_code == 200
    assert await gateway.resolver.resolve(first.json()["access_token"]) is not None
    second = await gateway.exchange(client, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    assert await gateway.resolver.resolve(first.json()["access_token"]) is None
    refreshed = await gateway.token(client, grant_type="refresh_token", refresh_token=first.json()["refresh_token"])
    assert refreshed.status_code == 400


async def test_code_expires_after_five_minutes(gateway: Gateway) -> None:
    client = await gateway.register()
    code, verifier = await gateway.code_for(client)
    gateway.clock.advance(301)
    response = await gateway.exchange(client, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_code_of_another_client_is_refused(gateway: Gateway) -> None:
    alice_client = await gateway.register()
    other = await gateway.register()
    code, verifier = await gateway.code_for(alice_client)
    response = await gateway.exchange(other, code, verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


async def test_refresh_rotates_and_reuse_revokes_the_family(gateway: Gateway) -> None:
    client = await gateway.register()
    first = await gateway.tokens_for(client)
    rotated = await gateway.token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert await gateway.resolver.resolve(second["access_token"]) is not None

    reused = await gateway.token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The whole family is gone: the newest refresh token and every access token of the grant.
    again = await gateway.token(client, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert again.status_code == 400
    assert await gateway.resolver.resolve(second["access_token"]) is None
    assert await gateway.resolver.resolve(first["access_token"]) is None


async def test_refresh_scopes_must_be_a_subset_and_policy_is_rechecked(gateway: Gateway) -> None:
    gateway.policy.default.add("jira:issues:write")
    client = await gateway.register()
    code, verifier = await gateway.code_for(client, scope="jira:issues:read jira:issues:write")
    tokens = (await gateway.exchange(client, code, verifier)).json()
    assert set(tokens["scope"].split()) == {"jira:issues:read", "jira:issues:write"}

    wider = await gateway.token(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"], scope="jira:projects:read"
    )
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"

    gateway.policy.denied.add("jira:issues:write")
    narrowed = await gateway.token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["scope"] == "jira:issues:read"
    caller = await gateway.resolver.resolve(narrowed.json()["access_token"])
    assert caller is not None and caller.scopes == frozenset({"jira:issues:read"})


async def test_refresh_token_expires(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    gateway.clock.advance(gateway.config.refresh_token_ttl + 1)
    response = await gateway.token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert response.status_code == 400


async def test_revoking_the_access_token_revokes_its_family(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    assert await gateway.resolver.resolve(tokens["access_token"]) is not None  # now cached
    response = await gateway.client.post(
        "/revoke",
        data={
            "token": tokens["access_token"],
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 200
    assert await gateway.resolver.resolve(tokens["access_token"]) is None  # the cache was told at once
    refreshed = await gateway.token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 400


async def test_revoking_the_refresh_token_revokes_the_access_token(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    response = await gateway.client.post(
        "/revoke",
        data={
            "token": tokens["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
        },
    )
    assert response.status_code == 200
    assert await gateway.resolver.resolve(tokens["access_token"]) is None
    async with gateway.sessions() as db:
        revoked = await db.scalar(sa.select(sa.func.count()).where(RefreshToken.revoked_at.is_not(None)))
    assert revoked == 1


async def test_another_client_cannot_revoke_my_token(gateway: Gateway) -> None:
    client = await gateway.register()
    other = await gateway.register()
    tokens = await gateway.tokens_for(client)
    response = await gateway.client.post(
        "/revoke",
        data={
            "token": tokens["access_token"],
            "client_id": other["client_id"],
            "client_secret": other["client_secret"],
        },
    )
    assert response.status_code == 200  # RFC 7009: no answer that tells tokens apart
    assert await gateway.resolver.resolve(tokens["access_token"]) is not None


async def test_use_is_dated_on_code_and_token_issuance_at_most_hourly(gateway: Gateway) -> None:
    client = await gateway.register()

    async def stored() -> OAuthClient:
        async with gateway.sessions() as db:
            row = await db.get(OAuthClient, client["client_id"])
        assert row is not None
        return row

    registered = await stored()
    assert registered.last_used_at is None  # registering is not using: the janitor expires it after a day

    code, verifier = await gateway.code_for(client)
    at_code = await stored()
    assert at_code.last_used_at is not None
    assert at_code.updated_at == registered.updated_at  # updated_at dates metadata (a CIMD cache), not use

    gateway.clock.advance(60)  # codes live five minutes
    tokens = (await gateway.exchange(client, code, verifier)).json()
    assert (await stored()).last_used_at == at_code.last_used_at  # within the hour: no write

    gateway.clock.advance(3601)
    refreshed = await gateway.token(client, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    later = await stored()
    assert later.last_used_at is not None and at_code.last_used_at is not None
    assert (later.last_used_at - at_code.last_used_at).total_seconds() >= 3660
    assert later.updated_at == registered.updated_at


class CommittedCheck:
    """A revocation listener that looks, as another instance would (its own connection), at what it is told of."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self.seen: list[tuple[str, bool]] = []  # (token hash, revoked in the database when announced)

    def forget(self, token_hashes: Collection[str]) -> None:
        with contextlib.closing(sqlite3.connect(self._db_path)) as db:  # WAL: sees only committed rows
            for token_hash in token_hashes:
                row = db.execute("SELECT revoked_at FROM access_tokens WHERE token_hash = ?", (token_hash,)).fetchone()
                self.seen.append((token_hash, row is not None and row[0] is not None))


async def test_revocation_listeners_hear_of_a_revocation_once_it_is_committed(gateway: Gateway) -> None:
    # Told before the commit, another instance's cache would re-read the token still live and keep it (notify.py).
    check = CommittedCheck(gateway.db_path)
    gateway.provider.add_revocation_listener(check)
    client = await gateway.register()
    first = await gateway.tokens_for(client)
    rotated = await gateway.token(client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert rotated.status_code == 200
    form = {"client_id": client["client_id"], "client_secret": client["client_secret"]}
    second = rotated.json()["access_token"]

    assert (await gateway.client.post("/revoke", data={**form, "token": second})).status_code == 200

    assert hash_token(second) in {token_hash for token_hash, _ in check.seen}
    assert check.seen and all(committed for _, committed in check.seen), check.seen
