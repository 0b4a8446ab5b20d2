"""Unauthenticated resource exhaustion on the OAuth endpoints (issue 8, finding 3).

Anyone can call /register, /authorize and /oauth/login, and each stores a row. These tests hold the bounds: a
rate per client address (counted on a clock that only moves when the test moves it), a ceiling on every stored
field and on every body, one IdP round trip per pending request, and over-size bodies answered 413 in JSON
without a traceback in the log. Growth is measured in rows and bytes of the database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from policyarc.oauth import OAuthConfig
from policyarc.oauth.body_limit import FORM_LIMIT, REGISTRATION_LIMIT
from policyarc.oauth.pending import IdpRoundTrip, save_round_trip, take_round_trip
from policyarc.oauth.throttle import OAuthLimiters
from policyarc.secrets import KeyRing
from policyarc.sim.atlassian import SimConfig, create_sim_app
from policyarc.store import create_engine, session_factory, upgrade
from policyarc.store.models import LoginState, OAuthClient, utcnow
from tests.oauth.gateway_harness import (
    CLIENT_REDIRECT,
    ISSUER,
    RESOURCE,
    SCOPES,
    SIM_SEED,
    FakeClock,
    FakePolicy,
    HostRouter,
    build_gateway_app,
    path_of,
    seed_environment,
)

CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"  # RFC 7636 appendix B


class StoppedClock:
    """Monotonic seconds that move only when the test says so: rate limits without timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Site:
    app: Starlette
    sessions: async_sessionmaker[AsyncSession]
    db_path: Path
    clock: StoppedClock

    def client(self, address: str = "203.0.113.7") -> httpx.AsyncClient:
        transport = httpx.ASGITransport(self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url=ISSUER)

    async def rows(self, model: Any) -> int:
        async with self.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(model)) or 0)

    def db_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.db_path.parent.glob(self.db_path.name + "*") if p.is_file())


SiteFactory = Callable[..., Any]


@pytest.fixture
async def site_factory(tmp_path: Path) -> AsyncIterator[SiteFactory]:
    """Builds a gateway with the given per-minute limits (0 = off) over a fresh SQLite file."""
    cleanups: list[Any] = []

    async def build(register: int = 10, authorize: int = 30, login: int = 30) -> Site:
        db_path = tmp_path / f"policyarc-{len(cleanups)}.db"
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
        cleanups.append(engine)
        await upgrade(engine)
        sessions = session_factory(engine)
        keyring = KeyRing.generate()
        environment_id = await seed_environment(sessions, keyring)
        config = OAuthConfig(
            issuer=ISSUER,
            environment_id=environment_id,
            scopes=SCOPES,
            register_per_minute=register,
            authorize_per_minute=authorize,
            login_per_minute=login,
        )
        clock = StoppedClock()
        sim_app = create_sim_app(SimConfig(auto_consent=True, rate_limits_enabled=False), seed=SIM_SEED)
        outbound = httpx.AsyncClient(transport=HostRouter({"sim": sim_app}))
        cleanups.append(outbound)
        app, _, _ = build_gateway_app(
            sessions=sessions,
            config=config,
            keyring=keyring,
            clock=FakeClock(),
            policy=FakePolicy(),
            outbound=outbound,
            limiters=OAuthLimiters.in_process(config, clock=clock),
        )
        return Site(app=app, sessions=sessions, db_path=db_path, clock=clock)

    yield build
    for resource in reversed(cleanups):
        if isinstance(resource, httpx.AsyncClient):
            await resource.aclose()
        else:
            await resource.dispose()


def registration(**metadata: Any) -> dict[str, Any]:
    return {"redirect_uris": [CLIENT_REDIRECT], "client_name": "Test Client", **metadata}


def authorize_params(client_id: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": CLIENT_REDIRECT,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
        "state": "client-state-1",
        "scope": "jira:issues:read",
        "resource": RESOURCE,
        **overrides,
    }


async def register(http: httpx.AsyncClient) -> str:
    response = await http.post("/register", json=registration())
    assert response.status_code == 201, response.text
    return str(response.json()["client_id"])


