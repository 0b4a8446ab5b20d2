"""Atlassian as an identity provider: OAuth 2.0 (3LO) for a confidential client.

Atlassian's 3LO apps have no PKCE; the gateway authenticates with its client secret. Token requests take
JSON. Refresh tokens rotate: every refresh returns a new pair, and the caller must store the new refresh
token before using the new access token (see vault.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from policyarc.identity.errors import GrantRevoked, IdentityRejected, IdentityUnavailable

# Classic scopes the Jira connector needs, plus read:me (the profile) and offline_access (refresh tokens).
ATLASSIAN_SCOPES: tuple[str, ...] = (
    "read:jira-work",
    "read:jira-user",
    "write:jira-work",
    "read:me",
    "offline_access",
)
AUDIENCE = "api.atlassian.com"


@dataclass(frozen=True)
class AtlassianApp:
    """The OAuth app an admin registered in Atlassian's developer console."""

    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ATLASSIAN_SCOPES

    def __repr__(self) -> str:  # never print the secret
        return f"AtlassianApp(client_id={self.client_id!r}, scopes={self.scopes!r})"


@dataclass(frozen=True)
class UpstreamTokens:
    access_token: str
    refresh_token: str | None
    expires_at: float  # epoch seconds
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"UpstreamTokens(expires_at={self.expires_at!r}, scopes={self.scopes!r})"


@dataclass(frozen=True)
class AtlassianProfile:
    account_id: str
    email: str
    name: str
    picture: str = ""


@dataclass(frozen=True)
class AtlassianSite:
    cloud_id: str
    url: str
    name: str
    scopes: tuple[str, ...]


class AtlassianIdentity:
    """Calls auth.atlassian.com and api.atlassian.com (or the simulator standing in for them)."""

    def __init__(self, http: httpx.AsyncClient, *, auth_url: str, api_url: str) -> None:
        self._http = http
        self._auth_url = auth_url.rstrip("/")
        self._api_url = api_url.rstrip("/")

    @property
    def sign_in_origin(self) -> str:
        """Where `authorize_url` sends browsers (scheme://host[:port]): pages whose forms lead there allow it."""
        parts = urlsplit(self._auth_url)
        return f"{parts.scheme}://{parts.netloc}"

    def authorize_url(self, app: AtlassianApp, *, redirect_uri: str, state: str, login_hint: str | None = None) -> str:
        params = {
            "audience": AUDIENCE,
            "client_id": app.client_id,
            "scope": " ".join(app.scopes),
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "prompt": "consent",
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self._auth_url}/authorize?{urlencode(params)}"

    async def exchange_code(self, app: AtlassianApp, *, code: str, redirect_uri: str) -> UpstreamTokens:
        return await self._token_request(
            {
                "grant_type": "authorization_code",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
            }
        )

    async def refresh(self, app: AtlassianApp, *, refresh_token: str) -> UpstreamTokens:
        """Rotate the refresh token. Raises GrantRevoked when Atlassian no longer honours it."""
        return await self._token_request(
            {
                "grant_type": "refresh_token",
                "client_id": app.client_id,
                "client_secret": app.client_secret,
                "refresh_token": refresh_token,
            }
        )

    async def me(self, access_token: str) -> AtlassianProfile:
        body = await self._api_get("/me", access_token)
        try:
            return AtlassianProfile(
                account_id=str(body["account_id"]),
                email=str(body.get("email", "")),
                name=str(body.get("name", "")),
                picture=str(body.get("picture", "")),
            )
        except (KeyError, TypeError) as exc:
            raise IdentityUnavailable("Atlassian's /me answer has no account_id") from exc

    async def accessible_resources(self, access_token: str) -> list[AtlassianSite]:
        body = await self._api_get("/oauth/token/accessible-resources", access_token)
        if not isinstance(body, list):
            raise IdentityUnavailable("Atlassian's accessible-resources answer is not a list")
        sites = []
        for item in body:
            if isinstance(item, dict) and "id" in item:
                sites.append(
                    AtlassianSite(
                        cloud_id=str(item["id"]),
                        url=str(item.get("url", "")),
                        name=str(item.get("name", "")),
                        scopes=tuple(str(s) for s in item.get("scopes", [])),
                    )
                )
        return sites

    async def _token_request(self, payload: dict[str, str]) -> UpstreamTokens:
        try:
            response = await self._http.post(f"{self._auth_url}/oauth/token", json=payload)
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"Atlassian's token endpoint is unreachable ({type(exc).__name__})") from exc
        body = _json_or_none(response)
        if response.status_code >= 500 or body is None:
            raise IdentityUnavailable(
                f"Atlassian's token endpoint answered {response.status_code}", status=response.status_code
            )
        if response.status_code != 200:
            error = str(body.get("error", "")) if isinstance(body, dict) else ""
            description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
            message = f"Atlassian refused the token request: {error or response.status_code}"
            if description:
                message += f" ({description})"
            if error == "invalid_grant":
                raise GrantRevoked(message, status=response.status_code)
            raise IdentityRejected(message, status=response.status_code)
        if not isinstance(body, dict) or "access_token" not in body:
            raise IdentityUnavailable("Atlassian's token answer has no access_token")
        return UpstreamTokens(
            access_token=str(body["access_token"]),
            refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
            expires_at=time.time() + float(body.get("expires_in", 3600)),
            scopes=tuple(str(body.get("scope", "")).split()),
        )

    async def _api_get(self, path: str, access_token: str) -> Any:
        try:
            response = await self._http.get(
                f"{self._api_url}{path}", headers={"Authorization": f"Bearer {access_token}"}
            )
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"api.atlassian.com is unreachable ({type(exc).__name__})") from exc
        if response.status_code == 401:
            raise GrantRevoked(f"Atlassian rejected the access token on {path}", status=401)
        if response.status_code != 200:
            status = response.status_code
            raise IdentityUnavailable(f"Atlassian answered {status} on {path}", status=status)
        body = _json_or_none(response)
        if body is None:
            raise IdentityUnavailable(f"Atlassian's answer on {path} is not JSON")
        return body


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
