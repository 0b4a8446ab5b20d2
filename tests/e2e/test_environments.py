"""End to end: a second environment, `staging`, with its own MCP URL, Atlassian app and Jira connector (the
simulator's globex site). The MCP SDK's own client signs in to `/mcp/staging` and calls a tool answered from globex,
while a default-environment client still works on acme; each token works only at its own environment's endpoint;
each environment's Atlassian link refreshes with its own app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select, update

from policyarc.store.models import IdentityProvider, UpstreamLink, User
from tests.e2e.harness import (
    APP_ID,
    CLIENT_REDIRECT,
    GATEWAY,
    MCP_URL,
    STAGING_APP_ID,
    STAGING_APP_SECRET,
    Product,
    add_environment,
    running_product,
)

STAGING_URL = f"{GATEWAY}/mcp/staging"
TOKEN_PATH = "/auth/oauth/token"
LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-06-18"}


async def add_staging(product: Product) -> str:
    environment_id, url = await add_environment(
        product, "staging", client_id=STAGING_APP_ID, client_secret=STAGING_APP_SECRET, site="globex"
    )
    assert url == STAGING_URL
    return environment_id


async def post_mcp(product: Product, url: str, token: str) -> Any:
    async with product.raw() as raw:
        return await raw.post(url, json=LIST_TOOLS, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"})


async def test_a_client_signs_in_to_staging_and_calls_globex_while_default_still_answers_from_acme(
    tmp_path: Path,
) -> None:
    async with running_product(tmp_path) as product:
        await add_staging(product)
        async with product.client("alice@example.com", server_url=STAGING_URL) as staging:
            issue = await staging.call_tool("get_issue", {"key": "GLX-1"})
            assert not issue.is_error, issue.content
            assert issue.structured_content["key"] == "GLX-1"
            # Staging's connector is globex: acme's issues are not there.
            missing = await staging.call_tool("get_issue", {"key": "ENG-1"})
            assert missing.is_error
        assert product.browser is not None
        assert 'PolicyArc environment: <strong id="environment">staging</strong>' in product.browser.consent_pages[0]
        async with product.client("alice@example.com") as default:
            issue = await default.call_tool("get_issue", {"key": "ENG-1"})
            assert not issue.is_error, issue.content
            assert issue.structured_content["key"] == "ENG-1"

        # Each sign-in went to its own environment's Atlassian app, and each left a link of its own.
        authorizations = await product.sim_hook("GET", "/_sim/requests?path=/auth/authorize")
        asked = {
            parse_qs(entry["query"])["client_id"][0]
            for entry in authorizations["requests"]
            if "client_id=" in entry["query"]  # the sign-in page's GET; its POST carries a form
        }
        assert asked == {APP_ID, STAGING_APP_ID}
        async with product.gateway.sessions() as db:
            apps = list(
                await db.scalars(
                    select(IdentityProvider.client_id)
                    .join(UpstreamLink, UpstreamLink.identity_provider_id == IdentityProvider.id)
                    .join(User, User.id == UpstreamLink.user_id)
                    .where(User.email == "alice@example.com")
                )
            )
        assert sorted(apps) == sorted([APP_ID, STAGING_APP_ID])


async def test_tokens_are_refused_at_the_other_environments_endpoint(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        await _alice_signs_in_at_both(product)
        staging_token = product.token_of(f"alice@example.com {STAGING_URL}")
        default_token = product.token_of("alice@example.com")

        assert (await post_mcp(product, STAGING_URL, staging_token)).status_code == 200
        assert (await post_mcp(product, MCP_URL, default_token)).status_code == 200
        for url, token, metadata in (
            (MCP_URL, staging_token, f"{GATEWAY}/.well-known/oauth-protected-resource/mcp"),
            (STAGING_URL, default_token, f"{GATEWAY}/.well-known/oauth-protected-resource/mcp/staging"),
        ):
            refused = await post_mcp(product, url, token)
            assert refused.status_code == 401, refused.text
            challenge = refused.headers["www-authenticate"]
            assert 'error="invalid_token"' in challenge
            assert f'resource_metadata="{metadata}"' in challenge  # the endpoint's own metadata, to sign in there


async def test_each_environment_has_its_own_protected_resource_metadata(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        await add_staging(product)
        async with product.raw() as raw:
            default = await raw.get("/.well-known/oauth-protected-resource/mcp")
            staging = await raw.get("/.well-known/oauth-protected-resource/mcp/staging")
            unknown = await raw.get("/.well-known/oauth-protected-resource/mcp/nowhere")
            unknown_endpoint = await raw.post("/mcp/nowhere", json=LIST_TOOLS, headers=MCP_HEADERS)
            challenge = await raw.post("/mcp/staging", json=LIST_TOOLS, headers=MCP_HEADERS)
        assert default.json()["resource"] == MCP_URL
        assert staging.json()["resource"] == STAGING_URL
        assert staging.json()["authorization_servers"] == default.json()["authorization_servers"] == [GATEWAY]
        assert unknown.status_code == 404 and unknown_endpoint.status_code == 404
        assert challenge.status_code == 401
        expected = f'resource_metadata="{GATEWAY}/.well-known/oauth-protected-resource/mcp/staging"'
        assert expected in challenge.headers["www-authenticate"]


async def test_authorize_and_token_refuse_a_resource_no_environment_serves(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        token, client_id = await _alice_refreshes_naming(product, f"{GATEWAY}/mcp/staging")  # no such environment (yet)
        assert token.status_code == 400 and token.json()["error"] == "invalid_target"

        async with product.raw() as raw:
            authorize = await raw.get(
                "/authorize",
                params={
                    "response_type": "code",
                    "client_id": client_id,
                    "redirect_uri": CLIENT_REDIRECT,
                    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                    "code_challenge_method": "S256",
                    "state": "s",
                    "resource": f"{GATEWAY}/mcp/nowhere",
                },
            )
        assert authorize.status_code == 302, authorize.text
        refused = parse_qs(urlsplit(authorize.headers["location"]).query)
        assert refused["error"] == ["invalid_target"]
        assert "no MCP endpoint" in refused["error_description"][0]


async def test_a_refresh_keeps_its_environment_even_when_another_resource_is_named(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        await add_staging(product)
        # A known environment passes the resource check, but the grant is the default environment's.
        answer, _ = await _alice_refreshes_naming(product, STAGING_URL)
        assert answer.status_code == 200, answer.text
        refreshed = answer.json()["access_token"]
        assert (await post_mcp(product, MCP_URL, refreshed)).status_code == 200
        assert (await post_mcp(product, STAGING_URL, refreshed)).status_code == 401


async def test_each_environments_link_refreshes_with_its_own_atlassian_app(tmp_path: Path) -> None:
    async with running_product(tmp_path) as product:
        await _alice_signs_in_at_both(product)
        before = await product.sim_hook("GET", f"/_sim/requests?path={TOKEN_PATH}")

        # Both of alice's Atlassian tokens are about to expire: the next call in each environment refreshes.
        async with product.gateway.sessions.begin() as db:
            await db.execute(update(UpstreamLink).values(expires_at=datetime.now(UTC) + timedelta(seconds=30)))
        alice = await _user_id(product, "alice@example.com")
        product.gateway.vault.forget(alice)

        async with product.client("alice@example.com", server_url=STAGING_URL) as staging:
            issue = await staging.call_tool("get_issue", {"key": "GLX-2"})
            assert not issue.is_error, issue.content
        async with product.client("alice@example.com") as default:
            issue = await default.call_tool("get_issue", {"key": "ENG-2"})
            assert not issue.is_error, issue.content

        after = await product.sim_hook("GET", f"/_sim/requests?path={TOKEN_PATH}")
        refreshes = [
            entry["body"]
            for entry in after["requests"][len(before["requests"]) :]
            if entry["body"].get("grant_type") == "refresh_token"
        ]
        # The simulator refuses a refresh token presented by another app than the one that issued it: both calls
        # succeeding already says each went to its own app; the requests say so directly.
        assert sorted(body["client_id"] for body in refreshes) == sorted([APP_ID, STAGING_APP_ID])


async def _user_id(product: Product, email: str) -> str:
    async with product.gateway.sessions() as db:
        user_id = await db.scalar(select(User.id).where(User.email == email))
    assert user_id is not None
    return str(user_id)


async def _alice_refreshes_naming(product: Product, resource: str) -> tuple[httpx.Response, str]:
    """Alice signs in at the default endpoint, then her client refreshes naming `resource`: (the answer, client id)."""
    async with product.client("alice@example.com") as client:
        await client.list_tools()
    stored = product.storages["alice@example.com"]
    assert stored.client is not None and stored.tokens is not None and stored.tokens.refresh_token
    form = {
        "grant_type": "refresh_token",
        "refresh_token": stored.tokens.refresh_token,
        "client_id": stored.client.client_id,
        "resource": resource,
    }
    async with product.raw() as raw:
        return await raw.post("/token", data=form), stored.client.client_id


async def _alice_signs_in_at_both(product: Product) -> None:
    """Staging is added; alice signs in at its endpoint and at the default one (two tokens, two Atlassian links)."""
    await add_staging(product)
    async with product.client("alice@example.com", server_url=STAGING_URL) as staging:
        await staging.list_tools()
    async with product.client("alice@example.com") as default:
        await default.list_tools()
