"""Who is using the console: the admin behind the session cookie, and the CSRF tokens of its forms.

The session cookie is random, HttpOnly, SameSite=Lax, `__Host-` prefixed and Secure on https (oauth/sessions.py's
`CookieJar`); the store keeps its hash. Every state-changing form carries a CSRF token derived from the session
value, which only the browser's HttpOnly cookie holds, so another site can neither read nor compute it. The
sign-in form, before there is a session, uses a double-submit cookie instead, so a hostile page cannot sign a
browser in as someone else (login CSRF).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from policyarc.oauth.sessions import CookieJar
from policyarc.secrets import new_token
from policyarc.services.admins import AdminView, admin_for_session

__all__ = ["PRE_COOKIE", "SESSION_COOKIE", "ConsoleAuth", "SignedIn"]

SESSION_COOKIE = "policyarc_console"
PRE_COOKIE = "policyarc_console_pre"


@dataclass(frozen=True)
class SignedIn:
    admin: AdminView
    session_raw: str

    @property
    def csrf(self) -> str:
        return hmac.new(self.session_raw.encode(), b"console-csrf", hashlib.sha256).hexdigest()

    def csrf_ok(self, submitted: object) -> bool:
        return isinstance(submitted, str) and hmac.compare_digest(submitted, self.csrf)


class ConsoleAuth:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], cookies: CookieJar, now: Callable[[], datetime]
    ) -> None:
        self.cookies = cookies
        self._sessions = sessions
        self._now = now

    async def signed_in(self, request: Request) -> SignedIn | None:
        raw = self.cookies.read(request, SESSION_COOKIE)
        if raw is None:
            return None
        async with self._sessions() as db:
            admin = await admin_for_session(db, raw, now=self._now())
        return SignedIn(admin, raw) if admin is not None else None

    def pre_token(self, request: Request) -> str:
        """The sign-in form's double-submit value: the browser's own, or a new one `set_pre` will store."""
        return self.cookies.read(request, PRE_COOKIE) or new_token("pa_pre_")

    def set_pre(self, response: Response, value: str) -> None:
        self.cookies.set(response, PRE_COOKIE, value, max_age=3600)

    def pre_ok(self, request: Request, submitted: object) -> bool:
        cookie = self.cookies.read(request, PRE_COOKIE)
        return bool(cookie) and isinstance(submitted, str) and hmac.compare_digest(submitted, cookie or "")
