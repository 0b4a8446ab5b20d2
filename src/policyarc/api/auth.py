"""Who is calling the admin API. Every request needs a credential; there is no anonymous access.

Authenticators are tried in order; the first to recognise the request wins. Today there is one, the admin API
key (`Authorization: Bearer pa_admin_...`); the console's browser sessions will be a second authenticator
passed to `create_api_routes`, with no change to the handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from policyarc.admin import AdminIdentity, verify_admin_key
from policyarc.api.errors import ApiError

CHALLENGE = 'Bearer realm="PolicyArc admin API"'


class AdminAuthenticator(Protocol):
    async def authenticate(self, request: Request) -> AdminIdentity | None:
        """The admin behind this request, or None when this authenticator does not recognise it."""
        ...


class ApiKeyAuthenticator:
    """Admin API keys from the `Authorization` header (RFC 6750 section 2.1)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def authenticate(self, request: Request) -> AdminIdentity | None:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return None
        async with self._sessions() as session:
            return await verify_admin_key(session, credential.strip())


async def authenticate(request: Request, authenticators: Sequence[AdminAuthenticator]) -> AdminIdentity:
    """The caller's identity, or ApiError 401 with a Bearer challenge."""
    for authenticator in authenticators:
        identity = await authenticator.authenticate(request)
        if identity is not None:
            return identity
    given = "authorization" in request.headers
    raise ApiError(
        401,
        "invalid_credentials" if given else "unauthenticated",
        "The admin API key is not valid (unknown or revoked)."
        if given
        else "The admin API needs `Authorization: Bearer pa_admin_...`; make a key with `policyarc admin create-key`.",
        headers={"WWW-Authenticate": CHALLENGE + (', error="invalid_token"' if given else "")},
    )
