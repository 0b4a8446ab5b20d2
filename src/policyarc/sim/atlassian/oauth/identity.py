"""api.atlassian.com's identity endpoints: accessible-resources and /me."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.sim.atlassian.errors import scope_mismatch, unauthorized
from policyarc.sim.atlassian.oauth.context import sim_state, token_store
from policyarc.sim.atlassian.oauth.scopes import NON_SITE_SCOPES
from policyarc.sim.atlassian.state import AccessGrant

SITE_AVATAR_URL = "https://site-admin-avatar-cdn.prod.public.atl-paas.net/avatars/240/site.png"
DEFAULT_PICTURE = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/default-avatar.png"


def bearer_grant(request: Request) -> AccessGrant | None:
    """The grant behind the request's `Authorization: Bearer` token, if it is live."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token_store(request).lookup_access(token)


async def accessible_resources(request: Request) -> Response:
    grant = bearer_grant(request)
    if grant is None:
        return unauthorized()
    # Granted scopes in a stable order; the real service lists each site's Jira scopes.
    scopes = sorted(grant.scopes - NON_SITE_SCOPES)
    resources = [
        {
            "id": site.cloud_id,
            "url": site.url,
            "name": site.name,
            "scopes": scopes,
            "avatarUrl": SITE_AVATAR_URL,
        }
        for site in sim_state(request).world.sites.values()
        if site.cloud_id in grant.cloud_ids
    ]
    return JSONResponse(resources)


async def me(request: Request) -> Response:
    grant = bearer_grant(request)
    if grant is None:
        return unauthorized()
    if "read:me" not in grant.scopes:
        return scope_mismatch()
    user = sim_state(request).world.users.get(grant.account_id)
    if user is None:
        return unauthorized()
    body: dict[str, Any] = {
        "account_type": "atlassian",
        "account_id": user.account_id,
        "email": user.email,
        "email_verified": True,
        "name": user.name,
        "picture": user.picture or DEFAULT_PICTURE,
        "account_status": user.account_status,
        "nickname": user.email.partition("@")[0],
        "zoneinfo": user.time_zone,
        "locale": user.locale.replace("_", "-"),
        "extended_profile": {"job_title": "", "organization": "", "department": "", "location": ""},
    }
    return JSONResponse(body)
