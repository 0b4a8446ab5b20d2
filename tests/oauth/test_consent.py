"""The consent page: what it shows, allow and deny, CSRF."""

from __future__ import annotations

import sqlalchemy as sa

from policyarc.store.models import AuthorizationCode, Consent
from tests.oauth.gateway_harness import Gateway, hidden_fields, path_of, query_of


async def _consent_url(gateway: Gateway, **overrides: str) -> str:
    client = await gateway.register(client_name="Claude <Code>")
    started, _ = await gateway.authorize(client["client_id"], **overrides)
    signed_in = await gateway.sign_in(started.headers["location"])
    return str(signed_in.headers["location"])


async def test_page_shows_client_redirect_host_and_scopes_escaped(gateway: Gateway) -> None:
    url = await _consent_url(gateway, scope="jira:issues:read jira:issues:write")
    page = await gateway.client.get(url)
    assert page.status_code == 200
    assert "Claude &lt;Code&gt;" in page.text and "<Code>" not in page.text
    assert "127.0.0.1:9999" in page.text
    assert "jira:issues:write (not allowed by policy)" in page.text
    assert (
        page.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    assert "<script" not in page.text


async def test_allow_issues_a_code_for_granted_scopes_only(gateway: Gateway) -> None:
    url = await _consent_url(gateway, scope="jira:issues:read jira:issues:write")
    allowed = await gateway.consent(url)
    assert allowed.status_code == 303
    query = query_of(allowed)
    assert query["state"] == "client-state-1" and query["code"].startswith("pa_ac_")
    async with gateway.sessions() as db:
        code = await db.scalar(sa.select(AuthorizationCode))
        consent = await db.scalar(sa.select(Consent))
    assert code is not None and code.scopes == "jira:issues:read"
    assert consent is not None and consent.scopes == "jira:issues:read"


async def test_deny_returns_access_denied_to_the_client(gateway: Gateway) -> None:
    url = await _consent_url(gateway)
    denied = await gateway.consent(url, decision="deny")
    assert denied.status_code == 303
    assert denied.headers["location"].startswith("http://127.0.0.1:9999/callback?")
    assert query_of(denied)["error"] == "access_denied" and query_of(denied)["state"] == "client-state-1"
    async with gateway.sessions() as db:
        assert await db.scalar(sa.select(sa.func.count()).select_from(AuthorizationCode)) == 0


async def test_nothing_granted_means_no_allow_button_and_no_code(gateway: Gateway) -> None:
    gateway.policy.default.clear()
    url = await _consent_url(gateway)
    page = await gateway.client.get(url)
    assert 'value="allow"' not in page.text
    forced = await gateway.client.post("/oauth/consent", data={**hidden_fields(page.text), "decision": "allow"})
    assert query_of(forced)["error"] == "access_denied"


async def test_csrf_token_is_required_and_bound(gateway: Gateway) -> None:
    url = await _consent_url(gateway)
    page = await gateway.client.get(url)
    fields = hidden_fields(page.text)
    missing = await gateway.client.post("/oauth/consent", data={"request": fields["request"], "decision": "allow"})
    assert missing.status_code == 403
    forged = await gateway.client.post("/oauth/consent", data={**fields, "csrf": "0" * 64, "decision": "allow"})
    assert forged.status_code == 403
    # a token from this page does not work for another pending request
    client = await gateway.register()
    started, _ = await gateway.authorize(client["client_id"])
    login = await gateway.client.get(path_of(started.headers["location"]))  # signed in already: straight to consent
    other_request = login.headers["location"].split("request=")[1]
    crossed = await gateway.client.post(
        "/oauth/consent", data={"request": other_request, "csrf": fields["csrf"], "decision": "allow"}
    )
    assert crossed.status_code == 403
    ok = await gateway.client.post("/oauth/consent", data={**fields, "decision": "allow"})
    assert ok.status_code == 303 and "code" in query_of(ok)


async def test_decision_is_single_use(gateway: Gateway) -> None:
    url = await _consent_url(gateway)
    page = await gateway.client.get(url)
    fields = hidden_fields(page.text)
    first = await gateway.client.post("/oauth/consent", data={**fields, "decision": "allow"})
    assert first.status_code == 303
    second = await gateway.client.post("/oauth/consent", data={**fields, "decision": "allow"})
    assert second.status_code == 400


async def test_consent_without_session_goes_to_sign_in(gateway: Gateway) -> None:
    url = await _consent_url(gateway)
    gateway.client.cookies.delete("__Host-policyarc_session")  # signed out; still the browser that started it
    response = await gateway.client.get(url)
    assert response.status_code == 303 and response.headers["location"].startswith("/oauth/login?request=")
    posted = await gateway.client.post("/oauth/consent", data={"request": "x", "csrf": "y", "decision": "allow"})
    assert posted.status_code == 403


async def test_page_says_when_the_user_allowed_the_client_before(gateway: Gateway) -> None:
    client = await gateway.register()
    await gateway.tokens_for(client)
    started, _ = await gateway.authorize(client["client_id"])
    login = await gateway.client.get(path_of(started.headers["location"]))
    page = await gateway.client.get(login.headers["location"])
    assert "You allowed this client before." in page.text and 'value="allow"' in page.text