def assert_too_many(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["retry-after"] == str(retry_after)
    body = response.json()
    assert body["error"] == "too_many_requests"
    assert f"try again in {retry_after} seconds" in body["error_description"]


# --- rate limits ----------------------------------------------------------------------------------------------


async def test_register_is_limited_per_address_and_refusals_add_no_rows(site_factory: SiteFactory) -> None:
    site: Site = await site_factory(register=10)
    async with site.client("203.0.113.7") as attacker, site.client("198.51.100.2") as other:
        for _ in range(10):
            await register(attacker)
        size = site.db_bytes()
        for _ in range(25):
            assert_too_many(await attacker.post("/register", json=registration()), retry_after=6)
        assert await site.rows(OAuthClient) == 10
        assert site.db_bytes() == size  # a refused registration never reaches the database
        await register(other)  # another address has its own budget
        site.clock.now += 6.0  # one token back, 10 per minute
        await register(attacker)
        assert_too_many(await attacker.post("/register", json=registration()), retry_after=6)
    assert await site.rows(OAuthClient) == 12


async def test_ipv6_addresses_share_a_budget_per_64(site_factory: SiteFactory) -> None:
    site: Site = await site_factory(register=2)
    for host in ("2001:db8:1:2::1", "2001:db8:1:2::ffff"):
        async with site.client(host) as http:
            await register(http)
    async with site.client("2001:db8:1:2:aaaa::9") as http:
        assert_too_many(await http.post("/register", json=registration()), retry_after=30)
    async with site.client("2001:db8:1:3::1") as http:
        await register(http)


async def test_register_429_carries_cors_headers(site_factory: SiteFactory) -> None:
    site: Site = await site_factory(register=1)
    async with site.client() as http:
        await register(http)
        refused = await http.post("/register", json=registration(), headers={"Origin": "http://localhost:6274"})
    assert refused.status_code == 429
    assert refused.headers["access-control-allow-origin"] == "*"


async def test_authorize_is_limited_per_address(site_factory: SiteFactory) -> None:
    site: Site = await site_factory(authorize=30)
    async with site.client() as http:
        client_id = await register(http)
        for _ in range(30):
            started = await http.get("/authorize", params=authorize_params(client_id))
            assert started.status_code == 302, started.text
        pending = await site.rows(LoginState)
        assert_too_many(await http.get("/authorize", params=authorize_params(client_id)), retry_after=2)
        assert await site.rows(LoginState) == pending == 30


async def test_login_is_limited_per_address(site_factory: SiteFactory) -> None:
    site: Site = await site_factory(login=3)
    async with site.client() as http:
        client_id = await register(http)
        started = await http.get("/authorize", params=authorize_params(client_id))
        login = path_of(started.headers["location"])
        for _ in range(3):
            assert (await http.get(login)).status_code == 303
        assert_too_many(await http.get(login), retry_after=20)


async def test_login_keeps_one_round_trip_per_pending_request(site_factory: SiteFactory) -> None:
    site: Site = await site_factory(login=0)
    async with site.client() as http:
        client_id = await register(http)
        started = await http.get("/authorize", params=authorize_params(client_id))
        login = path_of(started.headers["location"])
        before = await site.rows(LoginState)  # the pending request
        for _ in range(40):
            assert (await http.get(login)).status_code == 303
        assert await site.rows(LoginState) == before + 1


async def test_a_new_round_trip_replaces_the_last_one_for_its_request(engine: AsyncEngine) -> None:
    """On both backends (a JSON lookup): one live round trip per pending request, others untouched."""
    sessions = session_factory(engine)
    later = utcnow() + timedelta(minutes=10)
    async with sessions.begin() as db:
        pending_row = LoginState(
            state_hash="p" * 64, payload={"kind": "authorize", "request_id": "r1"}, expires_at=later
        )
        db.add(pending_row)
        for _ in range(3):
            await save_round_trip(db, IdpRoundTrip(request_id="r1", cookie_hash="c"), expires_at=later)
        await save_round_trip(db, IdpRoundTrip(request_id="r2", cookie_hash="c"), expires_at=later)
        last = await save_round_trip(db, IdpRoundTrip(request_id="r1", cookie_hash="c"), expires_at=later)
    async with sessions() as db:
        payloads = [row.payload for row in await db.scalars(select(LoginState))]
        assert sorted(p.get("request_id", "") + p["kind"] for p in payloads) == ["r1authorize", "r1idp", "r2idp"]
        assert await take_round_trip(db, last, now=utcnow()) is not None


# --- registration fields --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "error", "words"),
    [
        ({"client_name": "n" * 201}, "invalid_client_metadata", "client_name is 201 characters long; at most 200"),
        (
            {"redirect_uris": [f"http://127.0.0.1:{9000 + i}/cb" for i in range(11)]},
            "invalid_redirect_uri",
            "11 redirect_uris given; register at most 10",
        ),
        (
            {"redirect_uris": ["http://127.0.0.1:9999/" + "p" * 2000]},
            "invalid_redirect_uri",
            "redirect_uris[0] is 2022 characters long; at most 2000",
        ),
        ({"scope": " ".join(["jira:issues:read"] * 80)}, "invalid_client_metadata", "scope is 1359 characters"),
        ({"client_uri": "https://e.example/" + "u" * 2000}, "invalid_client_metadata", "client_uri is 2018"),
        ({"logo_uri": "https://e.example/" + "u" * 2000}, "invalid_client_metadata", "logo_uri is 2018"),
        ({"contacts": ["a@example.com"] * 11}, "invalid_client_metadata", "11 contacts given; at most 10"),
        ({"contacts": ["a" * 321]}, "invalid_client_metadata", "contacts[0] is 321 characters long"),
        ({"software_version": "v" * 201}, "invalid_client_metadata", "software_version is 201 characters"),
        (
            {"grant_types": ["authorization_code", *[f"urn:x:{i}" for i in range(10)]]},
            "invalid_client_metadata",
            "11 grant_types given; at most 10",
        ),
        (
            {"jwks": {"keys": [{"k": "x" * 20_000}]}},
            "invalid_client_metadata",
            "jwks is 20019 bytes as JSON; at most 8192",
        ),
    ],
)
async def test_every_stored_registration_field_is_capped(
    site_factory: SiteFactory, metadata: dict[str, Any], error: str, words: str
) -> None:
    site: Site = await site_factory()
    async with site.client() as http:
        refused = await http.post("/register", json=registration(**metadata))
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == error
    assert words in refused.json()["error_description"]
    assert await site.rows(OAuthClient) == 0


