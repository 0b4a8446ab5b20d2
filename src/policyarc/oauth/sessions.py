"""The gateway's browser session (after signing in with Atlassian) and the cookies of the sign-in round trip.

Cookie values are random; the store keeps only their SHA-256. Cookies are `__Host-` prefixed, Secure, HttpOnly,
SameSite=Lax, Path=/ whenever the gateway is served over https. A plain-http gateway (allowed on loopback only,
for development) cannot set Secure cookies, and a `__Host-` cookie must be Secure, so there the names drop the
prefix and the Secure flag.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from policyarc.secrets import hash_token, new_token
from policyarc.store.models import BrowserSession, User

__all__ = [
    "AUTHORIZE_COOKIE",
    "LOGIN_COOKIE",
    "SESSION_COOKIE",
    "CookieJar",
    "create_session",
    "csrf_token",
    "session_user",
]

AUTHORIZE_COOKIE = "policyarc_authorize"  # binds pending /authorize requests to this browser
LOGIN_COOKIE = "policyarc_login"
SESSION_COOKIE = "policyarc_session"
_MAX_COOKIE = 256


class CookieJar:
    """Names and flags of the gateway's cookies for one deployment."""

    def __init__(self, *, secure: bool) -> None:
        self.secure = secure

    def name(self, base: str) -> str:
        return f"__Host-{base}" if self.secure else base

    def read(self, request: Request, base: str) -> str | None:
        value = request.cookies.get(self.name(base))
        return value if value and len(value) <= _MAX_COOKIE else None

    def set(self, response: Response, base: str, value: str, *, max_age: int) -> None:
        response.set_cookie(
            self.name(base), value, max_age=max_age, path="/", secure=self.secure, httponly=True, samesite="lax"
        )

    def clear(self, response: Response, base: str) -> None:
        response.delete_cookie(self.name(base), path="/", secure=self.secure, httponly=True, samesite="lax")


async def create_session(db: AsyncSession, user_id: str, *, expires_at: datetime) -> str:
    """A new browser session for the user; returns the cookie value."""
    raw = new_token("pa_bs_")
    db.add(BrowserSession(id_hash=hash_token(raw), user_id=user_id, expires_at=expires_at))
    return raw


async def session_user(db: AsyncSession, raw: str | None, *, now: datetime) -> User | None:
    """The user behind a live session cookie value; None when absent, unknown or expired."""
    if not raw:
        return None
    row = await db.scalar(select(BrowserSession).where(BrowserSession.id_hash == hash_token(raw)))
    if row is None or row.expires_at <= now:
        return None
    return await db.get(User, row.user_id)


def csrf_token(session_raw: str, request_id: str) -> str:
    """The consent form's CSRF token: bound to this browser session and this pending request.

    Keyed by the session id, which only the browser's HttpOnly cookie holds, so another site cannot compute it,
    and a token taken from one consent page is useless for another request or another session.
    """
    return hmac.new(session_raw.encode(), b"consent\x00" + request_id.encode(), hashlib.sha256).hexdigest()
