"""The pages a user sees while connecting an MCP client (the Atlassian hand-off, consent, errors) share the
console's look, are keyboard-usable and pass axe-core; driven in a real browser from /authorize to the code."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import urlencode

import httpx
from playwright.sync_api import Page, Route, expect

from tests.console.conftest import assert_accessible, shoot
from tests.console.live import Live

CALLBACK = "http://127.0.0.1:9/callback"


def test_consent_page_in_the_consoles_look_from_authorize_to_the_code(page: Page, live: Live) -> None:
    live.connect_idp()
    client = httpx.post(f"{live.url}/register", json={"redirect_uris": [CALLBACK], "client_name": "Claude Code"}).json()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": CALLBACK,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "s1",
        "scope": "jira:issues:read",
        "resource": f"{live.url}/mcp",
    }
    codes: list[str] = []

    def at_client(route: Route) -> None:
        codes.append(route.request.url)
        route.fulfill(status=200, body="back at the client")

    page.route(re.compile(r"^http://127\.0\.0\.1:9/"), at_client)
    page.goto(f"{live.url}/authorize?{urlencode(query)}")
    page.get_by_label(re.compile("alice@example.com")).check()  # the simulated Atlassian sign-in
    page.get_by_role("button", name="Accept").click()

    expect(page.get_by_role("heading", name="Connect an MCP client")).to_be_visible()
    expect(page.get_by_text("Claude Code", exact=True)).to_be_visible()
    expect(page.locator("link[rel=stylesheet]")).to_have_attribute("href", re.compile(r"/console/static/console\.css"))
    assert_accessible(page)
    shoot(page, "16-consent")
    page.keyboard.press("Tab")  # keyboard-usable: Allow is reachable and answers Enter
    allow = page.get_by_role("button", name="Allow")
    allow.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_text("back at the client")).to_be_visible()
    assert codes and "code=" in codes[0] and "state=s1" in codes[0]


def test_an_error_page_in_the_consoles_look(page: Page, live: Live) -> None:
    page.goto(f"{live.url}/oauth/consent?request=not-a-request")
    expect(page.get_by_role("alert")).to_be_visible()
    assert_accessible(page)
    shoot(page, "17-user-error")