async def test_fields_at_their_caps_are_accepted(site_factory: SiteFactory) -> None:
    site: Site = await site_factory()
    metadata = registration(
        client_name="n" * 200,
        redirect_uris=[f"http://127.0.0.1:{9000 + i}/" + "p" * 1970 for i in range(10)],
        contacts=["c" * 320] * 10,
    )
    async with site.client() as http:
        accepted = await http.post("/register", json=metadata)
    assert accepted.status_code == 201, accepted.text
    assert len(accepted.json()["redirect_uris"]) == 10


async def test_the_reviewed_attack_adds_nothing_to_the_database(site_factory: SiteFactory) -> None:
    """The review's finding: 15 registrations with a 3.9 MB client_name added 60 MB to the database."""
    site: Site = await site_factory(register=0)
    size = site.db_bytes()
    async with site.client() as http:
        for _ in range(15):
            refused = await http.post("/register", json=registration(client_name="x" * 3_900_000))
            assert refused.status_code == 413
            assert refused.json()["error"] == "invalid_request"
    assert await site.rows(OAuthClient) == 0
    assert site.db_bytes() == size


# --- /authorize -----------------------------------------------------------------------------------------------


async def test_oversized_state_is_refused_without_echo_or_row(site_factory: SiteFactory) -> None:
    site: Site = await site_factory()
    async with site.client() as http:
        client_id = await register(http)
        refused = await http.get("/authorize", params=authorize_params(client_id, state="s" * 2001))
        accepted = await http.get("/authorize", params=authorize_params(client_id, state="s" * 2000))
    assert refused.status_code == 400, refused.text
    assert "location" not in refused.headers  # the state cannot go back to the client: it is the problem
    assert refused.json() == {
        "error": "invalid_request",
        "error_description": "state is 2001 characters long; at most 2000 are accepted",
    }
    assert "s" * 100 not in refused.text
    assert accepted.status_code == 302
    assert await site.rows(LoginState) == 1


