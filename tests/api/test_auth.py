"""Every admin API path needs a live admin key; nothing answers anonymously."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from policyarc.admin import create_admin_key, revoke_admin_key, verify_admin_key
from policyarc.api import endpoint_table
from policyarc.store.models import AdminApiKey, utcnow
from tests.api.admin_harness import Admin, problem

ROUTES = endpoint_table()


def concrete(path: str) -> str:
    return re.sub(r"{[a-z_]+}", lambda m: {"{kind}": "atlassian"}.get(m.group(0), "default"), path)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_refuses_a_call_without_a_key(admin: Admin, method: str, path: str) -> None:
    response = await admin.anonymous.request(method, concrete(path), json={})
    body = problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == 'Bearer realm="PolicyArc admin API"'
    assert "pa_admin_" in body["detail"]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_route_refuses_a_bad_key(admin: Admin, method: str, path: str) -> None:
    headers = {"Authorization": "Bearer pa_admin_not-a-real-key"}
    response = await admin.anonymous.request(method, concrete(path), json={}, headers=headers)
    problem(response, 401, "invalid_credentials")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "header", ["Bearer ", "Basic dXNlcjpwYXNz", "pa_admin_x", "Bearer pa_at_abc", "Bearer " + "pa_admin_" + "x" * 300]
)
async def test_other_credentials_are_not_admin_keys(admin: Admin, header: str) -> None:
    response = await admin.anonymous.get("/api/v1/environments", headers={"Authorization": header})
    problem(response, 401, "invalid_credentials")


async def test_a_revoked_key_stops_working_at_once(admin: Admin) -> None:
    assert (await admin.client.get("/api/v1/environments")).status_code == 200
    async with admin.sessions() as session:
        await revoke_admin_key(session, admin.key_id)
        await session.commit()
    problem(await admin.client.get("/api/v1/environments"), 401, "invalid_credentials")


async def test_unknown_paths_need_a_key_before_they_say_404(admin: Admin) -> None:
    problem(await admin.anonymous.get("/api/v1/nothing/here"), 401, "unauthenticated")
    problem(await admin.client.get("/api/v1/nothing/here"), 404, "not_found")


async def test_a_method_the_path_does_not_take_is_405_with_allow(admin: Admin) -> None:
    response = await admin.client.patch("/api/v1/environments/default/policy", json={})
    problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, PUT"


async def test_verify_records_last_use_at_most_once_a_minute(admin: Admin) -> None:
    async with admin.sessions() as session:
        key_id, raw = await create_admin_key(session, "ci")
        await session.commit()
        now = utcnow()
        identity = await verify_admin_key(session, raw, now=now)
        assert identity is not None and identity.name == "ci" and identity.key_id == key_id
        await verify_admin_key(session, raw, now=now + timedelta(seconds=30))
        row = await session.get_one(AdminApiKey, key_id)
        await session.refresh(row)
        assert row.last_used_at == now
        await verify_admin_key(session, raw, now=now + timedelta(seconds=61))
        await session.refresh(row)
        assert row.last_used_at == now + timedelta(seconds=61)


async def test_keys_are_stored_hashed(admin: Admin) -> None:
    assert admin.key.startswith("pa_admin_")
    assert admin.key.encode() not in admin.database_bytes()
