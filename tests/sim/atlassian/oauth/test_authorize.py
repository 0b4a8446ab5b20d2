import re

import pytest

from tests.sim.atlassian.oauth.oauth_sim import (
    ACME,
    ALICE,
    BOB,
    DEMO_CALLBACK,
    GLOBEX,
    OTHER_CALLBACK,
    OTHER_ID,
    ZED,
    Sim,
    SimFactory,
    bearer,
    hidden_fields,
    query_of,
)


def checked_account_ids(html: str) -> list[str]:
    return re.findall(r'value="([^"]+)" checked', html)


async def test_full_code_flow_through_the_page(sim: Sim) -> None:
    page = await sim.authorize()
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    for text in ("PolicyArc (demo)", "Alice Adams", "alice@example.com", "Bob Brown", "read:jira-work", "Accept"):
        assert text in page.text
    assert "Cancel" in page.text

    form = hidden_fields(page.text)
    accepted = await sim.client.post("/auth/authorize", data={**form, "account_id": ALICE, "decision": "accept"})
    assert accepted.status_code == 302
    assert accepted.headers["location"].startswith(DEMO_CALLBACK + "?")
    query = query_of(accepted)
    assert query["state"] == "st-123"

    issued = await sim.exchange(query["code"])
    assert issued.status_code == 200
    tokens = issued.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == "read:jira-work read:jira-user write:jira-work read:me offline_access"
    assert tokens["refresh_token"]

    resources = await sim.client.get("/api/oauth/token/accessible-resources", headers=bearer(tokens["access_token"]))
    assert resources.status_code == 200
    assert [(r["id"], r["name"], r["url"]) for r in resources.json()] == [
        (ACME, "acme", "https://acme.atlassian.net"),
        (GLOBEX, "globex", "https://globex.atlassian.net"),
    ]
    me = await sim.client.get("/api/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200
    assert (me.json()["account_id"], me.json()["email"]) == (ALICE, "alice@example.com")


async def test_grant_covers_only_the_users_sites(sim: Sim) -> None:
    tokens = (await sim.exchange(await sim.code_for("bob@example.com"))).json()
    assert sim.store.lookup_access(tokens["access_token"]).cloud_ids == {ACME}  # type: ignore[union-attr]


async def test_user_of_no_site_still_gets_a_code(sim: Sim) -> None:
    tokens = (await sim.exchange(await sim.code_for("zed@example.com"))).json()
    resources = await sim.client.get("/api/oauth/token/accessible-resources", headers=bearer(tokens["access_token"]))
    assert resources.status_code == 200
    assert resources.json() == []


async def test_login_hint_preselects_the_user(sim: Sim) -> None:
    assert checked_account_ids((await sim.authorize(login_hint="BOB@example.com")).text) == [BOB]
    assert checked_account_ids((await sim.authorize()).text) == []
    assert checked_account_ids((await sim.authorize(login_hint="nobody@example.com")).text) == []


async def test_page_escapes_what_it_shows(sim: Sim) -> None:
    page = await sim.authorize(state='"><script>alert(1)</script>')
    assert "<script>" not in page.text
    assert hidden_fields(page.text)["state"] == '"><script>alert(1)</script>'
    assert "Zed &lt;Zero&gt; &amp; Co" in page.text
    other = await sim.authorize(client_id=OTHER_ID, redirect_uri=OTHER_CALLBACK)
    assert "Other &lt;App&gt;" in other.text


async def test_cancel_redirects_with_access_denied(sim: Sim) -> None:
    form = hidden_fields((await sim.authorize()).text)
    cancelled = await sim.client.post("/auth/authorize", data={**form, "decision": "cancel"})
    assert cancelled.status_code == 302
    query = query_of(cancelled)
    assert query["error"] == "access_denied"
    assert query["error_description"]
    assert query["state"] == "st-123"
    assert "code" not in query


async def test_accept_without_a_user_shows_the_page_again(sim: Sim) -> None:
    form = hidden_fields((await sim.authorize()).text)
    again = await sim.client.post("/auth/authorize", data={**form, "decision": "accept"})
    assert again.status_code == 400
    assert "location" not in again.headers
    assert "Choose an account" in again.text
    unknown = await sim.client.post("/auth/authorize", data={**form, "decision": "accept", "account_id": "nope"})
    assert unknown.status_code == 400


@pytest.mark.parametrize(
    ("client_id", "redirect_uri"),
    [
        ("no-such-app", DEMO_CALLBACK),
        ("", DEMO_CALLBACK),
        (OTHER_ID, "https://evil.example.com/callback"),
        (OTHER_ID, OTHER_CALLBACK + "/extra"),
        (OTHER_ID, OTHER_CALLBACK + "#frag"),
        (OTHER_ID, ""),
        ("policyarc-demo", "https://evil.example.com/oauth/idp/atlassian/callback"),
        ("policyarc-demo", "http://127.0.0.1.evil.com/cb"),
        ("policyarc-demo", "http://127.0.0.2:8000/cb"),
        ("policyarc-demo", "http://user@127.0.0.1:8000/cb"),
        ("policyarc-demo", "http://127.0.0.1:99999/cb"),
        ("policyarc-demo", "ftp://127.0.0.1/cb"),
    ],
)
async def test_unknown_client_or_callback_gives_an_error_page(sim: Sim, client_id: str, redirect_uri: str) -> None:
    response = await sim.authorize(client_id=client_id, redirect_uri=redirect_uri, audience="wrong")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert "evil" not in response.text


@pytest.mark.parametrize(
    "callback",
    ["http://127.0.0.1:53121/any/path", "http://localhost:8/x?y=1", "http://127.0.0.1/", "https://localhost:443/cb"],
)
async def test_demo_app_accepts_any_loopback_callback(sim: Sim, callback: str) -> None:
    assert (await sim.authorize(redirect_uri=callback)).status_code == 200


async def test_other_app_loopback_callback_matches_on_any_port_only(sim: Sim) -> None:
    ok = await sim.authorize(client_id=OTHER_ID, redirect_uri="http://localhost:51000/cb")
    assert ok.status_code == 200
    wrong_path = await sim.authorize(client_id=OTHER_ID, redirect_uri="http://localhost:51000/other")
    assert wrong_path.status_code == 400


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"audience": "api.example.com"}, "invalid_request"),
        ({"audience": ""}, "invalid_request"),
        ({"scope": "read:jira-work delete:everything"}, "invalid_scope"),
        ({"scope": ""}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
async def test_bad_parameters_go_back_to_the_callback(sim: Sim, override: dict[str, str], error: str) -> None:
    response = await sim.authorize(**override)
    assert response.status_code == 302
    query = query_of(response)
    assert query["error"] == error
    assert query["error_description"]
    assert query["state"] == "st-123"


async def test_error_redirect_keeps_the_callbacks_own_query(sim: Sim) -> None:
    response = await sim.authorize(redirect_uri="http://127.0.0.1:9/cb?tenant=a", audience="x")
    assert response.headers["location"].startswith("http://127.0.0.1:9/cb?tenant=a&error=invalid_request")


async def test_post_validates_the_request_again(sim: Sim) -> None:
    form = hidden_fields((await sim.authorize()).text)
    tampered_uri = {**form, "redirect_uri": "https://evil.example.com/cb", "account_id": ALICE, "decision": "accept"}
    response = await sim.client.post("/auth/authorize", data=tampered_uri)
    assert response.status_code == 400
    assert "location" not in response.headers
    tampered_scope = {**form, "scope": "read:jira-work admin:everything", "account_id": ALICE, "decision": "accept"}
    response = await sim.client.post("/auth/authorize", data=tampered_scope)
    assert query_of(response)["error"] == "invalid_scope"
    assert "code" not in query_of(response)


async def test_auto_consent_redirects_at_once(make_sim: SimFactory) -> None:
    async with make_sim(auto_consent=True) as sim:
        hinted = await sim.authorize(login_hint="bob@example.com")
        assert hinted.status_code == 302
        assert query_of(hinted)["state"] == "st-123"
        tokens = (await sim.exchange(query_of(hinted)["code"])).json()
        assert sim.store.lookup_access(tokens["access_token"]).account_id == BOB  # type: ignore[union-attr]

        first = await sim.authorize()
        tokens = (await sim.exchange(query_of(first)["code"])).json()
        assert sim.store.lookup_access(tokens["access_token"]).account_id == ALICE  # type: ignore[union-attr]

        unknown_hint = await sim.authorize(login_hint="nobody@example.com")
        assert unknown_hint.status_code == 200
        assert "Accept" in unknown_hint.text

        # Auto-consent never skips validation.
        assert (await sim.authorize(scope="bogus")).status_code == 302
        assert query_of(await sim.authorize(scope="bogus"))["error"] == "invalid_scope"
        assert (await sim.authorize(client_id="nope")).status_code == 400


async def test_zed_has_no_sites_but_is_listed(sim: Sim) -> None:
    page = await sim.authorize()
    assert ZED in page.text