async def test_state_must_be_printable_ascii(site_factory: SiteFactory) -> None:
    site: Site = await site_factory()
    async with site.client() as http:
        client_id = await register(http)
        refused = await http.get("/authorize", params=authorize_params(client_id, state="ok\nSet-Cookie: x"))
    assert refused.status_code == 400
    assert "printable ASCII" in refused.json()["error_description"]
    assert await site.rows(LoginState) == 0


@pytest.mark.parametrize(
    ("challenge", "words"),
    [
        (CHALLENGE + "A", "got 44 characters"),
        ("A" * 10_000, "got 10000 characters"),
        (CHALLENGE[:42] + "+", "outside the base64url alphabet"),
        ("short", "got 5 characters"),
    ],
)
async def test_code_challenge_must_be_an_s256_value(site_factory: SiteFactory, challenge: str, words: str) -> None:
    site: Site = await site_factory()
    async with site.client() as http:
        client_id = await register(http)
        refused = await http.get("/authorize", params=authorize_params(client_id, code_challenge=challenge))
    # RFC 6749 section 4.1.2.1: the client and redirect URI are valid, so the error goes back to the client.
    assert refused.status_code == 302, refused.text
    location = refused.headers["location"]
    assert location.startswith(CLIENT_REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["error"] == "invalid_request"
    assert query["state"] == "client-state-1"
    assert words in query["error_description"]
    assert "43-character base64url" in query["error_description"]
    assert await site.rows(LoginState) == 0


# --- over-size and malformed bodies ---------------------------------------------------------------------------


def assert_no_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert loud == [], [r.getMessage() for r in loud]


@pytest.mark.parametrize("path", ["/authorize", "/token", "/revoke", "/oauth/consent"])
async def test_oversize_forms_get_413_json_and_no_traceback(
    site_factory: SiteFactory, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    site: Site = await site_factory()
    caplog.set_level(logging.DEBUG)
    async with site.client() as http:
        # One multipart part over python-multipart's 1 MiB part limit, under the SDK's old 4 MiB body limit.
        answer = await http.post(path, data={"client_id": "x"}, files={"state": ("s.txt", b"s" * 1_500_000)})
        small_over = await http.post(path, data={"state": "s" * (FORM_LIMIT + 1)})
    for response in (answer, small_over):
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "invalid_request"
        assert f"larger than {FORM_LIMIT} bytes" in response.json()["error_description"]
    assert_no_error_logged(caplog)


async def test_streamed_body_without_length_is_cut_at_the_limit(site_factory: SiteFactory) -> None:
    site: Site = await site_factory()
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(1000):
            sent.append(1)
            yield b" " * 4096

    async with site.client() as http:
        response = await http.post("/register", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert f"larger than {REGISTRATION_LIMIT} bytes" in response.json()["error_description"]
    assert await site.rows(OAuthClient) == 0


async def test_malformed_multipart_authorize_is_a_client_error_not_a_traceback(
    site_factory: SiteFactory, caplog: pytest.LogCaptureFixture
) -> None:
    site: Site = await site_factory()
    caplog.set_level(logging.DEBUG)
    async with site.client() as http:
        response = await http.post(
            "/authorize", content=b"--x\r\nnonsense", headers={"Content-Type": "multipart/form-data"}
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert response.json()["error_description"].startswith("the form could not be read")
    assert_no_error_logged(caplog)
