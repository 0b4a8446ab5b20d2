"""The Policy screen in a real browser: edit rules beside their Cedar text, preview one user through one client,
review whose access widens or narrows, save, find the version in the history with the admin's email, restore an
old version; Cedar's own errors inline in the raw editor; a policy beyond the form opens as text and says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from policyarc.policy import DEFAULT_POLICY
from policyarc.services import ensure_environment, set_policy, show_policy
from policyarc.store.models import OAuthClient, Policy, User
from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import ADMIN, Live

CLAUDE = "dcr-claude-code-0001"
CURSOR = "dcr-cursor-0002"
BEYOND = (
    'permit (principal, action == PolicyArc::Action::"use_scope", resource == PolicyArc::Scope::"jira:issues:read")\n'
    'unless { principal.domain == "contractor.example" };\n'
)


def seed_people(live: Live) -> None:
    """Three users who signed in (alice most recently) and two registered clients."""

    async def seed() -> None:
        now = datetime.now(UTC)
        async with live.gateway.sessions.begin() as db:
            for n, email in enumerate(("alice@example.com", "bob@example.com", "carol@example.com")):
                db.add(User(email=email, idp_kind="atlassian", idp_subject=f"acct-{n}", created_at=now,
                            last_seen_at=now - timedelta(minutes=n)))  # fmt: skip
            for client_id, name in ((CLAUDE, "Claude Code"), (CURSOR, "Cursor")):
                db.add(OAuthClient(client_id=client_id, client_metadata={"client_name": name}, kind="dcr",
                                   created_at=now, updated_at=now))  # fmt: skip

    live.run(seed)


def open_policy(page: Page, live: Live) -> None:
    """Sign in, wait for the dashboard (so the sign-in's redirect cannot land after us), open Policy."""
    sign_in(page, live)
    page.get_by_role("link", name="Policy", exact=True).click()
    expect(page.get_by_role("heading", name="Policy", exact=True)).to_be_visible()


def versions(live: Live) -> list[tuple[int, str | None, str]]:
    async def read() -> list[tuple[int, str | None, str]]:
        async with live.gateway.sessions() as db:
            rows = await db.execute(select(Policy.version, Policy.created_by, Policy.text).order_by(Policy.version))
            return [(v, by, text) for v, by, text in rows]

    return live.run(read)


def test_edit_preview_review_save_history_and_restore(page: Page, live: Live) -> None:
    seed_people(live)
    open_policy(page, live)
    rule1 = page.get_by_role("group", name="Rule 1")
    expect(rule1.get_by_role("radio", name="Everyone signed in")).to_be_checked()
    expect(rule1.get_by_role("checkbox", name="jira:issues:read")).to_be_checked()
    expect(page.locator("#compiled")).to_have_text(DEFAULT_POLICY.strip())
    assert_accessible(page)
    shoot(page, "10-policy")

    # Forbid carol reading issues; let bob write issues, through Claude Code only.
    page.get_by_role("button", name="Add a rule").click()
    rule2 = page.get_by_role("group", name="Rule 2")
    rule2.get_by_role("radio", name="Forbid").check()
    rule2.get_by_role("radio", name="These emails").check()
    rule2.get_by_role("textbox", name="Emails").fill("carol@example.com")
    page.get_by_role("button", name="Add a rule").click()
    rule3 = page.get_by_role("group", name="Rule 3")
    rule3.get_by_role("radio", name="These emails").check()
    rule3.get_by_role("textbox", name="Emails").fill("Bob@Example.com")
    rule3.get_by_role("radio", name="Only these clients").check()
    rule3.get_by_role("checkbox", name="Claude Code").check()
    rule3.get_by_role("checkbox", name="jira:issues:read").uncheck()
    rule3.get_by_role("checkbox", name="jira:issues:write").check()

    page.get_by_label("Signed-in user").select_option(label="bob@example.com")
    page.get_by_label("Client", exact=True).select_option(label=f"Claude Code ({CLAUDE})")
    page.get_by_role("button", name="Preview", exact=True).click()
    result = page.locator("#preview-result")
    expect(result.get_by_role("heading")).to_have_text(f"bob@example.com through Claude Code ({CLAUDE})")
    write = result.get_by_role("row", name="jira:issues:write")
    expect(write.get_by_role("cell").nth(0)).to_have_text("refused")
    expect(write.get_by_role("cell").nth(1)).to_contain_text("granted (new)")
    expect(result.get_by_role("row", name="jira:issues:read").get_by_role("cell").nth(1)).to_have_text("granted")
    compiled = page.locator("#compiled")
    expect(compiled).to_contain_text("forbid (")
    expect(compiled).to_contain_text('principal.email == "bob@example.com"')  # lower-cased, as Cedar compares
    expect(compiled).to_contain_text(f'context.client.client_id == "{CLAUDE}"')
    expect(page.get_by_role("group", name="Rule 3").get_by_role("checkbox", name="Claude Code")).to_be_checked()
    assert_accessible(page)
    shoot(page, "11-policy-preview")

    # A preview for someone who has not signed in yet, by email, through any other client.
    page.get_by_label("Or any email").fill("carol@example.com")
    page.get_by_label("Or a client id").fill("some-new-client")
    page.get_by_label("Or a client id").press("Enter")  # Enter previews; it does not remove rule 1
    expect(page.get_by_role("group", name="Rule 1")).to_be_visible()
    expect(result.get_by_role("heading")).to_have_text("carol@example.com through some-new-client")
    expect(result.get_by_role("row", name="jira:issues:read").get_by_role("cell").nth(1)).to_contain_text(
        "refused (taken away)"
    )

    page.get_by_role("button", name="Review and save…").click()
    expect(page.get_by_role("heading", name="Review your change")).to_be_visible()
    widened = page.locator("section", has=page.get_by_role("heading", name="Access widened (1)"))
    expect(widened.get_by_role("row", name=f"bob@example.com Claude Code ({CLAUDE}) jira:issues:write")).to_be_visible()
    narrowed = page.locator("section", has=page.get_by_role("heading", name="Access narrowed (2)"))
    for client in (f"Claude Code ({CLAUDE})", f"Cursor ({CURSOR})"):
        expect(narrowed.get_by_role("row", name=f"carol@example.com {client} jira:issues:read")).to_be_visible()
    assert_accessible(page)
    assert [v for v, _, _ in versions(live)] == [1]  # nothing saved before the confirm step

    page.get_by_role("button", name="Save as version 2").click()
    expect(page.get_by_role("heading", name="Policy history")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Saved version 2")
    row = page.get_by_role("row", name="2 in force")
    expect(row).to_contain_text(f"console:{ADMIN}")
    assert_accessible(page)
    shoot(page, "12-policy-history")
    saved = versions(live)
    assert [v for v, _, _ in saved] == [1, 2]
    assert saved[-1][1] == f"console:{ADMIN}"
    assert live.gateway.policy.version(live.gateway.environment_id) == 2  # listeners heard: in force at once

    page.get_by_role("link", name="View version 1").click()
    expect(page.get_by_role("heading", name="Policy version 1")).to_be_visible()
    expect(page.locator("pre")).to_have_text(DEFAULT_POLICY.strip())
    assert_accessible(page)
    page.get_by_role("button", name="Restore this version").click()
    expect(page.get_by_role("heading", name="Restore version 1")).to_be_visible()
    expect(page.get_by_role("heading", name="Access widened (2)")).to_be_visible()  # carol gets reading back
    expect(page.get_by_role("heading", name="Access narrowed (1)")).to_be_visible()  # bob loses writing
    page.get_by_role("button", name="Save as version 3").click()
    expect(page.get_by_role("status")).to_contain_text("Saved version 3")
    expect(page.get_by_role("row", name="3 in force")).to_contain_text(f"console:{ADMIN}")
    assert versions(live)[-1] == (3, f"console:{ADMIN}", DEFAULT_POLICY)
    assert live.gateway.policy.version(live.gateway.environment_id) == 3


def test_raw_editor_shows_cedars_error_inline_and_saves_nothing(page: Page, live: Live) -> None:
    open_policy(page, live)
    page.get_by_role("link", name="Cedar text").click()
    editor = page.get_by_role("textbox", name="Cedar text")
    expect(editor).to_have_value(DEFAULT_POLICY)
    typo = DEFAULT_POLICY.replace("jira:issues:read", "jira:isues:read")
    editor.fill(typo)
    page.get_by_role("button", name="Review and save…").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text('`"jira:isues:read"` is not declared as a valid eid')
    expect(page.get_by_role("textbox", name="Cedar text")).to_have_value(typo)
    expect(page.get_by_role("textbox", name="Cedar text")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", name="Review your change")).to_have_count(0)
    assert_accessible(page)

    editor = page.get_by_role("textbox", name="Cedar text")
    editor.fill('permit (principal, action, resource) when { principal.emial == "x" };')
    page.get_by_role("button", name="Preview", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Policy 1: for policy `policy0`, attribute `emial` on entity type `PolicyArc::User` not found"
    )
    assert [v for v, _, _ in versions(live)] == [1]


def test_rule_problems_show_on_their_rule_and_block_the_review(page: Page, live: Live) -> None:
    open_policy(page, live)
    page.get_by_role("button", name="Add a rule").click()
    rule2 = page.get_by_role("group", name="Rule 2")
    rule2.get_by_role("radio", name="These emails").check()
    rule2.get_by_role("textbox", name="Emails").fill("not-an-email")
    rule2.get_by_role("checkbox", name="jira:issues:read").uncheck()
    page.get_by_role("button", name="Review and save…").click()
    rule2 = page.get_by_role("group", name="Rule 2")
    expect(rule2.get_by_role("alert")).to_contain_text("'not-an-email' is not an email address")
    expect(rule2.get_by_role("alert")).to_contain_text("Tick at least one scope.")
    expect(page.get_by_role("group", name="Rule 1").get_by_role("alert")).to_have_count(0)
    expect(page.get_by_text("Fix the rules marked above")).to_be_visible()
    assert_accessible(page)

    rule2.get_by_role("button", name="Remove rule 2").click()
    expect(page.get_by_role("group", name="Rule 2")).to_have_count(0)
    page.get_by_role("button", name="Review and save…").click()
    expect(page.get_by_role("status")).to_contain_text("This is the policy in force already")
    expect(page.get_by_role("button", name="Save as version 2")).to_have_count(0)
    assert [v for v, _, _ in versions(live)] == [1]


def test_a_policy_beyond_the_form_opens_as_cedar_and_says_why(page: Page, live: Live) -> None:
    async def write() -> None:
        async with live.gateway.sessions() as db:
            environment = await ensure_environment(db)
            await set_policy(db, environment, BEYOND, scopes=live.gateway.policy.scopes, actor="test")

    live.run(write)
    open_policy(page, live)
    expect(page.get_by_role("note")).to_contain_text("policy 1 has an `unless` clause")
    expect(page.get_by_role("link", name="Cedar text")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("textbox", name="Cedar text")).to_have_value(BEYOND)
    assert_accessible(page)
    page.get_by_role("button", name="Edit as rules").click()
    expect(page.get_by_role("note")).to_contain_text("The rules form cannot show this text")
    expect(page.get_by_role("textbox", name="Cedar text")).to_have_value(BEYOND)


def test_the_policy_screen_works_without_javascript(browser: Browser, live: Live) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    open_policy(page, live)
    page.get_by_role("group", name="Rule 1").get_by_role("checkbox", name="jira:projects:read").check()
    page.get_by_role("button", name="Edit as Cedar text").click()
    cedar = page.get_by_role("textbox", name="Cedar text")
    expect(cedar).to_contain_text('resource in [PolicyArc::Scope::"jira:issues:read", ')
    page.get_by_role("button", name="Review and save…").click()
    page.get_by_role("button", name="Back to editing").click()  # back where the draft came from: the Cedar text
    expect(page.get_by_role("textbox", name="Cedar text")).to_contain_text('PolicyArc::Scope::"jira:projects:read"')
    page.get_by_role("button", name="Edit as rules").click()
    expect(page.get_by_role("group", name="Rule 1").get_by_role("checkbox", name="jira:projects:read")).to_be_checked()
    page.get_by_role("button", name="Review and save…").click()
    page.get_by_role("button", name="Save as version 2").click()
    expect(page.get_by_role("status")).to_contain_text("Saved version 2")
    text = live.run(lambda: _current_text(live))
    assert "jira:projects:read" in text and "jira:issues:read" in text
    context.close()


def test_the_editor_fits_a_phone_screen(page: Page, live: Live) -> None:
    seed_people(live)
    page.set_viewport_size({"width": 375, "height": 800})
    open_policy(page, live)
    expect(page.get_by_role("group", name="Rule 1")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


async def _current_text(live: Live) -> str:
    async with live.gateway.sessions() as db:
        count = await db.scalar(select(func.count()).select_from(Policy))
        assert count == 2
        return (await show_policy(db, await ensure_environment(db))).text


def test_a_save_is_refused_when_another_version_landed_after_the_review(page: Page, live: Live) -> None:
    async def seed() -> None:
        now = datetime.now(UTC)
        async with live.gateway.sessions.begin() as db:
            for n in range(60):
                db.add(User(email=f"user{n}@example.com", idp_kind="atlassian", idp_subject=f"s{n}", created_at=now,
                            last_seen_at=now - timedelta(seconds=n)))  # fmt: skip
            for client_id, name in ((CLAUDE, "Claude Code"), (CURSOR, "Cursor")):
                db.add(OAuthClient(client_id=client_id, client_metadata={"client_name": name}, kind="dcr",
                                   created_at=now, updated_at=now))  # fmt: skip

    async def someone_else_saves() -> None:
        async with live.gateway.sessions() as db:
            environment = await ensure_environment(db)
            await set_policy(db, environment, DEFAULT_POLICY + "\n", scopes=live.gateway.policy.scopes, actor="ops")

    live.run(seed)
    open_policy(page, live)
    page.get_by_role("group", name="Rule 1").get_by_role("checkbox", name="jira:issues:write").check()
    page.get_by_role("button", name="Review and save…").click()
    widened = page.locator("section", has=page.get_by_role("heading", name="Access widened (120)"))
    expect(widened.get_by_role("row")).to_have_count(101)  # a header and the first 100 pairs
    expect(widened).to_contain_text("And 20 more")
    live.run(someone_else_saves)
    page.get_by_role("button", name="Save as version 2").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Version 2 of the policy was saved after you started from version 1"
    )
    expect(page.get_by_role("button", name="Save as version 3")).to_be_visible()  # compared with version 2 now
    assert [(v, by) for v, by, _ in versions(live)][1:] == [(2, "ops")]
    page.get_by_role("button", name="Save as version 3").click()
    expect(page.get_by_role("status")).to_contain_text("Saved version 3")
