"""Signing the user in through Atlassian: `GET /oauth/login` and `GET /oauth/idp/atlassian/callback`.

`/oauth/login?request=<id>` (where `authorize()` sends the browser) goes straight to the consent page when the
browser already has a gateway session, and otherwise redirects at once to Atlassian (no intermediate "Sign in
with Atlassian" page: there is one IdP, so the page would only cost a click). The `state` sent to Atlassian is
random, stored hashed with the pending request, and bound to a `__Host-policyarc_login` cookie, so a callback
delivered to another browser (login CSRF, a leaked callback URL) is refused.

Each environment has its own Atlassian app: the pending request names the environment its `resource` picked, the
browser goes to that environment's app, and the round trip's state records the environment, so the callback (one
URL for all environments) exchanges the code with the same app.

The callback exchanges the code with the app's client secret (Atlassian 3LO has no PKCE), reads the profile and
the sites the user can reach, refuses a user who cannot reach the environment's connector site, stores the
Atlassian tokens encrypted in `upstream_links` (the link of that environment's identity provider), opens a
12-hour browser session and moves on to consent.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from policyarc.identity.apps import load_atlassian_app
from policyarc.identity.atlassian import (
    AtlassianApp,
    AtlassianIdentity,
    AtlassianProfile,
    UpstreamTokens,
)
from policyarc.identity.errors import IdentityError
from policyarc.oauth import pending
from policyarc.oauth.config import Clock, OAuthConfig, utc
from policyarc.oauth.idp_test import IdpTest
from policyarc.oauth.pages import message_page, other_browser_page
from policyarc.oauth.sessions import (
    AUTHORIZE_COOKIE,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    CookieJar,
    create_session,
    session_user,
)
from policyarc.secrets import DecryptionError, KeyRing, hash_token, new_token
from policyarc.store import models

__all__ = ["CALLBACK_PATH", "Federation"]

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/oauth/idp/atlassian/callback"
IDP_KIND = "atlassian"
_ROUND_TRIP_TTL = 600
_ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
_START_AGAIN = "Start again from your MCP client (reconnect the PolicyArc server)."


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


class LinkStore(Protocol):
    """Where a fresh sign-in's Atlassian tokens go (the token vault)."""

    async def store_link(
        self, user_id: str, tokens: UpstreamTokens, cloud_ids: Sequence[str], *, environment_id: str
    ) -> None: ...


