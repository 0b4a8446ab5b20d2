"""The authorization server's core promises, tried as an attacker would: a code goes only to the exact
registered redirect URI, only with PKCE S256, only once, only to the client it was issued to; a token works only
for this gateway's resource; consent and sign-in are bound to the browser that started them."""

from __future__ import annotations

import pytest

from policyarc.secrets import hash_token
from policyarc.store.models import AccessToken
from tests.oauth.gateway_harness import CLIENT_REDIRECT, RESOURCE, Gateway, path_of, query_of


@pytest.mark.parametrize(
    "redirect_uri",
    [
        CLIENT_REDIRECT + "/../evil",
        CLIENT_REDIRECT + "?next=https://evil.example",
        CLIENT_REDIRECT.replace("9999", "9998"),
        CLIENT_REDIRECT.replace("127.0.0.1", "localhost"),
        "https://evil.example/callback",
    ],
)
async def test_a_code_never_goes_to_a_redirect_uri_that_was_not_registered_exactly(
    gateway: Gateway, redirect_uri: str
) -> None:
    client = await gateway.register()
    response, _ = await gateway.authorize(client["client_id"], redirect_uri=redirect_uri)
    assert response.status_code == 400, response.headers.get("location")  # an error page, never a redirect
    assert "location" not in response.headers


@pytest.mark.parametrize("overrides", [{"code_challenge_method": "plain"}, {"code_challenge": ""}])
async def test_pkce_s256_is_required(gateway: Gateway, overrides: dict[str, str]) -> None:
    client = await gateway.register()
    response, _ = await gateway.authorize(client["client_id"], **overrides)
    assert response.status_code == 302
    assert query_of(response)["error"] == "invalid_request"


async def test_a_stolen_code_is_useless_without_the_verifier_or_to_another_client(gateway: Gateway) -> None:
    victim = await gateway.register()
    attacker = await gateway.register(client_name="Attacker")
    code, verifier = await gateway.code_for(victim)
    wrong_client = await gateway.exchange(attacker, code, verifier)
    assert wrong_client.status_code == 400 and wrong_client.json()["error"] == "invalid_grant"
    wrong_verifier = await gateway.exchange(victim, code, verifier[:-1] + ("A" if verifier[-1] != "A" else "B"))
    assert wrong_verifier.status_code == 400 and wrong_verifier.json()["error"] == "invalid_grant"


async def test_a_gateway_token_is_only_issued_for_this_gateways_resource(gateway: Gateway) -> None:
    client = await gateway.register()
    elsewhere, _ = await gateway.authorize(client["client_id"], resource="https://other.example.com/mcp")
    assert query_of(elsewhere)["error"] == "invalid_target"  # RFC 8707: no token for someone else's server
    tokens = await gateway.tokens_for(client)
    caller = await gateway.resolver.resolve(tokens["access_token"])
    assert caller is not None
    async with gateway.sessions() as db:
        row = await db.get(AccessToken, hash_token(tokens["access_token"]))
    assert row is not None and row.resource == RESOURCE  # the audience the resolver checks on every call


async def test_consent_needs_its_csrf_token(gateway: Gateway) -> None:
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    signed_in = await gateway.sign_in(started.headers["location"])
    page = await gateway.client.get(path_of(signed_in.headers["location"]))
    assert page.status_code == 200
    forged = await gateway.client.post("/oauth/consent", data={"decision": "allow"})
    assert forged.status_code in (400, 403)
    assert "code=" not in forged.headers.get("location", "")


async def test_sign_in_callback_with_a_forged_state_is_refused(gateway: Gateway) -> None:
    response = await gateway.client.get("/oauth/idp/atlassian/callback", params={"code": "x", "state": "forged"})
    assert response.status_code == 400
    assert "set-cookie" not in response.headers or "session" not in response.headers["set-cookie"]
