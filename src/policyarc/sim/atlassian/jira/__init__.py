"""Jira Cloud REST v3 as api.atlassian.com serves it to OAuth apps: `/ex/jira/{cloudId}/rest/api/3/...`."""

from __future__ import annotations

from starlette.routing import BaseRoute


def jira_routes() -> list[BaseRoute]:
    """Every Jira route of the simulator, to mount at the app's root."""
    from policyarc.sim.atlassian.jira import comments, issues, projects, search, transitions, users

    return [*issues.routes, *transitions.routes, *comments.routes, *search.routes, *projects.routes, *users.routes]
