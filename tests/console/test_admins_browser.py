"""Admins invite admins: the invitation's one-time link works once, in a real browser; the Admins and Resources
pages pass axe-core."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import Live


def test_an_admin_invites_an_admin_whose_link_works_once(page: Page, live: Live) -> None:
    sign_in(page, live)
    page.get_by_role("link", name="Resources").click()
    expect(page.get_by_role("heading", name="Resources")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Admins").click()
    page.get_by_label("Email").fill("second@example.com")
    page.get_by_role("button", name="Invite").click()
    link = page.locator("#setup-link").inner_text()
    assert re.fullmatch(rf"{re.escape(live.url)}/console/setup/pa_setup_\S+", link)
    expect(page.get_by_role("row", name=re.compile("second@example.com"))).to_contain_text("Invited")
    assert_accessible(page)
    shoot(page, "19-admins")
    page.get_by_role("button", name="Sign out").click()

    page.goto(link)
    expect(page.get_by_text("Choose a password for second@example.com")).to_be_visible()
    page.get_by_label("Password", exact=False).first.fill("another long password")
    page.get_by_label("The same password again").fill("another long password")
    page.get_by_role("button", name="Save password").click()
    sign_in(page, live, "second@example.com", "another long password")
    expect(page.get_by_role("heading", name="default")).to_be_visible()
    page.goto(link)
    expect(page.get_by_role("alert")).to_contain_text("not valid")
