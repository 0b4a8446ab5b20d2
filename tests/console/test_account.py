"""Console accounts over plain HTTP: sign-in CSRF, form CSRF, session expiry, sign-out, set-up links, open
redirects, and that passwords and session cookies are stored only as hashes."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from policyarc.console import setup_url
from policyarc.services.admins import create_admin, first_admin_link, invite_admin
from policyarc.store.models import AdminSession
from tests.e2e.harness import GATEWAY, Product, running_product

EMAIL = "root@example.com"
PASSWORD = "a password long enough"


def _hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name} on the page"
    return found.group(1)


@contextlib.asynccontextmanager
async def with_admin(tmp_path: Path) -> AsyncIterator[Product]:
    # The product runs inside the test: its lifespan must start and stop in one task (not a fixture).
    async with running_product(tmp_path) as running:
        async with running.gateway.sessions.begin() as session:
            await create_admin(session, EMAIL, PASSWORD, actor="test")
        yield running


def _database_bytes(product: Product) -> bytes:
    folder = product.gateway.settings.data_dir
    return b"".join(path.read_bytes() for path in folder.glob("policyarc.db*") if path.is_file())


@contextlib.asynccontextmanager
async def _signed_in(product: Product) -> AsyncIterator[httpx.AsyncClient]:
    async with product.raw() as client:
        form = await client.get("/console/sign-in")
        answer = await client.post(
            "/console/sign-in", data={"email": EMAIL, "password": PASSWORD, "pre": _hidden(form.text, "pre")}
        )
        assert answer.status_code == 303, answer.text
        yield client


async def test_sign_in_needs_the_forms_own_token(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, product.raw() as client:
        forged = await client.post("/console/sign-in", data={"email": EMAIL, "password": PASSWORD, "pre": "x"})
        assert forged.status_code == 403
        assert "__Host-policyarc_console=" not in forged.headers.get("set-cookie", "")


async def test_session_cookie_is_host_prefixed_httponly_lax_and_stored_hashed(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        cookie = next(c for c in client.cookies.jar if c.name == "__Host-policyarc_console")
        assert cookie.secure and cookie.path == "/"
        assert cookie.has_nonstandard_attr("HttpOnly")
        page = await client.get("/console/e/default")
        assert page.status_code == 200
        assert cookie.value.encode() not in _database_bytes(product)
        assert PASSWORD.encode() not in _database_bytes(product)


async def test_state_changing_forms_refuse_a_missing_or_foreign_csrf_token(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        missing = await client.post("/console/admins", data={"email": "x@example.com"})
        assert missing.status_code == 403
        foreign = await client.post("/console/admins", data={"email": "x@example.com", "csrf": "0" * 64})
        assert foreign.status_code == 403
        page = await client.get("/console/admins")
        assert "x@example.com" not in page.text
        ok = await client.post("/console/admins", data={"email": "x@example.com", "csrf": _hidden(page.text, "csrf")})
        assert ok.status_code == 200 and "/console/setup/pa_setup_" in ok.text


async def test_an_expired_session_goes_back_to_sign_in(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        assert (await client.get("/console/e/default")).status_code == 200
        async with product.gateway.sessions.begin() as session:
            await session.execute(update(AdminSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        later = await client.get("/console/e/default")
        assert later.status_code == 303
        assert later.headers["location"].startswith("/console/sign-in?next=")


async def test_sign_out_ends_the_session_on_the_server(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product:
        async with _signed_in(product) as client:
            page = await client.get("/console/e/default")
            cookie = client.cookies.get("__Host-policyarc_console")
            out = await client.post("/console/sign-out", data={"csrf": _hidden(page.text, "csrf")})
            assert out.status_code == 303
        async with product.raw() as replay:  # the old cookie, kept by someone, is worthless
            replay.cookies.set("__Host-policyarc_console", cookie or "", domain="gw.test")
            assert (await replay.get("/console/e/default")).status_code == 303


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/mcp"])
async def test_sign_in_never_redirects_outside_the_console(tmp_path: Path, target: str) -> None:
    async with with_admin(tmp_path) as product, product.raw() as client:
        form = await client.get("/console/sign-in")
        answer = await client.post(
            "/console/sign-in",
            data={"email": EMAIL, "password": PASSWORD, "pre": _hidden(form.text, "pre"), "next": target},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/console"


async def test_set_up_links_work_once(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product:
        async with product.gateway.sessions.begin() as session:
            _, raw = await invite_admin(session, "new@example.com", actor="test", now=datetime.now(UTC))
        link = setup_url(GATEWAY, raw).removeprefix(GATEWAY)
        async with product.raw() as client:
            page = await client.get(link)
            assert page.status_code == 200 and "new@example.com" in page.text
            form = {"password": PASSWORD, "confirm": PASSWORD, "pre": _hidden(page.text, "pre")}
            assert (await client.post(link, data=form)).status_code == 303
            again = await client.get(link)
            assert again.status_code == 404 and "not valid" in again.text


async def test_the_first_start_link_is_offered_only_while_no_admin_can_sign_in(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, product.gateway.sessions.begin() as session:
        assert await first_admin_link(session, now=datetime.now(UTC)) is None  # the fixture made one


async def test_console_pages_run_no_inline_code_and_are_never_framed(tmp_path: Path) -> None:
    async with with_admin(tmp_path) as product, _signed_in(product) as client:
        anonymous = await product.raw().get("/console/sign-in")
        pages = [
            anonymous,
            *[await client.get(p) for p in ("/console/e/default", "/console/admins", "/console/e/default/audit")],
        ]
        for response in pages:
            assert response.status_code == 200
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "style-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy and response.headers["x-frame-options"] == "DENY"
            assert (
                "<script>" not in response.text and " style=" not in response.text and " onclick=" not in response.text
            )
