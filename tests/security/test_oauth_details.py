"""OAuth details of issue 8: /revoke for every client kind (finding 6), reuse revocations that survive the refusal
(7), `resource` on /token (8), pending requests bound to their browser (9), client-chosen text on the consent
page (10)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import sqlalchemy as sa
from mcp.server.auth.middleware.client_auth import AuthenticationError
from mcp.server.auth.provider import TokenError
from mcp.shared.auth import OAuthClientInformationFull
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from policyarc.oauth import pending
from policyarc.oauth.client_auth import basic_credentials
from policyarc.oauth.config import OAuthConfig, utc
from policyarc.oauth.display import REPLACEMENT, display_text, unsafe_characters
from policyarc.oauth.provider import GatewayAuthProvider
from policyarc.oauth.sessions import csrf_token
from policyarc.secrets import hash_token
from policyarc.store import models, session_factory
from tests.oauth import conftest as oauth_fixtures
from tests.oauth.gateway_harness import (
    CLIENT_REDIRECT,
    ISSUER,
    RESOURCE,
    SCOPES,
    Documents,
    FakeClock,
    FakePolicy,
    Gateway,
    build_gateway_app,
    hidden_fields,
    path_of,
    query_of,
)

# The gateway over SQLite and the metadata-document host, as tests/oauth uses them.
gateway = oauth_fixtures.gateway
documents = oauth_fixtures.documents


async def _alive(gateway: Gateway, tokens: dict[str, Any]) -> bool:
    return await gateway.resolver.resolve(tokens["access_token"]) is not None


# --- finding 6: /revoke accepts public and Basic clients (RFC 7009 section 2.1) -------------------------------


async def test_public_client_revokes_with_token_and_client_id_only(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="none")
    tokens = await gateway.tokens_for(client)
    response = await gateway.client.post(
        "/revoke", data={"token": tokens["refresh_token"], "client_id": client["client_id"]}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert not await _alive(gateway, tokens)


async def test_metadata_document_client_revokes(gateway: Gateway, documents: Documents) -> None:
    url = "https://client.example/oauth/client.json"
    documents.docs["/oauth/client.json"] = {"client_id": url, "client_name": "Doc", "redirect_uris": [CLIENT_REDIRECT]}
    tokens = await gateway.tokens_for({"client_id": url})
    response = await gateway.client.post("/revoke", data={"token": tokens["access_token"], "client_id": url})
    assert response.status_code == 200, response.text
    assert not await _alive(gateway, tokens)


async def test_basic_client_revokes_without_repeating_its_id_in_the_body(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="client_secret_basic")
    code, verifier = await gateway.code_for(client)
    issued = await gateway.client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": CLIENT_REDIRECT,
            "client_id": client["client_id"],
        },
        auth=(client["client_id"], client["client_secret"]),
    )
    assert issued.status_code == 200, issued.text
    tokens = issued.json()
    wrong = await gateway.client.post(
        "/revoke", data={"token": tokens["access_token"]}, auth=(client["client_id"], "not-the-secret")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    assert await _alive(gateway, tokens)
    response = await gateway.client.post(
        "/revoke", data={"token": tokens["access_token"]}, auth=(client["client_id"], client["client_secret"])
    )
    assert response.status_code == 200, response.text
    assert not await _alive(gateway, tokens)


async def test_revoke_still_authenticates_confidential_clients(gateway: Gateway) -> None:
    client = await gateway.register()  # client_secret_post
    other = await gateway.register(token_endpoint_auth_method="client_secret_basic")
    tokens = await gateway.tokens_for(client)
    no_secret = await gateway.client.post(
        "/revoke", data={"token": tokens["access_token"], "client_id": client["client_id"]}
    )
    assert no_secret.status_code == 401 and no_secret.json()["error"] == "invalid_client"
    # Basic credentials of one client and the client_id of another in the body: refused, not mixed.
    crossed = await gateway.client.post(
        "/revoke",
        data={"token": tokens["access_token"], "client_id": client["client_id"]},
        auth=(other["client_id"], other["client_secret"]),
    )
    assert crossed.status_code == 401 and "differs" in crossed.json()["error_description"]
    assert await _alive(gateway, tokens)
    missing = await gateway.client.post(
        "/revoke", data={"client_id": client["client_id"], "client_secret": client["client_secret"]}
    )
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert "token is required" in missing.json()["error_description"]


async def test_public_client_cannot_revoke_another_clients_token(gateway: Gateway) -> None:
    victim = await gateway.register(token_endpoint_auth_method="none")
    attacker = await gateway.register(token_endpoint_auth_method="none")
    tokens = await gateway.tokens_for(victim)
    response = await gateway.client.post(
        "/revoke", data={"token": tokens["access_token"], "client_id": attacker["client_id"]}
    )
    assert response.status_code == 200  # RFC 7009 section 2.2: the same answer as for an unknown token
    assert await _alive(gateway, tokens)


def test_basic_credentials_are_form_urlencoded() -> None:
    # RFC 6749 section 2.3.1: id and secret are form-urlencoded before Basic, so "+" is a space, %3A a colon.
    raw = f"{quote_plus('my client:1')}:{quote_plus('s3cr+t/:x y')}"
    header = "Basic " + base64.b64encode(raw.encode()).decode()
    assert basic_credentials(header) == ("my client:1", "s3cr+t/:x y")
    assert basic_credentials("Bearer abc") is None
    with pytest.raises(AuthenticationError):
        basic_credentials("Basic not-base64!")


# --- finding 7: a reuse revokes the family, and the revocation is committed -----------------------------------


@dataclass
class Race:
    provider: GatewayAuthProvider
    client: OAuthClientInformationFull
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture
async def race(engine: AsyncEngine) -> AsyncIterator[Race]:
    """A provider over a migrated database of either backend (`engine`), with one user and one public client."""
    sessions = session_factory(engine)
    clock = FakeClock()
    async with sessions.begin() as db:
        env = models.Environment(name="default")
        db.add(env)
        await db.flush()
        db.add(models.User(id="u" * 32, idp_kind="atlassian", idp_subject="acct-1", email="alice@example.com"))
        environment_id = env.id
    config = OAuthConfig(issuer=ISSUER, environment_id=environment_id, scopes=SCOPES)
    provider = GatewayAuthProvider(sessions=sessions, config=config, policy=FakePolicy(), clock=clock)
    client = OAuthClientInformationFull(
        client_id="race-client",
        redirect_uris=[CLIENT_REDIRECT],  # type: ignore[list-item]
        token_endpoint_auth_method="none",
        client_name="Race",
    )
    await provider.register_client(client)
    yield Race(provider, client, sessions)


async def _code(race: Race) -> str:
    request = pending.PendingAuthorization(
        client_id=race.client.client_id,
        redirect_uri=CLIENT_REDIRECT,
        redirect_uri_provided_explicitly=True,
        code_challenge="x" * 43,
        scopes=("jira:issues:read",),
        state=None,
        resource=RESOURCE,
    )
    async with race.sessions.begin() as db:
        location = await race.provider.issue_code(db, request, user_id="u" * 32, scopes=["jira:issues:read"])
    return location.split("code=")[1].split("&")[0]


async def _live_tokens(race: Race) -> tuple[int, int]:
    """(live access tokens, live refresh tokens) in the database: one user, one client, one family."""
    async with race.sessions() as db:
        access = await db.scalar(
            sa.select(sa.func.count()).select_from(models.AccessToken).where(models.AccessToken.revoked_at.is_(None))
        )
        refresh = await db.scalar(
            sa.select(sa.func.count()).select_from(models.RefreshToken).where(models.RefreshToken.revoked_at.is_(None))
        )
    return int(access or 0), int(refresh or 0)


def _outcomes(results: list[Any]) -> tuple[list[Any], list[BaseException]]:
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    return won, lost


async def test_concurrent_exchanges_of_one_code_leave_the_family_revoked(race: Race) -> None:
    provider, client = race.provider, race.client
    code = await _code(race)
    # Both requests passed the load (the code was not consumed yet) before either exchanged it: a real race.
    first = await provider.load_authorization_code(client, code)
    second = await provider.load_authorization_code(client, code)
    assert first is not None and second is not None
    results = await asyncio.gather(
        provider.exchange_authorization_code(client, first),
        provider.exchange_authorization_code(client, second),
        return_exceptions=True,
    )
    won, lost = _outcomes(list(results))
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], TokenError) and lost[0].error == "invalid_grant"
    assert await _live_tokens(race) == (0, 0)  # the winner's tokens too
    assert await provider.load_access_token(won[0].access_token) is None


async def test_concurrent_refreshes_of_one_token_leave_the_family_revoked(race: Race) -> None:
    provider, client = race.provider, race.client
    code = await provider.load_authorization_code(client, await _code(race))
    assert code is not None
    issued = await provider.exchange_authorization_code(client, code)
    assert issued.refresh_token is not None
    first = await provider.load_refresh_token(client, issued.refresh_token)
    second = await provider.load_refresh_token(client, issued.refresh_token)
    assert first is not None and second is not None
    results = await asyncio.gather(
        provider.exchange_refresh_token(client, first, first.scopes),
        provider.exchange_refresh_token(client, second, second.scopes),
        return_exceptions=True,
    )
    won, lost = _outcomes(list(results))
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], TokenError) and lost[0].error == "invalid_grant"
    assert await _live_tokens(race) == (0, 0)
    assert await provider.load_refresh_token(client, won[0].refresh_token) is None


async def test_concurrent_code_exchanges_over_http_leave_nothing_alive(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="none")
    code, verifier = await gateway.code_for(client)
    answers = await asyncio.gather(*(gateway.exchange(client, code, verifier) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [200, 400]
    issued = next(a.json() for a in answers if a.status_code == 200)
    assert not await _alive(gateway, issued)
    refreshed = await gateway.token(client, grant_type="refresh_token", refresh_token=issued["refresh_token"])
    assert refreshed.status_code == 400


async def test_concurrent_refreshes_over_http_leave_nothing_alive(gateway: Gateway) -> None:
    client = await gateway.register(token_endpoint_auth_method="none")
    fresh = await gateway.tokens_for(client)
    answers = await asyncio.gather(
        *(gateway.token(client, grant_type="refresh_token", refresh_token=fresh["refresh_token"]) for _ in range(2))
    )
    assert sorted(a.status_code for a in answers) == [200, 400]
    rotated = next(a.json() for a in answers if a.status_code == 200)
    assert not await _alive(gateway, rotated) and not await _alive(gateway, fresh)
    again = await gateway.token(client, grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert again.status_code == 400


# --- finding 8: /token refuses a resource that is not this gateway's (RFC 8707 section 2.2) -------------------


async def test_code_exchange_for_another_resource_is_invalid_target(gateway: Gateway) -> None:
    client = await gateway.register()
    code, verifier = await gateway.code_for(client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": verifier,
        "redirect_uri": CLIENT_REDIRECT,
    }
    other = await gateway.token(client, **form, resource="https://other.example/mcp")
    assert other.status_code == 400 and other.json()["error"] == "invalid_target"
    assert RESOURCE in other.json()["error_description"]
    assert other.headers["cache-control"] == "no-store"
    # Refused before anything happened: the code is still good for our resource (trailing slash tolerated).
    ours = await gateway.token(client, **form, resource=RESOURCE + "/")
    assert ours.status_code == 200, ours.text


async def test_refresh_for_another_resource_is_invalid_target(gateway: Gateway) -> None:
    client = await gateway.register()
    tokens = await gateway.tokens_for(client)
    for resource in ("https://other.example/mcp", f"{ISSUER}/api/v1", "https://gw.example.com.evil.example/mcp"):
        refused = await gateway.token(
            client, grant_type="refresh_token", refresh_token=tokens["refresh_token"], resource=resource
        )
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_target", resource
    # A repeated resource (RFC 8707 allows several) must name us every time.
    body = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], **_credentials(client)}
    mixed = await gateway.client.post(
        "/token",
        content=_form([*body.items(), ("resource", RESOURCE), ("resource", "https://other.example/mcp")]),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert mixed.status_code == 400 and mixed.json()["error"] == "invalid_target"
    ours = await gateway.token(
        client, grant_type="refresh_token", refresh_token=tokens["refresh_token"], resource=RESOURCE
    )
    assert ours.status_code == 200, ours.text


def _credentials(client: dict[str, Any]) -> dict[str, str]:
    return {"client_id": client["client_id"], "client_secret": client["client_secret"]}


def _form(pairs: list[tuple[str, str]]) -> bytes:
    return str(httpx.QueryParams(pairs)).encode()


# --- finding 9: a pending request belongs to the browser that started it ----------------------------------------


def _browser(gateway: Gateway) -> httpx.AsyncClient:
    """Another browser at the same gateway: the same app, its own (empty) cookie jar."""
    return httpx.AsyncClient(transport=gateway.client._transport, base_url=ISSUER)


async def test_authorize_sets_a_host_only_binding_cookie(gateway: Gateway) -> None:
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    cookie = started.headers["set-cookie"]
    assert cookie.startswith("__Host-policyarc_authorize=pa_ab_")
    lowered = cookie.lower()
    assert "secure" in lowered and "httponly" in lowered and "path=/" in lowered and "samesite=lax" in lowered
    assert "domain=" not in lowered
    refused, _ = await gateway.authorize(client["client_id"], resource="https://other.example/mcp")
    assert "set-cookie" not in refused.headers  # an error goes back to the client: nothing to bind


async def test_loopback_http_gateway_binds_with_a_plain_cookie(gateway: Gateway) -> None:
    # A __Host- cookie must be Secure, which a browser keeps only from https: on http://127.0.0.1 the name drops
    # the prefix (as the sign-in cookies do), and the binding still holds.
    issuer = "http://127.0.0.1:8000"
    config = OAuthConfig(issuer=issuer, environment_id=gateway.environment_id, scopes=SCOPES)
    async with httpx.AsyncClient() as outbound:
        app, _, _ = build_gateway_app(
            sessions=gateway.sessions,
            config=config,
            keyring=gateway.keyring,
            clock=gateway.clock,
            policy=gateway.policy,
            outbound=outbound,
        )
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=issuer) as browser,
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=issuer) as other,
        ):
            registered = await browser.post("/register", json={"redirect_uris": [CLIENT_REDIRECT]})
            started = await browser.get(
                "/authorize",
                params={
                    "response_type": "code",
                    "client_id": registered.json()["client_id"],
                    "redirect_uri": CLIENT_REDIRECT,
                    "code_challenge": "x" * 43,
                    "code_challenge_method": "S256",
                },
            )
            cookie = started.headers["set-cookie"]
            assert cookie.startswith("policyarc_authorize=pa_ab_") and "secure" not in cookie.lower()
            login = path_of(started.headers["location"])
            assert (await other.get(login)).status_code == 403
            assert (await browser.get(login)).status_code == 303  # on to Atlassian


async def test_login_link_opened_in_another_browser_is_refused(gateway: Gateway) -> None:
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    login = path_of(started.headers["location"])
    async with _browser(gateway) as other:
        response = await other.get(login)
    assert response.status_code == 403
    assert "started in another browser" in response.text
    assert "location" not in response.headers  # not sent on to Atlassian


async def test_consent_of_another_browsers_request_is_neither_shown_nor_accepted(gateway: Gateway) -> None:
    # The victim's browser (gateway.client) is signed in to the gateway.
    victim_client = await gateway.register()
    await gateway.tokens_for(victim_client)
    # The attacker starts an authorization in their own browser and sends the victim the link.
    attacker_client = await gateway.register(client_name="Attacker")
    async with _browser(gateway) as attacker:
        params = {
            "response_type": "code",
            "client_id": attacker_client["client_id"],
            "redirect_uri": CLIENT_REDIRECT,
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
            "resource": RESOURCE,
        }
        started = await attacker.get("/authorize", params=params)
    request_id = started.headers["location"].split("request=")[1]

    login = await gateway.client.get(f"/oauth/login?request={request_id}")
    assert login.status_code == 403
    page = await gateway.client.get(f"/oauth/consent?request={request_id}")
    assert page.status_code == 403 and 'value="allow"' not in page.text and "Attacker" not in page.text
    # Even a well-formed decision from the victim's session is refused, and no code is issued.
    session = gateway.client.cookies.get("__Host-policyarc_session")
    assert session is not None
    posted = await gateway.client.post(
        "/oauth/consent",
        data={"request": request_id, "csrf": csrf_token(session, request_id), "decision": "allow"},
    )
    assert posted.status_code == 403 and "location" not in posted.headers
    async with gateway.sessions() as db:
        codes = await db.scalar(
            sa.select(sa.func.count())
            .select_from(models.AuthorizationCode)
            .where(models.AuthorizationCode.client_id == attacker_client["client_id"])
        )
    assert codes == 0


async def test_two_authorizations_in_one_browser_both_finish(gateway: Gateway) -> None:
    one, two = await gateway.register(), await gateway.register()
    first, _ = await gateway.authorize(one["client_id"])
    second, _ = await gateway.authorize(two["client_id"])  # the same browser: its cookie is kept, not replaced
    signed_in = await gateway.sign_in(first.headers["location"])
    allowed = await gateway.consent(signed_in.headers["location"])
    assert "code" in query_of(allowed)
    login = await gateway.client.get(path_of(second.headers["location"]))
    allowed = await gateway.consent(login.headers["location"])
    assert "code" in query_of(allowed)


async def test_request_stored_without_a_browser_cannot_be_continued(gateway: Gateway) -> None:
    async with gateway.sessions.begin() as db:
        request_id = await pending.save_pending(
            db,
            pending.PendingAuthorization(
                client_id="c",
                redirect_uri=CLIENT_REDIRECT,
                redirect_uri_provided_explicitly=True,
                code_challenge="x" * 43,
                scopes=("jira:issues:read",),
                state=None,
                resource=RESOURCE,
            ),
            expires_at=utc(gateway.clock, 600),
        )
    response = await gateway.client.get(f"/oauth/login?request={request_id}")
    assert response.status_code == 403


def test_same_browser_compares_the_cookie_hash() -> None:
    request = pending.PendingAuthorization(
        client_id="c",
        redirect_uri=CLIENT_REDIRECT,
        redirect_uri_provided_explicitly=True,
        code_challenge="x",
        scopes=(),
        state=None,
        resource=RESOURCE,
        browser_hash=hash_token("pa_ab_cookie"),
    )
    assert pending.same_browser(request, "pa_ab_cookie")
    assert not pending.same_browser(request, "pa_ab_other")
    assert not pending.same_browser(request, None)


# --- finding 10: client-chosen text is neutralised on the consent page, refused at registration -----------------

_TRICKS = (
    "\u202a\u202b\u202c\u202d\u202e"  # bidi embeddings and overrides
    "\u2066\u2067\u2068\u2069\u200e\u200f"  # bidi isolates and marks
    "\u0000\u0007\u001b\u007f\u0085\u009b\n\r\t"  # C0, DEL, C1
    "\u200b\ufeff"  # zero-width space, BOM
)


def test_display_text_replaces_every_control_and_bidi_character() -> None:
    shown = display_text("Claude" + _TRICKS + "Code")
    assert shown.startswith("Claude") and shown.endswith("Code")
    assert not any(c in shown for c in _TRICKS)
    assert shown.count(REPLACEMENT) == len(_TRICKS)  # newline, tab and CR are controls too: replaced, visibly
    assert display_text("x" * 500).endswith("\u2026") and len(display_text("x" * 500)) == 100
    assert display_text("Claude Code") == "Claude Code"
    assert display_text("\u05e9\u05dc\u05d5\u05dd") == "\u05e9\u05dc\u05d5\u05dd"  # right-to-left letters stay
    assert unsafe_characters("a\u202eb\u202ec") == ["U+202E"]


async def test_registration_refuses_a_name_with_bidi_or_controls(gateway: Gateway) -> None:
    for name in ("Claude\u202eedoC", "Safe\nApp", "A\u2066B", "x\u200fy", "bell\u0007"):
        response = await gateway.client.post(
            "/register", json={"redirect_uris": [CLIENT_REDIRECT], "client_name": name}
        )
        assert response.status_code == 400, name
        assert response.json()["error"] == "invalid_client_metadata"
        assert "U+" in response.json()["error_description"]
    ok = await gateway.client.post("/register", json={"redirect_uris": [CLIENT_REDIRECT], "client_name": "Cl\u00e4ude"})
    assert ok.status_code == 201


async def test_consent_page_neutralises_a_metadata_documents_name(gateway: Gateway, documents: Documents) -> None:
    url = "https://client.example/oauth/client.json"
    name = "Claude\u202e moc.elgoog\u202c\n\u2067Trusted\u2069"
    documents.docs["/oauth/client.json"] = {"client_id": url, "client_name": name, "redirect_uris": [CLIENT_REDIRECT]}
    started, _ = await gateway.authorize(url)
    signed_in = await gateway.sign_in(started.headers["location"])
    page = await gateway.client.get(path_of(signed_in.headers["location"]))
    assert page.status_code == 200
    assert not any(char in page.text for char in "\u202e\u202c\u2067\u2069")
    assert "\n" not in page.text.split("<bdi>", 1)[1].split("</bdi>", 1)[0]  # the name's own line break is gone
    assert "<bdi>Claude\ufffd moc.elgoog\ufffd\ufffd\ufffdTrusted\ufffd</bdi>" in page.text
    # The redirect host, not the self-chosen name, is what stands out.
    assert "goes back to <strong><bdi>127.0.0.1:9999</bdi></strong>" in page.text
    allowed = await gateway.client.post("/oauth/consent", data={**hidden_fields(page.text), "decision": "allow"})
    assert "code" in query_of(allowed)  # neutralised for display, still the same client
