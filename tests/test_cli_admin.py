"""The admin commands against a temporary data directory: each works, and bad input exits non-zero with a
clear message."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import select, update
from typer.testing import CliRunner, Result

from policyarc import audit, cli_admin, services
from policyarc.policy import DEFAULT_POLICY
from policyarc.secrets import load_keyring_file
from policyarc.store import create_engine, session_factory
from policyarc.store.models import AdminChange, AuditRecord, Environment, IdentityProvider

ACME = "4f2d9c1e-8a7b-4e3f-9c2d-1a5b6c7d8e9f"
SECRET = "very-secret-client-secret"
WRITE_POLICY = DEFAULT_POLICY + '\npermit (principal, action, resource == PolicyArc::Scope::"jira:issues:write");\n'

app = typer.Typer()


@app.callback()
def _root() -> None:
    """Stands in for the lead's `policyarc` app, which mounts cli_admin the same way."""


app.add_typer(cli_admin.app)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("POLICYARC_DATABASE_URL", "POLICYARC_SECRET_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POLICYARC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("POLICYARC_ATLASSIAN_SITE_URL", "http://sim/site/{site}")
    monkeypatch.setenv("POLICYARC_PUBLIC_URL", "https://gw.example.com")

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/site/acme/_edge/tenant_info":
            return httpx.Response(200, json={"cloudId": ACME})
        return httpx.Response(404)

    monkeypatch.setattr(cli_admin, "http_client", lambda: httpx.AsyncClient(transport=httpx.MockTransport(handle)))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env=env)

    return invoke


def query(tmp_path: Path, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'policyarc.db'}")
        try:
            async with session_factory(engine)() as session:
                return list(await session.scalars(statement))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def fails(result: Result, *phrases: str) -> None:
    assert result.exit_code != 0, result.stdout
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_db_upgrade_on_a_fresh_data_dir(cli: Any, tmp_path: Path) -> None:
    result = ok(cli("db", "upgrade"))
    assert "is at revision" in result.stdout
    assert (tmp_path / "data" / "policyarc.db").exists()


def test_idp_set_from_env_and_stdin_and_show_without_the_secret(cli: Any, tmp_path: Path) -> None:
    result = ok(cli("idp", "set", "atlassian", "--client-id", "app-1", "--client-secret-env", "APP_SECRET",
                    env={"APP_SECRET": SECRET}))  # fmt: skip
    assert "client secret: set" in result.stdout
    assert "https://gw.example.com/oauth/idp/atlassian/callback" in result.stdout
    shown = ok(cli("idp", "show"))
    assert "app-1" in shown.stdout and SECRET not in shown.stdout + shown.stderr
    assert json.loads(ok(cli("idp", "show", "--json")).stdout)["client_secret_set"] is True
    ok(cli("idp", "set", "atlassian", "--client-id", "app-2", "--client-secret-stdin", input="other-secret\n"))
    [row] = query(tmp_path, select(IdentityProvider))
    assert row.client_id == "app-2" and "other-secret" not in row.client_secret_enc
    assert stat.S_IMODE((tmp_path / "data" / "keyring.json").stat().st_mode) == 0o600
    db = (tmp_path / "data" / "policyarc.db").read_bytes()
    wal = tmp_path / "data" / "policyarc.db-wal"
    assert SECRET.encode() not in db + (wal.read_bytes() if wal.exists() else b"")


def test_idp_bad_input(cli: Any) -> None:
    fails(cli("idp", "show"), "no atlassian identity provider yet")
    fails(cli("idp", "set", "atlassian", "--client-id", "a"), "Give the client secret")
    fails(cli("idp", "set", "atlassian", "--client-id", "a", "--client-secret-env", "NOPE_UNSET"),
          "NOPE_UNSET is not set")  # fmt: skip
    fails(cli("idp", "set", "atlassian", "--client-id", "a", "--client-secret-env", "X", "--client-secret-stdin"),
          "not both")  # fmt: skip
    fails(cli("idp", "set", "okta", "--client-id", "a", "--client-secret-stdin", input="s\n"), "Unknown identity")
    fails(cli("idp", "set", "atlassian", "--client-id", "a", "--client-secret-stdin", "--scope", "read:jira-work",
              input="s\n"), "read:me and offline_access")  # fmt: skip
    fails(cli("idp", "show", "--env", "nope"), "no environment named 'nope'")


def test_connector_add_list_remove(cli: Any, tmp_path: Path) -> None:
    added = ok(cli("connector", "add", "jira", "--site", "acme"))
    assert ACME in added.stdout and "MCP URL: https://gw.example.com/mcp" in added.stdout
    listed = ok(cli("connector", "list"))
    assert "acme" in listed.stdout and ACME in listed.stdout
    assert json.loads(ok(cli("connector", "list", "--json")).stdout)[0]["site"] == "acme"
    fails(cli("connector", "add", "jira", "--site", "globex", "--cloud-id", ACME), "already has a Jira connector")
    ok(cli("connector", "remove", "jira"))
    assert "has no connectors" in ok(cli("connector", "list")).stdout
    ok(cli("connector", "add", "jira", "--site", "other", "--cloud-id", ACME))  # no look-up with a cloud id


