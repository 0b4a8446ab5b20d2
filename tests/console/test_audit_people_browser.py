"""The audit log (filters, paging, JSON Lines and CSV export) and People & clients (revoke) in a real browser,
over records and sign-ins written to the store the way the gateway writes them."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from policyarc.secrets import hash_token
from policyarc.services.environments import ensure_environment
from policyarc.store.models import AccessToken, AuditRecord, IdentityProvider, OAuthClient, UpstreamLink, User
from tests.console.conftest import assert_accessible, shoot, sign_in
from tests.console.live import Live

NOW = datetime.now(UTC).replace(microsecond=0)


def _seed(live: Live, records: int = 60) -> None:
    async def work() -> None:
        async with live.gateway.sessions.begin() as session:
            environment = await ensure_environment(session)
            # A link belongs to an identity provider: the environment's, whether or not the test connected one.
            idp = await session.scalar(
                select(IdentityProvider).where(IdentityProvider.environment_id == environment.id)
            ) or IdentityProvider(environment_id=environment.id, kind="atlassian", client_id="app",
                                  client_secret_enc="x", scopes="")  # fmt: skip
            session.add(idp)
            alice = User(id="u-alice", email="alice@example.com", display_name="Alice", idp_kind="atlassian",
                         idp_subject="acc-alice")  # fmt: skip
            bob = User(id="u-bob", email="bob@example.com", display_name="Bob", idp_kind="atlassian",
                       idp_subject="acc-bob")  # fmt: skip
            session.add_all([alice, bob])
            session.add(
                OAuthClient(client_id="client-claude", client_secret_hash=None, kind="dcr",
                            client_metadata={"client_name": "Claude Code", "redirect_uris": ["http://127.0.0.1:5555/cb"]})
            )  # fmt: skip
            await session.flush()
            session.add(
                UpstreamLink(user_id="u-bob", identity_provider_id=idp.id, idp_kind="atlassian", access_token_enc="x",
                             refresh_token_enc=None,
                             expires_at=NOW + timedelta(hours=1), scopes="read:jira-work", status="active")
            )  # fmt: skip
            session.add(
                AccessToken(token_hash=hash_token("pa_at_bob"), client_id="client-claude", user_id="u-bob",
                            environment_id=environment.id, scopes="jira:issues:read", resource=None,
                            expires_at=NOW + timedelta(minutes=15))
            )  # fmt: skip
            for n in range(records):
                who = "u-alice" if n % 3 else "u-bob"
                failed = n % 10 == 0
                session.add(
                    AuditRecord(ts=NOW - timedelta(minutes=records - n), environment_id=environment.id, user_id=who,
                                client_id="client-claude", tool="get_issue" if n % 2 else "search_issues",
                                args_digest="d" * 32, decision="allowed", upstream_status=404 if failed else 200,
                                latency_ms=12.5, error_code="not_found" if failed else None)
                )  # fmt: skip

    live.run(work)


def test_audit_log_filters_pages_and_exports(page: Page, live: Live) -> None:
    _seed(live)
    sign_in(page, live)
    page.get_by_role("link", name="Audit log").click()
    rows = page.locator("section", has=page.get_by_role("heading", name="Calls, newest first")).locator("tbody tr")
    expect(rows).to_have_count(50)
    assert_accessible(page)
    shoot(page, "13-audit")
    page.get_by_role("link", name="Older calls").click()
    expect(rows).to_have_count(10)

    page.goto(f"{live.url}/console/e/default/audit")
    page.get_by_label("User email").fill("bob@example.com")
    page.get_by_label("Outcome").select_option("error")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(2)  # n = 0 and 30: bob's, and failed
    expect(rows.first).to_contain_text("not_found")

    with page.expect_download() as jsonl:
        page.get_by_role("link", name="JSON Lines").click()
    lines = [json.loads(line) for line in Path(jsonl.value.path()).read_text(encoding="utf-8").splitlines()]
    assert [(r["user_email"], r["error_code"]) for r in lines] == [("bob@example.com", "not_found")] * 2
    with page.expect_download() as exported:
        page.get_by_role("link", name="CSV").click()
    table = list(csv.DictReader(io.StringIO(Path(exported.value.path()).read_text(encoding="utf-8"))))
    assert len(table) == 2 and {row["tool"] for row in table} == {"search_issues"}


def test_a_bad_time_filter_says_what_to_fix(page: Page, live: Live) -> None:
    sign_in(page, live)
    page.goto(f"{live.url}/console/e/default/audit?since=yesterday")
    expect(page.get_by_role("alert")).to_contain_text("is not a date and time for From")


def test_people_and_clients_can_be_revoked(page: Page, live: Live) -> None:
    _seed(live, records=3)
    sign_in(page, live)
    page.get_by_role("link", name="People & clients").click()
    people = page.locator("section", has=page.get_by_role("heading", name="People who signed in"))
    expect(people.locator("tr", has_text="bob@example.com")).to_contain_text("active")
    clients = page.locator("section", has=page.get_by_role("heading", name="MCP clients"))
    expect(clients.locator("tr", has_text="Claude Code")).to_contain_text("127.0.0.1")
    assert_accessible(page)
    shoot(page, "14-people")

    async def bob_cached_at_mcp() -> bool:  # the MCP endpoint's token check reads bob's token, and caches it
        await live.gateway.resolver.resolve("pa_at_bob")
        return hash_token("pa_at_bob") in live.gateway.resolver._cache

    assert live.run(bob_cached_at_mcp)
    people.get_by_role("button", name="Revoke bob@example.com").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked bob@example.com")
    expect(people.locator("tr", has_text="bob@example.com")).to_contain_text("none")

    async def state() -> tuple[object, object]:
        async with live.gateway.sessions() as session:
            token = await session.get(AccessToken, hash_token("pa_at_bob"))
            link = await session.scalar(select(UpstreamLink).where(UpstreamLink.user_id == "u-bob"))
            return (token.revoked_at if token else "gone"), link

    revoked_at, link = live.run(state)
    assert revoked_at is not None and link is None
    assert hash_token("pa_at_bob") not in live.gateway.resolver._cache  # dropped at once, not when it ages out
    clients.get_by_role("button", name="Revoke Claude Code").click()
    expect(page.get_by_role("status")).to_contain_text("Revoked the client")
    expect(page.get_by_text("No MCP client has registered yet.")).to_be_visible()
