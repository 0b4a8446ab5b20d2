"""An admin's test sign-in with an environment's Atlassian app, from the console: it goes through Atlassian and the
gateway's one callback URL like a user's sign-in, then shows which Atlassian account and sites came back.

Nothing is kept: the tokens it gets are dropped, no user or link is stored. The round trip is bound to the
admin's browser by the same login cookie as a user's sign-in (federation.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from policyarc.identity.apps import load_atlassian_app
from policyarc.identity.atlassian import AtlassianIdentity
from policyarc.identity.errors import IdentityError
from policyarc.oauth import pending
from policyarc.oauth.pages import idp_test_page, message_page
from policyarc.secrets import DecryptionError, KeyRing, hash_token, new_token
from policyarc.store.models import Environment

__all__ = ["IdpTest"]

TTL = 600


class IdpTest:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        keyring: KeyRing,
        identity: AtlassianIdentity,
        callback_url: str,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._identity = identity
        self._callback_url = callback_url

    @property
    def sign_in_origin(self) -> str:
        return self._identity.sign_in_origin

    async def start(self, environment_id: str, *, now: datetime, expires_at: datetime) -> tuple[str, str] | None:
        """(Atlassian's authorize URL, the login cookie's value), or None when the environment has no app."""
        async with self._sessions() as db, db.begin():
            app = await load_atlassian_app(db, self._keyring, environment_id)
            if app is None:
                return None
            nonce = new_token("pa_ln_")
            trip = pending.IdpRoundTrip(
                request_id=new_token("pa_test_"),
                cookie_hash=hash_token(nonce),
                purpose="test",
                environment_id=environment_id,
            )
            state = await pending.save_round_trip(db, trip, expires_at=expires_at)
        return self._identity.authorize_url(app, redirect_uri=self._callback_url, state=state, login_hint=None), nonce

    async def finish(self, trip: pending.IdpRoundTrip, code: str) -> Response:
        async with self._sessions() as db:
            environment = await db.get(Environment, trip.environment_id or "")
            try:
                app = await load_atlassian_app(db, self._keyring, trip.environment_id or "")
            except DecryptionError:
                app = None
        back = f"/console/e/{environment.name}/idp/atlassian" if environment is not None else "/console"
        if app is None:
            return message_page(
                "Test sign-in failed", "The environment's Atlassian app is gone or unreadable.", link=(back, "Back")
            )
        try:
            tokens = await self._identity.exchange_code(app, code=code, redirect_uri=self._callback_url)
            profile = await self._identity.me(tokens.access_token)
            sites = await self._identity.accessible_resources(tokens.access_token)
        except IdentityError as exc:  # messages never carry a token, code or secret
            return message_page("Test sign-in failed", exc.message, status=502, link=(back, "Back to the console"))
        return idp_test_page(profile=profile, sites=sites, back=back)
