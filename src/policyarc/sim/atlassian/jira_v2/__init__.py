"""Jira Server/Data Center REST v2 at `/site/{site}/rest/api/2/...`: the same sites, data and permissions as
the v3 routes, with Server's shapes (wiki markup instead of ADF, users by `name`, `startAt` paging) and a
personal access token (here: a simulator access token) as the credential. Lets Server clients such as
mcp-atlassian run against the simulator.
"""

from __future__ import annotations

from starlette.routing import BaseRoute


def v2_routes() -> list[BaseRoute]:
    """Every Jira Server v2 route of the simulator, to mount at the app's root."""
    from policyarc.sim.atlassian.jira_v2 import comments, issues, meta, search, transitions

    return [*issues.routes, *transitions.routes, *comments.routes, *search.routes, *meta.routes]
