"""The consent page: `GET /oauth/consent?request=<id>` shows it, `POST /oauth/consent` records the decision.

It is shown for every authorization, also when the user allowed the same client before (the page says so). A
client is only an id and a name it chose itself (DCR or a metadata document anyone can host), so an earlier
"Allow" is weak evidence that this request comes from the same software; one click per connection is cheap, and
the brief asks for consent before any token is issued.

The page lists the scopes asked and, for each, whether policy grants it; only granted scopes go into the code.
The POST carries a CSRF token bound to the browser session and the request id (`sessions.csrf_token`).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from mcp.server.auth.provider import construct_redirect_uri
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from policyarc.mcp_endpoint import PolicyCheck
from policyarc.oauth import pending
from policyarc.oauth.config import Clock, utc
from policyarc.oauth.display import display_text
from policyarc.oauth.pages import consent_page, message_page, other_browser_page
from policyarc.oauth.provider import GatewayAuthProvider, caller_for
from policyarc.oauth.sessions import AUTHORIZE_COOKIE, SESSION_COOKIE, CookieJar, csrf_token, session_user
from policyarc.store import models

__all__ = ["CONSENT_PATH", "ConsentPages"]

CONSENT_PATH = "/oauth/consent"
_START_AGAIN = "Start again from your MCP client (reconnect the PolicyArc server)."


class ConsentPages:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        provider: GatewayAuthProvider,
        policy: PolicyCheck,
        clock: Clock,
        cookies: CookieJar,
    ) -> None:
        self._sessions = sessions
        self._provider = provider
        self._policy = policy
        self._clock = clock
        self._cookies = cookies
        self._default_environment_id = provider.config.environment_id

    def routes(self) -> list[Route]:
        return [Route(CONSENT_PATH, self.show, methods=["GET"]), Route(CONSENT_PATH, self.decide, methods=["POST"])]

    async def show(self, request: Request) -> Response:
        request_id = request.query_params.get("request", "")
        raw_session = self._cookies.read(request, SESSION_COOKIE)
        now = utc(self._clock)
        async with self._sessions() as db:
            asked = await pending.load_pending(db, request_id, now=now)
            if asked is None:
                return message_page("This sign-in link has expired", _START_AGAIN)
            if not pending.same_browser(asked, self._cookies.read(request, AUTHORIZE_COOKIE)):
                return other_browser_page()
            user = await session_user(db, raw_session, now=now)
            if user is None or raw_session is None:
                return RedirectResponse(f"/oauth/login?request={request_id}", status_code=303)
            environment_id = asked.environment_id or self._default_environment_id
            before = await db.get(models.Consent, (user.id, asked.client_id, environment_id))
        client = await self._provider.get_client(asked.client_id)
        if client is None:
            return message_page("Unknown client", "The MCP client is no longer registered. " + _START_AGAIN)
        environment = await self._provider.environments.find_id(environment_id)
        caller = caller_for(user, client, environment_id, asked.scopes)
        granted = [scope for scope in asked.scopes if self._policy.allowed(caller, scope)]
        # A client chose its name, id and redirect URI itself: shown only as display_text() leaves them.
        return consent_page(
            client_name=display_text(client.client_name or "") or "An unnamed MCP client",
            client_id=display_text(client.client_id, limit=200),
            redirect_host=display_text(urlsplit(asked.redirect_uri).netloc or asked.redirect_uri, limit=200),
            user_label=display_text(user.email or user.display_name or user.idp_subject),
            asked=asked.scopes,
            granted=granted,
            hidden={"request": request_id, "csrf": csrf_token(raw_session, request_id)},
            action=CONSENT_PATH,
            consented_before=before is not None and set(asked.scopes) <= set(before.scopes.split()),
            environment=environment.name if environment is not None else "",
        )

    async def decide(self, request: Request) -> Response:
        form = await request.form()
        request_id, csrf, decision = (str(form.get(name) or "") for name in ("request", "csrf", "decision"))
        raw_session = self._cookies.read(request, SESSION_COOKIE)
        now = utc(self._clock)
        async with self._sessions() as db, db.begin():
            user = await session_user(db, raw_session, now=now)
            if user is None or raw_session is None:
                return message_page("Your sign-in has expired", _START_AGAIN, status=403)
            if not hmac.compare_digest(csrf_token(raw_session, request_id), csrf):
                return message_page("Request refused", "The consent form was not sent from this page.", status=403)
            asked = await pending.load_pending(db, request_id, now=now)
            if asked is None:
                return message_page("This sign-in link has expired", _START_AGAIN)
            if not pending.same_browser(asked, self._cookies.read(request, AUTHORIZE_COOKIE)):
                return other_browser_page()
            if decision not in ("allow", "deny"):
                return message_page("Request refused", "Choose Allow or Deny.", status=400)
            await pending.drop(db, request_id)  # one decision per request
            client = await self._provider.get_client(asked.client_id)
            granted: list[str] = []
            environment_id = asked.environment_id or self._default_environment_id
            if client is not None and decision == "allow":
                caller = caller_for(user, client, environment_id, asked.scopes)
                granted = [scope for scope in asked.scopes if self._policy.allowed(caller, scope)]
            if not granted:
                description = "policy grants none of the scopes" if decision == "allow" else "the user denied it"
                return _back(
                    construct_redirect_uri(
                        asked.redirect_uri, error="access_denied", error_description=description, state=asked.state
                    )
                )
            await self._remember(db, user.id, asked.client_id, environment_id, granted)
            location = await self._provider.issue_code(db, asked, user_id=user.id, scopes=granted)
        return _back(location)

    async def _remember(
        self, db: AsyncSession, user_id: str, client_id: str, environment_id: str, scopes: list[str]
    ) -> None:
        row = await db.get(models.Consent, (user_id, client_id, environment_id))
        if row is None:
            row = models.Consent(user_id=user_id, client_id=client_id, environment_id=environment_id)
            db.add(row)
        row.scopes = " ".join(scopes)
        row.granted_at = utc(self._clock)


def _back(location: str) -> RedirectResponse:
    # 303: the browser follows a POST's answer with a GET to the client's redirect URI.
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
