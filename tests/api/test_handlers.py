"""Each admin API route: success, its error paths, the change recorded with the key's name, no secrets out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from policyarc.api import PREFIX
from policyarc.caller import Caller
from policyarc.policy import DEFAULT_POLICY
from policyarc.secrets import column_aad
from policyarc.store.models import AdminChange, AuditRecord, IdentityProvider, OAuthClient, User
from tests.api.admin_harness import ACME, PUBLIC_URL, Admin, problem

ENV = f"{PREFIX}/environments/default"
SECRET = "s3cr3t-atlassian-client-secret-value"
WRITE_POLICY = DEFAULT_POLICY + '\npermit (principal, action, resource == PolicyArc::Scope::"jira:issues:write");\n'


async def changes(admin: Admin) -> list[AdminChange]:
    async with admin.sessions() as session:
        return list(await session.scalars(select(AdminChange).order_by(AdminChange.id)))


def caller(admin: Admin) -> Caller:
    return Caller(
        user_id="u1",
        email="alice@example.com",
        account_id="acc",
        client_id="c1",
        client_name="Claude",
        environment_id=admin.environment_id,
        scopes=frozenset({"jira:issues:read", "jira:issues:write"}),
        expires_at=0.0,
    )


# --- environments ---------------------------------------------------------------------------------------------


async def test_environments_list_show_and_create(admin: Admin) -> None:
    listed = (await admin.client.get(f"{PREFIX}/environments")).json()["items"]
    assert [(e["name"], e["policy_version"], e["idp_configured"], e["connectors"]) for e in listed] == [
        ("default", 1, False, 0)
    ]
    created = await admin.client.post(f"{PREFIX}/environments", json={"name": "staging"})
    assert created.status_code == 201
    assert created.json()["name"] == "staging" and created.json()["policy_version"] == 1
    # Each environment's own MCP URL: the default keeps /mcp, the others /mcp/NAME.
    assert listed[0]["mcp_url"] == f"{PUBLIC_URL.rstrip('/')}/mcp"
    assert created.json()["mcp_url"] == f"{PUBLIC_URL.rstrip('/')}/mcp/staging"
    assert (await admin.client.get(f"{PREFIX}/environments/staging")).json()["id"] == created.json()["id"]
    # the new environment's default policy is in force on this instance at once
    assert admin.registry.version(created.json()["id"]) == 1
    assert ("environment", created.json()["id"]) in admin.recorder.heard
    change = (await changes(admin))[-1]
    assert (change.actor, change.action, change.target) == ("ops-key", "environment.create", "environment:staging")


async def test_environment_errors(admin: Admin) -> None:
    problem(await admin.client.get(f"{PREFIX}/environments/nope"), 404, "environment_not_found")
    problem(await admin.client.post(f"{PREFIX}/environments", json={"name": "default"}), 409, "environment_exists")
    problem(
        await admin.client.post(f"{PREFIX}/environments", json={"name": "Bad Name"}), 400, "invalid_environment_name"
    )
    body = problem(await admin.client.post(f"{PREFIX}/environments", json={"nam": "x"}), 400, "invalid_request")
    assert any(error.startswith("name:") for error in body["errors"])
    assert any(error.startswith("nam:") for error in body["errors"])  # unknown fields are refused, not ignored
    problem(await admin.client.post(f"{PREFIX}/environments", content=b"{not json"), 400, "invalid_json")
    problem(
        await admin.client.post(f"{PREFIX}/environments", content=b"name=x", headers={"content-type": "text/plain"}),
        400,
        "unsupported_media_type",
    )
    problem(
        await admin.client.put(f"{ENV}/policy", json={"text": "x" * 600_000}),
        413,
        "body_too_large",
    )
    assert await changes(admin) == []


# --- identity provider ----------------------------------------------------------------------------------------


async def test_idp_set_show_and_update_never_return_the_secret(admin: Admin) -> None:
    problem(await admin.client.get(f"{ENV}/idp/atlassian"), 404, "idp_not_configured")
    put = await admin.client.put(f"{ENV}/idp/atlassian", json={"client_id": "app-1", "client_secret": SECRET})
    assert put.status_code == 200, put.text
    view = put.json()
    assert view["client_id"] == "app-1" and view["client_secret_set"] is True
    assert view["callback_url"] == f"{PUBLIC_URL}/oauth/idp/atlassian/callback"
    assert "read:me" in view["scopes"] and "offline_access" in view["scopes"]
    shown = await admin.client.get(f"{ENV}/idp/atlassian")
    assert shown.json() == view
    assert SECRET not in put.text + shown.text
    # stored encrypted, bound to the row; readable with the key ring
    async with admin.sessions() as session:
        row = await session.scalar(select(IdentityProvider))
        assert row is not None and SECRET not in row.client_secret_enc
        aad = column_aad("identity_providers", "client_secret_enc", row.id)
        assert admin.keyring.decrypt(row.client_secret_enc, aad=aad) == SECRET
        first_cipher = row.client_secret_enc
    # update without a secret keeps it; scopes replaced
    scopes = ["read:jira-work", "read:me", "offline_access"]
    update = await admin.client.put(f"{ENV}/idp/atlassian", json={"client_id": "app-2", "scopes": scopes})
    assert update.json()["client_id"] == "app-2" and update.json()["scopes"] == scopes
    async with admin.sessions() as session:
        row = await session.scalar(select(IdentityProvider))
        assert row is not None and row.client_secret_enc == first_cipher
    recorded = await changes(admin)
    assert [(c.actor, c.action, c.details["secret_changed"]) for c in recorded] == [
        ("ops-key", "idp.create", True),
        ("ops-key", "idp.update", False),
    ]
    assert SECRET.encode() not in admin.database_bytes()
    assert ("idp", admin.environment_id) in admin.recorder.heard


async def test_idp_errors(admin: Admin) -> None:
    problem(await admin.client.put(f"{ENV}/idp/atlassian", json={"client_id": "a"}), 400, "client_secret_required")
    problem(
        await admin.client.put(f"{ENV}/idp/okta", json={"client_id": "a", "client_secret": "b"}),
        404,
        "idp_kind_unknown",
    )
    problem(
        await admin.client.put(f"{ENV}/idp/atlassian", json={"client_id": "a b", "client_secret": "b"}),
        400,
        "invalid_client_id",
    )
    body = problem(
        await admin.client.put(
            f"{ENV}/idp/atlassian", json={"client_id": "a", "client_secret": "b", "scopes": ["read:jira-work"]}
        ),
        400,
        "invalid_scopes",
    )
    assert "read:me and offline_access" in body["detail"]
    # a validation error never echoes the secret it was given
    response = await admin.client.put(f"{ENV}/idp/atlassian", json={"client_id": "", "client_secret": SECRET})
    problem(response, 400, "invalid_request")
    assert SECRET not in response.text
    problem(await admin.client.get(f"{PREFIX}/environments/nope/idp/atlassian"), 404, "environment_not_found")
    assert await changes(admin) == []


# --- connectors -----------------------------------------------------------------------------------------------


async def test_connector_add_resolves_the_cloud_id_lists_and_removes(admin: Admin) -> None:
    added = await admin.client.post(f"{ENV}/connectors", json={"site": "https://ACME.atlassian.net/"})
    assert added.status_code == 201, added.text
    view = added.json()
    assert (view["site"], view["cloud_id"], view["template"], view["slug"]) == ("acme", ACME, "jira-user", "jira")
    assert view["template_name"] == "Jira (user passthrough)"
    assert admin.tenant_calls == ["http://sim/site/acme/_edge/tenant_info"]
    assert (await admin.client.get(f"{ENV}/connectors")).json()["items"] == [view]
    second = await admin.client.post(f"{ENV}/connectors", json={"site": "globex", "cloud_id": ACME})
    assert "already has a Jira connector (site acme)" in problem(second, 409, "connector_exists")["detail"]
    removed = await admin.client.delete(f"{ENV}/connectors/{view['id']}")
    assert removed.json() == view
    assert (await admin.client.get(f"{ENV}/connectors")).json()["items"] == []
    problem(await admin.client.delete(f"{ENV}/connectors/{view['id']}"), 404, "connector_not_found")
    assert [(c.actor, c.action) for c in await changes(admin)] == [
        ("ops-key", "connector.create"),
        ("ops-key", "connector.delete"),
    ]
    assert admin.recorder.heard.count(("connector", admin.environment_id)) == 2


async def test_connector_with_a_given_cloud_id_does_not_look_it_up(admin: Admin) -> None:
    added = await admin.client.post(f"{ENV}/connectors", json={"site": "acme", "cloud_id": ACME.upper()})
    assert added.json()["cloud_id"] == ACME
    assert admin.tenant_calls == []
    assert (await admin.client.delete(f"{ENV}/connectors/jira")).status_code == 200  # by slug


async def test_connector_errors_say_what_to_fix(admin: Admin) -> None:
    detail = problem(await admin.client.post(f"{ENV}/connectors", json={"site": "acmee"}), 400, "site_not_found")
    assert detail["detail"] == "There is no Atlassian site named acmee."
    problem(await admin.client.post(f"{ENV}/connectors", json={"site": "acme/../x"}), 400, "invalid_site")
    problem(await admin.client.post(f"{ENV}/connectors", json={"site": "down"}), 502, "site_unreachable")
    problem(
        await admin.client.post(f"{ENV}/connectors", json={"site": "acme", "cloud_id": "nope"}), 400, "invalid_cloud_id"
    )
    problem(
        await admin.client.post(f"{ENV}/connectors", json={"site": "acme", "template": "jira-sa"}),
        400,
        "invalid_request",
    )
    assert await changes(admin) == []


async def test_resolve_site(admin: Admin) -> None:
    resolved = await admin.client.post(f"{PREFIX}/connectors/resolve-site", json={"site": "acme.atlassian.net"})
    assert resolved.json() == {"site": "acme", "cloud_id": ACME}
    body = problem(
        await admin.client.post(f"{PREFIX}/connectors/resolve-site", json={"site": "acmee"}), 400, "site_not_found"
    )
    assert "acmee" in body["detail"]
    problem(await admin.client.post(f"{PREFIX}/connectors/resolve-site", json={"site": "a b"}), 400, "invalid_site")
    problem(await admin.client.post(f"{PREFIX}/connectors/resolve-site", json={}), 400, "invalid_request")


# --- policy ---------------------------------------------------------------------------------------------------


async def test_policy_show_set_and_the_gate_applies_it_at_once(admin: Admin) -> None:
    shown = (await admin.client.get(f"{ENV}/policy")).json()
    assert (shown["version"], shown["text"], shown["created_by"]) == (1, DEFAULT_POLICY, "system")
    assert not admin.registry.allowed(caller(admin), "jira:issues:write")
    saved = await admin.client.put(f"{ENV}/policy", json={"text": WRITE_POLICY})
    assert saved.status_code == 200, saved.text
    assert (saved.json()["version"], saved.json()["created_by"]) == (2, "ops-key")
    assert admin.registry.allowed(caller(admin), "jira:issues:write")  # no wait: this instance reloaded
    assert (await admin.client.get(f"{ENV}/policy")).json()["version"] == 2
    change = (await changes(admin))[-1]
    assert (change.actor, change.action, change.details) == (
        "ops-key",
        "policy.set",
        {"version": 2, "previous_version": 1, "bytes": len(WRITE_POLICY.encode())},
    )


async def test_an_invalid_policy_is_400_with_cedars_messages_and_nothing_saved(admin: Admin) -> None:
    bad = 'permit (principal, action, resource == PolicyArc::Scope::"jira:isues:read");'
    body = problem(await admin.client.put(f"{ENV}/policy", json={"text": bad}), 400, "invalid_policy")
    assert body["errors"] and any("jira:isues:read" in error for error in body["errors"])
    problem(await admin.client.put(f"{ENV}/policy", json={"text": "permit ("}), 400, "invalid_policy")
    problem(await admin.client.put(f"{ENV}/policy", json={"text": "  "}), 400, "invalid_policy")
    assert (await admin.client.get(f"{ENV}/policy")).json()["version"] == 1
    assert await changes(admin) == []


async def test_policy_versions_list_newest_first_and_show_one(admin: Admin) -> None:
    assert (await admin.client.put(f"{ENV}/policy", json={"text": WRITE_POLICY})).status_code == 200
    listed = (await admin.client.get(f"{ENV}/policy/versions")).json()["items"]
    assert [(v["version"], v["created_by"]) for v in listed] == [(2, "ops-key"), (1, "system")]
    one = (await admin.client.get(f"{ENV}/policy/versions/1")).json()
    assert (one["version"], one["text"]) == (1, DEFAULT_POLICY)
    problem(await admin.client.get(f"{ENV}/policy/versions/9"), 404, "policy_version_not_found")
    problem(await admin.client.get(f"{ENV}/policy/versions/x1"), 400, "invalid_version")


async def test_policy_preview_lists_whose_access_widens_or_narrows_without_saving(admin: Admin) -> None:
    now = datetime.now(UTC)
    async with admin.sessions() as session, session.begin():
        session.add(User(id="u" * 32, email="alice@example.com", idp_kind="atlassian", idp_subject="a",
                         created_at=now, last_seen_at=now))  # fmt: skip
        session.add(OAuthClient(client_id="c1", client_metadata={"client_name": "Claude"}, kind="dcr",
                                created_at=now, updated_at=now))  # fmt: skip
    forbid_read = WRITE_POLICY + 'forbid (principal, action, resource == PolicyArc::Scope::"jira:issues:read");\n'
    body = (await admin.client.post(f"{ENV}/policy/preview", json={"text": forbid_read})).json()
    assert (body["valid"], body["compared_with_version"], body["users_checked"], body["clients_checked"]) == (
        True, 1, 1, 1,
    )  # fmt: skip
    item = {"user_id": "u" * 32, "email": "alice@example.com", "client_id": "c1", "client_name": "Claude"}
    assert body["widened"] == [{**item, "scopes": ["jira:issues:write"]}]
    assert body["narrowed"] == [{**item, "scopes": ["jira:issues:read"]}]
    bad = (await admin.client.post(f"{ENV}/policy/preview", json={"text": "permit ("})).json()
    assert bad["valid"] is False and bad["errors"] and bad["widened"] == []
    assert (await admin.client.get(f"{ENV}/policy")).json()["version"] == 1


async def test_policy_validate_reports_without_saving(admin: Admin) -> None:
    ok = await admin.client.post(f"{ENV}/policy/validate", json={"text": WRITE_POLICY})
    assert ok.json() == {"valid": True, "errors": []}
    bad = (await admin.client.post(f"{ENV}/policy/validate", json={"text": "permit ("})).json()
    assert bad["valid"] is False and bad["errors"]
    problem(await admin.client.post(f"{PREFIX}/environments/nope/policy/validate", json={"text": ""}), 404,
            "environment_not_found")  # fmt: skip
    assert (await admin.client.get(f"{ENV}/policy")).json()["version"] == 1
    assert await changes(admin) == []


# --- audit and changes ----------------------------------------------------------------------------------------


async def seed_audit(admin: Admin, count: int) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with admin.sessions() as session:
        session.add(User(id="u1", email="alice@example.com", idp_kind="atlassian", idp_subject="acc"))
        for i in range(count):
            session.add(
                AuditRecord(
                    ts=start + timedelta(minutes=i),
                    environment_id=admin.environment_id,
                    user_id="u1" if i % 2 == 0 else "gone-user",
                    client_id="c1",
                    tool="search_issues" if i % 3 else "create_issue",
                    args_digest="d" * 32,
                    decision="allowed" if i % 4 else "denied_policy",
                    upstream_status=200,
                    latency_ms=3.5,
                )
            )
        session.add(AuditRecord(environment_id="other-env", decision="allowed", tool="get_issue"))
        await session.commit()


async def test_audit_tail_filters_and_follows(admin: Admin) -> None:
    await seed_audit(admin, 12)
    page = (await admin.client.get(f"{ENV}/audit", params={"limit": 5})).json()
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids) and len(ids) == 5 and page["last_id"] == ids[-1] == 12  # newest five, oldest first
    assert page["items"][-1]["user_email"] is None and page["items"][-2]["user_email"] == "alice@example.com"
    forward = (await admin.client.get(f"{ENV}/audit", params={"since_id": 3, "limit": 2})).json()
    assert [item["id"] for item in forward["items"]] == [4, 5]
    denied = (await admin.client.get(f"{ENV}/audit", params={"decision": "denied_policy"})).json()["items"]
    assert {item["decision"] for item in denied} == {"denied_policy"} and len(denied) == 3
    created = (await admin.client.get(f"{ENV}/audit", params={"tool": "create_issue", "user_id": "u1"})).json()
    assert [item["id"] for item in created["items"]] == [1, 7]
    nothing = (await admin.client.get(f"{ENV}/audit", params={"since_id": 99})).json()
    assert nothing == {"items": [], "last_id": 99}
    problem(await admin.client.get(f"{ENV}/audit", params={"limit": 0}), 400, "invalid_request")
    problem(await admin.client.get(f"{ENV}/audit", params={"colour": "red"}), 400, "invalid_request")
    problem(await admin.client.get(f"{ENV}/audit?limit=1&limit=2"), 400, "invalid_request")


async def test_changes_newest_first_with_paging(admin: Admin) -> None:
    for name in ("a", "b", "c"):
        await admin.client.post(f"{PREFIX}/environments", json={"name": name})
    first = (await admin.client.get(f"{PREFIX}/changes", params={"limit": 2})).json()["items"]
    assert [c["target"] for c in first] == ["environment:c", "environment:b"]
    assert all(c["actor"] == "ops-key" for c in first)
    rest = (await admin.client.get(f"{PREFIX}/changes", params={"before_id": first[-1]["id"]})).json()["items"]
    assert [c["target"] for c in rest] == ["environment:a"]
    problem(await admin.client.get(f"{PREFIX}/changes", params={"before_id": "x"}), 400, "invalid_request")


async def test_a_failing_listener_does_not_fail_a_committed_change(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(what: str, environment_id: str) -> None:
        raise RuntimeError("reload failed")

    admin.recorder.changed = broken  # type: ignore[method-assign]
    response = await admin.client.put(f"{ENV}/policy", json={"text": WRITE_POLICY})
    assert response.status_code == 200
    assert admin.registry.version(admin.environment_id) == 2  # the watcher, before it, still ran
    assert "reloading after a policy change failed" in caplog.text


async def test_an_unexpected_error_is_a_500_problem_that_leaks_nothing(
    admin: Admin, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from policyarc import services

    async def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("connection string postgres://user:hunter2@db")

    monkeypatch.setattr(services, "list_environments", boom)
    response = await admin.client.get(f"{PREFIX}/environments")
    body = problem(response, 500, "internal_error")
    assert "hunter2" not in response.text and body["errors"] == []


async def test_reload_on_calls_reload_only_for_its_kinds() -> None:
    from policyarc.api import ReloadOn

    calls: list[str] = []

    async def reload() -> None:
        calls.append("reload")

    listener = ReloadOn(frozenset({"connector"}), reload)
    await listener.changed("policy", "e1")
    await listener.changed("connector", "e1")
    assert calls == ["reload"]
