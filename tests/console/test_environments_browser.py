"""Environments in a real browser: create "staging" on the Environments page, see its own MCP URL there, on its
dashboard, on its connector's status screen and on All MCP clients; the gateway serves it at once."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from policyarc.sim.atlassian.seed import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, GLOBEX_CLOUD_ID
from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import Live


def test_create_staging_and_see_its_mcp_url_everywhere(page: Page, live: Live) -> None:
    staging_url = f"{live.url}/mcp/staging"
    sign_in(page, live)
    page.get_by_role("link", name="Environments").click()
    expect(page.get_by_role("heading", name="Environments", exact=True)).to_be_visible()
    listed = page.locator("section", has=page.get_by_role("heading", name="Every environment"))
    expect(listed.get_by_text(f"{live.url}/mcp", exact=True)).to_be_visible()  # the default keeps /mcp

    page.get_by_label("Name").fill("staging")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status")).to_contain_text(f"Its MCP URL is {staging_url}")
    row = listed.get_by_role("row", name=re.compile("staging"))
    expect(row).to_contain_text(staging_url)
    expect(row).to_contain_text("Not set up")
    expect(row).to_contain_text("version 1")  # the default policy
    expect(page.get_by_label("Environment", exact=True)).to_contain_text("staging")  # the layout's switcher lists it
    assert_accessible(page)
    shoot(page, "15-environments")

    # Served at once, no restart: its endpoint challenges with its own protected-resource metadata.
    challenge = page.request.post(staging_url, data="{}", headers={"Content-Type": "application/json"})
    assert challenge.status == 401
    metadata_url = f"{live.url}/.well-known/oauth-protected-resource/mcp/staging"
    assert f'resource_metadata="{metadata_url}"' in challenge.headers["www-authenticate"]
    assert page.request.get(metadata_url).json()["resource"] == staging_url

    row.get_by_role("link", name="staging").click()
    expect(page).to_have_url(re.compile(r"/console/e/staging$"))
    expect(page.locator("#mcp-url")).to_have_text(staging_url)

    page.get_by_role("link", name="Identity providers").click()
    page.get_by_label("Client ID").fill(DEMO_CLIENT_ID)
    page.get_by_label("Client secret").fill(DEMO_CLIENT_SECRET)
    page.get_by_role("button", name="Connect Atlassian").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")

    page.goto(f"{live.url}/console/e/staging/connectors/new/jira-user")
    site = page.get_by_label("Atlassian site")
    site.fill("globex")
    site.press("Tab")
    expect(page.get_by_label("Atlassian cloud ID")).to_have_value(GLOBEX_CLOUD_ID)
    page.get_by_role("button", name="Connect").click()
    expect(page).to_have_url(re.compile(r"/console/e/staging/connectors/jira"))
    expect(page.locator("#mcp-url")).to_have_text(staging_url)
    next_steps = page.locator("section", has=page.get_by_role("heading", name="What's next"))
    expect(next_steps.locator("#claude-code")).to_have_text(
        f"claude mcp add --transport http policyarc-jira-staging {staging_url}"
    )

    next_steps.get_by_role("link", name="All MCP clients").click()
    expect(page.get_by_text(staging_url).first).to_be_visible()
    expect(page.get_by_text("policyarc-jira-staging").first).to_be_visible()
    default_url = re.compile(re.escape(f"{live.url}/mcp") + r"(?!/staging)")
    assert not default_url.search(page.locator("main").inner_text())  # only staging's URL on staging's pages


def test_a_bad_environment_name_is_explained_next_to_the_field(page: Page, live: Live) -> None:
    sign_in(page, live)
    page.goto(f"{live.url}/console/environments")
    page.get_by_label("Name").fill("default")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_role("alert")).to_have_text("There is already an environment named default.")
    expect(page.get_by_label("Name")).to_have_value("default")
    assert_accessible(page)