def test_connector_bad_input(cli: Any) -> None:
    fails(cli("connector", "add", "jira", "--site", "acmee"), "There is no Atlassian site named acmee.")
    fails(cli("connector", "add", "jira", "--site", "acme corp"), "is not an Atlassian site name")
    fails(cli("connector", "add", "confluence", "--site", "acme"), "unknown connector template")
    fails(cli("connector", "add", "jira", "--site", "acme", "--cloud-id", "x"), "cloud ID must be a UUID")
    fails(cli("connector", "remove", "nothing"), "has no connector 'nothing'")
    assert cli("connector", "add", "jira").exit_code == 2  # typer usage error: --site missing


def test_policy_show_validate_set(cli: Any, tmp_path: Path) -> None:
    shown = ok(cli("policy", "show"))
    assert shown.stdout.strip() == DEFAULT_POLICY.strip() and "version 1" in shown.stderr
    good = tmp_path / "good.cedar"
    good.write_text(WRITE_POLICY)
    assert "is valid" in ok(cli("policy", "validate", str(good))).stdout
    assert "version 2" in ok(cli("policy", "set", str(good))).stdout
    assert "version 2" in ok(cli("policy", "show")).stderr
    assert "version 3" in ok(cli("policy", "set", "-", input=DEFAULT_POLICY)).stdout
    actions = [(c.actor.startswith("cli"), c.action) for c in query(tmp_path, select(AdminChange))]
    assert actions == [(True, "policy.set"), (True, "policy.set")]


def test_policy_bad_input(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.cedar"
    bad.write_text('permit (principal, action, resource == PolicyArc::Scope::"jira:isues:read");')
    result = cli("policy", "validate", str(bad))
    fails(result, "is not a valid policy (1 problem)", "jira:isues:read")
    fails(cli("policy", "set", str(bad)), "The policy has 1 problem")
    fails(cli("policy", "validate", str(tmp_path / "missing.cedar")), "cannot read", "No such file")
    assert "version 1" in ok(cli("policy", "show")).stderr  # nothing saved


def seed_audit(tmp_path: Path) -> None:
    [environment] = query(tmp_path, select(Environment))

    async def run() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'policyarc.db'}")
        try:
            async with session_factory(engine)() as session:
                for day in range(1, 6):
                    session.add(
                        AuditRecord(
                            ts=datetime(2026, 11, day, 12, tzinfo=UTC),
                            environment_id=environment.id,
                            user_id="u1",
                            tool="get_issue" if day % 2 else "search_issues",
                            decision="allowed",
                            upstream_status=200,
                            latency_ms=2.5,
                        )
                    )
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_audit_tail_and_export(cli: Any, tmp_path: Path) -> None:
    ok(cli("db", "upgrade"))
    ok(cli("policy", "show"))  # creates the default environment
    seed_audit(tmp_path)
    tail = ok(cli("audit", "tail", "-n", "2")).stdout.splitlines()
    assert [line.split()[0] for line in tail] == ["4", "5"]
    as_json = [
        json.loads(line) for line in ok(cli("audit", "tail", "--json", "--tool", "search_issues")).stdout.split()
    ]
    assert [r["id"] for r in as_json] == [2, 4]
    followed = ok(cli("audit", "tail", "-n", "1", "--follow", "--interval", "0", "--max-polls", "2"))
    assert [line.split()[0] for line in followed.stdout.splitlines()] == ["5"]
    exported = ok(cli("audit", "export", "--since", "2026-11-02", "--until", "2026-11-04T12:00:00Z"))
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["id"] for r in rows] == [2, 3] and "exported 2 audit records" in exported.stderr
    out = tmp_path / "audit.jsonl"
    ok(cli("audit", "export", "-o", str(out)))
    assert len(out.read_text().splitlines()) == 5
    fails(cli("audit", "export", "--since", "yesterday"), "--since: not an ISO 8601")
    fails(cli("audit", "export", "--since", "2026-11-05", "--until", "2026-11-01"), "--since must be before")
    assert cli("audit", "tail", "-n", "0").exit_code == 2


