"""Signing in to the console in a real browser: the first start's link, sign-in, sign-out, throttling."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from policyarc.console import setup_url
from policyarc.services.admins import first_admin_link
from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import ADMIN, Live, live_product


def test_first_start_link_creates_the_first_admin(page: Page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with live_product(tmp_path / "data", admin=False) as live:

        async def link() -> str:
            from datetime import UTC, datetime

            async with live.gateway.sessions.begin() as session:
                raw = await first_admin_link(session, now=datetime.now(UTC))
            assert raw is not None
            return setup_url(live.url, raw)

        page.goto(live.run(link))
        expect(page.get_by_role("heading", name="Welcome to PolicyArc")).to_be_visible()
        assert_accessible(page)
        shoot(page, "01-first-start")
        page.get_by_label("Your email").fill("first@example.com")
        page.get_by_label("Password", exact=False).first.fill("a long enough password")
        page.get_by_label("The same password again").fill("a long enough password")
        page.get_by_role("button", name="Save password").click()
        expect(page.get_by_text("Your password is saved")).to_be_visible()
        sign_in(page, live, "first@example.com", "a long enough password")
        expect(page.get_by_role("heading", name="default")).to_be_visible()


def test_sign_in_dashboard_and_sign_out(page: Page, live: Live) -> None:
    page.goto(f"{live.url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    assert_accessible(page)
    shoot(page, "02-sign-in")
    sign_in(page, live)
    expect(page.get_by_role("heading", name="default")).to_be_visible()
    expect(page.get_by_role("link", name="Pick a connector")).to_be_visible()
    assert_accessible(page)
    shoot(page, "03-dashboard")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto(f"{live.url}/console/e/default")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))


def test_wrong_password_is_refused_and_repeated_failures_are_throttled(page: Page, live: Live) -> None:
    for _ in range(5):
        sign_in(page, live, ADMIN, "not the password at all")
        expect(page.get_by_role("alert")).to_have_text("That email and password do not match.")
    sign_in(page, live, ADMIN, "not the password at all")
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
