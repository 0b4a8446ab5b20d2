"""Who calls the Server/Data Center API: a personal access token (PAT) on `/site/{site}/rest/api/2/...`.

A simulator OAuth access token stands for the user's PAT: same user, same project permissions. A PAT has
no scopes and no list of granted sites, so neither is checked; the user must be a member of the site in
the path. Jira Server answers a missing or bad token, and a user the instance does not know, with 401 and
`errorMessages`; a site nobody owns is a host that does not exist (404, as `/_edge/tenant_info` answers).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from policyarc.sim.atlassian.errors import jira_error
from policyarc.sim.atlassian.jira.access import Caller
from policyarc.sim.atlassian.state import SimState

PREFIX = "/site/{site}/rest/api/2"
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."


def authorize(request: Request) -> Caller | Response:
    """The caller for a v2 request, or 404 for an unknown site and 401 for a bad token or a non-member."""
    sim: SimState = request.app.state.sim
    site = sim.world.sites.get(request.path_params["site"].lower())
    if site is None:
        return PlainTextResponse("Site not found", status_code=404)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    grant = sim.tokens.lookup_access(token) if scheme.lower() == "bearer" and token else None
    user = sim.world.users.get(grant.account_id) if grant is not None else None
    if grant is None or user is None or user.account_id not in site.members or user.account_status != "active":
        # Jira Server's reason header for a rejected credential.
        return jira_error(401, [NOT_AUTHENTICATED], headers={"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"})
    return Caller(user=user, site=site, grant=grant, world=sim.world)


def site_base(request: Request) -> str:
    """The base URL of the simulated Server instance, `http://host:port/site/{site}` (links point there)."""
    return f"{str(request.base_url).rstrip('/')}/site/{request.path_params['site'].lower()}"
