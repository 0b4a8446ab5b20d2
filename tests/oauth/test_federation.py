"""Sign-in through Atlassian: state bound to a cookie, refusals, and the tokens stored encrypted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from policyarc.secrets import column_aad
from policyarc.store.models import BrowserSession, Connector, UpstreamLink, User
from tests.oauth.gateway_harness import CALLBACK, GLOBEX, Gateway, path_of


async def _login(gateway: Gateway) -> tuple[str, str]:
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    login = await gateway.client.get(path_of(started.headers["location"]))
    assert login.status_code == 303
    return login.headers["location"], login.headers["set-cookie"]


async def test_login_redirects_to_atlassian_with_state_and_cookie(gateway: Gateway) -> None:
    location, cookie = await _login(gateway)
    query = parse_qs(urlsplit(location).query)
    assert location.startswith("http://sim/auth/authorize?")
    assert query["redirect_uri"] == [CALLBACK] and query["client_id"] == ["gw-test-app"]
    assert len(query["state"][0]) > 40
    assert cookie.startswith("__Host-policyarc_login=")
    for flag in ("HttpOnly", "Path=/", "SameSite=lax", "Secure"):
        assert flag.lower() in cookie.lower()
    assert "domain" not in cookie.lower()


async def test_full_sign_in_creates_user_session_and_encrypted_link(gateway: Gateway) -> None:
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    signed_in = await gateway.sign_in(started.headers["location"], "bob@example.com")
    assert signed_in.status_code == 303 and signed_in.headers["location"].startswith("/oauth/consent?request=")
    assert "__Host-policyarc_session=" in signed_in.headers.get("set-cookie", "")
    async with gateway.sessions() as db:
        user = await db.scalar(sa.select(User))
        link = await db.scalar(sa.select(UpstreamLink))
        sessions = await db.scalar(sa.select(sa.func.count()).select_from(BrowserSession))
    assert user is not None and user.email == "bob@example.com"
    assert user.idp_subject == "712020:b0b00000-0000-4000-8000-000000000002"
    assert link is not None and link.user_id == user.id and link.status == "active"
    assert sessions == 1
    raw = gateway.keyring.decrypt(link.access_token_enc, aad=column_aad("upstream_links", "access_token_enc", link.id))
    assert link.refresh_token_enc is not None
    raw_refresh = gateway.keyring.decrypt(
        link.refresh_token_enc, aad=column_aad("upstream_links", "refresh_token_enc", link.id)
    )
    stored = gateway.db_bytes()
    assert raw and raw.encode() not in stored and raw_refresh.encode() not in stored
    assert "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f" in link.cloud_ids


async def test_callback_with_wrong_state_is_refused(gateway: Gateway) -> None:
    location, _ = await _login(gateway)
    at_sim = await gateway.sim_client.get(location)
    callback = urlsplit(at_sim.headers["location"])
    forged = callback.query.replace("state=", "state=x")
    response = await gateway.client.get(f"{callback.path}?{forged}")
    assert response.status_code == 400 and "expired or was already used" in response.text


async def test_callback_without_the_login_cookie_is_refused(gateway: Gateway) -> None:
    location, _ = await _login(gateway)
    at_sim = await gateway.sim_client.get(location)
    gateway.client.cookies.clear()  # as if the callback landed in another browser
    response = await gateway.client.get(path_of(at_sim.headers["location"]))
    assert response.status_code == 403 and "another browser" in response.text
    # and the state was single use: the right browser cannot replay it either
    async with gateway.sessions() as db:
        assert await db.scalar(sa.select(sa.func.count()).select_from(BrowserSession)) == 0


async def test_access_denied_at_atlassian_shows_a_clear_page(gateway: Gateway) -> None:
    location, _ = await _login(gateway)
    state = parse_qs(urlsplit(location).query)["state"][0]
    response = await gateway.client.get(
        "/oauth/idp/atlassian/callback", params={"error": "access_denied", "state": state}
    )
    assert response.status_code == 403
    assert "did not allow PolicyArc at Atlassian" in response.text
    assert "/oauth/login?request=" in response.text  # a way to try again


async def test_user_without_access_to_the_site_gets_no_code(gateway: Gateway) -> None:
    async with gateway.sessions.begin() as db:
        connector = await db.scalar(sa.select(Connector))
        assert connector is not None
        connector.cloud_id, connector.site = GLOBEX, "globex"  # bob is not a member of globex
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    response = await gateway.sign_in(started.headers["location"], "bob@example.com")
    assert response.status_code == 403
    assert "bob@example.com cannot reach the Atlassian site globex" in response.text
    assert "location" not in response.headers
    async with gateway.sessions() as db:
        assert await db.scalar(sa.select(sa.func.count()).select_from(BrowserSession)) == 0
        assert await db.scalar(sa.select(sa.func.count()).select_from(UpstreamLink)) == 0


async def test_existing_session_skips_atlassian(gateway: Gateway) -> None:
    client = await gateway.register()
    await gateway.tokens_for(client)
    started, _ = await gateway.authorize(client["client_id"])
    login = await gateway.client.get(path_of(started.headers["location"]))
    assert login.status_code == 303 and login.headers["location"].startswith("/oauth/consent?request=")


async def test_expired_session_goes_back_to_atlassian(gateway: Gateway) -> None:
    client = await gateway.register()
    await gateway.tokens_for(client)
    gateway.clock.advance(gateway.config.session_ttl + 1)
    started, _ = await gateway.authorize(client["client_id"])
    login = await gateway.client.get(path_of(started.headers["location"]))
    assert login.headers["location"].startswith("http://sim/auth/authorize")


async def test_unknown_request_id_is_refused(gateway: Gateway) -> None:
    response = await gateway.client.get("/oauth/login", params={"request": "pa_req_nope"})
    assert response.status_code == 400 and "expired" in response.text