class Federation:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        config: OAuthConfig,
        keyring: KeyRing,
        identity: AtlassianIdentity,
        clock: Clock,
        cookies: CookieJar,
        links: LinkStore,
        test: IdpTest | None = None,
    ) -> None:
        self._test = test
        self._sessions = sessions
        self._links = links
        self._config = config
        self._keyring = keyring
        self._identity = identity
        self._clock = clock
        self._cookies = cookies

    @property
    def callback_url(self) -> str:
        return f"{self._config.issuer}{CALLBACK_PATH}"

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/login", self.login, methods=["GET"]),
            Route(CALLBACK_PATH, self.callback, methods=["GET"]),
        ]

    async def login(self, request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        now = utc(self._clock)
        async with self._sessions() as db, db.begin():
            asked = await pending.load_pending(db, request_id, now=now)
            if asked is None:
                return message_page("This sign-in link has expired", _START_AGAIN)
            if not pending.same_browser(asked, self._cookies.read(request, AUTHORIZE_COOKIE)):
                return other_browser_page()
            environment_id = asked.environment_id or self._config.environment_id
            if await self._signed_in_here(db, request, environment_id, now):
                return _see_other(_consent_url(request_id))
            try:
                app = await self._app(db, environment_id)
            except _Refused as refused:
                return refused.response
            nonce = new_token("pa_ln_")
            state = await pending.save_round_trip(
                db,
                pending.IdpRoundTrip(
                    request_id=request_id, cookie_hash=hash_token(nonce), environment_id=environment_id
                ),
                expires_at=utc(self._clock, _ROUND_TRIP_TTL),
            )
        hint = request.query_params.get("login_hint")
        url = self._identity.authorize_url(
            app, redirect_uri=self.callback_url, state=state, login_hint=hint if hint and len(hint) <= 320 else None
        )
        response = _see_other(url)
        self._cookies.set(response, LOGIN_COOKIE, nonce, max_age=_ROUND_TRIP_TTL)
        return response

    async def callback(self, request: Request) -> Response:
        params = request.query_params
        now = utc(self._clock)
        async with self._sessions() as db, db.begin():
            trip = await pending.take_round_trip(db, params.get("state", ""), now=now)
        if trip is None:
            return message_page("This sign-in has expired or was already used", _START_AGAIN)
        cookie = self._cookies.read(request, LOGIN_COOKIE)
        if cookie is None or not hmac.compare_digest(hash_token(cookie), trip.cookie_hash):
            return message_page(
                "Sign-in refused",
                "This sign-in was started in another browser (or its cookie is gone). " + _START_AGAIN,
                status=403,
            )
        retry = (f"/oauth/login?request={trip.request_id}", "Sign in with Atlassian again")
        error = params.get("error")
        if error == "access_denied":
            return message_page(
                "Sign-in cancelled",
                "You did not allow PolicyArc at Atlassian, so your MCP client was not connected.",
                status=403,
                link=retry,
            )
        if error or not params.get("code"):
            shown = error if error and _ERROR_CODE.match(error) else "no code"
            return message_page("Atlassian sign-in failed", f"Atlassian answered: {shown}.", status=502, link=retry)
        if trip.purpose == "test" and self._test is not None:  # an admin trying the app from the console
            response = await self._test.finish(trip, params["code"])
            self._cookies.clear(response, LOGIN_COOKIE)
            return response
        try:
            response = await self._finish(
                request_id=trip.request_id,
                environment_id=trip.environment_id or self._config.environment_id,
                code=params["code"],
                now=now,
            )
        except _Refused as refused:
            response = refused.response
        self._cookies.clear(response, LOGIN_COOKIE)
        return response

    async def _finish(self, *, request_id: str, environment_id: str, code: str, now: datetime) -> Response:
        async with self._sessions() as db:
            if await pending.load_pending(db, request_id, now=now) is None:
                return message_page("This sign-in has expired", _START_AGAIN)
            app = await self._app(db, environment_id)
            needed = await self._connector_sites(db, environment_id)
        try:
            tokens = await self._identity.exchange_code(app, code=code, redirect_uri=self.callback_url)
            profile = await self._identity.me(tokens.access_token)
            sites = await self._identity.accessible_resources(tokens.access_token)
        except IdentityError as exc:  # messages never carry a token, code or secret
            return message_page("Atlassian sign-in failed", exc.message, status=502)
        reachable = {site.cloud_id for site in sites}
        missing = [label for cloud_id, label in needed.items() if cloud_id not in reachable]
        if missing:
            who = profile.email or profile.name or "Your Atlassian account"
            return message_page(
                "No access to the Atlassian site",
                f"{who} cannot reach the Atlassian site {', '.join(missing)} that this PolicyArc environment uses. "
                "Ask your Atlassian admin for access to it, then connect again.",
                status=403,
            )
        async with self._sessions() as db, db.begin():
            user = await self._upsert_user(db, profile, now)
        # The vault writes the link (under the same lock as its refreshes) once the user row is committed.
        await self._links.store_link(user.id, tokens, [site.cloud_id for site in sites], environment_id=environment_id)
        async with self._sessions() as db, db.begin():
            session = await create_session(db, user.id, expires_at=utc(self._clock, self._config.session_ttl))
        response = _see_other(_consent_url(request_id))
        self._cookies.set(response, SESSION_COOKIE, session, max_age=self._config.session_ttl)
        return response

    async def _signed_in_here(self, db: AsyncSession, request: Request, environment_id: str, now: datetime) -> bool:
        """A gateway session, and an Atlassian link for this environment's app: sign-in can be skipped.

        A session opened by signing in to another environment does not do: its Atlassian tokens belong to that
        environment's app, so this one would have no link to call Jira with.
        """
        user = await session_user(db, self._cookies.read(request, SESSION_COOKIE), now=now)
        if user is None:
            return False
        linked = await db.scalar(
            select(models.UpstreamLink.id)
            .join(models.IdentityProvider, models.IdentityProvider.id == models.UpstreamLink.identity_provider_id)
            .where(
                models.UpstreamLink.user_id == user.id,
                models.UpstreamLink.status == "active",
                models.IdentityProvider.environment_id == environment_id,
                models.IdentityProvider.kind == IDP_KIND,
            )
        )
        return linked is not None

    async def _app(self, db: AsyncSession, environment_id: str) -> AtlassianApp:
        try:
            app = await load_atlassian_app(db, self._keyring, environment_id)
        except DecryptionError as exc:
            logger.error("cannot decrypt the Atlassian client secret: %s", exc)
            raise _Refused(
                message_page(
                    "Sign-in is misconfigured",
                    "PolicyArc cannot read its Atlassian client secret (key ring). Ask your PolicyArc admin.",
                    status=500,
                )
            ) from exc
        if app is None:
            raise _Refused(
                message_page(
                    "Sign-in is not set up yet",
                    "This PolicyArc environment has no Atlassian identity provider. Ask your PolicyArc admin.",
                    status=503,
                )
            )
        return app

    async def _connector_sites(self, db: AsyncSession, environment_id: str) -> dict[str, str]:
        """Cloud id -> site name, for every connector of the environment that names a site."""
        rows = await db.execute(
            select(models.Connector.cloud_id, models.Connector.site).where(
                models.Connector.environment_id == environment_id, models.Connector.cloud_id.is_not(None)
            )
        )
        return {str(cloud_id): str(site or cloud_id) for cloud_id, site in rows.all()}

    async def _upsert_user(self, db: AsyncSession, profile: AtlassianProfile, now: datetime) -> models.User:
        user = await db.scalar(
            select(models.User).where(models.User.idp_kind == IDP_KIND, models.User.idp_subject == profile.account_id)
        )
        if user is None:
            user = models.User(id=models.new_id(), idp_kind=IDP_KIND, idp_subject=profile.account_id, created_at=now)
            db.add(user)
        user.email = profile.email or user.email
        user.display_name = profile.name or user.display_name
        user.last_seen_at = now
        await db.flush()
        return user


def _consent_url(request_id: str) -> str:
    return f"/oauth/consent?request={request_id}"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
