"""The guard every Jira REST route passes first, and safe JSON body reading.

`authorize` plays api.atlassian.com's gateway: a bearer token that is missing, unknown, expired or revoked,
or a `{cloudId}` the token was not granted (or that names no site), gets the gateway's own 401
`{"code": 401, "message": "Unauthorized"}`; the gateway does not tell an unknown site from one the token
cannot reach. A token whose scopes do not cover the call gets 401 "Unauthorized; scope does not match".
Only then does the request reach "Jira", whose errors use the `errorMessages`/`errors` shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from policyarc.sim.atlassian import errors
from policyarc.sim.atlassian.model import Site, User, World
from policyarc.sim.atlassian.state import AccessGrant, SimState

READ_WORK = "read:jira-work"
WRITE_WORK = "write:jira-work"
READ_USER = "read:jira-user"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, on which site, under which grant (and the world, to look other users up)."""

    user: User
    site: Site
    grant: AccessGrant
    world: World


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def authorize(request: Request, scope: str) -> Caller | Response:
    """The caller for this request, or the gateway's 401 explaining why not.

    `scope` is the classic scope the operation needs (`read:jira-work`, `write:jira-work`, `read:jira-user`).
    """
    sim: SimState = request.app.state.sim
    token = _bearer(request)
    grant = sim.tokens.lookup_access(token) if token else None
    if grant is None:
        return errors.unauthorized()
    cloud_id = request.path_params.get("cloudId", "")
    site = sim.world.site_by_cloud_id(cloud_id) if cloud_id in grant.cloud_ids else None
    user = sim.world.users.get(grant.account_id)
    if site is None or user is None or user.account_id not in site.members:
        return errors.unauthorized()
    if scope not in grant.scopes:
        return errors.scope_mismatch()
    return Caller(user=user, site=site, grant=grant, world=sim.world)


async def read_json(request: Request) -> dict[str, Any] | Response:
    """The request body as a JSON object, or Jira's 400 for anything else (never a 500).

    Jira answers a body it cannot read with `errorMessages` and an empty `errors`. Real Jira's REST layer
    answers a wrong content type with 415, which none of the issue operations document; 400 keeps the
    simulator inside the published spec. A missing content type is read as JSON.
    """
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        return errors.jira_error(400, [f"Unsupported content type '{content_type}'; use application/json."])
    raw = await request.body()
    if not raw.strip():
        return errors.jira_error(400, ["No content to map due to end-of-input"])
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return errors.jira_error(400, ["Unexpected character in the request body: it is not valid JSON."])
    if not isinstance(body, dict):
        return errors.jira_error(400, ["The request body must be a JSON object."])
    return body