def test_audit_tail_shows_a_write_in_doubt_and_follow_shows_it_again_once_completed(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(cli("db", "upgrade"))
    ok(cli("policy", "show"))
    seed_audit(tmp_path)  # five reads, ids 1-5
    [environment] = query(tmp_path, select(Environment))

    async def add_pending() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'policyarc.db'}")
        try:
            async with session_factory(engine).begin() as session:
                session.add(
                    AuditRecord(environment_id=environment.id, tool="create_issue", decision="allowed", state="pending")
                )
        finally:
            await engine.dispose()

    asyncio.run(add_pending())
    shown = ok(cli("audit", "tail", "-n", "1")).stdout
    assert shown.startswith("     6") and "[pending: write in flight" in shown
    assert "may have reached Jira; outcome unknown" in shown
    (record,) = [json.loads(line) for line in ok(cli("audit", "tail", "-n", "1", "--json")).stdout.splitlines()]
    assert (record["state"], record["note"]) == ("pending", audit.STATE_NOTES["pending"])

    # While following, the write's gateway completes it: the follower shows the record again, settled.
    real_tail = services.tail_audit
    polls = 0

    async def tail_then_complete(session: Any, where: Any) -> Any:
        nonlocal polls
        views = await real_tail(session, where)
        polls += 1
        if polls == 1:
            await session.execute(
                update(AuditRecord).where(AuditRecord.id == 6).values(state="completed", upstream_status=201)
            )
            await session.commit()
        return views

    monkeypatch.setattr(services, "tail_audit", tail_then_complete)
    followed = ok(cli("audit", "tail", "-n", "2", "--follow", "--interval", "0", "--max-polls", "3")).stdout
    lines = followed.splitlines()
    assert [line.split()[0] for line in lines] == ["5", "6", "6"]
    assert "[pending:" in lines[1] and " 201 " in lines[2] and "[" not in lines[2]


def test_admin_keys_create_list_revoke(cli: Any, tmp_path: Path) -> None:
    created = ok(cli("admin", "create-key", "ci"))
    raw = created.stdout.strip()
    assert raw.startswith("pa_admin_") and "not shown again" in created.stderr
    listed = ok(cli("admin", "list-keys"))
    key_id = listed.stdout.split()[0]
    assert "ci" in listed.stdout and raw not in listed.stdout
    assert json.loads(ok(cli("admin", "list-keys", "--json")).stdout)[0]["revoked_at"] is None
    assert f"Revoked admin key {key_id}" in ok(cli("admin", "revoke-key", key_id)).stdout
    assert "revoked" in ok(cli("admin", "list-keys")).stdout
    fails(cli("admin", "revoke-key", "nope"), "there is no admin key 'nope'")
    fails(cli("admin", "create-key", "  "), "needs a name")
    actions = [c.action for c in query(tmp_path, select(AdminChange))]
    assert actions == ["admin_key.create", "admin_key.revoke"]


def test_keys_rotate_keeps_secrets_readable_and_reencrypt_moves_them(cli: Any, tmp_path: Path) -> None:
    ok(cli("idp", "set", "atlassian", "--client-id", "app", "--client-secret-stdin", input=f"{SECRET}\n"))
    ring_path = tmp_path / "data" / "keyring.json"
    old_primary = load_keyring_file(ring_path).primary
    rotated = ok(cli("keys", "rotate"))
    ring = load_keyring_file(ring_path)
    assert ring.primary != old_primary and old_primary in ring.kids
    assert "policyarc keys reencrypt" in rotated.stdout
    [row] = query(tmp_path, select(IdentityProvider))
    assert row.client_secret_enc.split(".")[1] == old_primary  # lazily: untouched until rewritten or swept
    assert "Re-encrypted 1 stored secrets" in ok(cli("keys", "reencrypt")).stdout
    [row] = query(tmp_path, select(IdentityProvider))
    assert row.client_secret_enc.split(".")[1] == ring.primary
    assert "app" in ok(cli("idp", "show")).stdout
    assert "0 stored secrets (1 were already current)" in ok(cli("keys", "reencrypt")).stdout


def test_keys_rotate_refuses_a_ring_from_the_environment(cli: Any) -> None:
    from policyarc.secrets import KeyRing

    spec = KeyRing.generate("k1").to_spec()
    fails(cli("keys", "rotate", env={"POLICYARC_SECRET_KEYS": spec}), "POLICYARC_SECRET_KEYS")


def test_bad_settings_are_a_clear_error(cli: Any) -> None:
    fails(cli("policy", "show", env={"POLICYARC_DATABASE_URL": "mysql://x"}), "POLICYARC_DATABASE_URL")


def test_admin_create_user_prints_a_one_time_link_and_list_users_shows_the_invite(cli: Any) -> None:
    made = cli("admin", "create-user", "Root@Example.com")
    assert made.exit_code == 0, made.output
    link = made.stdout.strip().splitlines()[-1]
    assert link.startswith("https://gw.example.com/console/setup/pa_setup_")
    listed = cli("admin", "list-users")
    assert "root@example.com" in listed.stdout and "invited, no password yet" in listed.stdout
    again = cli("admin", "create-user", "root@example.com")  # a fresh link replaces the first
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] != link
    bad = cli("admin", "create-user", "not-an-email")
    assert bad.exit_code == 1 and "is not an email address" in bad.output
