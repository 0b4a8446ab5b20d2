"""The seed's walkthrough, step by step in a real browser, found by visible text and labels: connect the
Atlassian identity provider, Resources → Add connector, the unlocked template, type the site and Tab, Connect,
the status screen, What's next."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from policyarc.sim.atlassian.seed import ACME_CLOUD_ID, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET
from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import Live

GREEN = "rgb(34, 160, 107)"
TOOLS = ("search_issues", "get_issue", "list_projects", "create_issue", "update_issue", "get_transitions",
         "transition_issue")  # fmt: skip


def test_the_admin_walkthrough_from_identity_provider_to_claude_code(page: Page, live: Live) -> None:
    sign_in(page, live)
    page.get_by_role("link", name="Resources").click()
    page.get_by_role("link", name="Add connector").click()
    locked = page.locator("li.template", has_text="Jira (user passthrough)")
    expect(locked).to_contain_text("Connect the Atlassian identity provider to unlock it")
    expect(page.get_by_role("heading", name="Unlocked by your identity providers")).to_be_visible()
    assert_accessible(page)
    shoot(page, "04-gallery-locked")

    page.get_by_role("link", name="Connect Atlassian").click()
    expect(page.get_by_role("heading", name="Identity providers: Atlassian")).to_be_visible()
    expect(page.get_by_text(f"{live.url}/oauth/idp/atlassian/callback")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Client ID").fill(DEMO_CLIENT_ID)
    page.get_by_label("Client secret").fill(DEMO_CLIENT_SECRET)
    page.get_by_role("button", name="Connect Atlassian").click()
    expect(page.get_by_role("status")).to_contain_text("Saved")
    shoot(page, "05-idp-atlassian")

    page.get_by_role("link", name="Resources").click()
    page.get_by_role("link", name="Add connector").click()
    unlocked = page.locator("section", has=page.get_by_role("heading", name="Unlocked by your identity providers"))
    card = unlocked.locator("li.template", has_text="Jira (user passthrough)")
    expect(card).to_be_visible()
    expect(card).to_have_css("border-top-color", GREEN)
    assert_accessible(page)
    shoot(page, "06-gallery-unlocked")

    card.get_by_role("link", name="Jira (user passthrough)").click()
    site = page.get_by_label("Atlassian site")
    cloud_id = page.get_by_label("Atlassian cloud ID")
    expect(cloud_id).to_have_value("")
    expect(page.get_by_role("button", name="Connect")).to_be_disabled()
    site.fill("acme")
    site.press("Tab")
    expect(page.get_by_label("Atlassian cloud ID")).to_have_value(ACME_CLOUD_ID)
    expect(page.get_by_role("button", name="Connect")).to_be_enabled()
    assert_accessible(page)
    shoot(page, "07-jira-form")
    page.get_by_role("button", name="Connect").click()

    expect(page).to_have_url(re.compile(r"/connectors/jira"))
    expect(page.get_by_role("heading", name="Jira (user passthrough)")).to_be_visible()
    tools = page.locator("section", has=page.get_by_role("heading", name="Tools"))
    for tool in TOOLS:
        expect(tools.get_by_text(tool, exact=True)).to_be_visible()
    expect(tools.get_by_text("jira:issues:write").first).to_be_visible()
    next_steps = page.locator("section", has=page.get_by_role("heading", name="What's next"))
    expect(next_steps).to_contain_text("Claude Code")
    expect(next_steps.locator("#claude-code")).to_have_text(
        f"claude mcp add --transport http policyarc-jira {live.url}/mcp"
    )
    assert_accessible(page)
    shoot(page, "08-connector-status")

    next_steps.get_by_role("link", name="All MCP clients").click()
    for client in ("Claude Code", "Claude Desktop", "Cursor", "VS Code", "MCP Inspector"):
        expect(page.get_by_role("heading", name=client)).to_be_visible()
    expect(page.get_by_text(f"{live.url}/mcp").first).to_be_visible()
    assert_accessible(page)
    shoot(page, "09-all-clients")


def test_unknown_and_malformed_sites_get_an_inline_error(page: Page, live: Live) -> None:
    live.connect_idp()
    sign_in(page, live)
    page.goto(f"{live.url}/console/e/default/connectors/new/jira-user")
    site = page.get_by_label("Atlassian site")
    site.fill("acmee")
    site.press("Tab")
    expect(page.get_by_role("alert")).to_have_text("There is no Atlassian site named acmee.")
    expect(page.get_by_label("Atlassian cloud ID")).to_have_value("")
    site.fill("acme.evil/../x")
    site.press("Tab")
    expect(page.get_by_role("alert")).to_contain_text("is not an Atlassian site name")


def test_connect_works_without_javascript(browser, live: Live) -> None:  # type: ignore[no-untyped-def]
    live.connect_idp()
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live)
    page.goto(f"{live.url}/console/e/default/connectors/new/jira-user")
    page.get_by_label("Atlassian site").fill("acme")
    page.get_by_role("button", name="Connect").click()  # the cloud ID is blank: the server looks it up
    expect(page.get_by_text(ACME_CLOUD_ID)).to_be_visible()
    context.close()
