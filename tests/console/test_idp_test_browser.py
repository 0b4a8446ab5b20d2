"""Identity providers → Atlassian → Test sign-in: through Atlassian and back, it shows which account and sites the
app gets, and stores nothing."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import func, select

from policyarc.sim.atlassian.seed import ACME_CLOUD_ID
from policyarc.store.models import UpstreamLink, User
from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import Live


def test_a_test_sign_in_shows_the_account_and_sites_and_keeps_nothing(page: Page, live: Live) -> None:
    live.connect_idp()
    sign_in(page, live)
    page.get_by_role("link", name="Identity providers").click()
    page.get_by_role("button", name="Test sign-in with Atlassian").click()
    page.get_by_label(re.compile("alice@example.com")).check()  # the simulated Atlassian sign-in page
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", name="Test sign-in with Atlassian")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The Atlassian app works")
    expect(page.get_by_text("alice@example.com")).to_be_visible()
    expect(page.get_by_text(ACME_CLOUD_ID)).to_be_visible()
    assert_accessible(page)
    shoot(page, "18-idp-test-sign-in")
    page.get_by_role("link", name="Back to the console").click()
    expect(page.get_by_role("heading", name="Identity providers: Atlassian")).to_be_visible()

    async def stored() -> tuple[int, int]:
        async with live.gateway.sessions() as session:
            users = await session.scalar(select(func.count()).select_from(User))
            links = await session.scalar(select(func.count()).select_from(UpstreamLink))
            return int(users or 0), int(links or 0)

    assert live.run(stored) == (0, 0)


def test_a_test_sign_in_needs_the_forms_csrf_token(page: Page, live: Live) -> None:
    live.connect_idp()
    sign_in(page, live)
    answer = page.request.post(f"{live.url}/console/e/default/idp/atlassian/test", form={"csrf": "forged"})
    assert answer.status == 403
