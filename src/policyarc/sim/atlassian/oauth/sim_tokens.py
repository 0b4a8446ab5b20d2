"""Test hooks: POST /_sim/tokens mints tokens without the browser; /_sim/tokens/revoke plays a user
removing the app's access. Not part of Atlassian; for tests and benchmarks."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from policyarc.sim.atlassian.oauth.context import sim_state, token_store
from policyarc.sim.atlassian.oauth.scopes import DEFAULT_SCOPES, KNOWN_SCOPES

DEFAULT_CLIENT_ID = "policyarc-demo"


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


async def mint_tokens(request: Request) -> Response:
    """`{"email", "scopes"?, "client_id"?, "sites"?}` -> a token response, as after consent."""
    body = await _json_object(request)
    if body is None:
        return _bad("body must be a JSON object")
    world = sim_state(request).world
    email = body.get("email")
    user = world.user_by_email(email) if isinstance(email, str) else None
    if user is None:
        return _bad("unknown user", 404)
    client_id = body.get("client_id", DEFAULT_CLIENT_ID)
    if not isinstance(client_id, str) or client_id not in world.apps:
        return _bad("unknown client_id")
    scopes = body.get("scopes", list(DEFAULT_SCOPES))
    if not isinstance(scopes, list) or not all(isinstance(s, str) and s in KNOWN_SCOPES for s in scopes):
        return _bad("scopes must be a list of known scopes")
    member_of = [site for site in world.sites.values() if user.account_id in site.members]
    site_names = body.get("sites")
    if site_names is None:
        sites = member_of
    elif isinstance(site_names, list) and all(isinstance(n, str) for n in site_names):
        sites = [site for site in member_of if site.name in site_names]
        # A grant can only cover sites the user belongs to, as with real consent.
        if len(sites) != len(set(site_names)):
            return _bad("sites must name sites the user is a member of")
    else:
        return _bad("sites must be a list of site names")
    issued = token_store(request).mint(user.account_id, client_id, scopes, [site.cloud_id for site in sites])
    return JSONResponse(issued, headers={"Cache-Control": "no-store"})


async def revoke_tokens(request: Request) -> Response:
    """`{"email"}` -> revoke every grant of that user, for every app."""
    body = await _json_object(request)
    if body is None:
        return _bad("body must be a JSON object")
    email = body.get("email")
    user = sim_state(request).world.user_by_email(email) if isinstance(email, str) else None
    if user is None:
        return _bad("unknown user", 404)
    revoked = token_store(request).revoke_user(user.account_id)
    return JSONResponse({"revoked_families": revoked})
