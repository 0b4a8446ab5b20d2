"""The benchmark's users: the simulator seed that adds them, the gateway environment an admin would set up, and
each user's sign-in through the gateway's real OAuth flow over HTTP.

Sign-in per user (one MCP client registered once, as a client app would): PKCE /authorize -> /oauth/login
(with `login_hint`, which the simulator's `--auto-consent` uses to pick the user) -> Atlassian's redirect to
the gateway callback -> the consent page, POSTed with its CSRF token -> the redirect with the code -> /token.
Each user then holds a gateway access token, and the gateway's vault holds that user's own Atlassian tokens.
The other systems get each user's Atlassian token from the simulator's `/_sim/tokens` hook.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

APP_ID = "policyarc-bench"
APP_SECRET = "policyarc-bench-secret"  # a throwaway credential of the local simulator
CLIENT_REDIRECT = "http://127.0.0.1:33418/callback"  # never contacted: the code is read from the redirect
GATEWAY_SCOPES = "jira:issues:read jira:issues:write jira:projects:read"
ATLASSIAN_SCOPES = ["read:jira-work", "read:jira-user", "write:jira-work", "read:me", "offline_access"]
ACTOR = "policyarc bench"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def gateway_env(workdir: Path, sim_url: str, port: int) -> dict[str, str]:
    """The benchmarked gateway's environment: one instance on `port`, SQLite in `workdir`."""
    return {
        "POLICYARC_DATA_DIR": str(workdir / "gateway"),
        "POLICYARC_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "POLICYARC_HOST": "127.0.0.1",
        "POLICYARC_PORT": str(port),
        "POLICYARC_ATLASSIAN_AUTH_URL": f"{sim_url}/auth",
        "POLICYARC_ATLASSIAN_API_URL": f"{sim_url}/api",
        "POLICYARC_ATLASSIAN_SITE_URL": f"{sim_url}/site/{{site}}",
        "POLICYARC_ACCESS_TOKEN_TTL": "86400",
        "POLICYARC_REFRESH_TOKEN_TTL": str(30 * 86400),
        "POLICYARC_LOG_LEVEL": "warning",
        # Every benchmark user signs in from 127.0.0.1 within seconds: the per-address limits would refuse them.
        "POLICYARC_RATE_LIMIT_AUTHORIZE": "0",
        "POLICYARC_RATE_LIMIT_LOGIN": "0",
        # The simulator here runs without Atlassian's rate limits, and one client drives hundreds of calls a
        # second: the tool-call quotas (quota.py) stay on, so their check is measured, at limits never reached.
        "POLICYARC_QUOTA_TENANT_PER_SECOND": "100000",
        "POLICYARC_QUOTA_USER_PER_SECOND": "100000",
        "POLICYARC_QUOTA_CLIENT_PER_SECOND": "100000",
    }


def bench_email(n: int) -> str:
    return f"bench{n:03d}@example.com"


def sim_seed(gateway_url: str, users: int) -> dict[str, Any]:
    """`policyarc sim --seed` content: our OAuth app and `users` users with full access to ENG and OPS
    (ENG is read, OPS takes the created issues so that searches over ENG keep the same cost)."""
    emails = [bench_email(n) for n in range(1, users + 1)]
    return {
        "apps": [
            {
                "client_id": APP_ID,
                "client_secret": APP_SECRET,
                "name": "PolicyArc bench",
                "callback_urls": [f"{gateway_url}/oauth/idp/atlassian/callback"],
            }
        ],
        "users": [{"email": email, "name": f"Bench User {email[5:8]}"} for email in emails],
        "memberships": [
            {"site": "acme", "email": email, "projects": {"ENG": "FULL_ACCESS", "OPS": "FULL_ACCESS"}}
            for email in emails
        ],
    }


async def seed_gateway(env: dict[str, str], cloud_id: str) -> None:
    """What demo.py's seed_environment does, against the data directory `policyarc serve` will use: the
    Atlassian IdP (our app), the acme Jira connector, and a policy granting every scope to everyone."""
    from policyarc.app import create_app
    from policyarc.demo import connect_atlassian_jira, grant_every_scope
    from policyarc.settings import load_settings

    prefix = "POLICYARC_"
    settings = load_settings(**{k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)})
    gateway = create_app(settings).state.gateway
    try:
        await connect_atlassian_jira(
            gateway, client_id=APP_ID, client_secret=APP_SECRET, cloud_id=cloud_id, actor=ACTOR
        )
        await grant_every_scope(gateway, actor=ACTOR)
    finally:
        await gateway.http.aclose()
        await gateway.engine.dispose()


@dataclass(frozen=True)
class SignedIn:
    email: str
    gateway_token: str


async def register_client(gateway_url: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{gateway_url}/register",
            json={
                "redirect_uris": [CLIENT_REDIRECT],
                "client_name": "policyarc bench",
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scope": GATEWAY_SCOPES,
            },
        )
        response.raise_for_status()
        client_id: str = response.json()["client_id"]
        return client_id


async def sign_in(gateway_url: str, client_id: str, email: str) -> SignedIn:
    """One user through the whole flow, with a browser's cookie jar of its own."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CLIENT_REDIRECT,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": state,
            "scope": GATEWAY_SCOPES,
            "resource": f"{gateway_url}/mcp",
        }
    )
    async with httpx.AsyncClient(timeout=30, follow_redirects=False) as browser:
        url = f"{gateway_url}/authorize?{query}"
        response = await browser.get(url)
        for _ in range(10):
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                if url.startswith(CLIENT_REDIRECT):
                    break
                if urlsplit(url).path == "/oauth/login":
                    url += "&" + urlencode({"login_hint": email})
                response = await browser.get(url)
            elif urlsplit(url).path == "/oauth/consent" and response.status_code == 200:
                form = {k: html.unescape(v) for k, v in _HIDDEN.findall(response.text)}
                response = await browser.post(urljoin(url, "/oauth/consent"), data={**form, "decision": "allow"})
            else:
                raise RuntimeError(f"sign-in of {email} stopped at {url}: {response.status_code} {response.text[:300]}")
        params = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        if params.get("state") != state or "code" not in params:
            raise RuntimeError(f"sign-in of {email} ended without a code: {params.get('error_description')}")
        token = await browser.post(
            f"{gateway_url}/token",
            data={
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": CLIENT_REDIRECT,
                "client_id": client_id,
                "code_verifier": verifier,
                "resource": f"{gateway_url}/mcp",
            },
        )
        token.raise_for_status()
        return SignedIn(email, token.json()["access_token"])


async def sign_in_all(gateway_url: str, emails: list[str], parallel: int = 4) -> dict[str, str]:
    """email -> gateway access token, for every user (a few at a time)."""
    client_id = await register_client(gateway_url)
    gate = asyncio.Semaphore(parallel)

    async def one(email: str) -> SignedIn:
        async with gate:
            return await sign_in(gateway_url, client_id, email)

    done = await asyncio.gather(*(one(email) for email in emails))
    return {s.email: s.gateway_token for s in done}


async def sim_tokens(sim_url: str, emails: list[str]) -> dict[str, str]:
    """email -> an Atlassian access token minted by the simulator's hook (for the non-gateway systems)."""
    async with httpx.AsyncClient(timeout=30) as http:
        tokens = {}
        for email in emails:
            response = await http.post(f"{sim_url}/_sim/tokens", json={"email": email, "scopes": ATLASSIAN_SCOPES})
            response.raise_for_status()
            tokens[email] = response.json()["access_token"]
        return tokens
